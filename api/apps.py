from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = _("REST API")

    def ready(self):
        # drf-spectacular finds its extensions (the Bearer token scheme) once they are imported.
        from . import schema  # noqa: F401
