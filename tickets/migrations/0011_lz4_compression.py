"""Compress stored raw emails and message bodies with lz4 instead of pglz: about half the time to store a
batch of inbound email (docs/performance.md). A PostgreSQL built without lz4 keeps pglz."""

from django.db import migrations

COLUMNS = [("tickets_inboundemail", "raw"), ("tickets_message", "body_html"), ("tickets_message", "body_text")]


def _set(method: str) -> str:
    statements = " ".join(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION {method};"
                          for table, column in COLUMNS)  # fmt: skip
    return f"DO $$ BEGIN {statements} EXCEPTION WHEN feature_not_supported THEN NULL; END $$;"


class Migration(migrations.Migration):
    dependencies = [("tickets", "0010_email_channel")]

    operations = [migrations.RunSQL(_set("lz4"), reverse_sql=_set("pglz"))]
