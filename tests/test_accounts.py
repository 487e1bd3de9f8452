import re
import zoneinfo

import pytest
from django.contrib.auth import get_user_model
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from helpdesk.middleware import UserPreferencesMiddleware

from .factories import PASSWORD, UserFactory

User = get_user_model()


def sign_in(client, email, password=PASSWORD):
    return client.post(reverse("login"), {"username": email, "password": password})


def test_sign_in_by_email_is_case_insensitive(client, agent):
    response = sign_in(client, "Agent@Staff.Example")
    assert response.status_code == 302
    assert response["Location"] == reverse("tickets:list")


def test_wrong_password_shows_the_form_again_with_an_error(client, agent):
    response = sign_in(client, agent.email, "wrong")
    assert response.status_code == 200
    assert response.context["form"].errors
    assert "_auth_user_id" not in client.session


def test_repeated_failures_lock_the_account_out(client, agent, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, agent.email, "wrong")
    response = sign_in(client, agent.email)  # even the right password is refused now
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_customers_are_not_users(customer):
    assert not User.objects.filter(email=customer.email).exists()


def test_roles(agent, admin_user, owner):
    assert not agent.is_admin and not agent.is_staff
    assert admin_user.is_admin and admin_user.is_staff
    assert owner.is_admin and owner.is_staff


@pytest.mark.parametrize(("role", "status"), [("agent", 302), ("admin", 200), ("owner", 200)])
def test_django_admin_is_for_owners_and_admins(client, db, role, status):
    user = UserFactory(role=role)
    client.force_login(user)
    assert client.get(reverse("admin:index")).status_code == status


def test_admin_can_manage_users_and_tickets_lists(client, admin_user, ticket):
    client.force_login(admin_user)
    for name in ["admin:helpdesk_user_changelist", "admin:tickets_queue_changelist", "admin:tickets_ticket_changelist"]:
        assert client.get(reverse(name)).status_code == 200


def test_password_reset_by_email(client, agent, smtp_server):
    response = client.post(reverse("password_reset"), {"email": agent.email})
    assert response.status_code == 302
    assert len(smtp_server.messages) == 1
    email = smtp_server.messages[0]
    assert email["To"] == agent.email
    body = email.get_body(preferencelist=("plain",)).get_content()
    link = re.search(r"https?://[^/\s]+(/password-reset/[^\s]+/)", body).group(1)
    response = client.get(link, follow=True)
    assert response.status_code == 200
    form_url = response.redirect_chain[-1][0]
    new_password = "a-new-long-passphrase-42"
    response = client.post(form_url, {"new_password1": new_password, "new_password2": new_password})
    assert response.status_code == 302
    client.logout()
    assert sign_in(client, agent.email, new_password).status_code == 302


def test_password_reset_for_unknown_email_reveals_nothing(client, db, smtp_server):
    response = client.post(reverse("password_reset"), {"email": "nobody@nowhere.example"})
    assert response.status_code == 302
    assert smtp_server.messages == []


def test_times_are_shown_in_the_users_time_zone(agent):
    agent.time_zone = "Europe/Vienna"
    seen = {}

    def view(request):
        seen["zone"] = timezone.get_current_timezone()
        return None

    request = RequestFactory().get("/")
    request.user = agent
    UserPreferencesMiddleware(view)(request)
    assert seen["zone"] == zoneinfo.ZoneInfo("Europe/Vienna")
    assert timezone.get_current_timezone_name() == "UTC"  # stored and processed in UTC otherwise


def test_session_cookie_is_http_only_and_expires(settings):
    assert settings.SESSION_COOKIE_HTTPONLY is True
    assert settings.SESSION_COOKIE_AGE <= 24 * 60 * 60


def test_pages_are_in_the_users_language(agent):
    from django.utils import translation

    agent.language = "de"
    seen = {}

    def view(request):
        seen["language"] = translation.get_language()
        return None

    request = RequestFactory().get("/")
    request.user = agent
    UserPreferencesMiddleware(view)(request)
    assert seen["language"] == "de"


def test_expired_form_shows_a_friendly_page(db):
    from django.test import Client

    response = Client(enforce_csrf_checks=True).post(reverse("login"), {"username": "a@b.example", "password": "x"})
    assert response.status_code == 403
    assert b"This form has expired" in response.content


@pytest.mark.parametrize(
    ("full_name", "email", "short"),
    [("Ann Smith", "ann@x.example", "Ann"), ("Mr. Chris Sanford", "c@x.example", "Chris"), ("", "jo@x.example", "jo")],
)
def test_short_name(full_name, email, short):
    assert User(full_name=full_name, email=email).get_short_name() == short
