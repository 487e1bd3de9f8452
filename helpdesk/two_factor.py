"""Two-factor sign-in (TOTP with recovery codes, from django-otp) and the admins' rule that requires it.

A user has two-factor sign-in on when they have a confirmed ``TOTPDevice`` (an authenticator app); their
recovery codes are the tokens of one ``StaticDevice``, each accepted once, stored as a keyed hash (a copy of
the database alone gives no code away). Wrong codes are throttled twice:
django-otp's exponential back-off per device (1 s, 2 s, 4 s, ... after consecutive failures) and
``helpdesk.ratelimit`` per user (``CODE_ATTEMPTS`` in ``CODE_WINDOW_SECONDS``).

Personal API tokens are not affected: a token is a factor of its own and signs no one in to the screens.
"""

import re

from django.conf import settings
from django.contrib.auth.hashers import check_password
from django.db import models, transaction
from django.db.models import Exists, OuterRef
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_otp import verify_token
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from .audit import audit_record
from .errors import ValidationError
from .ratelimit import allow
from .user_sessions import UserSession, sessions_end

RECOVERY_CODE_COUNT = 10
CODE_ATTEMPTS = 10  # per user and window, right or wrong, at sign-in and when turning it off
CODE_WINDOW_SECONDS = 15 * 60
TOTP_NAME = "authenticator"
RECOVERY_NAME = "recovery"
_TOTP_CODE = re.compile(r"\d{6}")
_RECOVERY_CODE = re.compile(r"[a-z2-7]{8}")
RECOVERY_DIGEST_SALT = "helpdesk.two_factor.recovery_code"


class SecuritySettings(models.Model):
    """One row (pk 1): how agents sign in, set in the admin."""

    require_two_factor = models.BooleanField(
        gettext_lazy("require two-factor sign-in"), default=False,
        help_text=gettext_lazy("Everyone who signs in (agents, admins and owners) must use an authenticator app. "
                               "Whoever has not set one up is sent to do so after signing in, and can do nothing "
                               "else until then; their current sessions end when this is turned on."),
    )  # fmt: skip
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = gettext_lazy("sign-in security")
        verbose_name_plural = gettext_lazy("sign-in security")

    def __str__(self):
        return str(gettext_lazy("Sign-in security"))

    @classmethod
    def current(cls) -> "SecuritySettings":
        return cls.objects.filter(pk=1).first() or cls(pk=1)


def two_factor_required() -> bool:
    """Whether the admins require two-factor sign-in (one query)."""
    return SecuritySettings.objects.filter(pk=1, require_two_factor=True).exists()


def totp_device_of(user) -> TOTPDevice | None:
    """The user's confirmed authenticator app: None while two-factor sign-in is off for them."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def recovery_codes_left(user) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def with_two_factor(users):
    """``users`` annotated with ``has_two_factor`` (for lists)."""
    return users.annotate(has_two_factor=Exists(TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)))


def normalize_code(code: str) -> str:
    """What was typed, without spaces and dashes, lower case (recovery codes are shown "abcd-efgh")."""
    return re.sub(r"[\s-]", "", code or "").lower()


def totp_setup_device(*, user) -> TOTPDevice:
    """The authenticator being set up: a new secret, kept unconfirmed until a code from it is typed."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False, name=TOTP_NAME).order_by("-pk").first()
    return device or TOTPDevice.objects.create(user=user, name=TOTP_NAME, confirmed=False)


def recovery_code_digests(user_id: int, code: str) -> list[str]:
    """How a recovery code is stored: HMAC-SHA256 of the user's id and the code, keyed with SECRET_KEY, 16 hex
    characters (django-otp's column holds 16). The first is the one stored now; the others, with each of
    SECRET_KEY_FALLBACKS, keep codes working while the secret key is being rotated."""
    keys = [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    value = f"{user_id}:{code}"
    return [salted_hmac(RECOVERY_DIGEST_SALT, value, secret=key, algorithm="sha256").hexdigest()[:16] for key in keys]


def _recovery_codes_replace(user) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=RECOVERY_NAME, confirmed=True)
    codes = []
    while len(codes) < RECOVERY_CODE_COUNT:
        code = StaticToken.random_token()  # 8 characters of base32: 40 random bits
        if code not in codes:
            codes.append(code)
    StaticToken.objects.bulk_create(
        StaticToken(device=device, token=recovery_code_digests(user.pk, code)[0]) for code in codes
    )
    return codes


def two_factor_enable(*, user, code: str, keep_session: str | None) -> list[str]:
    """Turn two-factor sign-in on with the authenticator being set up, if ``code`` is one of its codes: the
    new recovery codes (shown once). Any earlier authenticator is replaced, the user's other sessions end.
    ValidationError for a wrong code."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False, name=TOTP_NAME).order_by("-pk").first()
    if device is None:
        raise ValidationError(_("Start the set-up again: the key expired."))
    code = normalize_code(code)
    # The check runs (and a failure counts) in a transaction of its own, committed whatever follows.
    if not _TOTP_CODE.fullmatch(code) or verify_token(user, device.persistent_id, code) is None:
        allowed, _info = device.verify_is_allowed()
        if not allowed:
            raise ValidationError(_("Too many wrong codes. Wait a minute, then type the newest code."))
        raise ValidationError(_("That code is not right. Type the 6-digit code your app shows now."))
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
        TOTPDevice.objects.filter(pk=device.pk).update(confirmed=True)
        codes = _recovery_codes_replace(user)
        ended = sessions_end(UserSession.objects.filter(user=user).exclude(session_key=keep_session or ""))
        audit_record(actor=user, action="two_factor.enable", target=f"user {user.email}", sessions_ended=ended)
    return codes


@transaction.atomic
def recovery_codes_regenerate(*, user) -> list[str]:
    """New recovery codes for a user with two-factor sign-in on (the old ones stop working)."""
    if totp_device_of(user) is None:
        raise ValidationError(_("Turn on two-factor sign-in first."))
    codes = _recovery_codes_replace(user)
    audit_record(actor=user, action="two_factor.recovery_codes", target=f"user {user.email}",
                 count=len(codes))  # fmt: skip
    return codes


def _devices_delete(user) -> None:
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()


def code_attempt_allowed(user) -> bool:
    """Counts one attempt at a code (or at the password when turning two-factor off) for ``user``."""
    return allow(f"two-factor:{user.pk}", limit=CODE_ATTEMPTS, seconds=CODE_WINDOW_SECONDS)


def two_factor_check(*, user, code: str) -> tuple[object | None, bool]:
    """The device that accepts ``code`` (an authenticator code or an unused recovery code, which is used up
    now), and whether the device refused to check because of recent wrong codes."""
    code = normalize_code(code)
    if _TOTP_CODE.fullmatch(code):
        device = totp_device_of(user)
    elif _RECOVERY_CODE.fullmatch(code):
        device = StaticDevice.objects.filter(user=user, confirmed=True).first()
        if totp_device_of(user) is None:
            device = None  # recovery codes without an authenticator are left-overs
    else:
        return None, False
    if device is None:
        return None, False
    allowed, _info = device.verify_is_allowed()
    if not allowed:
        return None, True
    if isinstance(device, StaticDevice):
        digests = recovery_code_digests(user.pk, code)
        stored = device.token_set.filter(token__in=digests).values_list("token", flat=True).first()
        code = stored or digests[0]  # no match: checked all the same, so that the failure counts
    return verify_token(user, device.persistent_id, code), False


def two_factor_disable(*, user, confirmation: str) -> None:
    """Turn two-factor sign-in off, confirmed with the user's password or a current code.
    ValidationError when neither matches."""
    if totp_device_of(user) is None:
        return
    if not code_attempt_allowed(user):
        raise ValidationError(_("Too many attempts. Try again in 15 minutes."))
    confirmed = bool(confirmation) and check_password(confirmation, user.password)
    if not confirmed:
        device, throttled = two_factor_check(user=user, code=confirmation)
        if throttled:
            raise ValidationError(_("Too many wrong codes. Wait a minute, then type the newest code."))
        confirmed = device is not None
    if not confirmed:
        raise ValidationError(_("That is neither your password nor a current code."))
    with transaction.atomic():
        _devices_delete(user)
        audit_record(actor=user, action="two_factor.disable", target=f"user {user.email}")


@transaction.atomic
def two_factor_reset(*, user, actor) -> bool:
    """An admin turns two-factor sign-in off for ``user`` (lost phone and recovery codes) and signs them out
    everywhere; they sign in with their password alone (or set it up again, when required). Whether it was on."""
    was_on = TOTPDevice.objects.filter(user=user, confirmed=True).exists()
    _devices_delete(user)
    ended = sessions_end(UserSession.objects.filter(user=user))
    audit_record(actor=actor, action="two_factor.reset", target=f"user {user.email}", was_on=was_on,
                 sessions_ended=ended)  # fmt: skip
    return was_on


def security_settings_save(*, actor, security: SecuritySettings) -> int:
    """Save the sign-in rules. Turning "require two-factor sign-in" on ends the sessions of everyone without
    it, so they set it up at their next sign-in: how many sessions ended."""
    with transaction.atomic():
        before = SecuritySettings.objects.select_for_update().filter(pk=1).values_list("require_two_factor",
                                                                                       flat=True).first()  # fmt: skip
        security.pk = 1
        security.save()
        ended = 0
        if bool(before) != security.require_two_factor:
            if security.require_two_factor:
                without = UserSession.objects.exclude(
                    Exists(TOTPDevice.objects.filter(user=OuterRef("user"), confirmed=True))
                )
                ended = sessions_end(without)
            audit_record(actor=actor, action="two_factor.enforce", target="sign-in security",
                         required=security.require_two_factor, sessions_ended=ended)  # fmt: skip
    return ended
