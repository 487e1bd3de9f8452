"""Autovacuum thresholds for the ticket table that follow a help desk's traffic, not the table's size.

PostgreSQL's defaults vacuum a table after 20 % of it changed: on 1M tickets, after 200,000 new tickets, that
is months of a busy desk. Until then the new tickets' pages are not marked all-visible, so the index-only
scans behind the sidebar counts and the lists of open tickets (index ``ticket_open_counts`` and the other
partial indexes of open tickets) read the table for every new ticket: in the load test (issue 10) the
sidebar counts went from 4 to 28 ms after 20,000 new tickets. With these, a vacuum follows every 1 % (about
10,000 tickets on 1M; inserted, updated or deleted), and it is cheap: only the pages changed since the last
one are read.
"""

from django.db import migrations

SETTINGS = (
    "autovacuum_vacuum_insert_scale_factor = 0.01, autovacuum_vacuum_scale_factor = 0.01, "
    "autovacuum_analyze_scale_factor = 0.02"
)


class Migration(migrations.Migration):
    dependencies = [("tickets", "0024_ticket_portal_submission")]

    operations = [
        migrations.RunSQL(
            f"ALTER TABLE tickets_ticket SET ({SETTINGS})",
            "ALTER TABLE tickets_ticket RESET (autovacuum_vacuum_insert_scale_factor, "
            "autovacuum_vacuum_scale_factor, autovacuum_analyze_scale_factor)",
        ),
    ]
