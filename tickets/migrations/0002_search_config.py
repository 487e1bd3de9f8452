"""Accent-insensitive, stemmed full-text search, and ticket numbers that start at 1001."""

from django.contrib.postgres.operations import TrigramExtension, UnaccentExtension
from django.db import migrations

CREATE_CONFIG = """
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_ts_config WHERE cfgname = 'helpdesk') THEN
        CREATE TEXT SEARCH CONFIGURATION helpdesk (COPY = english);
        ALTER TEXT SEARCH CONFIGURATION helpdesk
            ALTER MAPPING FOR hword, hword_part, word WITH unaccent, english_stem;
    END IF;
END
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("tickets", "0001_initial")]

    operations = [
        UnaccentExtension(),
        TrigramExtension(),
        migrations.RunSQL(CREATE_CONFIG, "DROP TEXT SEARCH CONFIGURATION IF EXISTS helpdesk"),
        migrations.RunSQL(
            "SELECT setval(pg_get_serial_sequence('tickets_ticket', 'id'), 1000, true)",
            migrations.RunSQL.noop,
        ),
    ]
