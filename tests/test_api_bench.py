"""``manage.py bench_api`` times every read of the API's ticket list on a small generated dataset."""

import io

from django.core.management import call_command

from api.models import ApiToken
from tickets.seeding import seed_dataset


def test_bench_api_times_every_read_and_leaves_no_token(db, settings):
    settings.DEBUG = True
    seed_dataset(tickets=150, messages_per_ticket=3, customers=20, agents=4, teams=2, queues=2, days=30, seed=3)
    out = io.StringIO()

    call_command("bench_api", runs=2, stdout=out)

    rows = [line for line in out.getvalue().splitlines() if line.startswith("| ") and "ms" not in line]
    assert len(rows) == 8  # four reads, as an agent and as an admin
    assert all(row.split("|")[5].strip().endswith(("tickets", "fewer than 100 tickets")) for row in rows)
    assert sum("100 tickets" in row for row in rows) >= 2  # the admin sees all 150: a full first page
    assert not ApiToken.objects.exists()  # the bench's tokens are deleted
