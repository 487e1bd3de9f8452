from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TicketsConfig(AppConfig):
    name = "tickets"
    verbose_name = _("Tickets")

    def ready(self):
        from helpdesk.cached import forget_on_change

        from .models import Queue
        from .selectors import PORTAL_QUEUES_KEY

        forget_on_change(Queue, PORTAL_QUEUES_KEY)
