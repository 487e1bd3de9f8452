"""Agents are emailed when a ticket is assigned to them or when a note @mentions them."""

from tickets import notifications, services

from .factories import UserFactory


def test_assigning_someone_else_schedules_their_email(ticket, agent, team, django_capture_on_commit_callbacks):
    mate = UserFactory(email="sam@staff.example", teams=[team])
    with django_capture_on_commit_callbacks() as callbacks:
        services.ticket_assign(ticket=ticket, assignee=mate, actor=agent)
    assert len(callbacks) == 1
    with django_capture_on_commit_callbacks() as callbacks:
        services.ticket_assign(ticket=ticket, assignee=agent, actor=agent)  # taking it oneself: no email
        services.ticket_assign(ticket=ticket, assignee=None, actor=agent)
    assert callbacks == []


def test_assigned_email(transactional_db, smtp_server, make_ticket, agent, team):
    mate = UserFactory(email="sam@staff.example", full_name="Sam Lee", teams=[team])
    ticket = make_ticket(assignee=mate)
    assert notifications.notify_assigned(ticket_id=ticket.pk, assignee_id=mate.pk) is True
    email = smtp_server.messages[0]
    assert email["To"] == "sam@staff.example"
    assert email["Subject"] == f"[{ticket.reference}] assigned to you: {ticket.subject}"
    assert f"/tickets/{ticket.pk}/" in email.get_body(preferencelist=("plain",)).get_content()


def test_no_assigned_email_when_opted_out_or_reassigned(transactional_db, smtp_server, make_ticket, agent, team):
    mate = UserFactory(email="sam@staff.example", teams=[team], notify_on_assign=False)
    ticket = make_ticket(assignee=mate)
    assert notifications.notify_assigned(ticket_id=ticket.pk, assignee_id=mate.pk) is False
    assert notifications.notify_assigned(ticket_id=ticket.pk, assignee_id=agent.pk) is False  # not theirs now
    assert smtp_server.messages == []


def test_mentions_resolve_to_agents_who_may_see_the_ticket(ticket, agent, team, other_agent, admin_user):
    sam = UserFactory(email="sam.lee@staff.example", teams=[team])
    text = "@sam.lee and @other and @admin, also mail@example.com and @nobody. Ask @agent too."
    found = notifications.mentioned_agents(ticket=ticket, text=text, author=agent)
    assert set(found) == {sam, admin_user}  # other_agent is in another team; the author is skipped


def test_a_note_with_a_mention_schedules_the_email(ticket, agent, team, django_capture_on_commit_callbacks):
    UserFactory(email="sam@staff.example", teams=[team])
    with django_capture_on_commit_callbacks() as callbacks:
        services.ticket_add_note(ticket=ticket, author=agent, body="@sam can you check the refund?")
    assert len(callbacks) == 1
    with django_capture_on_commit_callbacks() as callbacks:
        services.ticket_add_note(ticket=ticket, author=agent, body="no mention here")
    assert callbacks == []


def test_mention_email(transactional_db, smtp_server, make_ticket, agent, team):
    sam = UserFactory(email="sam@staff.example", teams=[team])
    ticket = make_ticket()
    note = services.ticket_add_note(ticket=ticket, author=agent, body="@sam can you check the **refund**?",
                                    body_is_markdown=True)  # fmt: skip
    assert notifications.notify_mentioned(message_id=note.pk, user_id=sam.pk) is True
    email = smtp_server.messages[0]
    assert email["To"] == "sam@staff.example"
    assert "mentioned you in a note" in email["Subject"]
    assert "<strong>refund</strong>" in email.get_body(preferencelist=("html",)).get_content()
    sam.notify_on_mention = False
    sam.save()
    assert notifications.notify_mentioned(message_id=note.pk, user_id=sam.pk) is False


def test_customer_reply_on_an_assigned_ticket_schedules_the_email(ticket, agent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        services.ticket_add_customer_message(ticket=ticket, body="Any news?", channel="email")
    assert callbacks == []  # nobody holds the ticket yet
    services.ticket_assign(ticket=ticket, assignee=agent, actor=agent)
    with django_capture_on_commit_callbacks() as callbacks:
        services.ticket_add_customer_message(ticket=ticket, body="Any news now?", channel="email")
    assert len(callbacks) == 1


def test_customer_reply_email(transactional_db, smtp_server, make_ticket, agent):
    ticket = make_ticket(assignee=agent)
    _, message = services.ticket_add_customer_message(ticket=ticket, body="It arrived broken.", channel="email")
    assert notifications.notify_customer_replied(message_id=message.pk) is True
    email = smtp_server.messages[-1]
    assert email["To"] == agent.email
    assert "It arrived broken." in email.get_body(preferencelist=("plain",)).get_content()
    agent.notify_on_customer_reply = False
    agent.save()
    assert notifications.notify_customer_replied(message_id=message.pk) is False
