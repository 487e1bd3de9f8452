from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from tickets.mail.views import inbound_email_view

from .health import healthz
from .views import account_view, logo_view

# The reset email is rendered without the request's context processors, so it gets the name here.
EMAIL_CONTEXT = {"helpdesk_name": settings.HELPDESK_NAME}

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="tickets:list", permanent=False), name="home"),
    path("healthz", healthz, name="healthz"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True),
         name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password-reset/", auth_views.PasswordResetView.as_view(
        extra_email_context=EMAIL_CONTEXT,
        subject_template_name="registration/password_reset_subject.txt",
        email_template_name="registration/password_reset_email.txt",
        html_email_template_name="registration/password_reset_email.html"), name="password_reset"),
    path("password-reset/sent/", auth_views.PasswordResetDoneView.as_view(),
         name="password_reset_done"),
    path("password-reset/<uidb64>/<token>/", auth_views.PasswordResetConfirmView.as_view(),
         name="password_reset_confirm"),
    path("password-reset/done/", auth_views.PasswordResetCompleteView.as_view(),
         name="password_reset_complete"),
    path("account/", account_view, name="account"),
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
