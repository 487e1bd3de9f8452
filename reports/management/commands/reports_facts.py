"""Verify or rebuild the report facts from the raw tickets (issue 8)."""

import time

from django.core.management.base import BaseCommand, CommandError

from reports.services import BATCH, facts_rebuild, facts_refresh_stale, facts_verify


class Command(BaseCommand):
    help = (
        "--verify: recompute every ticket's report facts from its raw history and list every difference "
        "(exit status 1 if any); --rebuild: compute and store them all again, in batches; --stale: refresh "
        "the tickets marked stale now."
    )

    def add_arguments(self, parser):
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument("--verify", action="store_true")
        group.add_argument("--rebuild", action="store_true")
        group.add_argument("--stale", action="store_true")
        parser.add_argument("--batch", type=int, default=BATCH)
        parser.add_argument("--limit", type=int, default=None, help="--verify: stop after this many tickets")

    def handle(self, *args, verify, rebuild, stale, batch, limit, **options):
        started = time.monotonic()
        if stale:
            self.stdout.write(f"refreshed {facts_refresh_stale()} tickets")
        elif rebuild:
            done = facts_rebuild(batch=batch, progress=lambda n: self.stderr.write(f"\r{n} tickets", ending=""))
            self.stdout.write(f"\nrebuilt the facts of {done} tickets in {time.monotonic() - started:.1f} s")
        else:
            result = facts_verify(batch=batch, limit=limit)
            for line in result.differences:
                self.stdout.write(line)
            self.stdout.write(f"checked {result.checked} tickets in {time.monotonic() - started:.1f} s, "
                              f"{len(result.differences)} differences, {result.stale} awaiting a refresh")  # fmt: skip
            if result.differences:
                raise CommandError(f"{len(result.differences)} facts differ from a recomputation")
