import django.contrib.postgres.indexes
from django.contrib.postgres.operations import BtreeGinExtension
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("tickets", "0007_notifications"),
    ]

    operations = [
        BtreeGinExtension(),
        migrations.AddIndex(
            model_name="ticket",
            index=django.contrib.postgres.indexes.GinIndex(
                fields=["queue", "search_vector"], name="ticket_queue_search"
            ),
        ),
        migrations.RemoveIndex(model_name="ticket", name="ticket_search_gin"),
    ]
