"""``manage.py bench_email``: how fast inbound email goes from raw bytes to a ticket, in one process.

Generates varied messages (plain and HTML, several charsets and encoded subjects, attachments, replies
that thread onto earlier tickets, auto-replies, and the real-world corpus of ../shared/testdata/email
when present), then times, on the same messages:
  1. Python's email parser alone (BytesParser with the default policy, walking every part);
  2. our parser (tickets.mail.parse.parse_email);
  3. the whole way in, as the IMAP fetch does it: ``inbound_ingest`` of batches of 25 messages, which
     stores them (one transaction, committed to disk), then processes them (parse, threading, customer,
     ticket or reply, attachments, search vector; one transaction). Celery calls go to the configured broker (Redis: queueing costs what it costs), to a queue
     of their own that no worker reads and that is emptied at the end.
Checks that every message became a ticket or a reply, and that no attachment was dropped.
"""

import random
import time
from contextlib import suppress
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, make_msgid
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count
from django.test.utils import override_settings
from django.utils import timezone

from helpdesk.models import Team
from tickets.mail import inbound
from tickets.mail.imap import STORE_BATCH
from tickets.mail.mime_fast import plain_feedparser
from tickets.mail.models import InboundEmail, Mailbox
from tickets.mail.parse import forget_cached, parse_email
from tickets.models import Attachment, Queue

BENCH_QUEUE = "bench_email"
CORPUS = Path(settings.BASE_DIR).parent / "shared" / "testdata" / "email"
SUBJECTS = ["Where is my order #{n}?", "Refund for order {n}", "Große Bestellung für Freitag", "Café crème ☕ {n}",
            "Réservation pour samedi", "Rechnung {n} falsch", "Allergy question", "Catering quote for {n} people"]  # fmt: skip
BODIES = ["Hello,\n\nmy order {n} has not arrived yet. Could you check?\n\nThanks,\n{name}",
          "Bonjour,\n\nje voudrais réserver une table pour {n} personnes samedi.\n\nMerci,\n{name}",
          "Hallo,\n\ndie Rechnung {n} hat die falsche Adresse. Bitte korrigieren.\n\nGrüße\n{name}"]  # fmt: skip
NAMES = ["Ann Smith", "Jürgen Groß", "Zoë Martin", "Ōta Haruki", "Marie Dupont", "Sam Lee", "Ada Nwosu"]


def _message(rng: random.Random, n: int, replies_to: list[str]) -> bytes:
    name = rng.choice(NAMES)
    address = f"customer{rng.randrange(2000)}@mail{rng.randrange(5)}.example"
    message = EmailMessage()
    message["From"] = f"{name} <{address}>"
    message["To"] = "bench@bench.example"
    message["Date"] = format_datetime(timezone.now())
    message["Message-ID"] = make_msgid(domain="mail.bench.example")
    text = rng.choice(BODIES).format(n=n, name=name)
    if replies_to and rng.random() < 0.3:  # a reply in an earlier thread
        parent = rng.choice(replies_to)
        message["Subject"] = "Re: " + rng.choice(SUBJECTS).format(n=n)
        message["In-Reply-To"] = parent
        message["References"] = parent
        text = f"Any news?\n\nOn Monday, {name} wrote:\n> " + text.replace("\n", "\n> ")
    else:
        message["Subject"] = rng.choice(SUBJECTS).format(n=n)
    if rng.random() < 0.05:
        message["Auto-Submitted"] = "auto-replied"
    charset = rng.choice(["utf-8", "utf-8", "iso-8859-15"]) if all(ord(c) < 256 for c in text) else "utf-8"
    message.set_content(text, charset=charset)
    if rng.random() < 0.5:
        paragraphs = "".join(f"<p>{line}</p>" for line in text.split("\n") if line)
        message.add_alternative(f"<html><body>{paragraphs}</body></html>", subtype="html")
    if rng.random() < 0.2:
        size = rng.choice([2_000, 20_000, 200_000])
        message.add_attachment(rng.randbytes(size), maintype="application", subtype="pdf", filename=f"doc{n}.pdf")
    return message.as_bytes()


def _corpus() -> list[bytes]:
    if not CORPUS.is_dir():
        return []
    return [p.read_bytes() for p in sorted(CORPUS.rglob("*")) if p.is_file() and p.suffix in (".eml", ".txt", "")
            and "reply-parsing" not in p.parts and p.name not in ("LICENSE", "README.md")]  # fmt: skip


class Command(BaseCommand):
    help = "Time inbound email: stdlib parser, our parser, and the whole way in to a ticket (one process)."

    def add_arguments(self, parser):
        parser.add_argument("--messages", type=int, default=10_000)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--force", action="store_true", help="run even when DEBUG is off (it adds tickets)")
        parser.add_argument("--broker", default="", help="Celery broker URL (default: CELERY_BROKER_URL)")

    def handle(self, *args, messages, seed, force, broker, **options):
        if not settings.DEBUG and not force:
            raise CommandError("Refusing to add benchmark tickets while DEBUG is off; use --force if you mean it.")
        from helpdesk.celery import app

        if broker:
            app.conf.broker_url = broker
        app.conf.task_default_queue = BENCH_QUEUE  # no worker reads it; emptied at the end
        rng = random.Random(seed)
        corpus = _corpus()
        raws, ids = [], []
        for n in range(messages):
            if corpus and n % 20 == 19:
                raws.append(corpus[(n // 20) % len(corpus)])
                continue
            raw = _message(rng, n, ids[-500:])
            ids.append(BytesParser(policy=policy.compat32).parsebytes(raw, headersonly=True)["Message-ID"])
            raws.append(raw)
        size = sum(map(len, raws))
        self.stdout.write(f"{len(raws):,} messages, {size / 1e6:.1f} MB ({len(corpus)} real-world ones in rotation)")

        with plain_feedparser():  # the standard library as shipped, without our boundary shortcut
            stdlib = self._rate(raws, lambda raw: list(BytesParser(policy=policy.default).parsebytes(raw).walk()))
        forget_cached()  # each timing starts with the parser's caches empty, as a worker meets new mail
        ours = self._rate(raws, parse_email_safely)
        forget_cached()
        mailbox = self._mailbox()
        last_pk = InboundEmail.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        started = time.perf_counter()
        with override_settings(DEBUG=False):  # no query log, as in production
            for start in range(0, len(raws), STORE_BATCH):
                inbound.inbound_ingest(raws=raws[start : start + STORE_BATCH], source=InboundEmail.Source.IMAP,
                                       mailbox=mailbox)  # fmt: skip
        seconds = time.perf_counter() - started
        self._drop_queued(app)

        new = InboundEmail.objects.filter(pk__gt=last_pk)
        outcomes = dict(new.values_list("outcome").annotate(n=Count("pk")).order_by())
        failed = list(new.filter(status=InboundEmail.Status.FAILED).values_list("pk", "error")[:5])
        expected = sum(len(parsed.attachments) for raw in new.filter(message__isnull=False, outcome__in=[
            "new_ticket", "reply", "follow_up"]).values_list("raw", flat=True) if (parsed := parse_email_safely(bytes(raw))))  # fmt: skip
        stored = Attachment.objects.filter(message__in=new.values("message")).count()
        self.stdout.write("| read | rate |\n|---|---:|")
        self.stdout.write(f"| stdlib `BytesParser(policy=default)` + walk | {stdlib:,.0f} messages/s |")
        self.stdout.write(f"| `parse_email` | {ours:,.0f} messages/s |")
        self.stdout.write(f"| `inbound_ingest`, batches of {STORE_BATCH}: store, parse, threading, ticket or reply, attachments | "
                          f"{len(raws) / seconds:,.0f} messages/s ({seconds:.1f} s) |")  # fmt: skip
        self.stdout.write(f"New rows: {new.count():,} ({len(raws) - new.count():,} were stored before); "
                          f"outcomes {outcomes}; failed {len(failed)} {failed}")  # fmt: skip
        self.stdout.write(f"Attachments: {expected:,} in the messages, {stored:,} stored")

    def _drop_queued(self, app) -> None:
        """The messages queued by the run (processing and acknowledgements) are not for a real worker."""
        with app.connection_for_write() as connection, suppress(Exception):
            connection.default_channel.queue_purge(BENCH_QUEUE)

    def _rate(self, raws, parse) -> float:
        started = time.perf_counter()
        for raw in raws:
            parse(raw)
        return len(raws) / (time.perf_counter() - started)

    def _mailbox(self) -> Mailbox:
        queue = Queue.objects.filter(slug="bench-email").first()
        if queue is None:
            queue = Queue.objects.create(name="Email bench", slug="bench-email", team=Team.objects.get_or_create(
                name="Email bench")[0])  # fmt: skip
        return Mailbox.objects.get_or_create(email_address="bench@bench.example",
                                             defaults={"name": "Bench", "queue": queue})[0]  # fmt: skip


def parse_email_safely(raw: bytes):
    try:
        return parse_email(raw)
    except Exception:  # counted like any message; the pipeline records the error
        return None
