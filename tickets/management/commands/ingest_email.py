"""``manage.py ingest_email``: hand inbound email to the help desk from a mail server or from files.

    ingest_email < message.eml                 # one message on stdin (an MTA pipe, e.g. Postfix)
    ingest_email a.eml b.eml ~/Maildir mail.mbox   # files, maildirs and mbox files

Each message is stored as it is and processed by a Celery worker. Exit status 75 (EX_TEMPFAIL) when the
database cannot be reached, so a mail server keeps the message and tries again later.
"""

import mailbox
import sys
from collections.abc import Iterator
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from tickets.mail.inbound import inbound_store_many
from tickets.mail.models import InboundEmail, Mailbox

EX_TEMPFAIL = 75
BATCH = 25  # messages of files, maildirs and mbox files stored in one transaction


def _messages(path: Path) -> Iterator[bytes]:
    """The raw messages in a file (one message, or an mbox) or a maildir (or a folder of .eml files)."""
    if path.is_dir():
        if (path / "cur").is_dir() or (path / "new").is_dir():
            maildir = mailbox.Maildir(path, factory=None, create=False)
            for key in sorted(maildir.iterkeys()):
                yield maildir.get_bytes(key)
            return
        for child in sorted(path.iterdir()):
            if child.is_file():
                yield from _messages(child)
        return
    data = path.read_bytes()
    if data.startswith(b"From "):  # mbox: "From sender date" lines separate the messages
        box = mailbox.mbox(path, factory=None, create=False)
        for key in box.iterkeys():
            yield box.get_bytes(key)
        return
    yield data


class Command(BaseCommand):
    help = "Store inbound email from stdin, files, maildirs or mbox files; a Celery worker processes it."

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="*", help="files, maildirs or mbox files (none: one message from stdin)")
        parser.add_argument("--mailbox", help="the mailbox address (default: found from the recipients)")

    def handle(self, *args, paths, mailbox=None, **options):
        try:
            chosen = self._mailbox(mailbox)
            if not paths:
                raw = sys.stdin.buffer.read()
                if not raw.strip():
                    raise CommandError("No message on standard input.")
                self._store([raw], InboundEmail.Source.PIPE, chosen)
                return
            for name in paths:
                path = Path(name).expanduser()
                if not path.exists():
                    raise CommandError(f"{name}: no such file or folder.")
                batch = []
                for raw in _messages(path):
                    batch.append(raw)
                    if len(batch) >= BATCH:
                        self._store(batch, InboundEmail.Source.FILE, chosen)
                        batch = []
                self._store(batch, InboundEmail.Source.FILE, chosen)
        except DatabaseError as error:
            self.stderr.write(f"The database cannot be reached ({error}); try again later.")
            sys.exit(EX_TEMPFAIL)

    def _mailbox(self, address: str | None) -> Mailbox | None:
        if not address:
            return None
        found = Mailbox.objects.filter(email_address__iexact=address).first()
        if found is None:
            raise CommandError(f"No mailbox with the address {address}; add it in the admin first.")
        return found

    def _store(self, raws: list[bytes], source: str, mailbox: Mailbox | None) -> None:
        for row, created in inbound_store_many(raws=raws, source=source, mailbox=mailbox):
            state = "stored" if created else "already stored"
            self.stdout.write(f"{state}: #{row.pk} {row.sender or '?'}: {row.subject or '(no subject)'}")
