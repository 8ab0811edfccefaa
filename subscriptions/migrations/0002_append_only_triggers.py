"""PostgreSQL triggers that keep the subscriptions' evidence append-only.

Reuses ``audit_reject_change()`` from audit migration 0002 for DELETE and TRUNCATE,
and adds one guard, ``subscriptions_guard_columns()``, that lets an UPDATE change
only the columns named in the trigger's arguments:

- ``subscriptions_invoice``, ``subscriptions_creditnote``: issued documents; only
  the PDF columns (hash, rendering time, vault document) may be filled in later.
- ``subscriptions_providerevent``: raw provider notifications; only the processing
  columns may change, never the body, its hash or the signature header.
- ``subscriptions_withdrawaldeclaration``, ``subscriptions_cancellationrequest``:
  no UPDATE at all.

The number counters are not evidence rows but must never go back: no DELETE or
TRUNCATE on ``subscriptions_documentcounter``. On other databases this migration does
nothing (the models refuse the same changes in Python).
"""

from django.db import migrations

GUARD = """
CREATE OR REPLACE FUNCTION subscriptions_guard_columns() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF (to_jsonb(NEW) - TG_ARGV) IS DISTINCT FROM (to_jsonb(OLD) - TG_ARGV) THEN
        RAISE EXCEPTION 'subscriptions: UPDATE on % may only change %', TG_TABLE_NAME,
            array_to_string(TG_ARGV, ', ')
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END
$$;
"""

#: table -> columns an UPDATE may change (empty: no UPDATE at all).
GUARDED = {
    "subscriptions_invoice": ("pdf_sha256", "pdf_rendered_at", "vault_document_id"),
    "subscriptions_creditnote": ("pdf_sha256", "pdf_rendered_at", "vault_document_id"),
    "subscriptions_providerevent": (
        "status",
        "attempts",
        "processed_at",
        "processing_result",
        "subscription_id",
    ),
    "subscriptions_withdrawaldeclaration": (),
    "subscriptions_cancellationrequest": (),
}
NO_DELETE = (*GUARDED, "subscriptions_documentcounter")


def _statements():
    yield GUARD
    for table, columns in GUARDED.items():
        if columns:
            arguments = ", ".join(f"'{c}'" for c in columns)
            yield (
                f"CREATE TRIGGER {table}_guard BEFORE UPDATE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION subscriptions_guard_columns({arguments})"
            )
        else:
            yield (
                f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION audit_reject_change()"
            )
    for table in NO_DELETE:
        yield (
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION audit_reject_change()"
        )
        yield (
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_change()"
        )


def install(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in _statements():
        schema_editor.execute(statement, params=None)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in NO_DELETE:
        for suffix in ("guard", "no_update", "no_delete", "no_truncate"):
            schema_editor.execute(
                f"DROP TRIGGER IF EXISTS {table}_{suffix} ON {table}", params=None
            )
    schema_editor.execute("DROP FUNCTION IF EXISTS subscriptions_guard_columns()", params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0002_append_only_triggers"),
        ("subscriptions", "0001_initial"),
    ]

    operations = [migrations.RunPython(install, uninstall, elidable=False)]
