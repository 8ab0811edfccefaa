"""Drop ``audit_event_chain_desc`` (chain_key, seq DESC): the unique index on
(chain_key, seq) serves the same reads, scanned backwards, and every append paid for
both."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0004_body_function"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="event",
            name="audit_event_chain_desc",
        ),
    ]
