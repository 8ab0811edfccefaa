"""The Support group works the subscriptions back office (subscriptions/admin.py).

It reads every subscriptions table and may use the staff actions, which need the
``change`` permission of their model: cancel a contract or record a withdrawal
(subscription), decide a satisfaction claim, retry a refund. The rows themselves
are never edited through a form; the actions call the services.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEW = [
    "view_plan", "view_subscription", "view_payment", "view_invoice", "view_creditnote",
    "view_refund", "view_withdrawaldeclaration", "view_cancellationrequest",
    "view_satisfactionclaim", "view_providerevent",
]  # fmt: skip
ACT = ["change_subscription", "change_satisfactionclaim", "change_refund"]


def grant(apps, schema_editor):
    alias = schema_editor.connection.alias
    app_config = apps.get_app_config("subscriptions")
    app_config.models_module = True
    create_permissions(app_config, verbosity=0, using=alias, apps=apps)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.using(alias).get_or_create(name="Support")
    permissions = Permission.objects.using(alias).filter(
        content_type__app_label="subscriptions", codename__in=VIEW + ACT
    )
    group.permissions.add(*permissions)


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    alias = schema_editor.connection.alias
    group = Group.objects.using(alias).filter(name="Support").first()
    if group is not None:
        group.permissions.remove(
            *Permission.objects.using(alias).filter(
                content_type__app_label="subscriptions", codename__in=VIEW + ACT
            )
        )


class Migration(migrations.Migration):
    dependencies = [
        ("subscriptions", "0003_seed_plans"),
        ("accounts", "0006_staff_groups"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
