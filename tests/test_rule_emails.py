"""The routing rules' action "send an email from a template" (issue 7): the admin's template in the
customer's language, sent by Celery after commit to a real SMTP server (aiosmtpd) as an automatic reply
that threads, shown on the ticket and on its audit trail; never to blocked or bouncing addresses, in answer
to auto-replies, or over the automatic-mail limit; checked in the admin and shown in the dry run."""

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext, override

from helpdesk.tasks import BEAT_HEARTBEAT_KEY, beat_heartbeat_task
from tickets import services
from tickets.mail import ids, outbound
from tickets.mail.models import BlockedSender
from tickets.models import DeliveryStatus, EmailTemplate, Message, Ticket, TicketEvent
from tickets.rules.engine import rules_run
from tickets.rules.models import Rule, RuleAction
from tickets.services import EmailDetails
from tickets.tasks import send_template_email_task

from .live_services import wait_for

FOOTER = "This is an automatic message about your request %(reference)s. To answer, simply reply to this email."


@pytest.fixture
def templates(db):
    return {
        "": EmailTemplate.objects.create(
            name="Welcome", subject="Thanks, {{ customer.first_name }}",
            body="Hello {{ customer.name }}, we have {{ ticket.reference }} ({{ ticket.subject }})."),
        "de": EmailTemplate.objects.create(
            name="Welcome", language="de", subject="Danke, {{ customer.first_name }}",
            body="Hallo {{ customer.first_name }}, wir haben {{ ticket.reference }}: {{ follow_url }}"),
    }  # fmt: skip


@pytest.fixture
def welcome_rule(templates):
    rule = Rule.objects.create(name="Greet", on_create=True)
    RuleAction.objects.create(rule=rule, action=RuleAction.Action.SEND_EMAIL, value="welcome")
    return rule


def run_rules(ticket, django_capture_on_commit_callbacks):
    """The rules for a new ticket; returns their lines and what they queued to run after commit (the only
    rule here sends an email: its task, not run)."""
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        lines = rules_run(ticket, event="create")
    return lines, callbacks


def emails_queued(ticket):
    return list(Message.objects.filter(ticket=ticket, kind=Message.Kind.SYSTEM))


def test_the_email_goes_in_the_customers_language_threaded_and_on_the_ticket(
    smtp_server, welcome_rule, templates, customer, make_ticket, django_capture_on_commit_callbacks
):
    customer.language = "de"
    customer.save()
    ticket = make_ticket()
    lines, sends = run_rules(ticket, django_capture_on_commit_callbacks)
    assert lines == ["Greet: email “welcome” sent"] and len(sends) == 1
    [message] = emails_queued(ticket)
    assert message.delivery_status == DeliveryStatus.QUEUED and message.author_user is None
    assert message.body_text.startswith(f"Hallo Ann, wir haben {ticket.reference}: http")

    assert outbound.template_email_send(message_id=message.pk, template_id=templates["de"].pk) is True
    assert outbound.template_email_send(message_id=message.pk, template_id=templates["de"].pk) is False  # once

    [email] = smtp_server.messages
    assert email["To"] == customer.email
    assert email["Subject"] == f"Danke, Ann [{ticket.reference}]"
    assert email["Auto-Submitted"] == "auto-replied"
    message.refresh_from_db()
    assert message.delivery_status == DeliveryStatus.SENT and message.sent_at is not None
    assert email["Message-ID"] == f"<{message.email_message_id}>"  # stored: the customer's answer threads
    assert ids.ticket_id_from_message_id(email["Message-ID"]) == ticket.pk
    text = email.get_body(("plain",)).get_content()
    html = email.get_body(("html",)).get_content()
    with override("de"):
        footer = gettext(FOOTER) % {"reference": ticket.reference}
    assert footer != FOOTER % {"reference": ticket.reference}  # really translated
    assert message.body_text in text and footer in text
    assert 'lang="de"' in html and "Hallo Ann" in html
    # on the audit trail: the rule that ran, and the automatic message it added
    rule_event = TicketEvent.objects.get(ticket=ticket, kind=TicketEvent.Kind.RULE)
    assert rule_event.new_value == "Greet: email “welcome” sent"
    assert TicketEvent.objects.filter(ticket=ticket, kind=TicketEvent.Kind.MESSAGE, message=message).exists()


def test_a_customer_without_a_version_in_their_language_gets_the_one_for_every_language(
    smtp_server, welcome_rule, templates, customer, make_ticket, django_capture_on_commit_callbacks
):
    customer.language = "fr"
    customer.save()
    ticket = make_ticket(subject="Colis abîmé")
    run_rules(ticket, django_capture_on_commit_callbacks)
    [message] = emails_queued(ticket)
    assert message.body_text == f"Hello Ann Smith, we have {ticket.reference} (Colis abîmé)."
    outbound.template_email_send(message_id=message.pk, template_id=templates[""].pk)
    [email] = smtp_server.messages
    assert email["Subject"] == f"Thanks, Ann [{ticket.reference}]"
    text = email.get_body(("plain",)).get_content()
    with override("fr"):
        assert gettext(FOOTER) % {"reference": ticket.reference} in text
    assert message.body_text in text and outbound.follow_url(ticket) in text  # the link, added below


@pytest.mark.parametrize("reason", ["blocked", "bouncing", "auto_reply", "too_many"])
def test_no_email_to_blocked_bouncing_or_over_mailed_addresses_nor_to_auto_replies(
    smtp_server, welcome_rule, customer, queue, make_ticket, django_capture_on_commit_callbacks, reason
):
    ticket = make_ticket()
    if reason == "blocked":
        BlockedSender.objects.create(pattern="@customer.example")
    elif reason == "bouncing":
        customer.email_bouncing_at = timezone.now()
        customer.save()
    elif reason == "auto_reply":
        ticket = make_ticket(channel=Ticket.Channel.EMAIL, body="",
                             email=EmailDetails(text="I am out of office.", automatic=True))  # fmt: skip
    else:
        for n in range(outbound.AUTOMATIC_PER_ADDRESS_PER_HOUR):
            earlier = make_ticket(subject=f"T{n}")
            sent = services.ticket_add_system_message(ticket=earlier, body="An earlier automatic email.")
            Message.objects.filter(pk=sent.pk).update(sent_at=timezone.now(), delivery_status=DeliveryStatus.SENT)
    lines, sends = run_rules(ticket, django_capture_on_commit_callbacks)
    expected = {
        "blocked": "the sender is blocked",
        "bouncing": "the address bounces",
        "auto_reply": "the customer's message was an automatic reply",
        "too_many": "too many automatic emails to this address in the last hour",
    }[reason]
    assert lines == [f"Greet: email “welcome” not sent: {expected}"]
    assert emails_queued(ticket) == [] and sends == []
    assert TicketEvent.objects.get(ticket=ticket, kind=TicketEvent.Kind.RULE).new_value == lines[0]
    assert smtp_server.messages == []


def test_an_address_blocked_after_queueing_gets_nothing(
    smtp_server, welcome_rule, templates, make_ticket, django_capture_on_commit_callbacks
):
    ticket = make_ticket()
    run_rules(ticket, django_capture_on_commit_callbacks)
    [message] = emails_queued(ticket)
    BlockedSender.objects.create(pattern="ann@customer.example")
    assert outbound.template_email_send(message_id=message.pk, template_id=templates[""].pk) is False
    assert smtp_server.messages == []
    message.refresh_from_db()
    assert message.delivery_status == DeliveryStatus.NONE and "blocked" in message.delivery_error


def test_an_unknown_template_is_noted_and_nothing_is_sent(ticket, django_capture_on_commit_callbacks):
    rule = Rule.objects.create(name="Greet")
    RuleAction.objects.create(rule=rule, action=RuleAction.Action.SEND_EMAIL, value="Gone")
    lines, sends = run_rules(ticket, django_capture_on_commit_callbacks)
    assert lines == ["Greet: email “Gone” not sent: email template “Gone” not found"] and sends == []


@pytest.mark.celery_worker
def test_a_new_tickets_rule_email_is_sent_by_the_worker(celery_worker, smtp_server, welcome_rule, queue, customer):
    cache.delete(BEAT_HEARTBEAT_KEY)
    ticket = services.ticket_create(customer=customer, queue=queue, subject="Wrong size", body="I got S.",
                                    channel=Ticket.Channel.PORTAL)  # fmt: skip
    message = wait_for(lambda: Message.objects.filter(ticket=ticket, kind=Message.Kind.SYSTEM,
                                                      delivery_status=DeliveryStatus.SENT).first())  # fmt: skip
    wait_for(lambda: len(smtp_server.messages) == 2)  # the acknowledgement and the rule's email
    [email] = [email for email in smtp_server.messages if email["Message-ID"] == f"<{message.email_message_id}>"]
    assert email["Subject"] == f"Thanks, Ann [{ticket.reference}]" and email["Auto-Submitted"] == "auto-replied"
    # the task again (a retry, a duplicate): nothing more is sent
    send_template_email_task.delay(message.pk, EmailTemplate.objects.get(language="").pk)
    beat_heartbeat_task.delay()  # a marker queued after it: once it has run, so has the duplicate (solo pool)
    wait_for(lambda: cache.get(BEAT_HEARTBEAT_KEY))
    assert len(smtp_server.messages) == 2


# --- admin ---------------------------------------------------------------------------------------


def rule_form(value):
    return {
        "name": "Greet", "position": "1", "active": "on", "match_all": "on", "on_create": "on",
        "conditions-TOTAL_FORMS": "0", "conditions-INITIAL_FORMS": "0",
        "actions-TOTAL_FORMS": "1", "actions-INITIAL_FORMS": "0",
        "actions-0-action": "send_email", "actions-0-value": value, "actions-0-position": "0",
    }  # fmt: skip


def test_the_admin_refuses_an_unknown_template_with_a_clear_error(client, admin_user, templates):
    client.force_login(admin_user)
    response = client.post(reverse("admin:tickets_rule_add"), rule_form("Welcom"))
    assert response.status_code == 200 and not Rule.objects.exists()
    assert "There is no email template “Welcom”. Write it under “Email templates” first." in response.content.decode()
    assert client.post(reverse("admin:tickets_rule_add"), rule_form("WELCOME")).status_code == 302
    assert [(a.action, a.value) for a in Rule.objects.get().actions.all()] == [("send_email", "WELCOME")]


def test_the_admin_edits_templates_and_refuses_broken_placeholders(client, admin_user):
    client.force_login(admin_user)
    url = reverse("admin:tickets_emailtemplate_add")
    data = {"name": "Welcome", "language": "", "subject": "Thanks", "body": "{% if customer.name %}Hello"}
    response = client.post(url, data)
    assert response.status_code == 200 and "A placeholder or tag is not written correctly" in response.content.decode()
    assert client.post(url, {**data, "body": "Hello {{ customer.first_name }}"}).status_code == 302
    response = client.post(url, {**data, "name": "WELCOME"})  # the same name and language again
    assert "There is already a template with this name for this language." in response.content.decode()
    assert EmailTemplate.objects.count() == 1


def test_the_dry_run_shows_the_email_and_sends_nothing(client, admin_user, welcome_rule, customer, ticket, smtp_server):
    client.force_login(admin_user)
    response = client.get(reverse("admin:tickets_rule_dry_run"), {"ticket": ticket.pk, "event": "create"})
    page = response.content.decode()
    assert "Send an email from a template (template name): welcome" in page
    assert f"To ann@customer.example: “Thanks, Ann [{ticket.reference}]”" in page
    BlockedSender.objects.create(pattern="@customer.example")
    page = client.get(reverse("admin:tickets_rule_dry_run"), {"ticket": ticket.pk}).content.decode()
    assert "It would not be sent: the sender is blocked." in page
    assert emails_queued(ticket) == [] and smtp_server.messages == []
    assert not TicketEvent.objects.filter(ticket=ticket, kind=TicketEvent.Kind.RULE).exists()
