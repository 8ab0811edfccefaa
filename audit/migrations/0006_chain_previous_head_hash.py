"""``audit_chain.previous_head_hash``: the head before the last append.

The append moves the head with an UPDATE that returns what the event's INSERT needs,
in one statement (``audit.services._PG_APPEND``); PostgreSQL 15 returns only the new
values of an UPDATE, so the old head is kept in this column. It is filled from the
events for the chains that exist, so that it always holds the ``prev_hash`` of the
head event.
"""

from django.db import migrations, models


def fill(apps, schema_editor):
    Chain = apps.get_model("audit", "Chain")
    Event = apps.get_model("audit", "Event")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "UPDATE audit_chain SET previous_head_hash = e.prev_hash FROM audit_event e"
            " WHERE e.chain_key = audit_chain.key AND e.seq = audit_chain.length"
        )
        return
    for chain in Chain.objects.filter(length__gt=0).iterator():
        last = Event.objects.filter(chain_key=chain.key, seq=chain.length).first()
        if last is not None:
            Chain.objects.filter(pk=chain.pk).update(previous_head_hash=last.prev_hash)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0005_drop_redundant_chain_desc_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="chain",
            name="previous_head_hash",
            field=models.CharField(db_default="", default="", max_length=64),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop, elidable=True),
    ]
