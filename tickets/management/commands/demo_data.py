"""``manage.py demo_data``: the demo help desk of a café with a web shop, loaded once."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from tickets.seeding import demo_data_load

DEMO_PASSWORD = "demo1234"  # demo only: printed by `make run`, refused outside DEBUG without --force


class Command(BaseCommand):
    help = "Load demo teams, agents, customers and about 300 tickets (once: a second run changes nothing)."

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="load even when DEBUG is off")

    def handle(self, *args, **options):
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "Refusing to load demo data (with a known password) while DEBUG is off; use --force if you mean it."
            )
        logins = demo_data_load(password=DEMO_PASSWORD)
        if logins is None:
            self.stdout.write("Demo data is already loaded; nothing to do.")
            return
        self.stdout.write(self.style.SUCCESS(f"Loaded the demo help desk with {logins.tickets} tickets."))
        self.stdout.write(f"Sign in with password {DEMO_PASSWORD!r} as:")
        self.stdout.write(f"  {logins.owner}  (owner)")
        for email in logins.agents:
            self.stdout.write(f"  {email}  (agent)")
