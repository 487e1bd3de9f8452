"""Signing in (password, then a code for those with two-factor sign-in), and the security parts of "Your
settings": two-factor sign-in, where you are signed in, your password."""

import time
from base64 import b32encode

import qrcode
import qrcode.image.svg
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, update_session_auth_hash
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout as auth_logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.decorators import method_decorator
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice

from . import two_factor, user_sessions
from .audit import audit_record, request_ip
from .errors import ValidationError
from .middleware import SETUP_REQUIRED_SESSION_KEY

# Between the password and the code: who passed the password, when, and where they wanted to go.
PENDING_SESSION_KEY = "_two_factor_pending"
PENDING_SECONDS = 5 * 60
# New recovery codes wait in the session for the one page view that shows them.
NEW_CODES_SESSION_KEY = "_two_factor_new_codes"


def _complete_sign_in(request, user, *, backend: str, device=None) -> None:
    """Sign ``user`` in (the session key changes), mark the session as passed two-factor when ``device`` is
    given, and list the session under "Where you are signed in"."""
    auth_login(request, user, backend=backend)
    if device is not None:
        otp_login(request, device)
    user_sessions.user_session_register(
        user=user, session_key=request.session.session_key, ip=request_ip(),
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
    )  # fmt: skip
    request.session[user_sessions.SEEN_SESSION_KEY] = int(time.time())


class SignInView(auth_views.LoginView):
    """The password; then, for a user with two-factor sign-in, the code (``sign_in_code_view``)."""

    redirect_authenticated_user = True

    def form_valid(self, form):
        user = form.get_user()
        redirect_to = self.get_success_url()
        if two_factor.totp_device_of(user) is not None:
            self.request.session[PENDING_SESSION_KEY] = {"user": user.pk, "backend": user.backend,
                                                         "at": int(time.time()), "next": redirect_to}  # fmt: skip
            return redirect("login_code")
        _complete_sign_in(self.request, user, backend=user.backend)
        if two_factor.two_factor_required():
            self.request.session[SETUP_REQUIRED_SESSION_KEY] = True
            return redirect("two_factor")
        return HttpResponseRedirect(redirect_to)


class CodeForm(forms.Form):
    code = forms.CharField(label=gettext_lazy("Code"), max_length=20, strip=True)


def _pending(request):
    """The user who passed the password a moment ago (None once that is too long ago)."""
    pending = request.session.get(PENDING_SESSION_KEY)
    if not pending or time.time() - pending["at"] > PENDING_SECONDS:
        return None, None
    user = get_user_model()._default_manager.filter(pk=pending["user"], is_active=True).first()
    return user, pending


@sensitive_post_parameters("code")
@never_cache
def sign_in_code_view(request):
    """The second step of signing in: a code from the authenticator app, or one of the recovery codes."""
    user, pending = _pending(request)
    if user is None:
        request.session.pop(PENDING_SESSION_KEY, None)
        if request.method == "POST":
            messages.error(request, _("Signing in took too long. Please sign in again."))
        return redirect("login")
    form = CodeForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        if not two_factor.code_attempt_allowed(user):
            request.session.pop(PENDING_SESSION_KEY, None)
            return render(request, "registration/login_code_locked.html", status=429)
        device, throttled = two_factor.two_factor_check(user=user, code=form.cleaned_data["code"])
        if device is not None:
            request.session.pop(PENDING_SESSION_KEY, None)
            _complete_sign_in(request, user, backend=pending["backend"], device=device)
            if isinstance(device, StaticDevice):
                left = two_factor.recovery_codes_left(user)
                audit_record(actor=user, action="two_factor.recovery_code_used", target=f"user {user.email}",
                             codes_left=left)  # fmt: skip
                messages.warning(request, ngettext(
                    "You signed in with a recovery code; %(left)d is left. Make new ones under Your settings.",
                    "You signed in with a recovery code; %(left)d are left. Make new ones under Your settings "
                    "if you are running out.", left) % {"left": left})  # fmt: skip
            return HttpResponseRedirect(pending["next"])
        if throttled:
            form.add_error("code", _("Too many wrong codes. Wait a minute, then type the newest code."))
            status = 429
        else:
            form.add_error("code", _("That code is not right. Type the code your app shows now, or a recovery code."))
            status = 400
    return render(request, "registration/login_code.html", {"form": form}, status=status)


def _qr_svg(data: str) -> str:
    image = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, border=2)
    return mark_safe(image.to_string(encoding="unicode"))  # made here, from our own data


def _grouped(text: str, size: int = 4) -> str:
    return " ".join(text[i : i + size] for i in range(0, len(text), size))


@sensitive_post_parameters("code")
@login_required
@never_cache
def two_factor_view(request):
    """Set up two-factor sign-in (QR code and key, then a code to confirm), or see it and its recovery codes."""
    device = two_factor.totp_device_of(request.user)
    form = CodeForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            codes = two_factor.two_factor_enable(user=request.user, code=form.cleaned_data["code"],
                                                 keep_session=request.session.session_key)  # fmt: skip
        except ValidationError as error:
            form.add_error("code", error)
            status = 400
        else:
            otp_login(request, two_factor.totp_device_of(request.user))
            request.session.pop(SETUP_REQUIRED_SESSION_KEY, None)
            request.session[NEW_CODES_SESSION_KEY] = codes
            messages.success(request, _("Two-factor sign-in is on."))
            return redirect("two_factor")
    context = {"device": device, "form": form, "required": two_factor.two_factor_required(),
               "setup_required": bool(request.session.get(SETUP_REQUIRED_SESSION_KEY))}  # fmt: skip
    if device is None:
        setup = two_factor.totp_setup_device(user=request.user)
        context |= {"qr_svg": _qr_svg(setup.config_url), "secret": _grouped(b32encode(setup.bin_key).decode())}
    else:
        new_codes = request.session.pop(NEW_CODES_SESSION_KEY, None)
        context |= {"new_codes": [f"{code[:4]}-{code[4:]}" for code in new_codes or []],
                    "codes_left": two_factor.recovery_codes_left(request.user)}  # fmt: skip
    return render(request, "account_two_factor.html", context, status=status)


@login_required
@require_POST
def recovery_codes_view(request):
    try:
        request.session[NEW_CODES_SESSION_KEY] = two_factor.recovery_codes_regenerate(user=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("two_factor")
    messages.success(request, _("Your new recovery codes are below; the old ones no longer work."))
    return redirect("two_factor")


@sensitive_post_parameters("confirmation")
@login_required
@require_POST
def two_factor_disable_view(request):
    try:
        two_factor.two_factor_disable(user=request.user, confirmation=request.POST.get("confirmation", ""))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("two_factor")
    if two_factor.two_factor_required():
        request.session[SETUP_REQUIRED_SESSION_KEY] = True  # a new authenticator, now
        messages.warning(request, _("Two-factor sign-in is off. It is required here: set up your new "
                                    "authenticator app now."))  # fmt: skip
    else:
        messages.success(request, _("Two-factor sign-in is off."))
    return redirect("two_factor")


@login_required
@require_POST
def session_end_view(request, session_id):
    row = user_sessions.UserSession.objects.filter(pk=session_id, user=request.user).only("session_key").first()
    if row is not None and row.session_key == request.session.session_key:
        auth_logout(request)  # this very session: an ordinary sign-out
        return redirect("login")
    if user_sessions.user_session_end(user=request.user, session_id=session_id) is None:
        raise Http404("No such session.")
    messages.success(request, _("That session is signed out."))
    return redirect(reverse("account") + "#sessions")


@login_required
@require_POST
def sessions_end_others_view(request):
    count = user_sessions.user_sessions_end(user=request.user, actor=request.user, keep=request.session.session_key)
    messages.success(request, ngettext("You are signed out everywhere else (%(count)d session).",
                                       "You are signed out everywhere else (%(count)d sessions).", count)
                     % {"count": count})  # fmt: skip
    return redirect(reverse("account") + "#sessions")


@method_decorator(login_required, name="dispatch")
class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "account_password.html"
    success_url = reverse_lazy("account")

    def form_valid(self, form):
        key = self.request.session.session_key
        row = user_sessions.UserSession.objects.filter(session_key=key).only("created_at").first()
        form.save()
        update_session_auth_hash(self.request, form.user)  # keeps this session (under a new key)
        if row is not None:  # still listed, under its new key
            user_sessions.user_session_register(
                user=form.user, session_key=self.request.session.session_key, ip=request_ip(),
                user_agent=self.request.META.get("HTTP_USER_AGENT", ""), created_at=row.created_at,
            )  # fmt: skip
        ended = user_sessions.user_password_changed(user=form.user, keep=self.request.session.session_key)
        messages.success(self.request, ngettext("Your password is changed. %(count)d other session was signed out.",
                                                "Your password is changed. %(count)d other sessions were signed out.",
                                                ended) % {"count": ended})  # fmt: skip
        return HttpResponseRedirect(self.get_success_url())


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """A new password from the emailed link: every session of the user ends."""

    def form_valid(self, form):
        response = super().form_valid(form)
        user_sessions.user_password_changed(user=form.user, keep=None, via="reset")
        return response


def security_context(request) -> dict:
    """What "Your settings" shows of two-factor sign-in and the user's sessions (this one first)."""
    current = request.session.session_key
    sessions = sorted(user_sessions.user_sessions_of(request.user), key=lambda row: row.session_key != current)
    return {
        "two_factor_on": two_factor.totp_device_of(request.user) is not None,
        "user_sessions": sessions,
        "current_session_key": current,
        "other_sessions": sum(1 for row in sessions if row.session_key != current),
        "session_age_hours": settings.SESSION_COOKIE_AGE // 3600,
    }
