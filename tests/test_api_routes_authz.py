"""Who may call which API route: every route of the ``api`` namespace, for an anonymous client, an agent of
another team, an agent of the ticket's team (with a write and with a read-only token), an admin and an
owner. A new route must be added to ROUTES (the first test fails until it is).

Customers never sign in on the agent side (they are not users): a portal session is refused in
tests/test_api_tokens.py."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import get_resolver, reverse
from django.utils import timezone

from customers import services as customer_services
from customers.models import Customer, CustomerEmail, CustomerNote, Organization
from knowledge_base.models import Article, Category
from tickets import services
from tickets.models import CannedResponse, Ticket
from tickets.sla.models import SLAPolicy
from tickets.surveys.models import Survey

ROLES = ["anonymous", "other_agent", "agent", "read_token", "admin_user", "owner"]

# (route name, method): (what the id is, request data, what an allowed agent gets). The id is the ticket's
# ("ticket"), its attachment's ("attachment"), its queue's ("queue"), its team's agent's ("agent"), another of
# TARGETS (the ticket's customer, a note about them by the agent, ...), or none.
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
    ("team-detail", "get"): ("team", None, 200),
    ("canned-response-list", "post"): (None, {"title": "Thanks", "body": "Thank you!"}, 201),
    ("canned-response-detail", "get"): ("canned_response", None, 200),
    ("canned-response-detail", "patch"): ("canned_response", {"title": "Many thanks"}, 200),
    ("canned-response-detail", "delete"): ("canned_response", None, 204),
    ("sla-policy-detail", "get"): ("sla_policy", None, 200),
    ("article-category-list", "post"): (None, {"name": "Billing", "slug": "billing"}, 201),
    ("article-category-detail", "get"): ("article_category", None, 200),
    ("article-category-detail", "patch"): ("article_category", {"description": "Orders."}, 200),
    ("article-list", "post"): (None, "article", 201),
    ("article-detail", "get"): ("article", None, 200),
    ("article-detail", "patch"): ("article", {"state": "archived"}, 200),
    ("article-detail", "delete"): ("article", None, 204),
    ("survey-answer-detail", "get"): ("survey_answer", None, 200),
    ("customer-list", "get"): (None, None, 200),
    ("customer-list", "post"): (None, {"email": "new@example.com"}, 201),
    ("customer-detail", "get"): ("customer", None, 200),
    ("customer-detail", "patch"): ("customer", {"phone": "+44 1"}, 200),
    ("customer-note-list", "get"): ("customer", None, 200),
    ("customer-note-list", "post"): ("customer", {"body": "A note"}, 201),
    ("customer-note-detail", "get"): ("customer_note", None, 200),
    ("customer-note-detail", "patch"): ("customer_note", {"pinned": True}, 200),
    ("customer-note-detail", "delete"): ("customer_note", None, 204),
    ("customer-email-list", "get"): ("customer", None, 200),
    ("customer-email-list", "post"): ("customer", {"email": "ann@work.example"}, 201),
    ("customer-email-detail", "delete"): ("customer_email", None, 204),
    ("customer-email-primary", "post"): ("customer_email", None, 200),
    ("organization-list", "get"): (None, None, 200),
    ("organization-list", "post"): (None, {"name": "Acme"}, 201),
    ("organization-detail", "get"): ("organization", None, 200),
    ("organization-detail", "patch"): ("organization", {"notes": "Pays late."}, 200),
    ("report-figures", "get"): (None, None, 200),
}

# The agent of another team gets a 404 for what belongs to the ticket's team (its ticket, customer, ...), and
# otherwise what the agent gets, except here. A 400 for a ticket: the customer's tickets are all in the other
# team's queues, so the customer is not one they may see (customers_visible_to), and nothing is created. What
# every agent sees (shared canned responses, SLA policies, the knowledge base, organizations) they see too;
# any agent adds customers.
OTHER_AGENT = {
    ("ticket-list", "post"): 400,
    ("customer-list", "post"): 201,
    ("canned-response-detail", "get"): 200,
    ("sla-policy-detail", "get"): 200,
    ("article-category-detail", "get"): 200,
    ("article-detail", "get"): 200,
    ("organization-detail", "get"): 200,
    ("organization-detail", "patch"): 403,
    ("organization-list", "post"): 403,
    ("canned-response-list", "post"): 201,  # their own
    ("canned-response-detail", "patch"): 403,  # a shared one
    ("canned-response-detail", "delete"): 403,
    ("article-category-list", "post"): 403,
    ("article-category-detail", "patch"): 403,
    ("article-list", "post"): 403,
    ("article-detail", "patch"): 403,
    ("article-detail", "delete"): 403,
}
# Owners and admins only: an agent gets 403. (The canned response of TARGETS is a shared one.)
ADMINS_ONLY = {("organization-list", "post"), ("organization-detail", "patch"), ("canned-response-detail", "patch"),
               ("canned-response-detail", "delete"), ("article-category-list", "post"),
               ("article-category-detail", "patch"), ("article-list", "post"), ("article-detail", "patch"),
               ("article-detail", "delete")}  # fmt: skip


def _note(request):
    customer, agent = request.getfixturevalue("customer"), request.getfixturevalue("agent")
    return [customer.pk, customer_services.customer_note_add(customer=customer, author=agent, body="Note").pk]


def _other_email(request):
    customer = request.getfixturevalue("customer")
    other = customer_services.customer_email_add(customer=customer, email="ann@old.example", actor=None)
    return [customer.pk, other.pk]


def _survey_answer(request):
    ticket = request.getfixturevalue("ticket")
    return [Survey.objects.create(ticket=ticket, customer=ticket.customer, kind=Survey.Kind.CSAT, score=5,
                                  answered_at=timezone.now()).pk]  # fmt: skip


# What the URL's ids are, made when a route needs them.
TARGETS = {
    "ticket": lambda request: [request.getfixturevalue("ticket").pk],
    "attachment": lambda request: [request.getfixturevalue("attachment").pk],
    "queue": lambda request: [request.getfixturevalue("queue").pk],
    "agent": lambda request: [request.getfixturevalue("agent").pk],
    "team": lambda request: [request.getfixturevalue("team").pk],
    "canned_response": lambda request: [CannedResponse.objects.create(title="Shared", body="Text.").pk],
    "sla_policy": lambda request: [SLAPolicy.objects.create(name="Default", first_response_minutes=60).pk],
    "article_category": lambda request: [Category.objects.create(name="Orders", slug="orders").pk],
    "article": lambda request: [request.getfixturevalue("make_article")("Where is my order?").pk],
    "survey_answer": _survey_answer,
    "customer": lambda request: [request.getfixturevalue("customer").pk],
    "customer_note": _note,
    "customer_email": _other_email,
    "organization": lambda request: [Organization.objects.create(name="Corner Shop").pk],
}  # fmt: skip


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
            Ticket.objects.count(), list(Customer.objects.order_by("pk").values_list("email", "phone")),
            list(CustomerNote.objects.order_by("pk").values_list("pk", "pinned")),
            list(CustomerEmail.objects.order_by("pk").values_list("pk", "email")),
            list(Organization.objects.order_by("pk").values_list("name", "notes")),
            list(CannedResponse.objects.order_by("pk").values_list("title", "body", "owner")),
            list(Category.objects.order_by("pk").values_list("name", "slug", "description")),
            list(Article.objects.order_by("pk").values_list("title", "slug", "state")))  # fmt: skip


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("name", "method"), list(ROUTES), ids=[f"{m}-{n}" for n, m in ROUTES])
def test_api_routes(api_as, client, request, ticket, attachment, make_ticket, customer, queue, role, name, method):
    target, data, allowed = ROUTES[(name, method)]
    args = TARGETS[target](request) if target else []
    url = reverse(f"api:{name}", args=args)
    if data == "create":
        data = {"customer": customer.pk, "subject": "Hello", "body": "Hi", "queue": queue.pk}
    elif data == "merge":
        data = {"into": make_ticket(subject="The older one").pk}
    elif data == "article":
        data = {"section": request.getfixturevalue("section").pk, "title": "Returns", "body": "Send it back."}
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
    elif role == "other_agent":
        # a ticket (customer, ...) they may not see does not exist for them
        expected = OTHER_AGENT.get((name, method), 404 if target is not None else allowed)
        assert response.status_code == expected, response.content
    elif role == "agent" and (name, method) in ADMINS_ONLY:
        assert response.status_code == 403, response.content
    else:
        assert response.status_code == allowed, response.content
    if writes and response.status_code >= 400:
        assert _snapshot(ticket) == before  # nothing happened
