"""Who may open which route: every tickets route and the signed-out pages, for an anonymous visitor,
an agent of another team, an agent of the ticket's team, an admin and an owner.

Customers never sign in on the agent side (they are not users), so they have no row here.
"""

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from tickets import services
from tickets.models import Message

from .factories import PASSWORD

ROLES = ["anonymous", "other_agent", "agent", "admin_user", "owner"]


@pytest.fixture
def attachment(ticket, agent):
    message = services.ticket_add_note(ticket=ticket, author=agent, body="See file.",
                                       attachments=[SimpleUploadedFile("notes.txt", b"hello")])  # fmt: skip
    return message.attachments.get()


# (method, route name, what the id is, POST data, what an allowed user gets)
TICKET_ROUTES = [
    ("get", "tickets:detail", "ticket", None, 200),
    ("post", "tickets:message", "ticket", {"kind": "note", "body": "A note."}, 302),
    ("post", "tickets:status", "ticket", {"status": "pending"}, 302),
    ("post", "tickets:priority", "ticket", {"priority": "high"}, 302),
    ("post", "tickets:assign", "ticket", {"assignee": ""}, 302),
    ("post", "tickets:queue", "ticket", {"queue": ""}, 302),
    ("post", "tickets:tags", "ticket", {"tags": "vip"}, 302),
    ("get", "tickets:attachment", "attachment", None, 200),
]


def _snapshot(ticket):
    ticket.refresh_from_db()
    return (ticket.status, ticket.priority, ticket.assignee_id, ticket.queue_id, ticket.messages.count(),
            ticket.events.count())  # fmt: skip


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "name", "target", "data", "allowed"), TICKET_ROUTES,
                         ids=[route[1] for route in TICKET_ROUTES])  # fmt: skip
def test_ticket_routes(as_role, request, ticket, attachment, role, method, name, target, data, allowed):
    obj = ticket if target == "ticket" else attachment
    url = reverse(name, args=[obj.pk])
    client = as_role(role)
    before = _snapshot(ticket)

    response = getattr(client, method)(url, data or {})

    if role == "anonymous":
        assert response.status_code == 302
        assert response["Location"] == f"{reverse('login')}?next={url}"
    elif role == "other_agent":
        assert response.status_code == 404
    else:
        assert response.status_code == allowed
    if role in ("anonymous", "other_agent"):
        assert _snapshot(ticket) == before  # nothing happened


@pytest.mark.parametrize("role", ROLES)
def test_ticket_list(as_role, ticket, role):
    response = as_role(role).get(reverse("tickets:list"))
    if role == "anonymous":
        assert response.status_code == 302
        assert response["Location"] == f"{reverse('login')}?next={reverse('tickets:list')}"
        return
    assert response.status_code == 200
    assert (ticket.subject in response.content.decode()) is (role != "other_agent")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    "name", ["tickets:status", "tickets:priority", "tickets:assign", "tickets:message", "tickets:queue", "tickets:tags"]
)
def test_post_only_routes_refuse_get(as_role, ticket, role, name):
    response = as_role(role).get(reverse(name, args=[ticket.pk]))
    assert response.status_code == (302 if role == "anonymous" else 405)


def test_attachment_download_is_a_download(client, agent, attachment):
    client.force_login(agent)
    response = client.get(reverse("tickets:attachment", args=[attachment.pk]))
    assert response["Content-Disposition"] == 'attachment; filename="notes.txt"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content) == b"hello"


def test_unknown_ticket_shows_the_designed_404(client, agent):
    client.force_login(agent)
    response = client.get(reverse("tickets:detail", args=[999_999]))
    assert response.status_code == 404
    assert "We can’t find that page" in response.content.decode()


# --- signed-out pages --------------------------------------------------------------------------

SIGNED_OUT_PAGES = ["login", "password_reset", "password_reset_done", "password_reset_complete"]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", SIGNED_OUT_PAGES)
def test_signed_out_pages(as_role, role, name):
    response = as_role(role).get(reverse(name))
    if name == "login" and role != "anonymous":
        assert response.status_code == 302  # already signed in
        assert response["Location"] == reverse("tickets:list")
    else:
        assert response.status_code == 200


def test_sign_in_with_email_and_password(client, agent):
    page = client.get(reverse("login")).content.decode()
    assert 'type="email"' in page and reverse("password_reset") in page

    response = client.post(reverse("login"), {"username": agent.email, "password": PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == reverse("tickets:list")


def test_wrong_password_shows_an_error_and_keeps_the_email(client, agent):
    response = client.post(reverse("login"), {"username": agent.email, "password": "nope"})
    html = response.content.decode()
    assert response.status_code == 200
    assert 'role="alert"' in html and "Please enter a correct" in html
    assert f'value="{agent.email}"' in html


def test_too_many_failures_show_the_lockout_page(client, settings, agent):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        response = client.post(reverse("login"), {"username": agent.email, "password": "nope"})
    assert response.status_code == 429
    html = response.content.decode()
    assert "Sign-in is paused for a while" in html
    assert "Please try again in 15 minutes." in html


def test_sign_out_is_a_post(client, agent):
    client.force_login(agent)
    page = client.get(reverse("tickets:list")).content.decode()
    assert f'<form method="post" action="{reverse("logout")}">' in page
    response = client.post(reverse("logout"))
    assert response.status_code == 302 and response["Location"] == reverse("login")
    assert client.get(reverse("tickets:list")).status_code == 302


def test_password_reset_sends_a_text_and_html_email_with_a_working_link(client, settings, agent):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

    response = client.post(reverse("password_reset"), {"email": agent.email})

    assert response["Location"] == reverse("password_reset_done")
    email = mail.outbox[0]
    assert email.subject == "Reset your Help Desk password"
    link = next(line for line in email.body.splitlines() if "/password-reset/" in line).strip()
    assert link.startswith("http://testserver/password-reset/")
    assert "<html" not in email.body  # the text part is text
    assert link in email.alternatives[0][0]

    confirm = client.get(link, follow=True)
    assert "Choose a new password" in confirm.content.decode()
    done = client.post(confirm.redirect_chain[-1][0], {"new_password1": "a new long passphrase",
                                                       "new_password2": "a new long passphrase"})  # fmt: skip
    assert done["Location"] == reverse("password_reset_complete")


def test_password_reset_for_an_unknown_address_looks_the_same(client, settings, db):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    response = client.post(reverse("password_reset"), {"email": "nobody@example.com"})
    assert response["Location"] == reverse("password_reset_done")
    assert mail.outbox == []


def test_password_reset_link_valid_and_invalid(client, agent):
    uid = urlsafe_base64_encode(force_bytes(agent.pk))
    token = default_token_generator.make_token(agent)

    valid = client.get(reverse("password_reset_confirm", args=[uid, token]), follow=True)
    assert "Choose a new password" in valid.content.decode()

    invalid = client.get(reverse("password_reset_confirm", args=[uid, "bad-token"]))
    assert invalid.status_code == 200
    assert "This link no longer works" in invalid.content.decode()
    assert reverse("password_reset") in invalid.content.decode()


def test_server_error_page_renders_without_a_request():
    from django.template.loader import render_to_string

    html = render_to_string("500.html")
    assert "Something went wrong on our side" in html


def test_other_teams_queues_are_not_in_the_sidebar(as_role, make_ticket, other_queue):
    make_ticket(queue=other_queue)
    html = as_role("agent").get(reverse("tickets:list")).content.decode()
    assert other_queue.name not in html


@pytest.mark.parametrize("role", ROLES)
def test_resending_a_failed_reply(as_role, ticket, agent, role, django_capture_on_commit_callbacks):
    reply = services.ticket_reply(ticket=ticket, author=agent, body="Hello")
    Message.objects.filter(pk=reply.pk).update(delivery_status="failed", delivery_error="451 try later")
    url = reverse("tickets:resend", args=[ticket.pk, reply.pk])
    client = as_role(role)  # its user and team first: only the request's own on-commit work is captured

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(url)

    reply.refresh_from_db()
    if role == "anonymous":
        assert response["Location"] == f"{reverse('login')}?next={url}"
    elif role == "other_agent":
        assert response.status_code == 404
    else:
        assert response.status_code == 302 and reply.delivery_status == "queued" and len(callbacks) == 1
    if role in ("anonymous", "other_agent"):
        assert reply.delivery_status == "failed" and callbacks == []


def test_resend_refuses_a_message_of_another_ticket(client, agent, ticket, make_ticket):
    other = make_ticket(subject="Other")
    reply = services.ticket_reply(ticket=other, author=agent, body="Hello")
    client.force_login(agent)
    assert client.post(reverse("tickets:resend", args=[ticket.pk, reply.pk])).status_code == 404
