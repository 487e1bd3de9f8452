from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from tickets.mail.views import inbound_email_view

from . import account_views
from .health import healthz
from .views import account_view, logo_view

# The reset email is rendered without the request's context processors, so it gets the name here.
EMAIL_CONTEXT = {"helpdesk_name": settings.HELPDESK_NAME}

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="tickets:list", permanent=False), name="home"),
    path("healthz", healthz, name="healthz"),
    path("login/", account_views.SignInView.as_view(), name="login"),
    path("login/code/", account_views.sign_in_code_view, name="login_code"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password-reset/", auth_views.PasswordResetView.as_view(
        extra_email_context=EMAIL_CONTEXT,
        subject_template_name="registration/password_reset_subject.txt",
        email_template_name="registration/password_reset_email.txt",
        html_email_template_name="registration/password_reset_email.html"), name="password_reset"),
    path("password-reset/sent/", auth_views.PasswordResetDoneView.as_view(),
         name="password_reset_done"),
    path("password-reset/<uidb64>/<token>/", account_views.PasswordResetConfirmView.as_view(),
         name="password_reset_confirm"),
    path("password-reset/done/", auth_views.PasswordResetCompleteView.as_view(),
         name="password_reset_complete"),
    path("account/", account_view, name="account"),
    path("account/two-factor/", account_views.two_factor_view, name="two_factor"),
    path("account/two-factor/recovery-codes/", account_views.recovery_codes_view, name="two_factor_recovery_codes"),
    path("account/two-factor/off/", account_views.two_factor_disable_view, name="two_factor_disable"),
    path("account/sessions/<int:session_id>/sign-out/", account_views.session_end_view, name="session_end"),
    path("account/sessions/sign-out-others/", account_views.sessions_end_others_view, name="sessions_end_others"),
    path("account/password/", account_views.PasswordChangeView.as_view(), name="password_change"),
    path("account/tokens/", include("api.account_urls")),
    path("tickets/", include("tickets.urls")),
    path("articles/", include("knowledge_base.agent_urls")),
    path("customers/", include("customers.urls")),
    path("reports/", include("reports.urls")),
    path("help/logo", logo_view, name="portal_logo"),
    path("help/", include("knowledge_base.urls")),
    path("help/", include("tickets.portal.urls")),
    path("mail/inbound/", inbound_email_view, name="inbound_email"),
    path("api/", include("api.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
]  # fmt: skip
