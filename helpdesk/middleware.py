import contextlib
import time
import zoneinfo

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.http import HttpResponse, HttpResponseForbidden
from django.shortcuts import redirect
from django.urls import Resolver404, resolve
from django.utils import timezone, translation
from django.utils.translation import gettext as _


class UserPreferencesMiddleware:
    """Show every time in the signed-in user's time zone and the page in their language.

    Times are stored in UTC; only their display changes. Runs after authentication, so it
    overrides the language LocaleMiddleware picked from the browser when the user chose one.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        timezone.deactivate()
        if user is not None and user.is_authenticated:
            with contextlib.suppress(zoneinfo.ZoneInfoNotFoundError, ValueError):
                timezone.activate(zoneinfo.ZoneInfo(user.time_zone))
            if user.language and translation.check_for_language(user.language):
                translation.activate(user.language)
                request.LANGUAGE_CODE = translation.get_language()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


# Set in the session at sign-in when the admins require two-factor sign-in and the user has not set it up.
SETUP_REQUIRED_SESSION_KEY = "_two_factor_setup_required"


class AccountSecurityMiddleware:
    """Three things for every request, read from the session that authentication loads anyway:

    - the client's address for the audit log (``helpdesk.audit.audit_context``);
    - the "last seen" of a session listed on "Your settings", written at most once a minute (one UPDATE);
    - the two-factor set-up that the admins require: until it is done, a user signed in without it reaches
      only the set-up page (and can sign out); pages redirect there, htmx requests get nothing (204), and
      API requests with the session a 403.

    The last two read markers that the sign-in puts in the session (``helpdesk.account_views``), so a session
    started otherwise (the test client's ``force_login``) is left alone. Runs after authentication.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from .audit import audit_context
        from .client_ip import client_ip

        ip = client_ip(request)
        with audit_context(ip=ip):
            session = getattr(request, "session", None)
            if session is not None and settings.SESSION_COOKIE_NAME in request.COOKIES:
                response = self._signed_in(request, session, ip)
                if response is not None:
                    return response
            return self.get_response(request)

    def _signed_in(self, request, session, ip):
        from .user_sessions import SEEN_INTERVAL_SECONDS, SEEN_SESSION_KEY, user_session_touch

        user_id = session.get(SESSION_KEY)
        if user_id is None:
            return None
        seen = session.get(SEEN_SESSION_KEY)
        now = int(time.time())
        if seen is not None and now - seen >= SEEN_INTERVAL_SECONDS:
            session[SEEN_SESSION_KEY] = now
            user_session_touch(user_id=user_id, session_key=session.session_key, ip=ip)
        if session.get(SETUP_REQUIRED_SESSION_KEY) and not self._open_during_setup(request):
            if request.htmx:  # a region of a page (the bell's count): nothing to swap in
                return HttpResponse(status=204)
            if request.path.startswith("/api/"):
                return HttpResponseForbidden(_("Set up two-factor sign-in first."), content_type="text/plain")
            return redirect("two_factor")
        return None

    @staticmethod
    def _open_during_setup(request) -> bool:
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return False
        return match.view_name in {"two_factor", "logout", "set_language"}
