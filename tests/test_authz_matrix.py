"""Who may open what: every URL pattern of the project (walked from the resolver: the agent screens, htmx
partials, attachments, reports, the portal and help center, the API and the admin) for six roles, against one
table of expected outcomes, EXPECTED, keyed by URL name. A pattern without an entry fails with its name (and
what it answered), so a new URL cannot go unreviewed.

Roles:
- ``anonymous``: nobody signed in;
- ``customer``: Ann, signed in to the portal (customers are not users: a portal session, no Django login), and
  holding the link of her own request (the links in her emails);
- ``other_customer``: Bob, signed in to the portal, holding the link of *his* request: on Ann's request's
  URLs he uses his own link with Ann's objects (her attachment);
- ``other_agent``: an agent of another team, who may not see the tickets of Ann's queue;
- ``agent``: an agent of the team of Ann's queue;
- ``admin_user``: an admin (the Django admin is open to admins and owners only).

Every case is one request with the method of the route (GET, or POST for actions); URL arguments are objects
of a shared world (built once for the module, rolled back after it; each case runs in its own savepoint).
Deeper checks of single routes (nothing happened after a refused POST, no internal note leaks) stay in
tests/test_ticket_routes_authz.py, tests/test_api_routes_authz.py and tests/test_portal_authorization.py.
"""

import fnmatch
import glob
import re
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

import pytest
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.tokens import default_token_generator
from django.contrib.contenttypes.models import ContentType
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import override_settings
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RoutePattern
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

ROLES = ["anonymous", "customer", "other_customer", "other_agent", "agent", "admin_user"]
CUSTOMERS = ("customer", "other_customer")


# --- what a route answers ------------------------------------------------------------------------


@dataclass(frozen=True)
class Redirect:
    """A 302 (or ``status``) to ``to``, a pattern where "*" stands for anything, "{url}" for the requested path
    and "{next}" for the requested path and query as a sign-in page's ``next`` carries them."""

    to: str
    status: int = 302


LOGIN = Redirect("/login/?next={next}")  # the agents' sign-in page
ADMIN_LOGIN = Redirect("/admin/login/?next={next}")


def outcome_of(response):
    if 300 <= response.status_code < 400:
        return Redirect(response["Location"], response.status_code)
    return response.status_code


def matches(expected, actual, url: str, query: str) -> bool:
    if isinstance(expected, Redirect) and isinstance(actual, Redirect):
        pattern = expected.to.replace("{url}", url).replace("{next}", quote(url + query, safe="/"))
        return expected.status == actual.status and fnmatch.fnmatchcase(
            actual.to, glob.escape(pattern).replace("[*]", "*")
        )
    return expected == actual


# --- the table ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """How to call a route and what each role gets. ``args`` names world objects for URL arguments that the
    defaults (ARGUMENTS) do not cover."""

    method: str
    outcomes: dict
    args: dict = field(default_factory=dict)
    data: object = None  # a dict, or a function of the world that returns one
    json: bool = False  # send ``data`` as a JSON body (the API)


def route(method="get", *, args=None, data=None, json=False, **outcomes) -> Route:
    assert set(outcomes) == set(ROLES), f"outcomes for {sorted(set(ROLES) ^ set(outcomes))}"
    return Route(method, outcomes, args or {}, data, json)


def everyone(outcome, method="get", **kwargs) -> Route:
    """A public route: the same for every role."""
    return route(method, **dict.fromkeys(ROLES, outcome), **kwargs)


def staff(ok, method="get", *, other_agent=None, agent=None, admin=None, signed_out=LOGIN, **kwargs) -> Route:
    """An agents' screen: signed out (anonymous, and customers, who are no users) to the sign-in page."""
    return route(method, anonymous=signed_out, customer=signed_out, other_customer=signed_out,
                 other_agent=ok if other_agent is None else other_agent, agent=ok if agent is None else agent,
                 admin_user=ok if admin is None else admin, **kwargs)  # fmt: skip


def api(ok, method="get", *, other_agent=None, **kwargs) -> Route:
    """A REST API route: 401 without a signed-in agent (a customer's portal session is not one). Agents call
    it with the session of the screens here; tokens and scopes are tests/test_api_routes_authz.py's."""
    return staff(ok, method, other_agent=other_agent, signed_out=401, json=True, **kwargs)


def admin_page(ok=200, method="get", **kwargs) -> Route:
    """The Django admin: admins only; everyone else to the admin's sign-in page."""
    return route(method, anonymous=ADMIN_LOGIN, customer=ADMIN_LOGIN, other_customer=ADMIN_LOGIN,
                 other_agent=ADMIN_LOGIN, agent=ADMIN_LOGIN, admin_user=ok, **kwargs)  # fmt: skip


# The Django admin's models ((app label, model name): what an admin gets where it is not 200). Every model
# gets the admin's five pages and the redirect from <id>/ to <id>/change/.
ADMIN_MODELS = {
    ("auth", "group"): {},
    ("axes", "accessattempt"): {"add": 403},  # the lockout's records: written by django-axes only
    ("axes", "accesslog"): {"add": 403},
    ("axes", "accessfailurelog"): {"add": 403},
    ("helpdesk", "user"): {},
    ("helpdesk", "team"): {},
    ("helpdesk", "branding"): {"changelist": Redirect("/admin/helpdesk/branding/1/change/"), "add": 403,
                               "delete": 403},  # one row, edited in place
    ("helpdesk", "auditentry"): {"add": 403, "delete": 403},  # the audit log: read only
    ("helpdesk", "securitysettings"): {"changelist": Redirect("/admin/helpdesk/securitysettings/1/change/"),
                                       "add": 403, "delete": 403},  # the sign-in rules: one row, edited in place
    ("helpdesk", "calendar"): {},
    ("customers", "organization"): {},
    ("customers", "customer"): {},
    ("customers", "customfield"): {},
    ("customers", "segment"): {},
    ("tickets", "mailbox"): {},
    ("tickets", "blockedsender"): {},
    ("tickets", "inboundemail"): {"add": 403},  # emails arrive; nobody writes one
    ("tickets", "queue"): {},
    ("tickets", "tag"): {},
    ("tickets", "ticket"): {"add": 403},  # tickets are made by ticket_create (the agent screens, the portal, ...)
    ("tickets", "ticketevent"): {"add": 403, "delete": 403},  # the tickets' audit trail: read only
    ("tickets", "automation"): {},
    ("tickets", "rule"): {},
    ("tickets", "emailtemplate"): {},
    ("tickets", "slapolicy"): {},
    ("knowledge_base", "category"): {},
    ("knowledge_base", "article"): {},
    ("webhooks", "webhooksubscription"): {},
    ("webhooks", "webhookdelivery"): {"add": 403, "delete": 403},  # the delivery log: read only
}  # fmt: skip


def admin_model_routes() -> dict[str, Route]:
    routes = {}
    for (app_label, model), exceptions in ADMIN_MODELS.items():
        for page in ("changelist", "add", "history", "delete", "change"):
            routes[f"admin:{app_label}_{model}_{page}"] = admin_page(exceptions.get(page, 200))
        routes[f"admin/{app_label}/{model}/<path:object_id>/"] = admin_page(Redirect("{url}change/"))
    return routes


def _bulk(w):
    return {"ticket": [w["ticket"].pk], "action": "priority:high"}


EXPECTED: dict[str, Route] = {
    # --- signing in and out, the agent's own account ---
    "home": everyone(Redirect("/tickets/")),  # the list then asks who is there
    "healthz": everyone(503),  # for the load balancer; 503 here: no Celery beat runs beside the tests
    "login": route(anonymous=200, customer=200, other_customer=200, other_agent=Redirect("/tickets/"),
                   agent=Redirect("/tickets/"), admin_user=Redirect("/tickets/")),
    "login_code": everyone(Redirect("/login/")),  # the second step: without a password just typed, back to the first
    "logout": everyone(Redirect("/login/"), "post"),
    "password_reset": everyone(200),
    "password_reset_done": everyone(200),
    "password_reset_confirm": everyone(Redirect("/password-reset/*"), args={"token": "reset_token"}),
    "password_reset_complete": everyone(200),
    "account": staff(200),
    "api_token_create": staff(Redirect("/account/"), "post", data={"name": "Zapier", "scope": "read"}),
    "api_token_revoke": staff(Redirect("/account/"), "post", other_agent=404, admin=404),  # the agent's own token
    # two-factor sign-in, sessions and password: each user's own (tests/test_two_factor.py, tests/test_sessions.py)
    "two_factor": staff(200),
    "two_factor_recovery_codes": staff(Redirect("/account/two-factor/"), "post"),  # (none made: two-factor is off)
    "two_factor_disable": staff(Redirect("/account/two-factor/"), "post"),  # (nothing to confirm: it is off)
    "session_end": staff(Redirect("/account/#sessions"), "post", other_agent=404, admin=404),  # the agent's own
    "sessions_end_others": staff(Redirect("/account/#sessions"), "post"),  # one's own other sessions
    "password_change": staff(200),
    # --- tickets ---
    "tickets:list": staff(200),
    "tickets:bulk": staff(Redirect("/tickets/"), "post", other_agent=404, data=_bulk),
    "tickets:detail": staff(200, other_agent=404),
    "tickets:message": staff(Redirect("/tickets/*"), "post", other_agent=404, data={"kind": "note", "body": "Hi"}),
    "tickets:resend": staff(Redirect("/tickets/*"), "post", other_agent=404),
    "tickets:status": staff(Redirect("/tickets/*"), "post", other_agent=404, data={"status": "pending"}),
    "tickets:priority": staff(Redirect("/tickets/*"), "post", other_agent=404, data={"priority": "high"}),
    "tickets:assign": staff(Redirect("/tickets/*"), "post", other_agent=404, data={"assignee": ""}),
    "tickets:queue": staff(Redirect("/tickets/*"), "post", other_agent=404, data={"queue": ""}),
    "tickets:tags": staff(Redirect("/tickets/*"), "post", other_agent=404, data={"tags": "vip"}),
    "tickets:canned_search": staff(200, other_agent=404),  # htmx partial of the ticket page
    "tickets:suggested_articles": staff(200, other_agent=404),  # htmx partial of the ticket page
    "tickets:presence": staff(200, "post", other_agent=404),  # htmx poll of the ticket page
    "tickets:attachment": staff(200, other_agent=404),
    "tickets:canned": staff(200),
    "tickets:canned_delete": staff(Redirect("/tickets/canned/"), "post", other_agent=404, admin=404),  # the agent's own
    "tickets:new": staff(200),
    "tickets:new_customers": staff(200),  # htmx partial of the new-ticket form
    "tickets:notifications": staff(200),
    "tickets:notifications_badge": staff(200),  # htmx partial of every page's bell
    "tickets:notifications_read": staff(Redirect("/tickets/notifications/"), "post"),
    "tickets:notification": staff(Redirect("/tickets/*"), other_agent=404, admin=404),  # the agent's own
    "tickets:saved_view_create": staff(Redirect("/tickets/*"), "post", data={"name": "Urgent", "query": "priority=urgent"}),
    "tickets:saved_view_delete": staff(Redirect("/tickets/*"), "post", other_agent=404, admin=404),  # the agent's own
    # --- knowledge base (agents' side) and customers ---
    "articles:list": staff(200),
    "articles:detail": staff(200),
    "customers:list": staff(200),
    "customers:detail": staff(200, other_agent=404),  # Ann has tickets only in the agent's team's queue
    "customers:edit": staff(200, other_agent=404),
    "customers:note_add": staff(Redirect("/customers/*"), "post", other_agent=404, data={"body": "Call back"}),
    "customers:note_pin": staff(Redirect("/customers/*"), "post", other_agent=404),
    "customers:note_delete": staff(Redirect("/customers/*"), "post", other_agent=404),
    "customers:preference_set": staff(Redirect("/customers/*"), "post", other_agent=404,
                                      data={"key": "size", "value": "M"}),
    "customers:preference_delete": staff(Redirect("/customers/*"), "post", other_agent=404),
    "customers:email_add": staff(Redirect("/customers/*"), "post", other_agent=404,
                                 data={"email": "ann@home.example"}),
    "customers:email_remove": staff(Redirect("/customers/*"), "post", other_agent=404),
    "customers:email_primary": staff(Redirect("/customers/*"), "post", other_agent=404),
    "customers:merge": staff(200, other_agent=404),
    "customers:export": staff(403, "post", other_agent=404, admin=200),  # the privacy export: admins only
    "customers:erase": staff(403, other_agent=404, admin=200),  # admins only
    "customers:import": staff(403, admin=200),  # admins only
    "customers:export_csv": staff(403, admin=200),  # admins only
    # --- reports: every agent sees figures, limited to their own and their teams' (tests/test_report_views.py) ---
    "reports:dashboard": staff(200),
    "reports:tickets": staff(200, data={"figure": "created"}),
    "reports:export": staff(200),
    # --- the help center and the portal: public, or by a request's signed link ---
    "portal_logo": everyone(200),
    "kb:home": everyone(200),
    "kb:search": everyone(200, data={"q": "order"}),
    "kb:suggest": everyone(200, data={"subject": "order"}),  # htmx partial of the request form
    "kb:category": everyone(200, args={"slug": "category_slug"}),
    "kb:article": everyone(200),
    "kb:vote": everyone(Redirect("/help/articles/*"), "post", data={"helpful": "yes"}),
    "kb:file": everyone(200),
    "portal:request_new": everyone(200),
    "portal:request": everyone(200),  # whoever holds the link (Bob: his own request)
    "portal:attachment": route(anonymous=200, customer=200, other_customer=404, other_agent=200, agent=200,
                               admin_user=200),  # Bob's link does not open Ann's file
    "portal:new_link": everyone(Redirect("/help/requests/*"), "post"),  # a link that still works: the request
    "portal:rate": everyone(Redirect("/help/requests/*")),  # no survey to answer yet: back to the request
    "portal:sign_in": everyone(200),
    "portal:sign_in_link": everyone(200, args={"token": "sign_in_token"}),  # a button; only pressing it signs in
    "portal:sign_out": everyone(Redirect("/help/sign-in/"), "post"),
    "portal:my_requests": route(anonymous=Redirect("/help/sign-in/"), customer=200, other_customer=200,
                                other_agent=Redirect("/help/sign-in/"), agent=Redirect("/help/sign-in/"),
                                admin_user=Redirect("/help/sign-in/")),  # a customer's session only
    "inbound_email": everyone(404, "post"),  # off until INBOUND_EMAIL_SECRET is set (tests/test_mail_ways_in.py)
    "set_language": everyone(Redirect("/"), "post", data={"language": "de"}),
    # --- the REST API ---
    "api:api-root": api(200),
    "api:schema": api(200),
    "api:docs": staff(200),  # a page for the browser: the agent screens' sign-in
    "api:report-figures": api(200),
    "api:ticket-list": api(200),
    "api:ticket-detail": api(200, other_agent=404),
    "api:ticket-messages": api(200, other_agent=404),
    "api:ticket-reply": api(201, "post", other_agent=404, data={"body": "Hello"}),
    "api:ticket-notes": api(201, "post", other_agent=404, data={"body": "A note"}),
    "api:ticket-merge": api(200, "post", other_agent=404, data=lambda w: {"into": w["other_ticket"].pk}),
    "api:attachment-detail": api(200, other_agent=404, args={"pk": "attachment"}),
    "api:attachment-download": api(200, other_agent=404, args={"pk": "attachment"}),
    "api:queue-list": api(200),
    "api:queue-detail": api(200, other_agent=404, args={"pk": "queue"}),
    "api:agent-list": api(200),
    "api:agent-detail": api(200, other_agent=404, args={"pk": "agent"}),
    "api:team-list": api(200),
    "api:team-detail": api(200, other_agent=404, args={"pk": "team"}),  # the agent's team
    "api:canned-response-list": api(200),
    "api:canned-response-detail": api(200, other_agent=404, admin=404, args={"pk": "canned"}),  # the agent's own
    "api:sla-policy-list": api(200),
    "api:sla-policy-detail": api(200, args={"pk": "sla_policy"}),
    "api:article-category-list": api(200),
    "api:article-category-detail": api(200, args={"pk": "category"}),
    "api:article-list": api(200),
    "api:article-detail": api(200, args={"pk": "article"}),
    "api:survey-answer-list": api(200),
    "api:survey-answer-detail": api(200, other_agent=404, args={"pk": "survey_answer"}),  # of a ticket of Ann's queue
    "api:customer-list": api(200),  # the customers each agent may see
    "api:customer-detail": api(200, other_agent=404, args={"pk": "customer"}),
    "api:customer-note-list": api(200, other_agent=404),
    "api:customer-note-detail": api(200, other_agent=404, args={"pk": "customer_note"}),
    "api:customer-email-list": api(200, other_agent=404),
    "api:customer-email-detail": api(204, "delete", other_agent=404, args={"pk": "customer_email"}),  # DELETE only
    "api:customer-email-primary": api(200, "post", other_agent=404, args={"pk": "customer_email"}),
    "api:organization-list": api(200),  # every agent reads organizations; owners and admins write
    "api:organization-detail": api(200, args={"pk": "organization"}),
    "api/^": everyone(404),  # any other /api/ address: the API's JSON 404
    # --- the Django admin ---
    "admin:index": admin_page(),
    "admin:login": route(anonymous=Redirect("/login/?next=/admin/"), customer=Redirect("/login/?next=/admin/"),
                         other_customer=Redirect("/login/?next=/admin/"), other_agent=403, agent=403,
                         admin_user=Redirect("/admin/")),  # the agents' sign-in (two-factor) for everyone
    "admin:logout": route("post", anonymous=Redirect("/admin/"), customer=Redirect("/admin/"),
                          other_customer=Redirect("/admin/"), other_agent=Redirect("/admin/"), agent=Redirect("/admin/"),
                          admin_user=Redirect("/login/")),  # signs out of the whole help desk
    "admin:password_change": admin_page(Redirect("/account/password/")),
    "admin:password_change_done": admin_page(),
    "admin:autocomplete": admin_page(200, data={"app_label": "knowledge_base", "model_name": "article",
                                                "field_name": "related"}),
    "admin:jsi18n": admin_page(),
    "admin:view_on_site": admin_page(Redirect("http://testserver/tickets/*"), args={"object_id": "ticket"}),
    "admin:app_list": admin_page(),
    "admin/(?P<url>.*)$": admin_page(404),  # the admin's unknown addresses: no hint of what exists, signed out
    "admin:auth_user_password_change": admin_page(),
    "admin:tickets_inboundemail_raw": admin_page(),
    "admin:tickets_rule_dry_run": admin_page(),
    "admin:webhooks_webhookdelivery_redeliver": admin_page(Redirect("/admin/webhooks/webhookdelivery/*/change/"),
                                                           "post"),  # POST only (a GET is a 405, for admins too)
    **admin_model_routes(),
}  # fmt: skip


# --- the URL patterns --------------------------------------------------------------------------


@dataclass(frozen=True)
class Pattern:
    key: str  # the URL name with its namespaces, or the route itself for a pattern without a name
    parts: tuple  # the patterns from the root down to this one
    variant: str  # "" or "format" (a format-suffix route, name.json), to tell patterns of one name apart

    def argument_names(self) -> list[str]:
        names = []
        for part in self.parts:
            names += list(part.converters) if isinstance(part, RoutePattern) else list(part.regex.groupindex)
        return names

    def url(self, values: dict) -> str:
        """The URL with ``values`` for its arguments (built by hand: a pattern without a name has no reverse)."""
        url = "/"
        for part in self.parts:
            if isinstance(part, RoutePattern):  # path(): <converter:name>
                text = re.sub(r"<(?:\w+:)?(\w+)>", lambda m, p=part: str(p.converters[m[1]].to_url(values[m[1]])),
                              str(part))  # fmt: skip
            else:  # re_path(): (?P<name>...) groups
                text = re.sub(r"\(\?P<(\w+)>(?:[^()]|\([^()]*\))*\)", lambda m: str(values[m[1]]), part.regex.pattern)
                text = text.removeprefix("^").removesuffix("$").removesuffix("/?").replace("\\.", ".")
            url += text
        return url


def url_patterns() -> list[Pattern]:
    found = []

    def walk(patterns, parents, namespace):
        for entry in patterns:
            if isinstance(entry, URLResolver):
                inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
                walk(entry.url_patterns, (*parents, entry.pattern), inner)
            else:
                assert isinstance(entry, URLPattern)
                parts = (*parents, entry.pattern)
                key = namespace + entry.name if entry.name else "".join(str(p) for p in parts)
                found.append(Pattern(key, parts, "format" if "format" in _names(parts) else ""))

    walk(get_resolver().url_patterns, (), "")
    return found


def _names(parts) -> list[str]:
    return Pattern("", parts, "").argument_names()


PATTERNS = url_patterns()


# --- the world the URLs point into ---------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32

# URL argument -> the world's entry it takes by default (an entry's ``args`` says otherwise).
ARGUMENTS = {
    "ticket_id": "ticket", "message_id": "failed_reply", "attachment_id": "attachment", "response_id": "canned",
    "notification_id": "notification", "view_id": "saved_view", "article_id": "article", "customer_id": "customer",
    "note_id": "customer_note", "preference_id": "preference", "email_id": "customer_email", "table": "report_table",
    "file_id": "article_file", "name": "article_file_name", "token_id": "api_token", "inbound_id": "inbound",
    "uidb64": "reset_uid", "token": "follow_token", "slug": "article_slug", "pk": "ticket", "app_label": "app_label",
    "format": "format", "url": "unknown_admin_url", "content_type_id": "ticket_type", "id": "agent",
    "session_id": "agent_session",
}  # fmt: skip


def build_world(media) -> dict:
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog
    from django.contrib.auth.models import Group
    from django.contrib.sessions.backends.db import SessionStore
    from django.utils import timezone

    from api.services import api_token_create
    from customers.models import CustomField, Organization, Segment
    from customers.services import customer_email_add, customer_note_add, customer_preference_set
    from helpdesk.branding import Branding
    from helpdesk.calendars import Calendar
    from helpdesk.two_factor import SecuritySettings
    from helpdesk.user_sessions import user_session_register
    from knowledge_base.models import Article, ArticleFile, Category, Section
    from knowledge_base.services import article_save
    from tickets import services
    from tickets.canned import canned_create
    from tickets.mail.models import InboundEmail
    from tickets.models import (
        Automation,
        BlockedSender,
        EmailTemplate,
        Mailbox,
        Message,
        Notification,
        Rule,
        SLAPolicy,
        Ticket,
    )
    from tickets.portal.links import follow_token
    from tickets.portal.sign_in import sign_in_url
    from tickets.saved_views import saved_view_create
    from tickets.surveys.models import Survey
    from webhooks.models import WebhookDelivery, WebhookEvent, WebhookSubscription

    from .factories import CustomerFactory, QueueFactory, TeamFactory, UserFactory

    w = {"media": media}
    w["team"], w["other_team"] = team, other_team = TeamFactory(name="Support"), TeamFactory(name="Billing")
    w["queue"] = queue = QueueFactory(name="General", slug="general", team=team)
    w["other_queue"] = QueueFactory(name="Invoices", slug="invoices", team=other_team)
    w["agent"] = agent = UserFactory(email="agent@staff.example", teams=[team])
    w["other_agent"] = UserFactory(email="other@staff.example", teams=[other_team])
    w["admin_user"] = admin_user = UserFactory(email="admin@staff.example", role="admin")
    w["customer"] = ann = CustomerFactory(email="ann@customer.example", name="Ann Smith")
    w["other_customer"] = bob = CustomerFactory(email="bob@customer.example", name="Bob Jones")

    w["ticket"] = ticket = services.ticket_create(
        customer=ann,
        queue=queue,
        subject="Order 1042 has not arrived",
        body="Hello, where is my order?",
        channel=Ticket.Channel.PORTAL,
    )
    reply = services.ticket_reply(
        ticket=ticket,
        author=agent,
        body="Here is the label.",
        attachments=[SimpleUploadedFile("label.pdf", b"%PDF label", "application/pdf")],
    )
    w["attachment"] = reply.attachments.get()
    services.ticket_add_note(
        ticket=ticket,
        author=agent,
        body="Internal: refund approved.",
        attachments=[SimpleUploadedFile("secret.pdf", b"%PDF secret", "application/pdf")],
    )
    w["failed_reply"] = services.ticket_reply(ticket=ticket, author=agent, body="Did it arrive?")
    Message.objects.filter(pk=w["failed_reply"].pk).update(delivery_status="failed", delivery_error="451 later")
    services.ticket_tag(ticket=ticket, actor=agent, add=["vip"])
    services.ticket_assign(ticket=ticket, assignee=agent, actor=admin_user)  # notifies the agent
    w["notification"] = Notification.objects.filter(recipient=agent).latest("pk")
    w["other_ticket"] = services.ticket_create(
        customer=bob, queue=queue, subject="Bob's parcel", body="Hi", channel=Ticket.Channel.PORTAL
    )
    w["follow_token"] = follow_token(ticket)
    w["other_follow_token"] = follow_token(w["other_ticket"])
    w["sign_in_token"] = sign_in_url(ann).rstrip("/").rsplit("/", 1)[-1]
    w["other_sign_in_token"] = sign_in_url(bob).rstrip("/").rsplit("/", 1)[-1]
    # Another agent's reset link (signing the agent in would change their last login, and void a link of theirs).
    colleague = UserFactory(email="colleague@staff.example", teams=[team])
    w["reset_uid"] = urlsafe_base64_encode(force_bytes(colleague.pk))
    w["reset_token"] = default_token_generator.make_token(colleague)

    w["saved_view"] = saved_view_create(user=agent, name="Mine", query="status=open")
    w["canned"] = canned_create(user=agent, title="Thanks", body="Thank you!")
    w["customer_note"] = customer_note_add(customer=ann, author=agent, body="Prefers email.")
    w["preference"] = customer_preference_set(customer=ann, key="usual order", value="a kettle", actor=agent)
    w["customer_email"] = customer_email_add(customer=ann, email="ann@work.example", actor=agent)
    w["api_token"] = api_token_create(user=agent, name="Scripts", scope="read")[0]
    # The agent signed in on a phone too (a session of the sign-in page's, listed under "Your settings").
    phone = SessionStore()
    phone.create()
    w["agent_session"] = user_session_register(
        user=agent, session_key=phone.session_key, ip="192.0.2.7", user_agent="Mozilla/5.0 (iPhone) Safari/604.1"
    )
    # A survey answered on an earlier request of Ann's in the same queue (not on w["ticket"]: portal:rate would
    # then show it).
    earlier = services.ticket_create(
        customer=ann, queue=queue, subject="Order 1001", body="Hi", channel=Ticket.Channel.PORTAL
    )
    w["survey_answer"] = Survey.objects.create(
        ticket=earlier, customer=ann, kind=Survey.Kind.CSAT, score=5, answered_at=timezone.now()
    )
    w["report_table"] = "queue"
    w["inbound"] = InboundEmail.objects.create(
        source=InboundEmail.Source.HTTP, raw=b"Subject: hi\r\n\r\nhi", size=16, sha256="0" * 64, subject="hi"
    )
    Branding.objects.create(pk=1, logo=PNG, logo_content_type="image/png")

    w["category"] = category = Category.objects.create(name="Orders", slug="orders")
    section = Section.objects.create(category=category, name="Delivery")
    w["article"] = article = article_save(
        article=Article(
            section=section, title="Where is my order", slug="where", body="Track it.", state=Article.State.PUBLISHED
        )
    )
    w["article_slug"], w["category_slug"] = article.slug, category.slug
    w["article_file"] = ArticleFile.objects.create(
        article=article,
        file=SimpleUploadedFile("steps.txt", b"1. 2."),
        filename="steps.txt",
        content_type="text/plain",
        size=5,
    )
    w["article_file_name"] = "steps.txt"

    # A row for every model of the admin, for its pages of one object.
    Group.objects.create(name="Leads")
    request = {"user_agent": "Firefox", "http_accept": "*/*", "path_info": "/login/", "username": "x@y.example"}
    AccessAttempt.objects.create(**request, get_data="", post_data="", failures_since_start=1)
    AccessLog.objects.create(**request)
    AccessFailureLog.objects.create(**request)
    Calendar.objects.create(name="Office")
    w["organization"] = Organization.objects.create(name="Acme")
    CustomField.objects.create(name="Plan", key="plan")
    Segment.objects.create(name="VIP")
    Mailbox.objects.create(name="Support", email_address="support@shop.example", queue=queue)
    BlockedSender.objects.create(pattern="spam@junk.example")
    Automation.objects.create(name="Close", status="pending", hours=72, action="close")
    Rule.objects.create(name="Route")
    EmailTemplate.objects.create(name="Hello", subject="Hello", body="Hello")
    w["sla_policy"] = SLAPolicy.objects.create(name="Standard")
    SecuritySettings.objects.create(pk=1, require_two_factor=False)
    # Rows made directly, not by webhooks.services: saving a subscription there would switch the dispatcher on.
    subscription = WebhookSubscription.objects.create(
        url="https://hooks.shop.example/helpdesk", events=["ticket.created"]
    )
    event = WebhookEvent.objects.create(
        name="ticket.created", source="ticket_event:0", body='{"event": "x"}', occurred_at=timezone.now()
    )
    WebhookDelivery.objects.create(subscription=subscription, event=event)

    w["ticket_type"] = ContentType.objects.get_for_model(Ticket).pk
    w["app_label"], w["format"], w["unknown_admin_url"] = "tickets", "json", "no-such-page/"
    return w  # fmt: skip


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, tmp_path_factory):
    """Built once: one transaction around the module, rolled back at its end (each case is a savepoint in it)."""
    media = tmp_path_factory.mktemp("authz-media")
    fast_hasher = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    with (
        django_db_blocker.unblock(),
        override_settings(MEDIA_ROOT=media, PASSWORD_HASHERS=fast_hasher),
        transaction.atomic(),
    ):
        world = build_world(media)
        world["sessions"] = sessions_of_roles(world)
        yield world
        transaction.set_rollback(True)


@pytest.fixture(autouse=True)
def _test_settings(_test_settings, settings, world):
    settings.MEDIA_ROOT = world["media"]  # where the world's files are (conftest gives each test its own)


@pytest.fixture
def db(world):
    """Each case in a savepoint of the module's transaction, rolled back after it (what a POST changed, too).

    This replaces pytest-django's ``db`` here, whose teardown closes the connection (and with it the module's
    transaction); the name still tells pytest-django to set up the test database."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


def admin_object_id(key: str) -> str:
    """The first row of the admin model a route is of, or "0" when there is none."""
    for model in admin.site._registry:
        opts = model._meta
        if key.startswith((f"admin:{opts.app_label}_{opts.model_name}_", f"admin/{opts.app_label}/{opts.model_name}/")):
            first = model._default_manager.order_by("pk").values_list("pk", flat=True).first()
            return str(first if first is not None else 0)
    return "0"


def arguments(pattern: Pattern, entry: Route | None, world: dict, role: str) -> dict:
    values = {}
    for name in pattern.argument_names():
        source = (entry.args.get(name) if entry else None) or ARGUMENTS.get(name)
        if source is None and name == "object_id":
            values[name] = admin_object_id(pattern.key)
            continue
        assert source is not None, (
            f"The URL pattern {pattern.key!r} takes {name!r}, which ARGUMENTS of tests/test_authz_matrix.py does not "
            f"know: give its entry in EXPECTED args={{{name!r}: <an entry of the world>}} (or add one to ARGUMENTS)."
        )
        if role == "other_customer" and f"other_{source}" in world:  # his own link, not Ann's
            source = f"other_{source}"
        value = world[source]
        values[name] = getattr(value, "pk", value)
    return values


def sessions_of_roles(world: dict) -> dict[str, str]:
    """A session for each role but the anonymous, made once (a sign-in costs more than most of the requests)."""
    from django.test import Client

    from tickets.portal.sign_in import SESSION_KEY

    keys = {}
    for role in ROLES[1:]:
        client = Client()
        if role in CUSTOMERS:  # the portal's sign-in: the customer in the session, no Django user
            session = client.session
            session[SESSION_KEY] = world[role].pk
            session.save()
        else:
            client.force_login(world[role])
        keys[role] = client.cookies[settings.SESSION_COOKIE_NAME].value
    return keys


def sign_in(client, role: str, world: dict):
    if role != "anonymous":
        client.cookies[settings.SESSION_COOKIE_NAME] = world["sessions"][role]


# --- the test ------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("pattern", PATTERNS, ids=[p.key + (" .json" if p.variant else "") for p in PATTERNS])
def test_authz_matrix(client, db, world, pattern, role):
    entry = EXPECTED.get(pattern.key)
    url = pattern.url(arguments(pattern, entry, world, role))
    sign_in(client, role, world)
    method, data = (entry.method, entry.data) if entry else ("get", None)
    data = data(world) if callable(data) else data or {}

    if entry is not None and entry.json and method != "get":
        response = getattr(client, method)(url, data, content_type="application/json")
    else:
        response = getattr(client, method)(url, data)
    if response.streaming:
        b"".join(response.streaming_content)  # read and close the file (a download)

    actual = outcome_of(response)
    query = f"?{urlencode(data, doseq=True)}" if method == "get" and data else ""
    assert entry is not None, (
        f"The URL pattern {pattern.key!r} has no entry in EXPECTED (tests/test_authz_matrix.py): add what each "
        f"role may do there. (GET {url} as {role} answered {actual!r}.)"
    )
    assert matches(entry.outcomes[role], actual, url, query), (
        f"{method.upper()} {url} ({pattern.key}) as {role}: expected {entry.outcomes[role]!r}, got {actual!r}"
    )
