"""The monthly and yearly plans (subscriptions/plans.py), needed in every installation."""

from django.db import migrations


def seed(apps, schema_editor):
    from subscriptions.plans import plans_ensure

    plans_ensure(apps.get_model("subscriptions", "Plan"))


class Migration(migrations.Migration):
    dependencies = [("subscriptions", "0002_append_only_triggers")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
