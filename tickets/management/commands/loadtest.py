"""``manage.py loadtest``: the load test of issue 10 (bench/load/driver.py says what a run does)."""

from django.core.management.base import BaseCommand, CommandError

from bench.load import driver


class Command(BaseCommand):
    help = (
        "Agents browsing and replying and customers sending portal requests, against gunicorn and a Celery worker "
        "started on 127.0.0.1, for --run-time; prints per request type the count, rate, median, p95, max and "
        "errors, and checks the side effects. Adds data: bench databases only."
    )

    def add_arguments(self, parser):
        driver.add_arguments(parser)

    def handle(self, *args, **options):
        try:
            met = driver.LoadTest(options, write=self.stdout.write).run()
        except driver.LoadTestError as error:
            raise CommandError(str(error)) from None
        except KeyboardInterrupt:
            raise CommandError("Interrupted.", returncode=130) from None
        if not met:
            raise CommandError("Not every target was met, or a side effect did not match (see above).")
