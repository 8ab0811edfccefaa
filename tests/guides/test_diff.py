"""The comparison of two versions: readable, escaped, accessible."""

from __future__ import annotations

from guides.diff import diff_texts


def test_changed_words_are_marked_inside_the_paragraph():
    result = diff_texts("Le prix est de 10 euros.", "Le prix est de 12 euros TTC.")

    assert result.changed == 1
    assert result.html.startswith('<p class="diff-changed">Le prix est de <del>')
    assert ">10<" in result.html
    assert ">12<" in result.html
    assert "> TTC<" in result.html


def test_added_and_removed_paragraphs_are_counted():
    old = "Premier.\n\nDeuxième.\n\nTroisième."
    new = "Premier.\n\nTroisième.\n\nQuatrième."

    result = diff_texts(old, new)

    assert (result.changed, result.added, result.removed) == (0, 1, 1)
    assert '<p class="diff-removed"><del>' in result.html
    assert '<p class="diff-added"><ins>' in result.html


def test_changes_are_announced_without_colour():
    html = diff_texts("Ancien.", "Nouveau.").html

    assert '<span class="visually-hidden">[début de la suppression] </span>' in html
    assert '<span class="visually-hidden"> [fin de la suppression]</span>' in html
    assert '<span class="visually-hidden">[début de l&#x27;ajout] </span>' in html


def test_markup_in_the_source_is_escaped():
    result = diff_texts("Texte.", 'Texte. <script>alert("x")</script>')

    assert "<script>" not in result.html
    assert "&lt;script&gt;" in result.html


def test_identical_texts_have_no_changes():
    text = "\n\n".join(f"Paragraphe {n}." for n in range(10))

    result = diff_texts(text, text)

    assert not result.has_changes
    assert "10 paragraphes inchangés" in result.html


def test_long_unchanged_runs_are_folded_around_the_change():
    old = "\n\n".join(f"Paragraphe {n}." for n in range(20))
    new = old.replace("Paragraphe 10.", "Paragraphe dix.")

    result = diff_texts(old, new)

    assert "Paragraphe 8." in result.html and "Paragraphe 12." in result.html
    assert "Paragraphe 3." not in result.html
    assert "8 paragraphes inchangés" in result.html
    assert "7 paragraphes inchangés" in result.html
