"""Template helpers of the vault pages."""

from __future__ import annotations

from django import template

from accounts import journal

register = template.Library()


@register.filter
def vault_describe(event) -> str:
    """The plain-language sentence of an evidence event, as in « Mon journal »."""
    return journal.describe(event)
