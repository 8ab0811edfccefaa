"""A readable comparison of two versions of a Markdown text.

The comparison works on the published source: paragraphs (lines) first, then
words inside a changed paragraph. The HTML marks removals with ``<del>`` and
additions with ``<ins>``, each wrapped in visually hidden start and end labels so
that a screen reader announces them (many do not announce ``ins``/``del``), and
the page explains the visual convention (struck through / underlined) so colour is
never the only cue. Long runs of unchanged paragraphs are folded.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

CONTEXT = 2
#: Below this similarity, a changed paragraph reads better as removed + added.
SIMILAR = 0.5
_TOKEN = re.compile(r"\w+|\s+|[^\w\s]", re.UNICODE)


@dataclass(frozen=True)
class TextDiff:
    html: SafeString
    changed: int
    added: int
    removed: int

    @property
    def has_changes(self) -> bool:
        return bool(self.changed or self.added or self.removed)


def _paragraphs(text: str) -> list[str]:
    """Non-blank lines: blank lines only separate Markdown blocks, they carry no text."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return [line for line in lines if line.strip()]


def _similar(old: str, new: str) -> bool:
    return difflib.SequenceMatcher(None, old, new, autojunk=False).ratio() >= SIMILAR


def _marked(tag: str, text: str, start: str, end: str) -> str:
    return format_html(
        '<{tag}><span class="visually-hidden">{start} </span>{text}'
        '<span class="visually-hidden"> {end}</span></{tag}>',
        tag=tag,
        start=start,
        text=text,
        end=end,
    )


def _ins(text: str) -> str:
    return _marked("ins", text, _("[début de l'ajout]"), _("[fin de l'ajout]"))


def _del(text: str) -> str:
    return _marked("del", text, _("[début de la suppression]"), _("[fin de la suppression]"))


def _word_chunks(old: str, new: str) -> list[tuple[str, str, str]]:
    """(op, old text, new text) chunks; whitespace between two changes joins them."""
    a, b = _TOKEN.findall(old), _TOKEN.findall(new)
    chunks: list[tuple[str, str, str]] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        chunks.append(
            ("equal" if op == "equal" else "change", "".join(a[i1:i2]), "".join(b[j1:j2]))
        )
    merged: list[tuple[str, str, str]] = []
    for index, chunk in enumerate(chunks):
        op, old_text, new_text = chunk
        between_changes = (
            op == "equal"
            and not old_text.strip()
            and 0 < index < len(chunks) - 1
            and chunks[index + 1][0] == "change"
            and merged
            and merged[-1][0] == "change"
        )
        if op == "change" or between_changes:
            if merged and merged[-1][0] == "change":
                _, prev_old, prev_new = merged.pop()
                merged.append(("change", prev_old + old_text, prev_new + new_text))
            else:
                merged.append(("change", old_text, new_text))
        else:
            merged.append(chunk)
    return merged


def _changed_line(old: str, new: str) -> str:
    parts = []
    for op, old_text, new_text in _word_chunks(old, new):
        if op == "equal":
            parts.append(escape(old_text))
            continue
        if old_text:
            parts.append(_del(old_text))
        if new_text:
            parts.append(_ins(new_text))
    return "".join(parts)


def _paragraph(content: str, css: str) -> str:
    return format_html('<p class="{}">{}</p>', css, mark_safe(content))


def _skipped(count: int) -> str:
    label = ngettext(
        "… %(count)s paragraphe inchangé …", "… %(count)s paragraphes inchangés …", count
    ) % {"count": count}
    return format_html('<p class="diff-skip">{}</p>', label)


def _equal_block(lines: list[str], *, first: bool, last: bool, context: int) -> list[str]:
    head = [] if first else lines[:context]
    tail = [] if last or not context else lines[-context:]
    if len(head) + len(tail) >= len(lines):
        return [_paragraph(escape(line), "diff-same") for line in lines]
    out = [_paragraph(escape(line), "diff-same") for line in head]
    out.append(_skipped(len(lines) - len(head) - len(tail)))
    out.extend(_paragraph(escape(line), "diff-same") for line in tail)
    return out


def diff_texts(old: str, new: str, *, context: int = CONTEXT) -> TextDiff:
    """Compare two Markdown sources; returns escaped HTML and paragraph counts."""
    a, b = _paragraphs(old), _paragraphs(new)
    opcodes = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    out: list[str] = []
    changed = added = removed = 0
    for position, (op, i1, i2, j1, j2) in enumerate(opcodes):
        if op == "equal":
            out.extend(
                _equal_block(
                    a[i1:i2],
                    first=position == 0,
                    last=position == len(opcodes) - 1,
                    context=context,
                )
            )
            continue
        old_lines, new_lines = a[i1:i2], b[j1:j2]
        paired = min(len(old_lines), len(new_lines))
        for old_line, new_line in zip(old_lines[:paired], new_lines[:paired], strict=True):
            if _similar(old_line, new_line):
                out.append(_paragraph(_changed_line(old_line, new_line), "diff-changed"))
                changed += 1
            else:
                out.append(_paragraph(_del(old_line), "diff-removed"))
                out.append(_paragraph(_ins(new_line), "diff-added"))
                removed += 1
                added += 1
        for line in old_lines[paired:]:
            out.append(_paragraph(_del(line), "diff-removed"))
            removed += 1
        for line in new_lines[paired:]:
            out.append(_paragraph(_ins(line), "diff-added"))
            added += 1
    html = mark_safe("\n".join(out))
    return TextDiff(html=html, changed=changed, added=added, removed=removed)
