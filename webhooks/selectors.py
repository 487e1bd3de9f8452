"""Reading webhooks: the delivery log as the admin lists it."""

from django.db.models import QuerySet

from .models import WebhookDelivery


def delivery_log() -> QuerySet[WebhookDelivery]:
    """Every delivery, newest first, with its webhook and event (one query per page)."""
    return WebhookDelivery.objects.select_related("subscription", "event").order_by("-created_at", "-id")
