"""The audit log (helpdesk/audit.py): admins' changes in the administration (helpdesk/admin_site.py), data
exports and sign-in security are recorded with who, when, from where and what; admins read it in the
administration's "Audit log" screen."""

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse

from helpdesk.admin_site import AuditedAdminMixin
from helpdesk.audit import AuditEntry, audit_context, audit_record
from helpdesk.branding import Branding
from helpdesk.middleware import AccountSecurityMiddleware
from helpdesk.models import Team
from tickets.models import Queue

from .factories import UserFactory


@pytest.fixture
def as_admin(client, admin_user):
    client.force_login(admin_user)
    client.defaults["REMOTE_ADDR"] = "203.0.113.9"
    return client


def only(action) -> AuditEntry:
    return AuditEntry.objects.get(action=action)


# --- Changes in the administration --------------------------------------------------------------------


def test_every_admin_screen_is_audited():
    assert admin.site._registry
    for model, model_admin in admin.site._registry.items():
        assert isinstance(model_admin, AuditedAdminMixin), model


def test_adding_changing_and_deleting_a_team_is_recorded(as_admin, admin_user, agent):
    response = as_admin.post(reverse("admin:helpdesk_team_add"), {"name": "Escalations", "assignment": "manual",
                                                                   "members": [agent.pk]})  # fmt: skip
    assert response.status_code == 302
    team = Team.objects.get(name="Escalations")
    added = only("admin.add")
    assert (added.actor, added.ip, added.target) == (admin_user, "203.0.113.9", f"team {team.pk}: Escalations")
    assert added.details["model"] == "helpdesk.team" and added.details["changes"] == "Added."

    as_admin.post(reverse("admin:helpdesk_team_change", args=[team.pk]),
                  {"name": "Escalations", "assignment": "round_robin", "members": [agent.pk]})  # fmt: skip
    assert "Assign new tickets" in only("admin.change").details["changes"]

    as_admin.post(reverse("admin:helpdesk_team_delete", args=[team.pk]), {"post": "yes"})
    deleted = only("admin.delete")
    assert deleted.target == f"team {team.pk}: Escalations" and deleted.details["object_ids"] == [str(team.pk)]


def test_deleting_a_selection_is_one_entry(as_admin, queue, other_queue):
    response = as_admin.post(
        reverse("admin:tickets_queue_changelist"),
        {"action": "delete_selected", "_selected_action": [queue.pk, other_queue.pk]},
    )
    assert response.status_code == 200 and not AuditEntry.objects.exists()  # the confirmation page only
    as_admin.post(
        reverse("admin:tickets_queue_changelist"),
        {"action": "delete_selected", "_selected_action": [queue.pk, other_queue.pk], "post": "yes"},
    )
    assert not Queue.objects.exists()
    entry = only("admin.delete")
    assert entry.target == "2 queues" and sorted(entry.details["objects"]) == ["General", "Invoices"]
    assert not AuditEntry.objects.filter(action="admin.action").exists()


def test_the_settings_screens_are_recorded(as_admin, admin_user):
    as_admin.get(reverse("admin:helpdesk_branding_changelist"))
    response = as_admin.post(reverse("admin:helpdesk_branding_change", args=[1]),
                             {"name": "Acme support", "primary_colour": "#1f5fbf"})  # fmt: skip
    assert response.status_code == 302 and Branding.current().name == "Acme support"
    entry = only("admin.change")
    assert entry.actor == admin_user and entry.details["model"] == "helpdesk.branding"


def test_admin_actions_are_recorded(as_admin, admin_user, agent):
    as_admin.post(reverse("admin:helpdesk_user_changelist"),
                  {"action": "sign_out_everywhere", "_selected_action": [agent.pk]})  # fmt: skip
    entry = only("admin.action")
    assert entry.details["admin_action"] == "sign_out_everywhere" and entry.details["object_ids"] == [str(agent.pk)]
    assert entry.ip == "203.0.113.9"


def test_agents_change_nothing_in_the_administration(client, agent):
    client.force_login(agent)
    client.post(reverse("admin:helpdesk_team_add"), {"name": "Sneaky", "assignment": "manual"})
    assert not Team.objects.filter(name="Sneaky").exists() and not AuditEntry.objects.exists()


# --- Data exports -------------------------------------------------------------------------------------


def test_a_report_export_is_recorded(as_admin, admin_user, queue):
    response = as_admin.get(reverse("reports:export", args=["queue"]), {"period": "7d"})
    assert response.status_code == 200
    entry = only("reports.export")
    assert (entry.actor, entry.ip, entry.target) == (admin_user, "203.0.113.9", "report queue")
    assert entry.details["filters"]["period"] == "7d"


def test_a_refused_report_export_is_not_recorded(as_admin):
    assert as_admin.get(reverse("reports:export", args=["figures"]), {"period": "nonsense"}).status_code == 400
    assert not AuditEntry.objects.exists()


def test_the_customer_export_is_recorded_with_the_address(as_admin, customer):
    assert as_admin.get(reverse("customers:export_csv")).status_code == 200
    assert only("customers.export").ip == "203.0.113.9"


def test_an_api_token_created_on_the_account_page_is_recorded(client, agent):
    client.force_login(agent)
    client.post(reverse("api_token_create"), {"name": "CI", "scope": "read"}, REMOTE_ADDR="198.51.100.20")
    entry = only("api_token.create")
    assert (entry.actor, entry.ip) == (agent, "198.51.100.20")


# --- Where an action came from ------------------------------------------------------------------------


def test_the_address_is_the_clients_behind_our_proxy(db, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="1.2.3.4, 192.0.2.44")
    request.session = {}
    AccountSecurityMiddleware(lambda request: audit_record(actor=None, action="test.ping"))(request)
    assert only("test.ping").ip == "192.0.2.44"


def test_no_address_outside_a_request_and_none_that_is_not_one(db):
    audit_record(actor=None, action="test.task")
    with audit_context(ip="not-an-address"):
        audit_record(actor=None, action="test.forged")
    assert only("test.task").ip is None and only("test.forged").ip is None


# --- The audit log screen -----------------------------------------------------------------------------

LOG = reverse("admin:helpdesk_auditentry_changelist")


@pytest.mark.parametrize(("role", "status"), [("anonymous", 302), ("agent", 302), ("other_agent", 302),
                                              ("admin_user", 200), ("owner", 200)])  # fmt: skip
def test_who_reads_the_audit_log(db, as_role, role, status):
    audit_record(actor=None, action="customers.export")
    response = as_role(role).get(LOG)
    assert response.status_code == status
    if status == 302:
        assert response["Location"].startswith(reverse("admin:login"))


def entries(client, **query):
    return [entry.action for entry in client.get(LOG, query).context["cl"].result_list]


def test_filters(as_admin, admin_user, agent):
    with audit_context(ip="192.0.2.1"):
        audit_record(actor=agent, action="two_factor.enable", target=f"user {agent.email}")
        audit_record(actor=admin_user, action="admin.change", target="team 1: Support")
        audit_record(actor=admin_user, action="reports.export", target="report queue")
    with audit_context(ip="192.0.2.77"):
        audit_record(actor=admin_user, action="customers.export", target="customers")
        audit_record(actor=admin_user, action="customer.erase", target="customer 4")
    assert entries(as_admin, area="export") == ["customers.export", "reports.export"]
    assert entries(as_admin, area="two_factor") == ["two_factor.enable"]
    assert entries(as_admin, area="admin") == ["admin.change"]
    assert entries(as_admin, area="customer") == ["customer.erase"]
    assert entries(as_admin, action="admin.change") == ["admin.change"]
    assert entries(as_admin, actor__id__exact=agent.pk) == ["two_factor.enable"]
    assert entries(as_admin, q="192.0.2.77") == ["customer.erase", "customers.export"]
    assert entries(as_admin, q=agent.email) == ["two_factor.enable"]
    page = as_admin.get(LOG).content.decode()
    assert "192.0.2.77" in page and "Data exports" in page and "Two-factor sign-in" in page


def test_the_log_screen_takes_the_same_queries_whatever_the_entries(as_admin, django_assert_num_queries):
    def fill(count):
        for number in range(count):
            actor = UserFactory()
            audit_record(actor=actor, action=f"test.{number % 4}", target=f"thing {number}")

    fill(3)
    as_admin.get(LOG)
    # Session, user; the count; the sidebar's "add" link of branding (is there one yet); the entries with
    # their actors; the date hierarchy (its range, its days); the choices of the action and the actor filters.
    with django_assert_num_queries(9):
        assert as_admin.get(LOG).status_code == 200
    fill(30)
    with django_assert_num_queries(9):
        assert len(as_admin.get(LOG).context["cl"].result_list) == 33


def test_the_log_is_read_only(as_admin, admin_user):
    entry = audit_record(actor=admin_user, action="customers.export", target="customers", count=3)
    assert as_admin.get(reverse("admin:helpdesk_auditentry_add")).status_code == 403
    assert (
        as_admin.post(reverse("admin:helpdesk_auditentry_delete", args=[entry.pk]), {"post": "yes"}).status_code == 403
    )
    page = as_admin.get(reverse("admin:helpdesk_auditentry_change", args=[entry.pk]))
    assert page.status_code == 200 and "&quot;count&quot;: 3" in page.content.decode()
    as_admin.post(reverse("admin:helpdesk_auditentry_change", args=[entry.pk]), {"action": "nothing"})
    entry.refresh_from_db()
    assert entry.action == "customers.export" and AuditEntry.objects.count() == 1
