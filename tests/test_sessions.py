"""Where you are signed in (helpdesk/user_sessions.py): the list on "Your settings", signing out one session
or all the others, and the password change that signs out the rest."""

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse

from helpdesk.audit import AuditEntry
from helpdesk.user_sessions import UserSession, device_label, user_sessions_of

from .factories import PASSWORD

FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/18.1 Mobile/15E148 Safari/604.1")  # fmt: skip
CHROME_MAC = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/131.0.0.0 Safari/537.36")  # fmt: skip
EDGE = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
        "Safari/537.36 Edg/131.0.0.0")  # fmt: skip


def browser(user_agent=FIREFOX, ip="127.0.0.1") -> Client:
    return Client(HTTP_USER_AGENT=user_agent, REMOTE_ADDR=ip)


def sign_in(client, user, password=PASSWORD):
    response = client.post(reverse("login"), {"username": user.email, "password": password})
    assert response.status_code == 302
    return client


def is_signed_in(client) -> bool:
    return client.get(reverse("account")).status_code == 200


def test_the_account_page_lists_the_sessions_with_this_one_marked(agent):
    laptop = sign_in(browser(FIREFOX, "203.0.113.7"), agent)
    phone = sign_in(browser(IPHONE, "198.51.100.4"), agent)
    page = laptop.get(reverse("account"))
    html = page.content.decode()
    # This session first, then the others, the most recently used first.
    assert [row.device for row in page.context["user_sessions"]] == ["Firefox on Windows", "Safari on iPhone"]
    assert "203.0.113.7" in html and "198.51.100.4" in html
    current = re.search(r'session-list__device"><strong>([^<]+)</strong> <span class="badge badge--on">This device',
                        html)  # fmt: skip
    assert current.group(1) == "Firefox on Windows"
    # The phone's row has a sign-out button; this one's does not (the menu's Sign out is for it).
    phone_row = UserSession.objects.get(session_key=phone.session.session_key)
    laptop_row = UserSession.objects.get(session_key=laptop.session.session_key)
    assert reverse("session_end", args=[phone_row.pk]) in html
    assert reverse("session_end", args=[laptop_row.pk]) not in html


def test_signing_out_one_session_really_ends_it(agent):
    laptop, phone = sign_in(browser(), agent), sign_in(browser(IPHONE), agent)
    row = UserSession.objects.get(session_key=phone.session.session_key)
    response = laptop.post(reverse("session_end", args=[row.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("account") + "#sessions"
    assert not Session.objects.filter(session_key=row.session_key).exists()
    assert phone.get(reverse("tickets:list"))["Location"].startswith(reverse("login"))
    assert is_signed_in(laptop)
    entry = AuditEntry.objects.get(action="session.end")
    assert entry.actor == agent and entry.details["device"] == "Safari on iPhone" and entry.ip == "127.0.0.1"


def test_signing_out_everywhere_else(agent):
    laptop, phone, tablet = sign_in(browser(), agent), sign_in(browser(IPHONE), agent), sign_in(browser(EDGE), agent)
    response = laptop.post(reverse("sessions_end_others"), follow=True)
    assert "signed out everywhere else (2 sessions)" in response.content.decode()
    assert not is_signed_in(phone) and not is_signed_in(tablet)
    assert is_signed_in(laptop)
    assert [row.session_key for row in user_sessions_of(agent)] == [laptop.session.session_key]
    assert AuditEntry.objects.get(action="session.end_others").details == {"count": 2}


def test_signing_out_this_session_from_the_list_is_an_ordinary_sign_out(agent):
    laptop = sign_in(browser(), agent)
    row = UserSession.objects.get(session_key=laptop.session.session_key)
    assert laptop.post(reverse("session_end", args=[row.pk]))["Location"] == reverse("login")
    assert not is_signed_in(laptop)


def test_another_agents_session_cannot_be_ended(agent, other_agent):
    theirs = sign_in(browser(), other_agent)
    mine = sign_in(browser(), agent)
    row = UserSession.objects.get(session_key=theirs.session.session_key)
    assert mine.post(reverse("session_end", args=[row.pk])).status_code == 404
    mine.post(reverse("sessions_end_others"))
    assert is_signed_in(theirs)
    assert not AuditEntry.objects.filter(action="session.end").exists()


def test_a_signed_out_session_leaves_the_list(agent):
    laptop, phone = sign_in(browser(), agent), sign_in(browser(IPHONE), agent)
    phone.post(reverse("logout"))
    assert [row.device for row in laptop.get(reverse("account")).context["user_sessions"]] == ["Firefox on Windows"]
    sign_in(browser(EDGE), agent)  # a new sign-in forgets the rows of ended sessions
    assert UserSession.objects.filter(user=agent).count() == 2


def test_last_seen_is_written_at_most_once_a_minute(agent):
    start = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False) as clock:
        laptop = sign_in(browser(ip="203.0.113.7"), agent)
        row = UserSession.objects.get(user=agent)
        clock.shift(timedelta(seconds=59))
        laptop.get(reverse("tickets:list"))
        row.refresh_from_db()
        assert row.last_seen_at == start
        clock.shift(timedelta(seconds=2))
        laptop.defaults["REMOTE_ADDR"] = "198.51.100.4"
        laptop.get(reverse("tickets:list"))
        row.refresh_from_db()
        assert row.last_seen_at == start + timedelta(seconds=61) and row.ip == "198.51.100.4"
        clock.shift(timedelta(seconds=30))
        laptop.get(reverse("tickets:list"))
        row.refresh_from_db()
        assert row.last_seen_at == start + timedelta(seconds=61)


def test_changing_the_password_signs_out_the_other_sessions(agent):
    laptop, phone = sign_in(browser(), agent), sign_in(browser(IPHONE), agent)
    signed_in_at = UserSession.objects.get(session_key=laptop.session.session_key).created_at
    new = "a-new-long-passphrase-42"
    response = laptop.post(reverse("password_change"),
                           {"old_password": PASSWORD, "new_password1": new, "new_password2": new})  # fmt: skip
    assert response.status_code == 302 and response["Location"] == reverse("account")
    assert is_signed_in(laptop) and not is_signed_in(phone)
    rows = list(user_sessions_of(agent))
    assert [(row.session_key, row.created_at) for row in rows] == [(laptop.session.session_key, signed_in_at)]
    assert AuditEntry.objects.get(action="password.change").details == {"via": "change", "sessions_ended": 1}
    assert browser().post(reverse("login"), {"username": agent.email, "password": PASSWORD}).status_code == 200


def test_a_wrong_old_password_changes_nothing(agent):
    laptop, phone = sign_in(browser(), agent), sign_in(browser(IPHONE), agent)
    response = laptop.post(reverse("password_change"),
                           {"old_password": "wrong", "new_password1": "x-long-pass-99", "new_password2": "x-long-pass-99"})  # fmt: skip
    assert response.status_code == 200 and response.context["form"].errors
    assert is_signed_in(phone)
    assert not AuditEntry.objects.filter(action="password.change").exists()


def test_a_password_reset_signs_out_every_session(agent, smtp_server):
    laptop = sign_in(browser(), agent)
    stranger = Client()
    stranger.post(reverse("password_reset"), {"email": agent.email})
    body = smtp_server.messages[0].get_body(preferencelist=("plain",)).get_content()
    link = re.search(r"https?://[^/\s]+(/password-reset/[^\s]+/)", body).group(1)
    form_url = stranger.get(link, follow=True).redirect_chain[-1][0]
    new = "a-new-long-passphrase-42"
    assert stranger.post(form_url, {"new_password1": new, "new_password2": new}).status_code == 302
    assert not is_signed_in(laptop)
    assert not UserSession.objects.filter(user=agent).exists()
    assert AuditEntry.objects.get(action="password.change").details == {"via": "reset", "sessions_ended": 1}


def test_the_account_page_takes_the_same_queries_whatever_the_sessions(agent, django_assert_num_queries):
    laptop = sign_in(browser(), agent)
    # The session, the user, the API tokens, the sessions, the authenticator.
    with django_assert_num_queries(5):
        laptop.get(reverse("account"))
    for user_agent in (IPHONE, EDGE, CHROME_MAC):
        sign_in(browser(user_agent), agent)
    with django_assert_num_queries(5):
        page = laptop.get(reverse("account"))
    assert len(page.context["user_sessions"]) == 4


@pytest.mark.parametrize(
    ("user_agent", "label"),
    [(FIREFOX, "Firefox on Windows"), (IPHONE, "Safari on iPhone"), (CHROME_MAC, "Chrome on macOS"),
     (EDGE, "Edge on Windows"), ("", "Unknown browser"), ("curl/8.5.0", "curl/8.5.0")],
)  # fmt: skip
def test_device_labels(user_agent, label):
    assert device_label(user_agent) == label


# --- Who may use the routes ---------------------------------------------------------------------------


@pytest.fixture
def agents_session(agent):
    return UserSession.objects.get(session_key=sign_in(browser(), agent).session.session_key)


@pytest.mark.parametrize("route", ["session_end", "sessions_end_others", "password_change"])
def test_anonymous_visitors_are_sent_to_sign_in(client, agents_session, route):
    url = reverse(route, args=[agents_session.pk]) if route == "session_end" else reverse(route)
    response = client.post(url)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert Session.objects.filter(session_key=agents_session.session_key).exists()


@pytest.mark.parametrize(
    ("role", "status"), [("agent", 302), ("other_agent", 404), ("admin_user", 404), ("owner", 404)]
)
def test_only_its_own_user_ends_a_session(as_role, agents_session, role, status):
    # Admins too: they sign someone out in the administration's users list, which is recorded.
    response = as_role(role).post(reverse("session_end", args=[agents_session.pk]))
    assert response.status_code == status
    assert Session.objects.filter(session_key=agents_session.session_key).exists() == (status == 404)


@pytest.mark.parametrize("role", ["agent", "other_agent", "admin_user", "owner"])
def test_everyone_sees_only_their_own_sessions(as_role, agents_session, role, request):
    page = as_role(role).get(reverse("account"))
    assert page.status_code == 200
    assert [row.pk for row in page.context["user_sessions"]] == ([agents_session.pk] if role == "agent" else [])


@pytest.mark.parametrize("route", ["sessions_end_others"])
def test_signing_out_is_a_post(client, agent, route):
    client.force_login(agent)
    assert client.get(reverse(route)).status_code == 405


def test_admin_signs_a_user_out_everywhere(client, admin_user, agents_session):
    client.force_login(admin_user)
    client.post(reverse("admin:helpdesk_user_changelist"),
                {"action": "sign_out_everywhere", "_selected_action": [agents_session.user_id]})  # fmt: skip
    assert not Session.objects.filter(session_key=agents_session.session_key).exists()
    entry = AuditEntry.objects.get(action="session.end_all")
    assert entry.actor == admin_user and entry.details == {"count": 1}


def test_a_session_started_by_the_test_client_is_not_listed(client, agent):
    client.force_login(agent)
    assert SESSION_KEY in client.session
    assert client.get(reverse("account")).context["user_sessions"] == []


@pytest.mark.parametrize("role", ["agent", "other_agent", "admin_user", "owner"])
def test_signing_out_everywhere_else_is_about_ones_own_sessions(as_role, agents_session, role):
    response = as_role(role).post(reverse("sessions_end_others"))
    assert response.status_code == 302
    assert Session.objects.filter(session_key=agents_session.session_key).exists() == (role != "agent")


@pytest.mark.parametrize("role", ["agent", "other_agent", "admin_user", "owner"])
def test_everyone_changes_only_their_own_password(as_role, role, request, agent):
    client = as_role(role)
    assert client.get(reverse("password_change")).status_code == 200
    new = "a-new-long-passphrase-42"
    client.post(reverse("password_change"), {"old_password": PASSWORD, "new_password1": new, "new_password2": new})
    user = request.getfixturevalue(role)
    user.refresh_from_db()
    agent.refresh_from_db()
    assert user.check_password(new)
    assert agent.check_password(new) == (role == "agent")


def test_the_administrations_password_change_is_the_agents_one(client, admin_user):
    client.force_login(admin_user)
    assert client.get(reverse("admin:password_change"))["Location"] == reverse("password_change")
