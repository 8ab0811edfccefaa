"""A small HTML reader for page tests: what a visitor or a screen reader relies on."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


@dataclass
class Link:
    href: str
    text: str
    in_footer: bool
    in_header: bool


@dataclass
class Page:
    lang: str = ""
    h1_texts: list[str] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    links: list[Link] = field(default_factory=list)
    forms: list[dict] = field(default_factory=list)
    labels_for: set[str] = field(default_factory=set)
    inline_styles: int = 0
    scripts_without_nonce: int = 0
    text: str = ""
    footer_text: str = ""
    main_text: str = ""

    @property
    def h1_count(self) -> int:
        return len(self.h1_texts)

    def hrefs(self, *, footer_only: bool = False) -> list[str]:
        return [link.href for link in self.links if link.in_footer or not footer_only]


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self.stack: list[str] = []
        self._link: dict | None = None
        self._text: list[str] = []
        self._footer: list[str] = []
        self._main: list[str] = []
        self._h1: list[str] | None = None

    def _inside(self, tag: str) -> bool:
        return tag in self.stack

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.page.ids.add(attrs["id"])
        if "style" in attrs:
            self.page.inline_styles += 1
        if tag == "html":
            self.page.lang = attrs.get("lang", "")
        elif tag == "h1":
            self._h1 = []
        elif tag == "style" or (tag == "script" and "src" not in attrs):
            if not attrs.get("nonce"):
                self.page.scripts_without_nonce += 1
        elif tag == "label" and attrs.get("for"):
            self.page.labels_for.add(attrs["for"])
        elif tag == "form":
            self.page.forms.append({**attrs, "inputs": []})
        elif tag in {"input", "select", "button"} and self.page.forms and self._inside("form"):
            self.page.forms[-1]["inputs"].append({"tag": tag, **attrs})
        elif tag == "a" and "href" in attrs:
            self._link = {
                "href": attrs["href"],
                "text": [],
                "in_footer": self._inside("footer"),
                "in_header": self._inside("header"),
            }
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag == "h1" and self._h1 is not None:
            self.page.h1_texts.append(" ".join("".join(self._h1).split()))
            self._h1 = None
        if tag == "a" and self._link is not None:
            text = " ".join("".join(self._link.pop("text")).split())
            self.page.links.append(Link(text=text, **self._link))
            self._link = None
        if tag in self.stack:
            while self.stack and self.stack.pop() != tag:
                pass

    def handle_data(self, data):
        self._text.append(data)
        if self._inside("footer"):
            self._footer.append(data)
        if self._inside("main"):
            self._main.append(data)
        if self._link is not None:
            self._link["text"].append(data)
        if self._h1 is not None:
            self._h1.append(data)

    def close(self):
        super().close()
        self.page.text = " ".join("".join(self._text).split())
        self.page.footer_text = " ".join("".join(self._footer).split())
        self.page.main_text = " ".join("".join(self._main).split())


def read(response) -> Page:
    reader = _Reader()
    reader.feed(response.content.decode(response.charset or "utf-8"))
    reader.close()
    return reader.page
