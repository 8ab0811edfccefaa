"""Markdown to sanitised HTML, for every text written by staff (legal texts, guides).

The Markdown source is what we publish and hash; the HTML is derived from it on
display. Raw HTML in the source is not trusted: the output of the Markdown
converter goes through nh3 with a strict allow-list (no scripts, no event
handlers, no styles, no images, links only to http(s), mailto and relative URLs).
Headings written ``#`` become ``<h2>`` because the page title is the ``<h1>``.
"""

from __future__ import annotations

import re
from functools import lru_cache

import markdown
import nh3
from django.utils.safestring import SafeString, mark_safe

ALLOWED_TAGS = frozenset(
    {
        "p",
        "br",
        "hr",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "ul",
        "ol",
        "li",
        "strong",
        "em",
        "a",
        "blockquote",
        "code",
        "pre",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
    }
)
HEADINGS = frozenset({"h2", "h3", "h4", "h5", "h6"})
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, **{h: {"id"} for h in HEADINGS}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
_SAFE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,79}$")


def _keep_attribute(tag: str, attribute: str, value: str) -> str | None:
    if attribute == "id":
        return value if _SAFE_ID.match(value) else None
    return value


@lru_cache(maxsize=256)
def _render(text: str) -> str:
    converter = markdown.Markdown(
        extensions=["tables", "sane_lists", "toc"],
        extension_configs={"toc": {"baselevel": 2, "permalink": False}},
        output_format="html",
    )
    return nh3.clean(
        converter.convert(text),
        tags=set(ALLOWED_TAGS),
        clean_content_tags={"script", "style"},
        attributes={tag: set(attrs) for tag, attrs in ALLOWED_ATTRIBUTES.items()},
        attribute_filter=_keep_attribute,
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


def render_markdown(text: str) -> SafeString:
    """Render ``text`` (Markdown) to HTML that is safe to put in a page as is."""
    return mark_safe(_render(text))
