"""``{% fixed_include %}``: layout parts included once per language and values."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from django.template import Context, TemplateSyntaxError, engines
from django.utils import translation

from accounts.templatetags import fragments

TEST_TEMPLATES = Path(__file__).parent / "templates"


@pytest.fixture(autouse=True)
def _probe_templates(settings):
    templates = copy.deepcopy(settings.TEMPLATES)
    templates[0]["DIRS"] = [*templates[0]["DIRS"], TEST_TEMPLATES]
    settings.TEMPLATES = templates
    fragments._rendered.clear()
    yield
    fragments._rendered.clear()


class Counter:
    def __init__(self):
        self.calls = 0

    @property
    def next(self):
        self.calls += 1
        return self.calls


def _render(tag: str, **context) -> str:
    source = "{% load fragments %}" + tag
    return engines["django"].from_string(source).render(context).strip()


PROBE = '{% fixed_include "tests/fixed_include_probe.html" name=name counter=counter %}'


def test_the_included_template_sees_only_the_named_values():
    """GIVEN a person's data in the page's context WHEN the part is included
    THEN it cannot reach it: only the values named on the tag are there."""
    page = _render(PROBE, name="MyNetSpace", counter=Counter(), secret="lea@example.org")

    assert page == "MyNetSpace||Mentions légales|1"


def test_it_is_rendered_once_per_language_and_values():
    counter = Counter()

    first = _render(PROBE, name="A", counter=counter)
    again = _render(PROBE, name="A", counter=counter, other="ignored")
    other = _render(PROBE, name="B", counter=counter)
    with translation.override("en"):
        english = _render(PROBE, name="A", counter=counter)

    assert [first, again, other] == ["A||Mentions légales|1"] * 2 + ["B||Mentions légales|2"]
    assert english == "A||Legal notice|3"
    assert counter.calls == 3


def test_with_debug_on_it_is_rendered_every_time(settings):
    settings.DEBUG = True
    counter = Counter()

    assert [_render(PROBE, name="A", counter=counter)[-1] for _ in range(2)] == ["1", "2"]


def test_the_page_context_is_intact_around_it():
    template = engines["django"].from_string(
        "{{ name }}{% load fragments %}" + PROBE + "{{ name }}-{{ secret }}"
    )
    context = {"name": "A", "counter": Counter(), "secret": "s"}

    assert template.render(context) == "AA||Mentions légales|1\nA-s"
    assert template.template.render(Context(context)) == "AA||Mentions légales|1\nA-s"


def test_a_malformed_tag_is_refused():
    for tag in (
        "{% fixed_include %}",
        "{% fixed_include tests/fixed_include_probe.html %}",
        '{% fixed_include "tests/fixed_include_probe.html" name %}',
    ):
        with pytest.raises(TemplateSyntaxError):
            _render(tag)
