"""Fetch inbound email from the mailboxes' IMAP folders.

New messages are stored in batches with ``inbound_ingest`` (which commits them, then processes them), and
only then does the mailbox's progress (the highest UID stored, under the folder's UIDVALIDITY) move past
them: a crash in between means fetching those messages again, which the store turns into a no-op, and
messages stored but not processed are picked up by the sweep. The
folder is opened read-only (EXAMINE) and read with BODY.PEEK[], so nothing on the server changes: no
\\Seen flag, nothing deleted or moved. IDLE is not supported: mailboxes are polled.
"""

import base64
import imaplib
import logging
import re
import ssl
from contextlib import contextmanager, suppress

from django.db import connection
from django.utils import timezone

from .inbound import inbound_ingest
from .models import InboundEmail, Mailbox

logger = logging.getLogger(__name__)

TIMEOUT = 30  # seconds, for connecting and for every read
_LOCK_NAMESPACE = 0x494D4150  # "IMAP": the upper half of the advisory lock key; the mailbox id is the lower
_FETCH_UID = re.compile(rb"\bUID (\d+)")
STORE_BATCH = 25  # messages stored in one transaction (and processed as one task)
STORE_BATCH_BYTES = 10_000_000


class ImapFetchError(Exception):
    """The IMAP server could not be reached or refused us (network, TLS, login, folder); the text says why."""


def fetch_mailbox(*, mailbox_id: int, batch: int = 200) -> int:
    """Store the new messages of one mailbox's IMAP folder, oldest first, at most ``batch`` of them;
    returns how many were new. Returns 0 without fetching when another fetch of this mailbox is running,
    or when the mailbox does not fetch (inactive, no server). Raises ``ImapFetchError`` when the server
    fails; the error (or "" after a success) is kept in ``Mailbox.last_fetch_error``."""
    with _lock(mailbox_id) as acquired:
        if not acquired:
            return 0
        mailbox = Mailbox.objects.filter(pk=mailbox_id).first()
        if mailbox is None or not mailbox.fetches_imap:
            return 0
        try:
            stored = _fetch(mailbox, batch)
        except (imaplib.IMAP4.error, OSError) as error:  # OSError: refused, timeout, TLS (ssl.SSLError)
            message = _describe(error)
            _record(mailbox_id, error=message)
            logger.warning("IMAP fetch of mailbox %s failed: %s", mailbox_id, message)
            raise ImapFetchError(message) from error
        except Exception as error:
            _record(mailbox_id, error=_describe(error))
            raise
        _record(mailbox_id, error="")
        return stored


def fetch_all_mailboxes() -> dict[int, int | str]:
    """Fetch every active mailbox that has an IMAP server: {mailbox id: messages stored, or the error}.
    One mailbox failing does not stop the others."""
    results: dict[int, int | str] = {}
    for mailbox in Mailbox.objects.filter(is_active=True).exclude(imap_host="").order_by("pk"):
        try:
            results[mailbox.pk] = fetch_mailbox(mailbox_id=mailbox.pk)
        except ImapFetchError as error:
            results[mailbox.pk] = str(error)
        except Exception as error:  # a bug or a database error with one mailbox: go on with the others
            logger.exception("IMAP fetch of mailbox %s failed", mailbox.pk)
            results[mailbox.pk] = _describe(error)
    return results


def _ssl_context() -> ssl.SSLContext:
    """Certificates are checked against the system's CAs (tests replace this to trust their own CA)."""
    return ssl.create_default_context()


def _fetch(mailbox: Mailbox, batch: int) -> int:
    with _connect(mailbox) as imap:
        status, data = imap.select(_quote(mailbox.imap_folder), readonly=True)
        if status != "OK":
            raise imaplib.IMAP4.error(f"Cannot open folder {mailbox.imap_folder!r}: {_text(data)}")
        _kind, values = imap.response("UIDVALIDITY")
        if not values or values[0] is None:
            raise imaplib.IMAP4.error("The server did not say the folder's UIDVALIDITY.")
        uidvalidity = int(values[0])
        last_uid = mailbox.imap_last_uid
        if uidvalidity != mailbox.imap_uidvalidity:
            # A new folder, or its UIDs were renumbered: start over; stored messages are not stored twice.
            last_uid = 0
            Mailbox.objects.filter(pk=mailbox.pk).update(imap_uidvalidity=uidvalidity, imap_last_uid=0)
        status, data = imap.uid("SEARCH", f"UID {last_uid + 1}:*")
        if status != "OK":
            raise imaplib.IMAP4.error(f"SEARCH failed: {_text(data)}")
        # "n:*" also matches the newest message when n is beyond it, so keep only the UIDs above last_uid.
        uids = sorted(uid for uid in map(int, b" ".join(d for d in data if d).split()) if uid > last_uid)
        stored, fetched, size = 0, [], 0
        for uid in uids[:batch]:
            raw = _fetch_message(imap, uid)  # None: expunged since the SEARCH, nothing left to store
            fetched.append((uid, raw))
            size += len(raw or b"")
            if len(fetched) >= STORE_BATCH or size >= STORE_BATCH_BYTES:
                stored += _store(mailbox, fetched)
                fetched, size = [], 0
        return stored + _store(mailbox, fetched)


def _store(mailbox: Mailbox, fetched: list[tuple[int, bytes | None]]) -> int:
    """Store fetched messages, then move the mailbox's progress past them; returns how many were new."""
    if not fetched:
        return 0
    raws = [raw for _uid, raw in fetched if raw is not None]
    stored = inbound_ingest(raws=raws, source=InboundEmail.Source.IMAP, mailbox=mailbox)
    _save_progress(mailbox.pk, fetched[-1][0])
    return sum(new for _row, new in stored)


def _fetch_message(imap: imaplib.IMAP4, uid: int) -> bytes | None:
    status, data = imap.uid("FETCH", str(uid), "(BODY.PEEK[])")
    if status != "OK":
        raise imaplib.IMAP4.error(f"FETCH of UID {uid} failed: {_text(data)}")
    for part in data:
        # A message arrives as (b'7 (UID 42 BODY[] {1234}', b'<the bytes>'); unsolicited FLAGS lines may too.
        if isinstance(part, tuple) and b"BODY[]" in part[0]:
            found = _FETCH_UID.search(part[0])
            if found is None or int(found.group(1)) == uid:
                return part[1]
    return None


def _save_progress(mailbox_id: int, uid: int) -> None:
    Mailbox.objects.filter(pk=mailbox_id).update(imap_last_uid=uid)


def _record(mailbox_id: int, *, error: str) -> None:
    Mailbox.objects.filter(pk=mailbox_id).update(last_fetched_at=timezone.now(), last_fetch_error=error[:5000])


@contextmanager
def _connect(mailbox: Mailbox):
    host, port = mailbox.imap_host, mailbox.imap_port
    if mailbox.imap_security == Mailbox.Security.SSL:
        imap = imaplib.IMAP4_SSL(host, port, ssl_context=_ssl_context(), timeout=TIMEOUT)
    else:
        imap = imaplib.IMAP4(host, port, timeout=TIMEOUT)
    try:
        if mailbox.imap_security == Mailbox.Security.STARTTLS:
            imap.starttls(ssl_context=_ssl_context())  # raises unless the server offers and completes it
        _login(imap, mailbox.imap_username, mailbox.imap_password)
        yield imap
    finally:
        try:
            imap.logout()
        except (imaplib.IMAP4.error, OSError):
            with suppress(OSError):
                imap.shutdown()


def _login(imap: imaplib.IMAP4, user: str, password: str) -> None:
    if (user + password).isascii():
        imap.login(user, password)
    else:  # LOGIN is ASCII only in imaplib; SASL PLAIN carries UTF-8
        imap.authenticate("PLAIN", lambda _challenge: f"\0{user}\0{password}".encode())


def _quote(folder: str) -> str:
    """A folder name as an IMAP quoted string, non-ASCII in IMAP's modified UTF-7 (RFC 3501, 5.1.3)."""
    encoded, pending = [], []

    def flush():
        if pending:
            chunk = base64.b64encode("".join(pending).encode("utf-16-be")).rstrip(b"=").replace(b"/", b",")
            encoded.append(f"&{chunk.decode()}-")
            pending.clear()

    for char in folder:
        if " " <= char <= "~":
            flush()
            encoded.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    name = "".join(encoded).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{name}"'


def _lock_key(mailbox_id: int) -> int:
    return (_LOCK_NAMESPACE << 32) | (mailbox_id & 0xFFFFFFFF)


@contextmanager
def _lock(mailbox_id: int):
    """A Postgres session advisory lock for this mailbox's fetch; yields whether we got it."""
    key = _lock_key(mailbox_id)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        acquired = cursor.fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


def _text(data) -> str:
    return " ".join(part.decode(errors="replace") if isinstance(part, bytes) else str(part) for part in data or [])


def _describe(error: BaseException) -> str:
    """Readable error text: imaplib gives the server's answer as bytes (b'[AUTHENTICATIONFAILED] ...')."""
    args = error.args
    text = args[0].decode(errors="replace") if len(args) == 1 and isinstance(args[0], bytes) else str(error)
    kind = "IMAP" if isinstance(error, imaplib.IMAP4.error) else type(error).__name__
    return f"{kind}: {text or repr(error)}"
