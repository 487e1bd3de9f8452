"""The ways in other than IMAP: the mail server pipe (manage.py ingest_email) and the HTTP endpoint."""

import io
import mailbox as stdlib_mailbox
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from tickets.mail.models import InboundEmail, Mailbox

from .mail_factory import raw_email

URL = "/mail/inbound/"


@pytest.fixture
def mailbox(queue):
    return Mailbox.objects.create(name="Shop", email_address="support@shop.example", queue=queue)


# --- pipe --------------------------------------------------------------------------------------


def test_pipe_stores_the_message_from_stdin(mailbox, monkeypatch, capsys):
    raw = raw_email(subject="Piped")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw)))
    call_command("ingest_email")
    row = InboundEmail.objects.get()
    assert bytes(row.raw) == raw and row.source == "pipe" and row.mailbox == mailbox
    assert "stored: #" in capsys.readouterr().out


def test_files_maildirs_and_mbox(mailbox, tmp_path):
    (tmp_path / "one.eml").write_bytes(raw_email(subject="File one"))
    maildir = stdlib_mailbox.Maildir(tmp_path / "Maildir", create=True)
    maildir.add(raw_email(subject="In the maildir"))
    box = stdlib_mailbox.mbox(tmp_path / "archive.mbox", create=True)
    for n in range(2):
        box.add(raw_email(subject=f"In the mbox {n}"))
    box.flush()

    call_command("ingest_email", str(tmp_path / "one.eml"), str(tmp_path / "Maildir"), str(tmp_path / "archive.mbox"))

    assert sorted(InboundEmail.objects.values_list("subject", flat=True)) == [
        "File one", "In the maildir", "In the mbox 0", "In the mbox 1"]  # fmt: skip
    assert set(InboundEmail.objects.values_list("source", flat=True)) == {"file"}


def test_pipe_errors_are_clear(mailbox, tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        call_command("ingest_email", str(tmp_path / "missing.eml"))
    with pytest.raises(CommandError, match="No mailbox with the address"):
        call_command("ingest_email", str(tmp_path), mailbox="nobody@shop.example")


# --- HTTP --------------------------------------------------------------------------------------


@pytest.fixture
def secret(settings):
    settings.INBOUND_EMAIL_SECRET = "s3cret-for-tests"
    return settings.INBOUND_EMAIL_SECRET


def test_http_stores_a_raw_message(client, mailbox, secret):
    raw = raw_email(subject="Via webhook")
    response = client.post(URL, raw, content_type="message/rfc822", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 202
    row = InboundEmail.objects.get(pk=response.json()["id"])
    assert bytes(row.raw) == raw and row.source == "http" and row.mailbox == mailbox

    again = client.post(URL, raw, content_type="message/rfc822", headers={"X-Helpdesk-Secret": secret})
    assert again.status_code == 200 and again.json() == {"id": row.pk, "duplicate": True}


def test_http_takes_a_form_field_and_a_mailbox(client, mailbox, secret):
    raw = raw_email(to="someone@else.example")
    response = client.post(f"{URL}?secret={secret}&mailbox=Support@Shop.example", {"body-mime": raw.decode()})
    assert response.status_code == 202
    assert InboundEmail.objects.get().mailbox == mailbox


def test_http_big_messages_pass(client, mailbox, secret, settings):
    raw = raw_email(attachments=[("photo.jpg", b"\xff" * 3_000_000, "image/jpeg")])  # above Django's 2.5 MB
    response = client.post(URL, raw, content_type="message/rfc822", headers={"X-Helpdesk-Secret": secret})
    assert response.status_code == 202

    settings.INBOUND_EMAIL_MAX_BYTES = 1000
    too_big = client.post(URL, raw, content_type="message/rfc822", headers={"X-Helpdesk-Secret": secret})
    assert too_big.status_code == 413 and "larger than 1000 bytes" in too_big.json()["error"]


@pytest.mark.parametrize(
    ("setup", "status", "reason"),
    [
        ("off", 404, "INBOUND_EMAIL_SECRET"),
        ("wrong", 403, "secret"),
        ("empty", 400, "No message"),
        ("mailbox", 400, "No mailbox"),
        ("get", 405, ""),
    ],
)
def test_http_refusals_say_why_and_store_nothing(client, mailbox, settings, setup, status, reason):
    settings.INBOUND_EMAIL_SECRET = "" if setup == "off" else "right"
    headers = {"X-Helpdesk-Secret": "wrong" if setup == "wrong" else "right"}
    url = f"{URL}?mailbox=nobody@shop.example" if setup == "mailbox" else URL
    body = b"" if setup == "empty" else raw_email()
    if setup == "get":
        response = client.get(url, headers=headers)
    else:
        response = client.post(url, body, content_type="message/rfc822", headers=headers)
    assert response.status_code == status
    if reason:
        assert reason in response.json()["error"]
    assert not InboundEmail.objects.exists()


def test_http_route_name():
    assert reverse("inbound_email") == URL
