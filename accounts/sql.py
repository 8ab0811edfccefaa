"""Rows read with plain SQL, given back as a queryset would give them.

A few reads run on every customer page (the journal's events and the verification of
its chain, the open subscription on the dashboard) and compiling their querysets cost
more than running them (benchmarks/bench_accounts.py). They are written in SQL over
the model's own columns; these helpers convert each value with the field's converters
(JSON, and datetimes on SQLite) and build instances with ``Model.from_db``, as the ORM
does.
"""

from __future__ import annotations

import functools

from django.db import DEFAULT_DB_ALIAS, connections


def model_columns(model, table_alias: str = "") -> str:
    """``a.col1, a.col2, ...``: every concrete column of ``model``, in field order."""
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    prefix = f"{table_alias}." if table_alias else ""
    return ", ".join(prefix + quote(field.column) for field in model._meta.concrete_fields)


@functools.lru_cache(maxsize=64)
def _converters(model, fields: tuple[str, ...], connection) -> tuple:
    # Keyed on the connection object: the backend's converters are bound to it.
    found = []
    for index, name in enumerate(fields):
        column = model._meta.get_field(name).get_col(model._meta.db_table)
        functions = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        if functions:
            found.append((index, column, tuple(functions)))
    return tuple(found)


def convert_row(model, fields: tuple[str, ...], values) -> list:
    """``values`` of ``model``'s ``fields`` (names or attnames), converted as by the ORM."""
    connection = connections[DEFAULT_DB_ALIAS]
    values = list(values)
    for index, column, functions in _converters(model, fields, connection):
        for convert in functions:
            values[index] = convert(values[index], column, connection)
    return values


@functools.cache
def _attnames(model) -> tuple[str, ...]:
    return tuple(field.attname for field in model._meta.concrete_fields)


def instance_from_row(model, values):
    """A ``model`` instance from the values of :func:`model_columns` (one row)."""
    fields = _attnames(model)
    return model.from_db(DEFAULT_DB_ALIAS, fields, convert_row(model, fields, values))
