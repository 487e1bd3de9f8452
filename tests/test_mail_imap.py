"""Fetching inbound email over IMAP, against a real Dovecot (tests/imap_server.py).

Only what is stored is checked here: processing the stored messages is tested in test_mail_inbound.py,
and does not run here (``processed`` records what would have been processed).
"""

import socket
import ssl

import pytest
from django.db import connections

from tests.imap_server import imap_server  # noqa: F401 - the fixture
from tickets.mail import imap
from tickets.mail.imap import ImapFetchError, fetch_all_mailboxes, fetch_mailbox
from tickets.mail.models import InboundEmail, Mailbox


def raw_email(number: int, *, message_id: str | None = None) -> bytes:
    """A small message with CRLF line ends, as it is on the wire (imaplib's APPEND sends bare LFs as CRLF)."""
    message_id = message_id or f"<{number}.imap-test@customer.example>"
    lines = [
        "From: Ann Smith <ann@customer.example>",
        "To: support@shop.example",
        f"Subject: Order {1040 + number} has not arrived",
        "Date: Mon, 03 Mar 2025 10:00:00 +0000",
        f"Message-ID: {message_id}",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "",
        f"Hello, message {number}. Grüße,",
        "Ann",
        "",
    ]
    return "\r\n".join(lines).encode()


@pytest.fixture(autouse=True)
def processed(monkeypatch):
    """Processing is not run here: record which messages would have been processed instead."""
    ids = []
    monkeypatch.setattr(
        "tickets.mail.inbound.inbound_process_many", lambda *, inbound_ids, parsed=None: ids.extend(inbound_ids)
    )
    return ids


@pytest.fixture
def make_mailbox(queue, imap_server):  # noqa: F811
    def make(**fields) -> Mailbox:
        number = Mailbox.objects.count() + 1
        defaults = {
            "name": f"Support {number}", "email_address": f"support{number}@shop.example", "queue": queue,
            "imap_host": imap_server.host, "imap_port": imap_server.port, "imap_security": Mailbox.Security.NONE,
            "imap_username": imap_server.user, "imap_password": imap_server.password,
        }  # fmt: skip
        return Mailbox.objects.create(**(defaults | fields))

    return make


@pytest.fixture
def mailbox(make_mailbox):
    return make_mailbox()


@pytest.fixture
def trust_test_ca(monkeypatch, imap_server):  # noqa: F811
    """The product checks certificates with the system's CAs; here the test server's own CA is trusted."""
    monkeypatch.setattr(imap, "_ssl_context", lambda: ssl.create_default_context(cafile=imap_server.cafile))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens there once the socket is closed


def stored(mailbox) -> list[bytes]:
    return [
        bytes(raw) for raw in InboundEmail.objects.filter(mailbox=mailbox).order_by("pk").values_list("raw", flat=True)
    ]


def test_fetches_new_messages_oldest_first_and_each_once(imap_server, mailbox):  # noqa: F811
    messages = [raw_email(number) for number in (1, 2, 3)]
    uids = [imap_server.append(raw) for raw in messages]

    assert fetch_mailbox(mailbox_id=mailbox.pk) == 3

    assert stored(mailbox) == messages
    assert set(InboundEmail.objects.values_list("source", flat=True)) == {InboundEmail.Source.IMAP}
    assert set(InboundEmail.objects.values_list("status", flat=True)) == {InboundEmail.Status.PENDING}
    mailbox.refresh_from_db()
    assert mailbox.imap_last_uid == uids[-1]
    assert mailbox.imap_uidvalidity is not None
    assert mailbox.last_fetch_error == ""
    assert mailbox.last_fetched_at is not None

    assert fetch_mailbox(mailbox_id=mailbox.pk) == 0
    assert len(stored(mailbox)) == 3

    fourth = raw_email(4)
    imap_server.append(fourth)
    assert fetch_mailbox(mailbox_id=mailbox.pk) == 1
    assert stored(mailbox) == [*messages, fourth]


def test_a_batch_is_the_most_fetched_at_once(imap_server, mailbox):  # noqa: F811
    messages = [raw_email(number) for number in range(1, 6)]
    for raw in messages:
        imap_server.append(raw)

    assert [fetch_mailbox(mailbox_id=mailbox.pk, batch=2) for _ in range(4)] == [2, 2, 1, 0]

    assert stored(mailbox) == messages


def test_ssl_with_a_trusted_certificate(imap_server, make_mailbox, trust_test_ca):  # noqa: F811
    mailbox = make_mailbox(imap_port=imap_server.ssl_port, imap_security=Mailbox.Security.SSL)
    imap_server.append(raw_email(1))

    assert fetch_mailbox(mailbox_id=mailbox.pk) == 1

    assert stored(mailbox) == [raw_email(1)]


def test_starttls_with_a_trusted_certificate(imap_server, make_mailbox, trust_test_ca):  # noqa: F811
    mailbox = make_mailbox(imap_port=imap_server.port, imap_security=Mailbox.Security.STARTTLS)
    imap_server.append(raw_email(1))

    assert fetch_mailbox(mailbox_id=mailbox.pk) == 1

    assert stored(mailbox) == [raw_email(1)]


@pytest.mark.parametrize("security", [Mailbox.Security.SSL, Mailbox.Security.STARTTLS])
def test_an_untrusted_certificate_is_refused(imap_server, make_mailbox, security):  # noqa: F811
    port = imap_server.ssl_port if security == Mailbox.Security.SSL else imap_server.port
    mailbox = make_mailbox(imap_port=port, imap_security=security)
    imap_server.append(raw_email(1))

    with pytest.raises(ImapFetchError, match="CERTIFICATE_VERIFY_FAILED"):
        fetch_mailbox(mailbox_id=mailbox.pk)

    assert stored(mailbox) == []
    mailbox.refresh_from_db()
    assert "CERTIFICATE_VERIFY_FAILED" in mailbox.last_fetch_error


def test_a_wrong_password_is_recorded_and_nothing_stored(imap_server, make_mailbox):  # noqa: F811
    mailbox = make_mailbox(imap_password="wrong")
    imap_server.append(raw_email(1))

    with pytest.raises(ImapFetchError, match="AUTHENTICATIONFAILED"):
        fetch_mailbox(mailbox_id=mailbox.pk)

    assert stored(mailbox) == []
    mailbox.refresh_from_db()
    assert mailbox.last_fetch_error.startswith("IMAP: [AUTHENTICATIONFAILED]")
    assert "wrong" not in mailbox.last_fetch_error
    assert mailbox.last_fetched_at is not None
    assert (mailbox.imap_uidvalidity, mailbox.imap_last_uid) == (None, 0)

    Mailbox.objects.filter(pk=mailbox.pk).update(imap_password=imap_server.password)
    assert fetch_mailbox(mailbox_id=mailbox.pk) == 1
    mailbox.refresh_from_db()
    assert mailbox.last_fetch_error == ""


def test_a_password_with_non_ascii_letters(imap_server, make_mailbox):  # noqa: F811
    with (imap_server.root / "users").open("a", encoding="utf-8") as users:  # Dovecot rereads the file
        users.write("anna:{PLAIN}Grüße aus Köln\n")
    mailbox = make_mailbox(imap_username="anna", imap_password="Grüße aus Köln")

    assert fetch_mailbox(mailbox_id=mailbox.pk) == 0

    mailbox.refresh_from_db()
    assert mailbox.last_fetch_error == ""
    assert mailbox.imap_uidvalidity is not None


def test_fetch_all_goes_on_past_failing_mailboxes(imap_server, make_mailbox):  # noqa: F811
    wrong_password = make_mailbox(imap_password="wrong")
    server_down = make_mailbox(imap_port=closed_port())
    working = make_mailbox()
    inactive = make_mailbox(is_active=False)
    no_server = make_mailbox(imap_host="")
    imap_server.append(raw_email(1))

    results = fetch_all_mailboxes()

    assert set(results) == {wrong_password.pk, server_down.pk, working.pk}
    assert results[working.pk] == 1
    assert "AUTHENTICATIONFAILED" in results[wrong_password.pk]
    assert "Connection refused" in results[server_down.pk]
    assert stored(working) == [raw_email(1)]
    assert InboundEmail.objects.count() == 1
    for failed in (wrong_password, server_down):
        failed.refresh_from_db()
        assert failed.last_fetch_error == results[failed.pk]
    for skipped in (inactive, no_server):
        skipped.refresh_from_db()
        assert skipped.last_fetched_at is None


def test_the_server_is_left_as_it_was(imap_server, mailbox):  # noqa: F811
    uids = [imap_server.append(raw_email(number)) for number in (1, 2, 3)]

    assert fetch_mailbox(mailbox_id=mailbox.pk) == 3

    flags = imap_server.flags()
    assert sorted(flags) == uids  # nothing deleted or moved
    assert not any("\\Seen" in flag or "\\Deleted" in flag for flag in flags.values())


def test_a_new_uidvalidity_fetches_again_without_duplicates(imap_server, mailbox):  # noqa: F811
    messages = [raw_email(1), raw_email(2)]
    for raw in messages:
        imap_server.append(raw)
    assert fetch_mailbox(mailbox_id=mailbox.pk) == 2
    mailbox.refresh_from_db()
    server_uidvalidity, last_uid = mailbox.imap_uidvalidity, mailbox.imap_last_uid
    Mailbox.objects.filter(pk=mailbox.pk).update(imap_uidvalidity=server_uidvalidity + 1)
    third = raw_email(3)
    imap_server.append(third)

    assert fetch_mailbox(mailbox_id=mailbox.pk) == 1

    assert stored(mailbox) == [*messages, third]
    mailbox.refresh_from_db()
    assert (mailbox.imap_uidvalidity, mailbox.imap_last_uid) == (server_uidvalidity, last_uid + 1)


def test_the_same_message_twice_in_the_folder_is_one_row(imap_server, mailbox):  # noqa: F811
    first = raw_email(1, message_id="<same@customer.example>")
    again = first.replace(b"Hello", b"Hello again")  # a resend: same Message-ID, other bytes
    imap_server.append(first)
    last_uid = imap_server.append(again)

    assert fetch_mailbox(mailbox_id=mailbox.pk) == 1

    assert stored(mailbox) == [first]
    mailbox.refresh_from_db()
    assert mailbox.imap_last_uid == last_uid


def test_a_folder_other_than_the_inbox(imap_server, make_mailbox):  # noqa: F811
    mailbox = make_mailbox(imap_folder="Help Desk")
    imap_server.append(raw_email(1))
    imap_server.append(raw_email(2), folder="Help Desk")

    assert fetch_mailbox(mailbox_id=mailbox.pk) == 1

    assert stored(mailbox) == [raw_email(2)]


def test_a_missing_folder_is_an_error(imap_server, make_mailbox):  # noqa: F811
    mailbox = make_mailbox(imap_folder="Nowhere")

    with pytest.raises(ImapFetchError, match="Nowhere"):
        fetch_mailbox(mailbox_id=mailbox.pk)

    mailbox.refresh_from_db()
    assert "Nowhere" in mailbox.last_fetch_error


@pytest.mark.django_db(transaction=True)
def test_a_crash_after_storing_fetches_the_rest_and_nothing_twice(imap_server, mailbox, monkeypatch, processed):  # noqa: F811
    messages = [raw_email(number) for number in (1, 2, 3)]
    for raw in messages:
        imap_server.append(raw)
    real_store = imap.inbound_ingest

    def store_then_crash(**kwargs):
        real_store(**kwargs)
        raise RuntimeError("worker killed")

    monkeypatch.setattr(imap, "STORE_BATCH", 1)
    monkeypatch.setattr(imap, "inbound_ingest", store_then_crash)
    with pytest.raises(RuntimeError):
        fetch_mailbox(mailbox_id=mailbox.pk)
    assert stored(mailbox) == messages[:1]  # committed, but the progress did not move past it
    mailbox.refresh_from_db()
    assert mailbox.imap_last_uid == 0
    assert "worker killed" in mailbox.last_fetch_error

    monkeypatch.setattr(imap, "inbound_ingest", real_store)
    assert fetch_mailbox(mailbox_id=mailbox.pk) == 2

    assert stored(mailbox) == messages
    assert sorted(processed) == sorted(InboundEmail.objects.values_list("pk", flat=True))  # each processed once
    mailbox.refresh_from_db()
    assert mailbox.last_fetch_error == ""


def test_a_fetch_already_running_is_not_doubled(imap_server, mailbox):  # noqa: F811
    imap_server.append(raw_email(1))
    other = connections.create_connection("default")  # another worker's database session
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [imap._lock_key(mailbox.pk)])

        assert fetch_mailbox(mailbox_id=mailbox.pk) == 0

        assert stored(mailbox) == []
        mailbox.refresh_from_db()
        assert mailbox.last_fetched_at is None
        with other.cursor() as cursor:  # the other fetch ends (closing alone releases it only a moment later)
            cursor.execute("SELECT pg_advisory_unlock(%s)", [imap._lock_key(mailbox.pk)])
    finally:
        other.close()

    assert fetch_mailbox(mailbox_id=mailbox.pk) == 1
