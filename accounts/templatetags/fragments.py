"""``{% fixed_include %}``: a template included once per language and values, then reused.

::

    {% fixed_include "includes/footer.html" COMPANY_NAME=COMPANY_NAME year=year %}

works as ``{% include "includes/footer.html" with COMPANY_NAME=COMPANY_NAME
year=year only %}``: the included template sees the named values and nothing else of
the page, so no person's data, request or CSRF token can end up in markup shared by
every page. Its output is kept per (template, active language, values) and reused;
with ``DEBUG`` on it is rendered every time, so that template edits show at once.

For the parts of the layout that are the same for everybody in a language (the
footer, the language choices, the journal's filter): about a quarter of the server
time of a customer page went into rendering them (benchmarks/bench_accounts.py).
"""

from __future__ import annotations

from django import template
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.safestring import mark_safe
from django.utils.translation import get_language

register = template.Library()

#: Outputs by (template, language, values); bounded, as values come from settings.
_rendered: dict[tuple, str] = {}
_MAX_OUTPUTS = 256


@receiver(setting_changed)
def _forget_outputs(**kwargs) -> None:
    _rendered.clear()


class FixedIncludeNode(template.Node):
    def __init__(self, template_name: str, values: dict):
        self.template_name = template_name
        self.values = values

    def render(self, context):
        values = {name: value.resolve(context) for name, value in self.values.items()}
        key = (self.template_name, get_language(), *sorted(values.items()))
        try:
            hash(key)
        except TypeError:
            key = None  # a value that cannot be part of a key: rendered every time
        if key is not None and not settings.DEBUG and key in _rendered:
            return _rendered[key]
        included = context.template.engine.get_template(self.template_name)
        output = mark_safe(included.render(context.new(values)))
        if key is not None:
            if len(_rendered) >= _MAX_OUTPUTS:
                _rendered.clear()
            _rendered[key] = output
        return output


@register.tag
def fixed_include(parser, token):
    bits = token.split_contents()
    if len(bits) < 2 or len(bits[1]) < 2 or bits[1][0] != bits[1][-1] or bits[1][0] not in "\"'":
        raise template.TemplateSyntaxError(
            f"{bits[0]} takes a quoted template name, then name=value pairs"
        )
    values = {}
    for bit in bits[2:]:
        name, sep, expression = bit.partition("=")
        if not sep or not name.isidentifier():
            raise template.TemplateSyntaxError(f"{bits[0]}: {bit!r} is not name=value")
        values[name] = parser.compile_filter(expression)
    return FixedIncludeNode(bits[1][1:-1], values)
