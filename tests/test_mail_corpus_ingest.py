"""Every real-world message of ../shared/testdata/email goes the whole way in: stored byte for byte,
processed without an exception escaping, and each attachment the parser finds is stored on the ticket.
The few that cannot become a ticket fail visibly, for the reasons listed here."""

from pathlib import Path

import pytest

from tickets.mail.inbound import inbound_process, inbound_store
from tickets.mail.models import InboundEmail, Mailbox
from tickets.mail.parse import EmailParseError, parse_email

from .corpus import EMAIL_CORPUS

CORPUS = EMAIL_CORPUS
NOT_EMAIL = {"LICENSE", "README.md"}
# (file name: what the row's error says). Kept, flagged, visible to admins, and processed again once fixed.
EXPECTED_FAILURES = {
    # attachments of other fixtures, not emails
    "mailgun-rocks.wav": "not an email", "mailgun.png": "not an email", "small.png": "not an email",
    "sample_output_multipart": "not an email",  # an empty file
    # no From (and no Reply-To): nobody to answer
    "attached-pdf.eml": "no sender address", "bad_encoded_subject.eml": "no sender address",
    "delayed-broken.eml": "no sender address",
}  # fmt: skip
# Senders a form would refuse but mail delivered: a quoted local part with spaces, an internationalised
# address (SMTPUTF8), a host without a domain. They open tickets like any other.
UNUSUAL_SENDERS = {"mix_caps_content_type.eml": '"Big Bug bb"@bug.com', "utf8_headers.eml": "jdöe@mächine.example",
                   "raw_email11.eml": "xxxxx@xxxxx"}  # fmt: skip


def corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        pytest.fail(f"The email corpus is missing: {CORPUS}")
    return sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name not in NOT_EMAIL
                  and "reply-parsing" not in p.parts)  # fmt: skip


@pytest.fixture
def mailbox(queue):
    return Mailbox.objects.create(name="Corpus", email_address="support@corpus.example", queue=queue)


def test_every_corpus_message_is_stored_and_processed(mailbox):
    outcomes, failures, done_by_name = {}, {}, {}
    for path in corpus_files():
        raw = path.read_bytes()
        row, created = inbound_store(raw=raw, source=InboundEmail.Source.FILE, mailbox=mailbox)
        assert bytes(row.raw) == raw or not created, path  # a duplicate Message-ID keeps the first copy
        if not created:
            continue
        done = done_by_name[path.name] = inbound_process(inbound_id=row.pk)
        outcomes[done.outcome] = outcomes.get(done.outcome, 0) + 1
        if done.status == InboundEmail.Status.FAILED:
            failures[path.name] = done.error
            continue
        try:
            parsed = parse_email(raw)
        except EmailParseError:
            pytest.fail(f"{path.name} was processed although it is not an email")
        if done.message_id and done.outcome in ("new_ticket", "reply", "follow_up"):
            stored = sorted(done.message.attachments.values_list("filename", flat=True))
            assert stored == sorted(a.filename[:255] for a in parsed.attachments), path.name

    assert sorted(failures) == sorted(EXPECTED_FAILURES)
    for name, error in failures.items():
        assert EXPECTED_FAILURES[name] in error, (name, error)
    assert outcomes == {"new_ticket": 99, "reply": 2, "bounce": 13, "": len(EXPECTED_FAILURES)}
    for name, sender in UNUSUAL_SENDERS.items():
        assert done_by_name[name].ticket.customer.email == sender, name
    assert InboundEmail.objects.filter(status=InboundEmail.Status.PENDING).count() == 0
