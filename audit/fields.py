"""A model field that stores a JSON value as its canonical JSON text.

An event's ``data`` is kept exactly as its hash covers it (``audit.hashing``): the
column holds the canonical bytes, so the database can recompute an event's canonical
body from its columns alone (``audit_event.body`` on PostgreSQL) and a verifier
never has to re-encode a parsed value. Python code sees the parsed value.
"""

from __future__ import annotations

import json

from django.db import models
from django.db.models.fields.json import KeyTransform
from django.db.models.functions import Cast

from .hashing import canonical_json


class _KeyOfCanonicalJSON:
    """``data__key`` lookups read the text as JSON (``data::jsonb -> 'key'``)."""

    def __init__(self, key_name: str) -> None:
        self.key_name = key_name

    def __call__(self, lhs, *args, **kwargs):
        return KeyTransform(self.key_name, Cast(lhs, models.JSONField()), *args, **kwargs)


class CanonicalJSONField(models.TextField):
    """``dict``/``list``/scalars in Python, canonical JSON text in the database."""

    description = "A JSON value stored as canonical JSON text"

    def from_db_value(self, value, expression, connection):
        return None if value is None else json.loads(value)

    def to_python(self, value):
        if isinstance(value, str):
            return json.loads(value)
        return value

    def get_prep_value(self, value):
        if value is None:
            return None
        return canonical_json(value).decode("utf-8")

    def value_to_string(self, obj):
        return self.get_prep_value(self.value_from_object(obj))

    def get_transform(self, name):
        return super().get_transform(name) or _KeyOfCanonicalJSON(name)

    def formfield(self, **kwargs):
        return models.JSONField().formfield(**kwargs)
