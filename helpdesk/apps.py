from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class HelpdeskConfig(AppConfig):
    name = "helpdesk"
    verbose_name = _("Help desk core")

    def ready(self):
        from .branding import BRANDING_KEY, Branding
        from .cached import forget_on_change

        forget_on_change(Branding, BRANDING_KEY)
