import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from helpdesk.errors import InvalidTransition, ValidationError
from tickets import services
from tickets.models import Attachment, Message, Ticket, TicketEvent, TicketLink

from .factories import UserFactory

Status = Ticket.Status


def status_history(ticket):
    return list(
        TicketEvent.objects.filter(ticket=ticket, field="status").order_by("id").values_list("old_value", "new_value")
    )


# --- ticket_create ------------------------------------------------------------------------------


def test_create_records_ticket_message_and_event(ticket, customer, queue):
    assert ticket.reference == f"HD-{ticket.pk}"
    assert ticket.status == Status.NEW
    assert ticket.queue == queue
    message = ticket.messages.get()
    assert message.kind == Message.Kind.CUSTOMER
    assert message.author_customer == customer
    assert message.body_text == "Hello, my order has not arrived yet. Can you help?"
    assert message.body_html == "<p>Hello, my order has not arrived yet. Can you help?</p>"
    assert ticket.message_count == 1
    assert ticket.last_customer_message_at == message.created_at
    created = TicketEvent.objects.get(ticket=ticket, kind=TicketEvent.Kind.CREATED)
    assert created.new_value == "portal"
    assert created.actor_customer == customer


def test_references_are_never_reused(make_ticket):
    first = make_ticket()
    number = first.pk
    first.delete()
    assert make_ticket().pk > number


def test_create_sanitizes_html(make_ticket):
    ticket = make_ticket(
        body='<p onclick="steal()">Hi<script>alert(1)</script> <a href="javascript:alert(2)">link</a>'
        '<img src=x onerror="alert(3)"> <a href="https://shop.example/o/1">order</a></p>',
        body_is_html=True,
    )
    html = ticket.messages.get().body_html
    assert "script" not in html
    assert "onclick" not in html and "onerror" not in html
    assert "javascript:" not in html
    assert 'href="https://shop.example/o/1"' in html
    assert ticket.messages.get().body_text == "Hi link order"


def test_create_schedules_acknowledgement_on_commit_only_for_customer_channels(
    queue, customer, agent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        services.ticket_create(customer=customer, subject="Hi", body="x", channel="email", queue=queue)
    assert len(callbacks) == 1
    with django_capture_on_commit_callbacks() as callbacks:
        services.ticket_create(customer=customer, subject="Call", body="x", channel="phone", queue=queue,
                               created_by=agent)  # fmt: skip
    assert callbacks == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"subject": "   "}, "needs a subject"),
        ({"channel": "pigeon"}, "Unknown channel"),
        ({"priority": "whenever"}, "Unknown priority"),
        ({"body": "   "}, "needs some text"),
    ],
)
def test_create_refuses_bad_input_and_stores_nothing(make_ticket, kwargs, message):
    with pytest.raises(ValidationError, match=message):
        make_ticket(**kwargs)
    assert not Ticket.objects.exists()
    assert not Message.objects.exists()


def test_outbound_ticket_by_agent_starts_with_a_reply_and_has_no_first_response(make_ticket, agent):
    ticket = make_ticket(channel=Ticket.Channel.AGENT, created_by=agent)
    assert ticket.messages.get().kind == Message.Kind.REPLY
    services.ticket_reply(ticket=ticket, author=agent, body="Following up")
    ticket.refresh_from_db()
    assert ticket.first_response_at is None


def test_create_with_assignee_outside_the_team_is_refused(make_ticket, other_agent):
    with pytest.raises(ValidationError, match="not in the team"):
        make_ticket(assignee=other_agent)


# --- attachments ---------------------------------------------------------------------------------


def test_attachment_is_stored_under_a_random_name(make_ticket):
    upload = SimpleUploadedFile("invoice March.pdf", b"%PDF-1.4 test", content_type="application/pdf")
    ticket = make_ticket(attachments=[upload])
    attachment = Attachment.objects.get(message__ticket=ticket)
    assert attachment.filename == "invoice March.pdf"
    assert attachment.size == len(b"%PDF-1.4 test")
    assert "invoice" not in attachment.file.name
    assert attachment.file.name.endswith(".pdf")
    assert attachment.file.read() == b"%PDF-1.4 test"


@pytest.mark.parametrize(
    ("name", "content_type", "message"),
    [
        ("setup.exe", "application/octet-stream", "not allowed"),
        ("notes.txt", "application/x-msdownload", "not allowed"),
        ("script.JS", "text/plain", "not allowed"),
    ],
)
def test_forbidden_attachment_types_are_refused(make_ticket, name, content_type, message):
    upload = SimpleUploadedFile(name, b"MZ...", content_type=content_type)
    with pytest.raises(ValidationError, match=message):
        make_ticket(attachments=[upload])
    assert not Ticket.objects.exists()


def test_oversized_attachment_is_refused_with_the_limit(make_ticket, settings):
    settings.ATTACHMENT_MAX_BYTES = 1024
    upload = SimpleUploadedFile("photo.jpg", b"x" * 2048, content_type="image/jpeg")
    with pytest.raises(ValidationError) as error:
        make_ticket(attachments=[upload])
    assert error.value.messages == ["“photo.jpg” is 2.0\xa0KB; attachments may be at most 1.0\xa0KB."]
    assert not Attachment.objects.exists()


# --- replies, notes, first response ----------------------------------------------------------


def test_first_public_reply_is_the_first_response_and_opens_the_ticket(ticket, agent):
    services.ticket_add_note(ticket=ticket, author=agent, body="Checking with the warehouse")
    ticket.refresh_from_db()
    assert ticket.first_response_at is None
    assert ticket.status == Status.NEW
    reply = services.ticket_reply(ticket=ticket, author=agent, body="It ships today.")
    services.ticket_reply(ticket=ticket, author=agent, body="Tracking number: 123")
    ticket.refresh_from_db()
    assert ticket.first_response_at == reply.created_at
    assert ticket.status == Status.OPEN
    assert ticket.message_count == 4
    assert status_history(ticket) == [("new", "open")]


def test_system_message_is_not_a_response(ticket):
    services.ticket_add_system_message(ticket=ticket, body="We got your request.")
    ticket.refresh_from_db()
    assert ticket.first_response_at is None
    assert ticket.messages.last().kind == Message.Kind.SYSTEM


def test_reply_and_set_status_in_one_step(ticket, agent):
    message = services.ticket_reply(ticket=ticket, author=agent, body="Refunded.", status=Status.SOLVED)
    ticket.refresh_from_db()
    assert ticket.status == Status.SOLVED
    assert ticket.resolved_at == message.created_at
    assert status_history(ticket) == [("new", "solved")]


# --- status rules ------------------------------------------------------------------------------


def test_customer_message_reopens_a_solved_ticket(ticket, agent):
    services.ticket_reply(ticket=ticket, author=agent, body="Done", status=Status.SOLVED)
    same, message = services.ticket_add_customer_message(ticket=ticket, body="Still broken", channel="email")
    assert same.pk == ticket.pk
    ticket.refresh_from_db()
    assert ticket.status == Status.OPEN
    assert ticket.resolved_at is None
    assert ticket.last_customer_message_at == message.created_at
    assert status_history(ticket)[-1] == ("solved", "open")


def test_customer_message_on_pending_ticket_reopens_it(ticket, agent):
    services.ticket_reply(ticket=ticket, author=agent, body="Which size?", status=Status.PENDING)
    services.ticket_add_customer_message(ticket=ticket, body="Size M", channel="email")
    ticket.refresh_from_db()
    assert ticket.status == Status.OPEN


def test_customer_message_on_new_or_on_hold_ticket_keeps_status(ticket, agent):
    services.ticket_add_customer_message(ticket=ticket, body="Any news?", channel="email")
    ticket.refresh_from_db()
    assert ticket.status == Status.NEW
    services.ticket_set_status(ticket=ticket, status=Status.ON_HOLD, actor=agent)
    services.ticket_add_customer_message(ticket=ticket, body="Any news now?", channel="email")
    ticket.refresh_from_db()
    assert ticket.status == Status.ON_HOLD


def test_closed_is_final_and_a_new_message_opens_a_linked_ticket(ticket, agent, django_capture_on_commit_callbacks):
    services.ticket_set_status(ticket=ticket, status=Status.CLOSED, actor=agent)
    ticket.refresh_from_db()
    assert ticket.closed_at is not None and ticket.resolved_at is not None
    with pytest.raises(InvalidTransition):
        services.ticket_set_status(ticket=ticket, status=Status.OPEN, actor=agent)
    with pytest.raises(InvalidTransition):
        services.ticket_reply(ticket=ticket, author=agent, body="One more thing")
    with pytest.raises(InvalidTransition):
        services.ticket_set_priority(ticket=ticket, priority="high", actor=agent)

    with django_capture_on_commit_callbacks(execute=False):
        follow_up, message = services.ticket_add_customer_message(ticket=ticket, body="It broke again", channel="email")
    assert follow_up.pk != ticket.pk
    assert follow_up.follow_up_of == ticket
    assert follow_up.subject == ticket.subject
    assert message.ticket == follow_up
    assert TicketLink.objects.filter(from_ticket=follow_up, to_ticket=ticket).exists()
    ticket.refresh_from_db()
    assert ticket.status == Status.CLOSED
    assert ticket.message_count == 1


def test_resolution_time_runs_to_the_final_resolution(ticket, agent, time_machine):
    time_machine.move_to("2026-03-02 10:00:00Z", tick=False)
    services.ticket_set_status(ticket=ticket, status=Status.SOLVED, actor=agent)
    time_machine.move_to("2026-03-03 10:00:00Z", tick=False)
    services.ticket_add_customer_message(ticket=ticket, body="Not fixed", channel="email")
    ticket.refresh_from_db()
    assert ticket.resolved_at is None
    time_machine.move_to("2026-03-04 12:00:00Z", tick=False)
    services.ticket_set_status(ticket=ticket, status=Status.SOLVED, actor=agent)
    time_machine.move_to("2026-03-05 12:00:00Z", tick=False)
    services.ticket_set_status(ticket=ticket, status=Status.CLOSED, actor=agent)
    ticket.refresh_from_db()
    assert ticket.resolved_at.isoformat() == "2026-03-04T12:00:00+00:00"
    assert ticket.closed_at.isoformat() == "2026-03-05T12:00:00+00:00"
    assert status_history(ticket) == [("new", "solved"), ("solved", "open"), ("open", "solved"), ("solved", "closed")]


def test_unknown_status_is_refused(ticket, agent):
    with pytest.raises(ValidationError, match="Unknown status"):
        services.ticket_set_status(ticket=ticket, status="done", actor=agent)


def test_setting_the_same_status_writes_nothing(ticket, agent):
    services.ticket_set_status(ticket=ticket, status=Status.NEW, actor=agent)
    assert status_history(ticket) == []


# --- fields ------------------------------------------------------------------------------------


def test_priority_change_is_audited(ticket, agent):
    services.ticket_set_priority(ticket=ticket, priority="urgent", actor=agent)
    ticket.refresh_from_db()
    assert (ticket.priority, ticket.priority_rank) == ("urgent", 3)
    event = TicketEvent.objects.get(ticket=ticket, field="priority")
    assert (event.actor, event.old_value, event.new_value) == (agent, "normal", "urgent")


def test_assign_only_to_agents_of_the_queue_team_or_admins(ticket, agent, other_agent, admin_user):
    services.ticket_assign(ticket=ticket, assignee=agent, actor=agent)
    with pytest.raises(ValidationError, match="not in the team"):
        services.ticket_assign(ticket=ticket, assignee=other_agent, actor=agent)
    services.ticket_assign(ticket=ticket, assignee=admin_user, actor=agent)
    services.ticket_assign(ticket=ticket, assignee=None, actor=agent)
    ticket.refresh_from_db()
    assert ticket.assignee is None
    changes = TicketEvent.objects.filter(ticket=ticket, field="assignee").values_list("old_value", "new_value")
    assert list(changes) == [("", str(agent.pk)), (str(agent.pk), str(admin_user.pk)), (str(admin_user.pk), "")]


def test_inactive_user_cannot_be_assigned(ticket, team):
    gone = UserFactory(is_active=False, teams=[team])
    with pytest.raises(ValidationError, match="not an active user"):
        services.ticket_assign(ticket=ticket, assignee=gone, actor=None)


def test_moving_queue_unassigns_an_agent_outside_the_new_team(ticket, agent, other_queue):
    services.ticket_assign(ticket=ticket, assignee=agent, actor=agent)
    services.ticket_set_queue(ticket=ticket, queue=other_queue, actor=agent)
    ticket.refresh_from_db()
    assert ticket.queue == other_queue
    assert ticket.assignee is None
    assert TicketEvent.objects.filter(ticket=ticket, field="queue").count() == 1


def test_tags_are_case_insensitive_and_audited(ticket, agent):
    services.ticket_tag(ticket=ticket, actor=agent, add=["Refund", "vip ", ""])
    services.ticket_tag(ticket=ticket, actor=agent, add=["REFUND"], remove=["vip", "absent"])
    assert list(ticket.tags.values_list("name", flat=True)) == ["refund"]
    events = TicketEvent.objects.filter(ticket=ticket, field="tags").values_list("old_value", "new_value")
    assert list(events) == [("", "refund"), ("", "vip"), ("vip", "")]


# --- merge and link ----------------------------------------------------------------------------


def test_merge_moves_messages_and_tags_and_closes_the_source(make_ticket, agent, other_customer):
    target = make_ticket(subject="Parcel missing")
    source = make_ticket(subject="Where is my parcel", body="Sent from my other address", customer=other_customer)
    services.ticket_tag(ticket=source, actor=agent, add=["shipping"])
    services.ticket_merge(source=source, target=target, actor=agent)
    source.refresh_from_db()
    target.refresh_from_db()
    assert source.merged_into == target
    assert source.status == Status.CLOSED
    assert target.message_count == 2
    assert set(target.messages.values_list("body_text", flat=True)) == {
        "Hello, my order has not arrived yet. Can you help?",
        "Sent from my other address",
    }
    assert list(target.tags.values_list("name", flat=True)) == ["shipping"]
    assert TicketEvent.objects.filter(ticket=target, kind="merged", new_value=source.reference).exists()
    # The old reference keeps working: a later customer message lands on the target.
    landed, _ = services.ticket_add_customer_message(ticket=source, body="Any update?", channel="email")
    assert landed.pk == target.pk


def test_merge_refuses_self_and_double_merges(make_ticket, agent):
    a, b, c = make_ticket(), make_ticket(), make_ticket()
    with pytest.raises(ValidationError, match="itself"):
        services.ticket_merge(source=a, target=a, actor=agent)
    services.ticket_merge(source=a, target=b, actor=agent)
    with pytest.raises(ValidationError, match="merged away"):
        services.ticket_merge(source=a, target=c, actor=agent)
    with pytest.raises(ValidationError, match="merged away"):
        services.ticket_merge(source=c, target=a, actor=agent)


def test_link_is_idempotent_and_audited_on_both(make_ticket, agent):
    a, b = make_ticket(), make_ticket()
    services.ticket_link(ticket=a, other=b, actor=agent)
    services.ticket_link(ticket=b, other=a, actor=agent)
    assert TicketLink.objects.count() == 1
    assert TicketEvent.objects.filter(kind="linked").count() == 2
    with pytest.raises(ValidationError):
        services.ticket_link(ticket=a, other=a, actor=agent)


# --- search ------------------------------------------------------------------------------------


def test_search_vector_is_kept_up_to_date(ticket, agent):
    services.ticket_reply(ticket=ticket, author=agent, body="Your refund was issued")
    with connection.cursor() as cursor:
        cursor.execute("SELECT search_vector::text FROM tickets_ticket WHERE id = %s", [ticket.pk])
        vector = cursor.fetchone()[0]
    assert "'refund'" in vector and "'order'" in vector and "'arriv'" in vector


def test_customer_get_or_create_is_case_insensitive(db):
    from customers.services import customer_get_or_create

    first = customer_get_or_create(email="Ann@Example.com", name="Ann")
    again = customer_get_or_create(email="ann@example.COM ")
    assert first.pk == again.pk
    with pytest.raises(ValidationError, match="not a valid email"):
        customer_get_or_create(email="not-an-address")


def test_no_replies_or_notes_on_a_merged_ticket(make_ticket, agent):
    source, target = make_ticket(), make_ticket()
    services.ticket_merge(source=source, target=target, actor=agent)
    with pytest.raises(InvalidTransition, match=f"merged into HD-{target.pk}"):
        services.ticket_add_note(ticket=source, author=agent, body="note")
    with pytest.raises(InvalidTransition, match="merged into"):
        services.ticket_reply(ticket=source, author=agent, body="reply")


def test_markdown_replies_are_rendered_and_sanitized(ticket, agent):
    body = (
        "**Good news**: your order shipped.\n\n- tracking: [link](https://track.example/1)\n- ETA: Friday\n\n"
        "<script>alert(1)</script> [bad](javascript:alert(2))"
    )
    message = services.ticket_reply(ticket=ticket, author=agent, body=body, body_is_markdown=True)
    html = message.body_html
    assert "<strong>Good news</strong>" in html
    assert "<li>ETA: Friday</li>" in html
    assert '<a href="https://track.example/1" rel="noopener noreferrer nofollow">link</a>' in html
    assert "<script>" not in html and "&lt;script&gt;" in html  # raw HTML is shown as text
    assert 'href="javascript' not in html  # not made a link
    assert message.body_text == body.strip()


def test_markdown_notes(ticket, agent):
    note = services.ticket_add_note(ticket=ticket, author=agent, body="Call back *after 3pm*", body_is_markdown=True)
    assert "<em>after 3pm</em>" in note.body_html
