"""Inbound email: stored raw first, processed once, threaded onto the right ticket, loop-safe."""

import pytest

from customers.models import Customer
from tickets import services
from tickets.mail import ids
from tickets.mail import inbound as inbound_module
from tickets.mail.inbound import (
    inbound_ingest,
    inbound_process,
    inbound_process_many,
    inbound_reprocess,
    inbound_store,
    inbound_store_many,
)
from tickets.mail.models import BlockedSender, InboundEmail, Mailbox
from tickets.models import Message, Ticket

from .mail_factory import bounce_for, raw_email


@pytest.fixture
def mailbox(queue):
    return Mailbox.objects.create(name="Shop", email_address="support@shop.example", queue=queue)


def ingest(raw: bytes, mailbox=None) -> InboundEmail:
    row, _created = inbound_store(raw=raw, source=InboundEmail.Source.PIPE, mailbox=mailbox)
    return inbound_process(inbound_id=row.pk)


# --- storing -----------------------------------------------------------------------------------


def test_the_same_message_twice_is_one_row(mailbox):
    raw = raw_email(message_id="<same@customer.example>")
    first, created = inbound_store(raw=raw, source="imap")
    again, created_again = inbound_store(raw=raw.replace(b"order 1042", b"order 1043"), source="imap")
    assert created and not created_again and first.pk == again.pk
    assert bytes(first.raw) == raw and first.mailbox == mailbox and first.status == "pending"


def test_without_a_message_id_the_bytes_decide(mailbox):
    raw = raw_email().replace(b"Message-ID:", b"X-Old-Message-ID:")
    assert inbound_store(raw=raw, source="pipe")[1] is True
    assert inbound_store(raw=raw, source="pipe")[1] is False
    assert inbound_store(raw=raw + b"\n", source="pipe")[1] is True


def test_plus_addressed_mail_finds_its_mailbox(mailbox):
    row, _ = inbound_store(raw=raw_email(to="Support <support+1001.abcdef12@Shop.example>"), source="pipe")
    assert row.mailbox == mailbox


def test_a_batch_is_stored_in_one_go_and_scheduled_as_one_task(mailbox, queue, django_capture_on_commit_callbacks,
                                                                 monkeypatch):  # fmt: skip
    other = Mailbox.objects.create(name="Other", email_address="hello@shop.example", queue=queue)
    earlier, _ = inbound_store(raw=raw_email(message_id="<earlier@customer.example>"), source="imap")
    no_id = raw_email(subject="No id").replace(b"Message-ID:", b"X-Old-Message-ID:")
    raws = [
        raw_email(message_id="<a@customer.example>"),
        raw_email(message_id="<earlier@customer.example>"),  # stored before
        raw_email(message_id="<a@customer.example>", subject="Same id again"),  # twice in the batch
        no_id,
        no_id,  # the same bytes again
        raw_email(message_id="<a@customer.example>", to="hello@shop.example"),  # same id, other mailbox
    ]
    scheduled = []
    monkeypatch.setattr(inbound_module, "_schedule", scheduled.append)
    with django_capture_on_commit_callbacks(execute=True):
        stored = inbound_store_many(raws=raws, source="file")

    assert [new for _row, new in stored] == [True, False, False, True, False, True]
    rows = [row for row, _new in stored]
    assert rows[1].pk == earlier.pk and rows[2].pk == rows[0].pk and rows[4].pk == rows[3].pk
    assert [row.mailbox for row in rows] == [mailbox] * 5 + [other]
    assert InboundEmail.objects.count() == 4 and bytes(InboundEmail.objects.get(pk=rows[0].pk).raw) == raws[0]
    assert scheduled == [[rows[0].pk, rows[3].pk, rows[5].pk]]  # the new ones, one task


def test_a_batch_is_processed_with_each_message_on_its_own(mailbox, monkeypatch):
    from tickets.mail import parse

    real_parse = parse.parse_email

    def fails_on_the_second(raw):
        if b"Second" in raw:
            raise RuntimeError("the parser fell over")
        return real_parse(raw)

    monkeypatch.setattr(inbound_module, "parse_email", fails_on_the_second)
    monkeypatch.setattr(inbound_module, "BATCH_MESSAGES", 2)
    stored = inbound_store_many(raws=[raw_email(subject=s) for s in ("First", "Second", "Third")], source="file")
    done = inbound_store(raw=raw_email(subject="Done before"), source="pipe")[0]
    inbound_process(inbound_id=done.pk)
    ids_ = [row.pk for row, _new in stored]

    rows = inbound_process_many(inbound_ids=[*reversed(ids_), done.pk, 10**9])  # any order; gone ids skipped

    assert [row.pk for row in rows] == sorted([*ids_, done.pk])
    assert [(r.status, r.outcome, r.attempts) for r in rows] == [("done", "new_ticket", 1), ("failed", "", 1),
                                                                 ("done", "new_ticket", 1), ("done", "new_ticket", 1)]  # fmt: skip
    assert sorted(Ticket.objects.values_list("subject", flat=True)) == ["Done before", "First", "Third"]
    saved = InboundEmail.objects.get(pk=ids_[1])
    assert saved.status == "failed" and saved.error == "RuntimeError: the parser fell over"
    with pytest.raises(InboundEmail.DoesNotExist):
        inbound_process(inbound_id=10**9)


# --- new tickets -------------------------------------------------------------------------------


def test_an_email_opens_a_ticket(mailbox, django_capture_on_commit_callbacks):
    raw = raw_email(message_id="<first@customer.example>", cc="Partner <partner@customer.example>",
                    html="<p>Hello, <b>order 1042</b> has not arrived.</p><script>alert(1)</script>",
                    attachments=[("receipt.pdf", b"%PDF-1.4 receipt", "application/pdf")])  # fmt: skip
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        inbound = ingest(raw)

    assert (inbound.status, inbound.outcome) == ("done", "new_ticket")
    ticket = inbound.ticket
    assert ticket.channel == "email" and ticket.queue == mailbox.queue
    assert ticket.subject == "Where is my order?" and ticket.customer.email == "ann@customer.example"
    assert ticket.customer.name == "Ann Smith" and ticket.email_cc == ["partner@customer.example"]
    message = inbound.message
    assert message.kind == "customer" and message.email_message_id == "first@customer.example"
    assert "<b>order 1042</b>" in message.body_html and "script" not in message.body_html
    assert [a.filename for a in message.attachments.all()] == ["receipt.pdf"]
    assert len(callbacks) == 2  # this row's processing was scheduled by inbound_store, then the acknowledgement


def test_auto_replies_and_bulk_mail_get_no_acknowledgement(mailbox, django_capture_on_commit_callbacks):
    for headers in ({"Auto-Submitted": "auto-replied"}, {"Precedence": "bulk"}, {"List-Id": "<news.x>"},
                    {"X-Autoreply": "yes"}):  # fmt: skip
        row, _ = inbound_store(raw=raw_email(headers=headers), source="pipe")
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            inbound = inbound_process(inbound_id=row.pk)
        assert inbound.outcome == "new_ticket" and callbacks == [], headers


def test_blocked_senders_open_nothing(mailbox):
    BlockedSender.objects.create(pattern="@spam.example")
    inbound = ingest(raw_email(sender="x@Spam.example"))
    assert (inbound.status, inbound.outcome, inbound.ticket) == ("done", "blocked", None)
    assert not Ticket.objects.exists()


def test_processing_twice_changes_nothing(mailbox):
    inbound = ingest(raw_email())
    again = inbound_process(inbound_id=inbound.pk)
    assert again.attempts == 1 and Ticket.objects.count() == 1 and Message.objects.count() == 1


def test_a_message_that_fails_is_kept_flagged_and_can_be_processed_again(mailbox, monkeypatch):
    from tickets.mail import inbound as module

    def broken(*args, **kwargs):
        raise RuntimeError("the parser fell over")

    monkeypatch.setattr(module, "parse_email", broken)
    inbound = ingest(raw_email())
    assert inbound.status == "failed" and inbound.error == "RuntimeError: the parser fell over"
    assert not Ticket.objects.exists() and bytes(inbound.raw).startswith(b"From:")

    monkeypatch.undo()
    again = inbound_reprocess(inbound=inbound)
    assert (again.status, again.outcome, again.error, again.attempts) == ("done", "new_ticket", "", 2)


def test_something_that_is_not_an_email_fails_visibly(mailbox):
    inbound = ingest(b"\x00\x01 definitely not an email")
    assert inbound.status == "failed" and inbound.error


# --- threading ---------------------------------------------------------------------------------


@pytest.fixture
def email_ticket(mailbox):
    return ingest(raw_email(message_id="<first@customer.example>")).ticket


def reply_to_agent(ticket, agent):
    reply = services.ticket_reply(ticket=ticket, author=agent, body="Could you send the receipt?")
    reply.refresh_from_db()
    return reply


def test_a_reply_to_our_email_lands_on_its_ticket(email_ticket, agent):
    reply = reply_to_agent(email_ticket, agent)
    inbound = ingest(raw_email(subject="Re: something else entirely", in_reply_to=f"<{reply.email_message_id}>",
                               text="Here it is."))  # fmt: skip
    assert (inbound.outcome, inbound.ticket) == ("reply", email_ticket)
    email_ticket.refresh_from_db()
    assert email_ticket.status == "open" and email_ticket.message_count == 3


def test_references_to_the_customers_own_earlier_email_thread_too(email_ticket):
    inbound = ingest(raw_email(subject="Also", references="<first@customer.example>", text="One more thing"))
    assert inbound.ticket == email_ticket


def test_the_reference_in_the_subject_threads_for_the_customer_only(email_ticket, other_customer):
    mine = ingest(raw_email(subject=f"Re: [{email_ticket.reference}] news?", text="Any news?"))
    assert mine.ticket == email_ticket
    stranger = ingest(raw_email(sender="bob@customer.example", subject=f"[{email_ticket.reference}] hi"))
    assert stranger.outcome == "new_ticket" and stranger.ticket != email_ticket


def test_the_per_ticket_reply_address_threads(email_ticket, mailbox):
    mailbox.plus_addressing = True
    mailbox.save()
    address = mailbox.reply_address(ids.reply_token(email_ticket.pk))
    inbound = ingest(raw_email(to=address, subject="New subject", text="Hi again"))
    assert inbound.ticket == email_ticket


def test_a_forged_message_id_does_not_reach_a_ticket(email_ticket):
    forged = ids.make_message_id(email_ticket.pk, "shop.example").replace(f"hd.{email_ticket.pk}.", "hd.1.")
    inbound = ingest(raw_email(sender="eve@evil.example", subject="hello", in_reply_to=f"<{forged}>"))
    assert inbound.outcome == "new_ticket"


def test_a_reply_to_a_closed_ticket_opens_a_linked_follow_up(email_ticket, agent):
    reply = reply_to_agent(email_ticket, agent)
    services.ticket_set_status(ticket=email_ticket, status="closed", actor=agent)
    inbound = ingest(raw_email(in_reply_to=f"<{reply.email_message_id}>", text="It broke again"))
    assert inbound.outcome == "follow_up" and inbound.ticket.follow_up_of == email_ticket


# --- bounces -----------------------------------------------------------------------------------


def test_a_bounce_marks_the_address_and_notes_the_ticket(email_ticket, agent):
    reply = reply_to_agent(email_ticket, agent)
    inbound = ingest(bounce_for(reply.email_message_id))
    assert (inbound.outcome, inbound.ticket) == ("bounce", email_ticket)
    assert Ticket.objects.count() == 1
    assert Customer.objects.get(email="ann@customer.example").email_bouncing_at is not None
    note = inbound.message
    assert note.kind == "note" and "ann@customer.example" in note.body_text and "5.1.1" in note.body_text
    report = note.attachments.get()
    assert report.filename == "delivery-report.eml" and report.file.read() == bytes(inbound.raw)


def test_a_bounce_about_nothing_we_know_opens_nothing(mailbox):
    inbound = ingest(bounce_for("unknown@elsewhere.example", recipient="zed@customer.example"))
    assert (inbound.status, inbound.outcome, inbound.ticket) == ("done", "bounce", None)
    assert not Ticket.objects.exists()


def test_the_assignee_email_leaves_out_the_folded_quote(email_ticket, agent, smtp_server):
    from tickets import notifications

    services.ticket_assign(ticket=email_ticket, assignee=agent, actor=None)
    inbound = ingest(raw_email(subject=f"Re: [{email_ticket.reference}]", text="New news.\n\nOn Mon, 2 Mar 2026 at "
                               "10:00, Shop <support@shop.example> wrote:\n> Old news"))  # fmt: skip
    assert "<details" in inbound.message.body_html
    assert notifications.notify_customer_replied(message_id=inbound.message.pk) is True
    html = smtp_server.messages[0].get_body(("html",)).get_content()
    assert "New news." in html and "Old news" not in html and "<details" not in html


# --- batches -----------------------------------------------------------------------------------
# A worker processes a batch in one go (tickets_create and tickets_add_customer_messages for all of it);
# each message must end up exactly where it would have one at a time.


def process_batch(raws: list[bytes]) -> list[InboundEmail]:
    stored = inbound_store_many(raws=raws, source=InboundEmail.Source.IMAP)
    return inbound_process_many(inbound_ids=[row.pk for row, _new in stored])


def test_a_reply_to_an_email_of_the_same_batch_joins_its_new_ticket(mailbox, django_capture_on_commit_callbacks):
    raws = [
        raw_email(message_id="<q1@customer.example>", subject="Where is my order?"),
        raw_email(message_id="<other@bob.example>", sender="Bob <bob@bob.example>", subject="Opening hours?"),
        raw_email(message_id="<q2@customer.example>", subject="Re: Where is my order?",
                  in_reply_to="<q1@customer.example>", text="Any news?"),
        raw_email(message_id="<q3@customer.example>", subject="Re: Where is my order?",
                  references="<q1@customer.example> <q2@customer.example>", text="Hello?"),
    ]  # fmt: skip
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        rows = process_batch(raws)

    assert [row.outcome for row in rows] == ["new_ticket", "new_ticket", "reply", "reply"]
    first, other = rows[0].ticket, rows[1].ticket
    assert rows[2].ticket == rows[3].ticket == first != other
    first.refresh_from_db()
    assert first.message_count == 3 and other.message_count == 1
    assert [m.body_text for m in first.messages.order_by("created_at", "pk")] == [
        "Hello, order 1042 has not arrived.", "Any news?", "Hello?"]  # fmt: skip
    assert Ticket.objects.filter(search_vector="news").get() == first  # every message's words are searchable
    assert Customer.objects.count() == 2
    assert len(callbacks) == 2  # one task for the batch's processing, one for its two acknowledgements


def test_replies_to_existing_tickets_in_one_batch(mailbox, agent):
    solved = ingest(raw_email(message_id="<s@customer.example>", subject="Solved one")).ticket
    closed = ingest(raw_email(message_id="<c@customer.example>", subject="Closed one")).ticket
    services.ticket_set_status(ticket=solved, status="solved", actor=agent)
    services.ticket_set_status(ticket=closed, status="closed", actor=agent)

    rows = process_batch([
        raw_email(message_id="<s2@customer.example>", in_reply_to="<s@customer.example>", text="Not fixed"),
        raw_email(message_id="<c2@customer.example>", in_reply_to="<c@customer.example>", text="One more thing"),
        raw_email(message_id="<s3@customer.example>", in_reply_to="<s@customer.example>", text="Still broken"),
    ])  # fmt: skip

    assert [row.outcome for row in rows] == ["reply", "follow_up", "reply"]
    solved.refresh_from_db()
    assert solved.status == "open" and solved.message_count == 3 and rows[0].ticket == rows[2].ticket == solved
    follow_up = rows[1].ticket
    assert follow_up.follow_up_of == closed and follow_up.messages.get().body_text == "One more thing"


def test_replies_to_several_open_tickets_update_them_together(mailbox, agent):
    """Replies to tickets whose changes are alike (open tickets: the customer's last message) are saved in one
    UPDATE for the batch; each ticket still gets its own count, times and words."""
    tickets = [ingest(raw_email(message_id=f"<t{n}@customer.example>", subject=f"Question {n}")).ticket
               for n in range(3)]  # fmt: skip
    services.ticket_set_status(ticket=tickets[2], status="solved", actor=agent)  # reopened: other fields change

    rows = process_batch([
        raw_email(message_id="<t0b@customer.example>", in_reply_to="<t0@customer.example>", text="Parcel zebra"),
        raw_email(message_id="<t1b@customer.example>", in_reply_to="<t1@customer.example>", text="Parcel walrus"),
        raw_email(message_id="<t0c@customer.example>", in_reply_to="<t0@customer.example>", text="Parcel otter"),
        raw_email(message_id="<t2b@customer.example>", in_reply_to="<t2@customer.example>", text="Parcel badger"),
    ])  # fmt: skip

    assert [row.outcome for row in rows] == ["reply"] * 4
    for ticket, count, words in [
        (tickets[0], 3, "zebra & otter"),
        (tickets[1], 2, "walrus"),
        (tickets[2], 2, "badger"),
    ]:
        ticket.refresh_from_db()
        last = ticket.messages.order_by("created_at", "pk").last()
        assert ticket.message_count == count
        assert ticket.last_customer_message_at == ticket.updated_at == last.created_at
        assert Ticket.objects.filter(pk=ticket.pk, search_vector=words).exists()
        assert Ticket.objects.filter(pk=ticket.pk, search_vector=f"question {ticket.subject[-1]}").exists()
    assert tickets[2].status == "open" and tickets[0].status == tickets[1].status == "new"


def test_one_bad_message_in_a_batch_fails_alone(mailbox):
    no_sender = raw_email(subject="Nobody").replace(b"From: Ann Smith <ann@customer.example>\n", b"")
    assert b"From:" not in no_sender.split(b"\n\n")[0]
    rows = process_batch([raw_email(subject="Good one"), no_sender, raw_email(subject="Good two")])

    assert [(row.status, row.outcome) for row in rows] == [("done", "new_ticket"), ("failed", ""),
                                                           ("done", "new_ticket")]  # fmt: skip
    assert "no sender" in rows[1].error and rows[1].ticket is None
    assert sorted(Ticket.objects.values_list("subject", flat=True)) == ["Good one", "Good two"]


def test_ingest_stores_then_processes_in_place(mailbox, monkeypatch):
    scheduled = []
    monkeypatch.setattr(inbound_module, "_schedule", scheduled.append)
    raws = [raw_email(message_id="<i1@customer.example>"), raw_email(message_id="<i2@customer.example>",
                                                                      in_reply_to="<i1@customer.example>")]  # fmt: skip
    stored = inbound_ingest(raws=raws, source=InboundEmail.Source.IMAP, mailbox=mailbox)
    again = inbound_ingest(raws=raws[:1], source=InboundEmail.Source.IMAP, mailbox=mailbox)

    assert [new for _row, new in stored] == [True, True]
    assert again[0][1] is False and again[0][0].pk == stored[0][0].pk  # stored before: not processed again
    rows = InboundEmail.objects.order_by("pk")
    assert [(r.status, r.outcome, r.attempts) for r in rows] == [("done", "new_ticket", 1), ("done", "reply", 1)]
    assert scheduled == []  # processed here, no task in between
    assert Ticket.objects.get().message_count == 2


def test_ingest_parses_while_storing_and_keeps_every_outcome(email_ticket, agent, mailbox):
    """The IMAP way in parses during the store and does not read the raw bytes back: failures, bounces
    (whose report attaches the raw bytes) and tickets come out as they do one message at a time."""
    reply = reply_to_agent(email_ticket, agent)
    raws = [raw_email(subject="New one", message_id="<n1@customer.example>"), b"\x00\x01 not an email",
            bounce_for(reply.email_message_id)]  # fmt: skip
    stored = inbound_ingest(raws=raws, source=InboundEmail.Source.IMAP, mailbox=mailbox)

    rows = [InboundEmail.objects.get(pk=row.pk) for row, _new in stored]
    assert [(r.status, r.outcome) for r in rows] == [("done", "new_ticket"), ("failed", ""), ("done", "bounce")]
    assert "not an email" in rows[1].error and bytes(rows[1].raw) == raws[1]
    assert rows[0].ticket.subject == "New one" and rows[2].ticket == email_ticket
    assert rows[2].message.attachments.get().file.read() == raws[2]


@pytest.mark.parametrize("sender", ["jdöe@mächine.example", '"Big Bug"@bug.example', "printer@localhost"])
def test_senders_that_forms_would_refuse_still_open_tickets(mailbox, sender):
    raw = raw_email().replace(b"From: Ann Smith <ann@customer.example>", f"From: {sender}".encode())
    inbound = ingest(raw)  # mail delivered them: a form's stricter rules do not apply
    assert (inbound.status, inbound.outcome) == ("done", "new_ticket")
    assert inbound.ticket.customer.email == sender
