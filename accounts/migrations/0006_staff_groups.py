"""The staff groups "Support" and "Compliance" with their permissions (docs/decisions.md).

Permissions are normally created after all migrations ran (post_migrate); they are
created here first so that a fresh database gets complete groups. Later apps add
their permissions to these groups in their own migrations.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUPS = {
    # Helps customers with their account: reads, never evidence or secrets.
    "Support": {
        "accounts": ["view_user", "view_profile"],
        "account": ["view_emailaddress"],
    },
    # Reads every piece of evidence: the chains, emails sent and received, published
    # texts, consents and account closures.
    "Compliance": {
        "audit": [
            "view_chain",
            "view_event",
            "view_checkpoint",
            "view_outboundemail",
            "view_inboundemail",
            "view_contentversion",
        ],
        "accounts": ["view_user", "view_consent", "view_accountclosure"],
    },
}


def create_groups(apps, schema_editor):
    alias = schema_editor.connection.alias
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0, using=alias, apps=apps)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, by_app in GROUPS.items():
        group, _ = Group.objects.using(alias).get_or_create(name=name)
        for app_label, codenames in by_app.items():
            permissions = list(
                Permission.objects.using(alias).filter(
                    content_type__app_label=app_label, codename__in=codenames
                )
            )
            missing = set(codenames) - {p.codename for p in permissions}
            if missing:
                raise RuntimeError(f"{name}: missing permissions {sorted(missing)} in {app_label}")
            group.permissions.add(*permissions)


def remove_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.using(schema_editor.connection.alias).filter(name__in=GROUPS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_chain_verification_account_closure"),
        ("audit", "0002_append_only_triggers"),
        ("account", "0009_emailaddress_unique_primary_email"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
