"""Where a user is signed in: one row per session started by signing in, listed on "Your settings", where the
user can sign out one session or all the others.

A row is written when the sign-in completes (``helpdesk.account_views``) and its "last seen" is refreshed at
most once a minute by ``helpdesk.middleware.AccountSecurityMiddleware``. Django's own session row (the database
session engine) says whether the session still lives: a session that was signed out, cycled or expired is not
listed, and its row is purged at the user's next sign-in. Ending a session deletes it from the session store,
so its browser is signed out at its next request.
"""

import re
from datetime import timedelta
from importlib import import_module

from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .audit import audit_record

# The session keys this feature keeps in the session itself (no query to read them).
SEEN_SESSION_KEY = "_session_seen"  # when the row's last_seen_at was written (Unix time)
SEEN_INTERVAL_SECONDS = 60


class UserSession(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+",
                             verbose_name=_("user"))  # fmt: skip
    # Django's session (not a foreign key: the session engine deletes its rows without asking us).
    session_key = models.CharField(max_length=40, unique=True)
    user_agent = models.CharField(_("browser"), max_length=300, blank=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    created_at = models.DateTimeField(_("signed in"), default=timezone.now)
    last_seen_at = models.DateTimeField(_("last seen"), default=timezone.now)

    class Meta:
        verbose_name = _("session")
        verbose_name_plural = _("sessions")

    def __str__(self):
        return f"{self.user_id} {device_label(self.user_agent)}"

    @property
    def device(self) -> str:
        return device_label(self.user_agent)

    @property
    def active_now(self) -> bool:
        """Used in the last two minutes ("last seen" is written at most once a minute)."""
        return timezone.now() - self.last_seen_at < timedelta(minutes=2)


_BROWSERS = [("Edg", "Edge"), ("HeadlessChrome", "Chrome"), ("OPR", "Opera"), ("SamsungBrowser", "Samsung Internet"),
             ("Firefox", "Firefox"), ("FxiOS", "Firefox"), ("CriOS", "Chrome"), ("Chromium", "Chromium"),
             ("Chrome", "Chrome"), ("Safari", "Safari")]  # fmt: skip
_SYSTEMS = [("iPhone", "iPhone"), ("iPad", "iPad"), ("Android", "Android"), ("Windows", "Windows"),
            ("CrOS", "ChromeOS"), ("Mac OS X", "macOS"), ("Macintosh", "macOS"), ("Linux", "Linux")]  # fmt: skip


def device_label(user_agent: str) -> str:
    """ "Firefox on Windows" from a User-Agent header: enough to recognise one's own devices."""
    browser = next((name for token, name in _BROWSERS if re.search(rf"\b{re.escape(token)}/", user_agent)), None)
    system = next((name for token, name in _SYSTEMS if token in user_agent), None)
    if browser and system:
        return gettext("%(browser)s on %(system)s") % {"browser": browser, "system": system}
    return browser or system or (user_agent[:60] if user_agent else gettext("Unknown browser"))


def _live_keys():
    return Session.objects.filter(expire_date__gt=timezone.now()).values("session_key")


def user_sessions_of(user):
    """The user's live sessions, the most recently used first: one query."""
    return UserSession.objects.filter(user=user, session_key__in=_live_keys()).order_by("-last_seen_at", "-pk")


@transaction.atomic
def user_session_register(*, user, session_key: str, user_agent: str, ip: str | None, created_at=None) -> UserSession:
    """Record a session that has just been signed in (and forget the user's sessions that ended)."""
    UserSession.objects.filter(user=user).exclude(session_key__in=_live_keys()).delete()
    now = timezone.now()
    row, _created = UserSession.objects.update_or_create(
        session_key=session_key,
        defaults={"user": user, "user_agent": user_agent[:300], "ip": ip, "last_seen_at": now,
                  "created_at": created_at or now},
    )  # fmt: skip
    return row


def user_session_touch(*, user_id, session_key: str, ip: str | None) -> None:
    """The session was used now (called at most once a minute per session)."""
    UserSession.objects.filter(session_key=session_key, user_id=user_id).update(last_seen_at=timezone.now(), ip=ip)


def sessions_end(rows) -> int:
    """End the sessions of ``rows`` (a queryset of UserSession), in the session store and here; how many.
    For services: each records its own audit entry."""
    keys = list(rows.values_list("session_key", flat=True))
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    for key in keys:
        store.delete(key)  # through the engine, so a cached copy goes too
    UserSession.objects.filter(session_key__in=keys).delete()
    return len(keys)


@transaction.atomic
def user_session_end(*, user, session_id) -> UserSession | None:
    """Sign out one of ``user``'s sessions (None if they have no such session)."""
    try:
        session_id = int(session_id)
    except (TypeError, ValueError):
        return None
    row = UserSession.objects.select_for_update().filter(pk=session_id, user=user).first()
    if row is None:
        return None
    sessions_end(UserSession.objects.filter(pk=row.pk))
    audit_record(actor=user, action="session.end", target=f"session of {user.email}", device=row.device,
                 session_ip=row.ip)  # fmt: skip
    return row


@transaction.atomic
def user_sessions_end(*, user, actor, keep: str | None = None) -> int:
    """Sign ``user`` out everywhere but in the session ``keep`` (the current one): how many sessions ended."""
    rows = UserSession.objects.filter(user=user)
    if keep:
        rows = rows.exclude(session_key=keep)
    count = sessions_end(rows)
    audit_record(actor=actor, action="session.end_others" if keep else "session.end_all",
                 target=f"sessions of {user.email}", count=count)  # fmt: skip
    return count


@transaction.atomic
def user_password_changed(*, user, keep: str | None, via: str = "change") -> int:
    """After ``user`` changed their password: the other sessions end (Django would refuse them at their next
    request anyway; this also takes them off the list). How many ended."""
    count = sessions_end(UserSession.objects.filter(user=user).exclude(session_key=keep or ""))
    audit_record(actor=user, action="password.change", target=f"user {user.email}", via=via, sessions_ended=count)
    return count
