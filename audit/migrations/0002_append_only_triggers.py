"""PostgreSQL triggers that make the evidence tables append-only.

The models already refuse updates and deletes in Python; these triggers make the
database itself refuse them, whatever client connects (raw SQL, psql, another
program). They fire for every role except superusers who switch
``session_replication_role`` (the test suite does so to empty its database), so
production's application role must be neither a superuser nor the tables' owner.

- ``audit_event``, ``audit_checkpoint``, ``audit_inboundemail``,
  ``audit_contentversion``: no UPDATE, DELETE or TRUNCATE.
- ``audit_outboundemail``: no DELETE or TRUNCATE; an UPDATE may only change the
  delivery columns (``OutboundEmail.MUTABLE_FIELDS``).
- ``audit_chain`` (the heads, moved forward on every append): no DELETE or TRUNCATE.

On other databases (SQLite for development) this migration does nothing.
"""

from django.db import migrations

FROZEN_TABLES = ("audit_event", "audit_checkpoint", "audit_inboundemail", "audit_contentversion")
OUTBOUND_MUTABLE = ("status", "attempts", "last_error", "sent_at", "updated_at")

INSTALL = """
CREATE OR REPLACE FUNCTION audit_reject_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit: % on % is refused, evidence is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END
$$;

CREATE OR REPLACE FUNCTION audit_outboundemail_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF (to_jsonb(NEW) - ARRAY[{mutable}]) IS DISTINCT FROM (to_jsonb(OLD) - ARRAY[{mutable}]) THEN
        RAISE EXCEPTION 'audit: UPDATE on audit_outboundemail may only change %', '{mutable_list}'
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END
$$;
"""

UNINSTALL = """
DROP FUNCTION IF EXISTS audit_outboundemail_guard() CASCADE;
DROP FUNCTION IF EXISTS audit_reject_change() CASCADE;
"""


def _statements():
    mutable = ", ".join(f"'{c}'" for c in OUTBOUND_MUTABLE)
    yield INSTALL.format(mutable=mutable, mutable_list=", ".join(OUTBOUND_MUTABLE))
    for table in FROZEN_TABLES:
        yield (
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION audit_reject_change()"
        )
    for table in (*FROZEN_TABLES, "audit_outboundemail", "audit_chain"):
        yield (
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_change()"
        )
    for table in ("audit_outboundemail", "audit_chain"):
        yield (
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION audit_reject_change()"
        )
    yield (
        "CREATE TRIGGER audit_outboundemail_delivery_only BEFORE UPDATE ON audit_outboundemail "
        "FOR EACH ROW EXECUTE FUNCTION audit_outboundemail_guard()"
    )


def install(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in _statements():
        schema_editor.execute(statement, params=None)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(UNINSTALL, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunPython(install, uninstall, elidable=False)]
