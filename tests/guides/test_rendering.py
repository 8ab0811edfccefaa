"""Markdown rendering: a strict allow-list, whatever the source says."""

from __future__ import annotations

import pytest

from guides.rendering import render_markdown


@pytest.mark.parametrize(
    ("source", "forbidden"),
    [
        ("<script>alert(1)</script>", "alert(1)"),
        ('<img src="x" onerror="alert(1)">', "onerror"),
        ("[x](javascript:alert(1))", "javascript:"),
        ('<a href="JaVaScRiPt:alert(1)">x</a>', "alert"),
        ("[x](data:text/html;base64,PHNjcmlwdD4=)", "data:"),
        ('<p style="position:fixed">x</p>', "style"),
        ('<iframe src="https://example.org"></iframe>', "iframe"),
        ('<form action="/x"><input name="a"></form>', "<input"),
        ('<h2 id="x y" onclick="a()">T</h2>', "onclick"),
        ("<svg><script>alert(1)</script></svg>", "svg"),
    ],
)
def test_hostile_markup_is_removed(source, forbidden):
    assert forbidden.lower() not in render_markdown(source).lower()


def test_headings_start_at_h2_with_anchors():
    html = render_markdown("# 1. Objet\n\n## Détail")
    assert '<h2 id="1-objet">1. Objet</h2>' in html
    assert '<h3 id="detail">Détail</h3>' in html
    assert "<h1" not in html


def test_ordinary_markdown_survives():
    html = render_markdown(
        "**gras** et *italique*\n\n- un\n- deux\n\n| A | B |\n|---|---|\n| 1 | 2 |\n\n"
        "[officiel](https://www.service-public.fr/) [écrire](mailto:contact@mynetspace.test)"
    )
    assert "<strong>gras</strong>" in html
    assert "<em>italique</em>" in html
    assert "<li>deux</li>" in html
    assert "<td>2</td>" in html
    assert 'href="https://www.service-public.fr/"' in html
    assert 'href="mailto:contact@mynetspace.test"' in html
    assert 'rel="noopener noreferrer"' in html
