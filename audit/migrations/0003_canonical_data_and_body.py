"""Event data stored as canonical JSON text.

- ``audit_event.data`` becomes text holding the canonical JSON that the event's hash
  covers (it was jsonb, whose own rendering is not canonical). Existing rows are
  rewritten to that exact text: a change of representation only, the hashed bytes are
  the same, so every existing hash still verifies. On PostgreSQL the append-only
  trigger is disabled for the rewrite only, inside this migration's transaction.

The generated column ``body`` that is built over this text comes with migration 0004
(it is dropped first when this migration is reversed, as the column could not go
back to jsonb under it).
"""

import json

from django.db import migrations

import audit.fields
from audit.hashing import canonical_json
from audit import pgbody


def rewrite_data_canonically(apps, schema_editor):
    connection = schema_editor.connection
    postgres = connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        if postgres:
            cursor.execute("ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only")
        cursor.execute("SELECT id, data FROM audit_event")
        rows = cursor.fetchall()
        changes = []
        for pk, data in rows:
            text = canonical_json(json.loads(data)).decode("utf-8")
            if text != data:
                changes.append((text, pk))
        cursor.executemany("UPDATE audit_event SET data = %s WHERE id = %s", changes)
        if postgres:
            # The rewrite queued the deferred foreign-key checks of its rows: run them
            # now, as ALTER TABLE refuses a table with pending trigger events.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("ALTER TABLE audit_event ENABLE TRIGGER audit_event_append_only")


def drop_body(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            pgbody.uninstall(cursor)


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_append_only_triggers")]

    operations = [
        migrations.AlterField(
            model_name="event",
            name="data",
            field=audit.fields.CanonicalJSONField(default=dict),
        ),
        migrations.RunPython(rewrite_data_canonically, drop_body),
    ]
