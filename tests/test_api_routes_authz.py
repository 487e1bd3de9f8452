"""Who may call which API route: every route of the ``api`` namespace, for an anonymous client, an agent of
another team, an agent of the ticket's team (with a write and with a read-only token), an admin and an
owner. A new route must be added to ROUTES (the first test fails until it is).

Customers never sign in on the agent side (they are not users): a portal session is refused in
tests/test_api_tokens.py."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import get_resolver, reverse

from tickets import services
from tickets.models import Ticket

ROLES = ["anonymous", "other_agent", "agent", "read_token", "admin_user", "owner"]

# (route name, method): (what the id is, request data, what an allowed agent gets). The id is the ticket's
# ("ticket"), its attachment's ("attachment"), its queue's ("queue"), its team's agent's ("agent"), or none.
ROUTES = {
    ("api-root", "get"): (None, None, 200),
    ("schema", "get"): (None, None, 200),
    ("docs", "get"): (None, None, 200),
    ("ticket-list", "get"): (None, None, 200),
    ("ticket-list", "post"): (None, "create", 201),
    ("ticket-detail", "get"): ("ticket", None, 200),
    ("ticket-detail", "patch"): ("ticket", {"priority": "high"}, 200),
    ("ticket-messages", "get"): ("ticket", None, 200),
    ("ticket-reply", "post"): ("ticket", {"body": "Hello"}, 201),
    ("ticket-notes", "post"): ("ticket", {"body": "A note"}, 201),
    ("ticket-merge", "post"): ("ticket", "merge", 200),
    ("attachment-detail", "get"): ("attachment", None, 200),
    ("attachment-download", "get"): ("attachment", None, 200),
    ("queue-list", "get"): (None, None, 200),
    ("queue-detail", "get"): ("queue", None, 200),
    ("agent-list", "get"): (None, None, 200),
    ("agent-detail", "get"): ("agent", None, 200),
    ("team-list", "get"): (None, None, 200),
    ("canned-response-list", "get"): (None, None, 200),
    ("sla-policy-list", "get"): (None, None, 200),
    ("article-list", "get"): (None, None, 200),
    ("article-category-list", "get"): (None, None, 200),
    ("survey-answer-list", "get"): (None, None, 200),
    ("report-figures", "get"): (None, None, 200),
}

# The agent of another team gets a 400 here: the customer's tickets are all in the other team's queues, so
# the customer is not one they may see (customers_visible_to), and nothing is created.
OTHER_AGENT = {("ticket-list", "post"): 400}


def api_route_names() -> set[str]:
    resolver = next(p for p in get_resolver().url_patterns if getattr(p, "namespace", None) == "api")
    return {name for name in resolver.reverse_dict if isinstance(name, str)}


def test_every_api_route_is_covered_here():
    assert api_route_names() == {name for name, _method in ROUTES}


@pytest.fixture
def attachment(ticket, agent):
    message = services.ticket_add_note(ticket=ticket, author=agent, body="See file.",
                                       attachments=[SimpleUploadedFile("notes.txt", b"hello")])  # fmt: skip
    return message.attachments.get()


def _snapshot(ticket):
    ticket.refresh_from_db()
    return (ticket.status, ticket.priority, ticket.merged_into_id, ticket.messages.count(), ticket.events.count(),
            Ticket.objects.count())  # fmt: skip


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("name", "method"), list(ROUTES), ids=[f"{m}-{n}" for n, m in ROUTES])
def test_api_routes(api_as, client, request, ticket, attachment, make_ticket, customer, queue, role, name, method):
    target, data, allowed = ROUTES[(name, method)]
    objects = {"ticket": ticket, "attachment": attachment, "queue": queue, "agent": request.getfixturevalue("agent")}
    args = [objects[target].pk] if target else []
    url = reverse(f"api:{name}", args=args)
    if data == "create":
        data = {"customer": customer.pk, "subject": "Hello", "body": "Hi", "queue": queue.pk}
    elif data == "merge":
        data = {"into": make_ticket(subject="The older one").pk}
    if name == "docs":  # a page for the browser: the session of the agent screens
        if role not in ("anonymous", "read_token"):
            client.force_login(request.getfixturevalue(role))
        api = client
    else:
        api = api_as("agent", scope="read") if role == "read_token" else api_as(role)
    before = _snapshot(ticket)

    response = getattr(api, method)(url, data, format="json") if name != "docs" else api.get(url)

    writes = method != "get"
    if name == "docs":
        assert response.status_code == (302 if role in ("anonymous", "read_token") else 200)
        return
    if role == "anonymous":
        assert response.status_code == 401
    elif role == "read_token" and writes:
        assert response.status_code == 403
    elif role == "other_agent" and target is not None:
        assert response.status_code == 404  # a ticket they may not see does not exist for them
    elif role == "other_agent":
        assert response.status_code == OTHER_AGENT.get((name, method), allowed), response.content
    else:
        assert response.status_code == allowed, response.content
    if role in ("anonymous", "other_agent", "read_token") and writes:
        assert _snapshot(ticket) == before  # nothing happened
