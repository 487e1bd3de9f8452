"""Two-factor sign-in (helpdesk/two_factor.py, helpdesk/account_views.py): set-up, the second step of signing
in, recovery codes, throttling, turning it off, and the admins' rule that requires it."""

import importlib
import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from helpdesk import two_factor
from helpdesk.audit import AuditEntry
from helpdesk.two_factor import SecuritySettings
from helpdesk.user_sessions import UserSession

from .api_fixtures import client_with, token_for
from .factories import PASSWORD, UserFactory
from .test_screens import SCREENSHOTS as SCREENSHOT_DIR
from .test_screens import browser  # noqa: F401  (the fixture)

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
IPHONE_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
             "Version/18.1 Mobile/15E148 Safari/604.1")  # fmt: skip


@pytest.fixture
def clock():
    """Time stands still unless a test moves it: TOTP codes depend on it, and each is accepted only once."""
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


def code_of(device: TOTPDevice) -> str:
    """The code the user's authenticator app shows now."""
    return str(totp(device.bin_key, device.step, device.t0, device.digits, device.drift)).zfill(device.digits)


def sign_in(client, user, password=PASSWORD, **extra):
    return client.post(reverse("login"), {"username": user.email, "password": password, **extra})


def enable(user, clock) -> list[str]:
    """Two-factor sign-in on for ``user`` through the service; the clock moves on so the next code is new."""
    device = two_factor.totp_setup_device(user=user)
    codes = two_factor.two_factor_enable(user=user, code=code_of(device), keep_session=None)
    clock.shift(timedelta(seconds=30))
    return codes


def signed_in(client) -> bool:
    return SESSION_KEY in client.session


# --- Setting it up ------------------------------------------------------------------------------------


def test_setup_shows_qr_and_key_then_a_right_code_turns_it_on(client, agent, clock):
    sign_in(client, agent)
    page = client.get(reverse("two_factor"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "<svg" in html and 'role="img"' in html  # the QR code, drawn here (no external service)
    device = TOTPDevice.objects.get(user=agent)
    assert not device.confirmed
    key = re.search(r'id="secret-key">([A-Z2-7 ]+)<', html).group(1).replace(" ", "")
    assert len(key) == 32

    wrong = client.post(reverse("two_factor"), {"code": "000000" if code_of(device) != "000000" else "111111"})
    assert wrong.status_code == 400 and "not right" in wrong.content.decode()
    assert two_factor.totp_device_of(agent) is None

    clock.shift(timedelta(seconds=2))  # past the one-second wait after a wrong code
    response = client.post(reverse("two_factor"), {"code": code_of(device)})
    assert response.status_code == 302 and response["Location"] == reverse("two_factor")
    device.refresh_from_db()
    assert device.confirmed
    assert client.session[DEVICE_ID_SESSION_KEY] == device.persistent_id  # this session passed it

    shown = client.get(reverse("two_factor")).content.decode()
    codes = re.findall(r"<code>([a-z2-7]{4}-[a-z2-7]{4})</code>", shown)
    assert len(codes) == 10 == StaticToken.objects.filter(device__user=agent).count()
    assert (
        re.findall(r"<code>([a-z2-7]{4}-[a-z2-7]{4})</code>", client.get(reverse("two_factor")).content.decode()) == []
    )
    entry = AuditEntry.objects.get(action="two_factor.enable")
    assert entry.actor == agent and entry.ip == "127.0.0.1"


def test_the_setup_key_stays_the_same_until_confirmed(client, agent, clock):
    client.force_login(agent)
    first = client.get(reverse("two_factor")).content.decode()
    second = client.get(reverse("two_factor")).content.decode()
    key = re.compile(r'id="secret-key">([A-Z2-7 ]+)<')
    assert key.search(first).group(1) == key.search(second).group(1)
    assert TOTPDevice.objects.filter(user=agent).count() == 1


def test_turning_it_on_signs_out_the_other_sessions(agent, clock):
    this, other = Client(), Client()
    sign_in(this, agent)
    sign_in(other, agent)
    device = two_factor.totp_setup_device(user=agent)
    this.get(reverse("two_factor"))
    assert this.post(reverse("two_factor"), {"code": code_of(device)}).status_code == 302
    assert this.get(reverse("account")).status_code == 200
    assert other.get(reverse("account"))["Location"].startswith(reverse("login"))
    assert AuditEntry.objects.get(action="two_factor.enable").details["sessions_ended"] == 1


# --- Signing in ---------------------------------------------------------------------------------------


def test_sign_in_asks_for_the_code_after_the_password(client, agent, clock):
    enable(agent, clock)
    response = sign_in(client, agent)
    assert response.status_code == 302 and response["Location"] == reverse("login_code")
    assert not signed_in(client)
    assert client.get(reverse("tickets:list"))["Location"].startswith(reverse("login"))  # not yet

    assert client.get(reverse("login_code")).status_code == 200
    response = client.post(reverse("login_code"), {"code": code_of(TOTPDevice.objects.get(user=agent))})
    assert response.status_code == 302 and response["Location"] == reverse("tickets:list")
    assert signed_in(client)
    assert client.get(reverse("tickets:list")).status_code == 200
    assert UserSession.objects.filter(user=agent, session_key=client.session.session_key).exists()


def test_the_page_asked_for_is_kept_through_the_second_step(client, agent, clock):
    enable(agent, clock)
    sign_in(client, agent, next=reverse("customers:list"))
    response = client.post(reverse("login_code"), {"code": code_of(TOTPDevice.objects.get(user=agent))})
    assert response["Location"] == reverse("customers:list")


def test_a_wrong_password_never_reaches_the_code(client, agent, clock):
    enable(agent, clock)
    response = sign_in(client, agent, password="wrong")
    assert response.status_code == 200 and response.context["form"].errors
    assert client.get(reverse("login_code"))["Location"] == reverse("login")


def test_the_code_step_without_a_password_goes_back_to_sign_in(client, agent, clock):
    enable(agent, clock)
    response = client.post(reverse("login_code"), {"code": code_of(TOTPDevice.objects.get(user=agent))})
    assert response.status_code == 302 and response["Location"] == reverse("login")
    assert not signed_in(client)


def test_the_code_step_expires(client, agent, clock):
    enable(agent, clock)
    sign_in(client, agent)
    clock.shift(timedelta(minutes=6))
    response = client.post(reverse("login_code"), {"code": code_of(TOTPDevice.objects.get(user=agent))})
    assert response["Location"] == reverse("login") and not signed_in(client)


def test_a_code_is_accepted_once(agent, clock):
    enable(agent, clock)
    code = code_of(TOTPDevice.objects.get(user=agent))
    first, second = Client(), Client()
    sign_in(first, agent)
    assert first.post(reverse("login_code"), {"code": code}).status_code == 302
    sign_in(second, agent)
    assert second.post(reverse("login_code"), {"code": code}).status_code == 400  # replayed
    assert not signed_in(second)


def test_wrong_codes_are_throttled(client, agent, clock):
    enable(agent, clock)
    device = TOTPDevice.objects.get(user=agent)
    sign_in(client, agent)
    wrong = "123456" if code_of(device) != "123456" else "654321"
    assert client.post(reverse("login_code"), {"code": wrong}).status_code == 400
    assert client.post(reverse("login_code"), {"code": wrong}).status_code == 429  # within the 1 s wait
    assert client.post(reverse("login_code"), {"code": code_of(device)}).status_code == 429  # even the right one
    assert not signed_in(client)
    clock.shift(timedelta(seconds=2))  # past the wait (a refused attempt does not count as a failure)
    assert client.post(reverse("login_code"), {"code": code_of(device)}).status_code == 302
    assert signed_in(client)


def test_too_many_attempts_end_the_sign_in(client, agent, clock, monkeypatch):
    monkeypatch.setattr(two_factor, "CODE_ATTEMPTS", 3)
    enable(agent, clock)
    device = TOTPDevice.objects.get(user=agent)
    sign_in(client, agent)
    for _attempt in range(3):
        clock.shift(timedelta(seconds=10))
        assert client.post(reverse("login_code"), {"code": "12345x"}).status_code == 400
    response = client.post(reverse("login_code"), {"code": code_of(device)})
    assert response.status_code == 429 and b"Too many wrong codes" in response.content
    assert not signed_in(client)
    assert client.get(reverse("login_code"))["Location"] == reverse("login")  # the password again
    sign_in(client, agent)
    assert client.post(reverse("login_code"), {"code": code_of(device)}).status_code == 429  # per user, not session


def test_a_recovery_code_signs_in_once(agent, clock):
    codes = enable(agent, clock)
    first = Client()
    sign_in(first, agent)
    response = first.post(reverse("login_code"), {"code": f"{codes[0][:4]}-{codes[0][4:].upper()}"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("tickets:list")
    assert "9 are left" in response.content.decode()
    assert StaticToken.objects.filter(device__user=agent).count() == 9
    assert AuditEntry.objects.get(action="two_factor.recovery_code_used").details == {"codes_left": 9}

    again = Client()
    sign_in(again, agent)
    assert again.post(reverse("login_code"), {"code": codes[0]}).status_code == 400
    assert not signed_in(again)
    clock.shift(timedelta(seconds=2))
    assert again.post(reverse("login_code"), {"code": codes[1]}).status_code == 302


def test_recovery_codes_can_be_made_anew(client, agent, clock):
    old = enable(agent, clock)
    client.force_login(agent)
    response = client.post(reverse("two_factor_recovery_codes"), follow=True)
    new = re.findall(r"<code>([a-z2-7]{4})-([a-z2-7]{4})</code>", response.content.decode())
    assert len(new) == 10 and not {a + b for a, b in new} & set(old)
    assert set(StaticToken.objects.filter(device__user=agent).values_list("token", flat=True)) == {
        two_factor.recovery_code_digests(agent.pk, a + b)[0] for a, b in new
    }
    assert AuditEntry.objects.filter(action="two_factor.recovery_codes", actor=agent).count() == 1


def test_recovery_codes_are_stored_as_keyed_hashes(agent, clock, settings):
    codes = enable(agent, clock)
    stored = set(StaticToken.objects.filter(device__user=agent).values_list("token", flat=True))
    assert len(stored) == 10 and not stored & set(codes)
    assert all(re.fullmatch(r"[0-9a-f]{16}", token) for token in stored)
    assert stored == {two_factor.recovery_code_digests(agent.pk, code)[0] for code in codes}
    other = UserFactory()  # the same code is stored differently for another user
    assert two_factor.recovery_code_digests(other.pk, codes[0]) != two_factor.recovery_code_digests(agent.pk, codes[0])


def test_recovery_codes_outlive_a_secret_key_rotation_with_the_old_key_as_a_fallback(agent, clock, settings):
    old_key = settings.SECRET_KEY
    codes = enable(agent, clock)
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "a new secret key " * 4, []
    device, _throttled = two_factor.two_factor_check(user=agent, code=codes[0])
    assert device is None  # without the old key, no code matches
    clock.shift(timedelta(seconds=2))
    settings.SECRET_KEY_FALLBACKS = [old_key]
    device, _throttled = two_factor.two_factor_check(user=agent, code=codes[0])
    assert isinstance(device, StaticDevice)
    assert two_factor.recovery_codes_left(agent) == 9


def test_codes_stored_before_hashing_are_hashed_by_the_migration(agent, clock):
    from django.apps import apps

    hash_plain_codes = importlib.import_module("helpdesk.migrations.0011_recovery_codes_hashed").hash_plain_codes
    enable(agent, clock)
    device = StaticDevice.objects.get(user=agent)
    device.token_set.all().delete()
    StaticToken.objects.create(device=device, token="abcdefgh")  # as stored before
    hash_plain_codes(apps, None)
    assert device.token_set.get().token == two_factor.recovery_code_digests(agent.pk, "abcdefgh")[0]
    device, _throttled = two_factor.two_factor_check(user=agent, code="ABCD-efgh")
    assert isinstance(device, StaticDevice) and not device.token_set.exists()


def test_recovery_codes_need_two_factor_on(client, agent):
    client.force_login(agent)
    client.post(reverse("two_factor_recovery_codes"))
    assert not StaticDevice.objects.exists()


# --- Turning it off -----------------------------------------------------------------------------------


def test_turning_it_off_needs_the_password_or_a_code(client, agent, clock):
    enable(agent, clock)
    client.force_login(agent)
    response = client.post(reverse("two_factor_disable"), {"confirmation": "not-my-password"}, follow=True)
    assert "neither your password nor a current code" in response.content.decode()
    assert two_factor.totp_device_of(agent) is not None
    client.post(reverse("two_factor_disable"), {"confirmation": PASSWORD})
    assert not TOTPDevice.objects.filter(user=agent).exists() and not StaticDevice.objects.filter(user=agent).exists()
    assert AuditEntry.objects.filter(action="two_factor.disable", actor=agent).count() == 1
    assert sign_in(client, agent)["Location"] == reverse("tickets:list")  # the password alone again


def test_turning_it_off_with_a_current_code(client, agent, clock):
    enable(agent, clock)
    client.force_login(agent)
    client.post(reverse("two_factor_disable"), {"confirmation": code_of(TOTPDevice.objects.get(user=agent))})
    assert two_factor.totp_device_of(agent) is None


# --- Required by the admins ---------------------------------------------------------------------------


@pytest.fixture
def required(db):
    SecuritySettings.objects.create(pk=1, require_two_factor=True)


def test_admin_requires_it_in_the_admin(client, admin_user, agent, clock):
    other = Client()
    sign_in(other, agent)  # an agent without two-factor sign-in, signed in
    client.force_login(admin_user)
    url = reverse("admin:helpdesk_securitysettings_change", args=[1])
    assert client.get(reverse("admin:helpdesk_securitysettings_changelist"))["Location"] == url
    response = client.post(url, {"require_two_factor": "on"})
    assert response.status_code == 302
    assert SecuritySettings.current().require_two_factor
    entry = AuditEntry.objects.get(action="two_factor.enforce")
    assert entry.actor == admin_user and entry.details == {"required": True, "sessions_ended": 1}
    assert AuditEntry.objects.filter(action="admin.change", actor=admin_user).exists()
    assert other.get(reverse("tickets:list"))["Location"].startswith(reverse("login"))  # signed out


def test_when_required_an_agent_without_it_is_sent_to_set_it_up(client, agent, required, clock):
    response = sign_in(client, agent)
    assert response["Location"] == reverse("two_factor")
    assert signed_in(client)
    for url in [reverse("tickets:list"), reverse("account"), reverse("customers:list"), reverse("admin:index")]:
        assert client.get(url)["Location"] == reverse("two_factor"), url
    assert client.post(reverse("sessions_end_others"))["Location"] == reverse("two_factor")
    badge = client.get(reverse("tickets:notifications_badge"), headers={"HX-Request": "true"})
    assert badge.status_code == 204 and badge.content == b""  # htmx swaps nothing in
    api = client.get("/api/v1/tickets/")
    assert api.status_code == 403 and api.content == b"Set up two-factor sign-in first."
    page = client.get(reverse("two_factor"))
    assert page.status_code == 200 and "requires two-factor sign-in" in page.content.decode()

    device = TOTPDevice.objects.get(user=agent)
    assert client.post(reverse("two_factor"), {"code": code_of(device)}).status_code == 302
    assert client.get(reverse("tickets:list")).status_code == 200  # free to work now


def test_when_required_signing_out_is_allowed_before_setting_up(client, agent, required, clock):
    sign_in(client, agent)
    assert client.post(reverse("logout")).status_code == 302
    assert not signed_in(client)


def test_when_required_agents_with_it_sign_in_as_usual(client, agent, required, clock):
    enable(agent, clock)
    sign_in(client, agent)
    response = client.post(reverse("login_code"), {"code": code_of(TOTPDevice.objects.get(user=agent))})
    assert response["Location"] == reverse("tickets:list")
    assert client.get(reverse("tickets:list")).status_code == 200


def test_when_required_turning_it_off_leads_straight_to_a_new_setup(client, agent, required, clock):
    enable(agent, clock)
    sign_in(client, agent)
    client.post(reverse("login_code"), {"code": code_of(TOTPDevice.objects.get(user=agent))})
    client.post(reverse("two_factor_disable"), {"confirmation": PASSWORD})
    assert client.get(reverse("tickets:list"))["Location"] == reverse("two_factor")


def test_api_tokens_are_not_affected(agent, required, clock, ticket):
    enable(agent, clock)
    response = client_with(token_for(agent)).get("/api/v1/tickets/")
    assert response.status_code == 200


def test_admin_turns_it_off_for_a_user_who_lost_their_phone(client, admin_user, agent, clock):
    enable(agent, clock)
    phone = Client()
    sign_in(phone, agent)
    phone.post(reverse("login_code"), {"code": code_of(TOTPDevice.objects.get(user=agent))})
    client.force_login(admin_user)
    response = client.post(reverse("admin:helpdesk_user_changelist"),
                           {"action": "turn_off_two_factor", "_selected_action": [agent.pk]})  # fmt: skip
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=agent).exists()
    assert phone.get(reverse("tickets:list"))["Location"].startswith(reverse("login"))
    entry = AuditEntry.objects.get(action="two_factor.reset")
    assert entry.actor == admin_user and entry.details == {"was_on": True, "sessions_ended": 1}
    assert AuditEntry.objects.filter(action="admin.action", actor=admin_user).exists()


def test_the_admins_own_sign_in_page_sends_to_the_one_with_two_factor(client, admin_user, clock):
    enable(admin_user, clock)
    response = client.post(reverse("admin:login"), {"username": admin_user.email, "password": PASSWORD})
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert not signed_in(client)
    assert client.get(reverse("admin:login"))["Location"] == f"{reverse('login')}?next=/admin/"
    client.force_login(UserFactory())  # an agent: not for the administration
    assert client.get(reverse("admin:login")).status_code == 403
    client.force_login(admin_user)
    assert client.get(reverse("admin:login"))["Location"] == reverse("admin:index")


def test_the_users_list_shows_who_has_it(client, admin_user, agent, clock):
    enable(agent, clock)
    client.force_login(admin_user)
    response = client.get(reverse("admin:helpdesk_user_changelist"))
    rows = {user.email: user.has_two_factor for user in response.context["cl"].result_list}
    assert rows == {agent.email: True, admin_user.email: False}


# --- Who may use the routes ---------------------------------------------------------------------------

ROUTES = [("get", "two_factor"), ("post", "two_factor"), ("post", "two_factor_recovery_codes"),
          ("post", "two_factor_disable")]  # fmt: skip


@pytest.mark.parametrize(("method", "route"), ROUTES)
def test_anonymous_visitors_are_sent_to_sign_in(client, db, method, route):
    response = getattr(client, method)(reverse(route))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("role", ["agent", "other_agent", "admin_user", "owner"])
def test_everyone_manages_only_their_own(as_role, role, agent, clock, request):
    enable(agent, clock)
    client = as_role(role)
    user = request.getfixturevalue(role)
    assert client.get(reverse("two_factor")).status_code == 200
    client.post(reverse("two_factor_disable"), {"confirmation": PASSWORD})
    client.post(reverse("two_factor_recovery_codes"))
    # Another user's two-factor sign-in is never touched from here.
    assert two_factor.totp_device_of(agent) is None if user == agent else two_factor.totp_device_of(agent)
    assert StaticToken.objects.filter(device__user=agent).count() == (0 if user == agent else 10)


@pytest.mark.parametrize("route", ["two_factor_recovery_codes", "two_factor_disable"])
def test_changes_are_posts(client, agent, route):
    client.force_login(agent)
    assert client.get(reverse(route)).status_code == 405


def test_the_code_page_is_a_step_of_signing_in(client, agent, admin_user):
    client.force_login(agent)
    assert client.get(reverse("login_code"))["Location"] == reverse("login")


# --- In a real browser --------------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_setup_and_sessions_screens_in_a_browser(browser, live_server, agent, size):  # noqa: F811
    from .test_screens import DESKTOP, PHONE, horizontal_overflow, open_page, screenshot
    from .test_screens import sign_in as browser_sign_in

    sign_in(Client(HTTP_USER_AGENT=IPHONE_UA, REMOTE_ADDR="198.51.100.4"), agent)  # another session, on a phone
    page = open_page(browser, live_server, DESKTOP if size == "desktop" else PHONE)
    if size == "desktop":
        browser_sign_in(page, agent)
        page.goto("/account/two-factor/")
    else:  # on the phone, with two-factor sign-in required: the sign-in leads to the set-up
        SecuritySettings.objects.create(pk=1, require_two_factor=True)
        page.goto("/login/")
        page.get_by_label("Email address").fill(agent.email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/account/two-factor/")
        page.get_by_text("Your help desk requires two-factor sign-in.").wait_for()
    page.get_by_role("img", name="QR code of the key for your authenticator app").wait_for()
    assert horizontal_overflow(page) == 0
    screenshot(page, f"two-factor-setup-{size}.png")
    page.get_by_label("Type the 6-digit code the app shows").fill(code_of(TOTPDevice.objects.get(user=agent)))
    page.get_by_role("button", name="Turn on").click()
    page.locator("#recovery-codes").wait_for()
    assert page.locator("#recovery-codes li").count() == 10
    codes = re.findall(r"[a-z2-7]{4}-[a-z2-7]{4}", page.locator("#recovery-codes").inner_text())
    assert horizontal_overflow(page) == 0
    screenshot(page, f"two-factor-codes-{size}.png")

    page.goto("/account/")
    sessions = page.locator("#sessions")
    # Turning two-factor sign-in on signed the phone out: sign in there again to have two sessions.
    sign_in(phone := Client(HTTP_USER_AGENT=IPHONE_UA, REMOTE_ADDR="198.51.100.4"), agent)
    phone.post(reverse("login_code"), {"code": codes[0]})
    page.reload()
    assert sessions.locator(".session-list__item").count() == 2
    assert "This device" in sessions.locator(".session-list__item").first.inner_text()
    assert horizontal_overflow(page) == 0
    sessions.scroll_into_view_if_needed()
    sessions.screenshot(path=str(SCREENSHOT_DIR / f"sessions-{size}.png"))
    screenshot(page, f"account-{size}.png")
    page.get_by_role("button", name="Sign out everywhere else").click()
    page.wait_for_url("**/account/#sessions")
    assert sessions.locator(".session-list__item").count() == 1

    # Signing in again: the password, then the code step (here with a recovery code).
    again = open_page(browser, live_server, DESKTOP if size == "desktop" else PHONE)
    again.goto("/login/")
    again.get_by_label("Email address").fill(agent.email)
    again.get_by_label("Password").fill(PASSWORD)
    again.get_by_role("button", name="Sign in").click()
    again.wait_for_url("**/login/code/")
    screenshot(again, f"login-code-{size}.png")
    again.get_by_role("textbox", name="Code").fill(codes[1])
    again.get_by_role("button", name="Sign in").click()
    again.wait_for_url("**/tickets/")
