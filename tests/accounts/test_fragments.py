"""``{% fixed_fragment %}``: the layout's footer rendered once per language and values."""

from __future__ import annotations

import pytest
from django.template import Context, TemplateSyntaxError, engines
from django.utils import translation

from accounts.templatetags import fragments


@pytest.fixture(autouse=True)
def _empty_memory():
    fragments._rendered.clear()
    yield
    fragments._rendered.clear()


def _render(source: str, **context) -> str:
    template = engines["django"].from_string("{% load i18n fragments %}" + source)
    return template.render(context).strip()


FRAGMENT = (
    '{% fixed_fragment "probe" name=name %}'
    "{{ name }}|{{ secret }}|{% translate 'Mentions légales' %}|{{ counter.next }}"
    "{% endfixed_fragment %}"
)


class Counter:
    def __init__(self):
        self.calls = 0

    @property
    def next(self):
        self.calls += 1
        return self.calls


def test_the_body_sees_only_the_named_values():
    """GIVEN a person's data in the page's context WHEN the fragment renders
    THEN it cannot reach it: only the values named on the tag are there."""
    assert _render(FRAGMENT, name="MyNetSpace", secret="lea@example.org") == (
        "MyNetSpace||Mentions légales|"
    )


def test_it_is_rendered_once_per_language_and_values():
    counter = Counter()
    body = (
        '{% fixed_fragment "probe" name=name counter=counter %}'
        "{{ counter.next }}{% endfixed_fragment %}"
    )

    first = _render(body, name="A", counter=counter)
    again = _render(body, name="A", counter=counter)
    other = _render(body, name="B", counter=counter)
    with translation.override("en"):
        english = _render(body, name="A", counter=counter)

    assert (first, again, other, english) == ("1", "1", "2", "3")
    assert counter.calls == 3


def test_the_language_is_the_one_of_the_page():
    french = _render(FRAGMENT, name="x")
    with translation.override("en"):
        english = _render(FRAGMENT, name="x")

    assert "Mentions légales" in french
    assert "Legal notice" in english


def test_with_debug_on_it_is_rendered_every_time(settings):
    settings.DEBUG = True
    counter = Counter()
    body = '{% fixed_fragment "probe" c=counter %}{{ c.next }}{% endfixed_fragment %}'

    assert [_render(body, counter=counter) for _ in range(2)] == ["1", "2"]


def test_the_page_context_is_intact_after_the_fragment():
    template = engines["django"].from_string(
        '{% load fragments %}{% fixed_fragment "probe" a=a %}{{ a }}{% endfixed_fragment %}'
        "{{ a }}-{{ b }}"
    )

    assert template.render({"a": "1", "b": "2"}) == "11-2"
    assert template.template.render(Context({"a": "1", "b": "2"})) == "11-2"


def test_a_malformed_tag_is_refused():
    with pytest.raises(TemplateSyntaxError):
        _render("{% fixed_fragment probe %}{% endfixed_fragment %}")
    with pytest.raises(TemplateSyntaxError):
        _render('{% fixed_fragment "probe" name %}{% endfixed_fragment %}')
