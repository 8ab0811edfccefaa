"""PostgreSQL triggers that make ``accounts_consent`` append-only, like the audit tables.

A consent is evidence (which version of which text a person accepted, when, from
where): the model already refuses updates and deletes, and these triggers make the
database refuse UPDATE, DELETE and TRUNCATE from any client. They reuse the
``audit_reject_change()`` function that audit's migration 0002 installs.

On other databases (SQLite for development) this migration does nothing.
"""

from django.db import migrations

TABLE = "accounts_consent"

INSTALL = (
    f"CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
    "FOR EACH ROW EXECUTE FUNCTION audit_reject_change()",
    f"CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE} "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_change()",
)
UNINSTALL = (
    f"DROP TRIGGER IF EXISTS {TABLE}_no_truncate ON {TABLE}",
    f"DROP TRIGGER IF EXISTS {TABLE}_append_only ON {TABLE}",
)


def install(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in INSTALL:
        schema_editor.execute(statement, params=None)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in UNINSTALL:
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_profile_change"),
        ("audit", "0002_append_only_triggers"),
    ]

    operations = [migrations.RunPython(install, uninstall, elidable=False)]
