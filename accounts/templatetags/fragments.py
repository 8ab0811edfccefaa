"""``{% fixed_fragment %}``: markup rendered once per language and values, then reused.

::

    {% fixed_fragment "footer" COMPANY_NAME=COMPANY_NAME year=year %}
      {% include "includes/footer.html" %}
    {% endfixed_fragment %}

The body is rendered with the named values only (and the active language): nothing
else of the page's context reaches it, so no person's data, request or CSRF token can
end up in markup shared by every page. It is rendered again for another language or
other values; with ``DEBUG`` on it is never reused, so template edits show at once.

The layout's footer is the use: about 15 translated strings rendered on every page
(benchmarks/bench_accounts.py) that only change with the language and the settings.
"""

from __future__ import annotations

from django import template
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.safestring import mark_safe
from django.utils.translation import get_language

register = template.Library()

#: Rendered fragments by (name, language, values); bounded, as values come from settings.
_rendered: dict[tuple, str] = {}
_MAX_FRAGMENTS = 256


@receiver(setting_changed)
def _forget_fragments(**kwargs) -> None:
    _rendered.clear()


class FixedFragmentNode(template.Node):
    def __init__(self, name: str, values: dict, nodelist):
        self.name = name
        self.values = values
        self.nodelist = nodelist

    def render(self, context):
        values = {key: value.resolve(context) for key, value in self.values.items()}
        key = (self.name, get_language(), *sorted(values.items()))
        try:
            hash(key)
        except TypeError:
            key = None  # a value that cannot be a key: rendered every time
        cached = None if key is None or settings.DEBUG else _rendered.get(key)
        if cached is not None:
            return cached
        with _only(context, values):
            html = mark_safe(self.nodelist.render(context))
        if key is not None:
            if len(_rendered) >= _MAX_FRAGMENTS:
                _rendered.clear()
            _rendered[key] = html
        return html


class _only:
    """The context reduced to ``values`` while the fragment renders."""

    def __init__(self, context, values: dict):
        self.context = context
        self.values = values

    def __enter__(self):
        self.saved = self.context.dicts
        self.context.dicts = [self.saved[0], dict(self.values)]

    def __exit__(self, *exc):
        self.context.dicts = self.saved


@register.tag
def fixed_fragment(parser, token):
    bits = token.split_contents()
    if len(bits) < 2 or not (bits[1][0] == bits[1][-1] and bits[1][0] in "\"'"):
        raise template.TemplateSyntaxError(f"{bits[0]} takes a quoted name, then name=value pairs")
    values = {}
    for bit in bits[2:]:
        name, sep, expression = bit.partition("=")
        if not sep or not name.isidentifier():
            raise template.TemplateSyntaxError(f"{bits[0]}: {bit!r} is not name=value")
        values[name] = parser.compile_filter(expression)
    nodelist = parser.parse(("endfixed_fragment",))
    parser.delete_first_token()
    return FixedFragmentNode(bits[1][1:-1], values, nodelist)
