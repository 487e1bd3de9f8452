"""Webhooks: admins subscribe URLs to events; each event becomes one delivery per subscription, sent (and
retried) by Celery tasks, every attempt logged.

``WebhookEvent`` rows are made by the dispatcher (``webhooks.services.webhooks_dispatch``) from the tickets'
audit trail (``TicketEvent``) and the survey answers; ``WebhookCursor`` is how far it has read. Writes go
through ``webhooks.services``; the format on the wire is in docs/api.md, "Webhooks".
"""

import secrets
import uuid
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .addresses import BlockedAddress, check_host

SECRET_PREFIX = "whsec_"


class Event(models.TextChoices):
    TICKET_CREATED = "ticket.created", _("Ticket created")
    TICKET_UPDATED = "ticket.updated", _("Ticket updated")
    TICKET_SOLVED = "ticket.solved", _("Ticket solved")
    MESSAGE_CREATED = "message.created", _("Message added")
    SURVEY_ANSWERED = "survey.answered", _("Survey answered")
    SLA_BREACHED = "sla.breached", _("SLA target breached")


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_hex(32)


def validate_webhook_url(value: str) -> None:
    """http or https only, a host, no user name or password in it (they would be sent to the receiver), and
    not a private or local address (``webhooks.addresses``; a name is checked again at each delivery)."""
    # Codes of their own: a field replaces the message of an "invalid" error with its generic one.
    URLValidator(schemes=["http", "https"], message=_("Enter an http:// or https:// address."), code="scheme")(value)
    if urlsplit(value).username is not None:
        raise ValidationError(_("Leave the user name and password out of the address."), code="credentials")
    try:
        check_host(urlsplit(value).hostname or "")
    except BlockedAddress as refusal:
        raise ValidationError(str(refusal), code="private_address") from None


class WebhookSubscription(models.Model):
    """A URL that gets the chosen events, signed with the subscription's secret. Disabled by hand, or
    automatically once every attempt failed for WEBHOOK_DISABLE_AFTER_DAYS (the admins are emailed)."""

    url = models.URLField(_("URL"), max_length=500, validators=[validate_webhook_url])
    description = models.CharField(_("description"), max_length=200, blank=True,
                                   help_text=_("What receives it, for the people who read this list."))  # fmt: skip
    events = ArrayField(models.CharField(max_length=30, choices=Event.choices), verbose_name=_("events"))
    secret = models.CharField(_("signing secret"), max_length=100, default=new_secret, editable=False)
    is_active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+", editable=False, verbose_name=_("created by"))  # fmt: skip
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    # Health: the first failed attempt since the last success (empty: the last attempt succeeded).
    failing_since = models.DateTimeField(_("failing since"), null=True, blank=True, editable=False)
    last_success_at = models.DateTimeField(_("last success"), null=True, blank=True, editable=False)
    disabled_at = models.DateTimeField(_("disabled"), null=True, blank=True, editable=False)
    disabled_reason = models.CharField(_("why it was disabled"), max_length=255, blank=True, editable=False)
    admins_told_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["url", "id"]
        verbose_name = _("webhook")
        verbose_name_plural = _("webhooks")
        constraints = [
            models.CheckConstraint(condition=Q(events__len__gt=0) & Q(events__contained_by=Event.values),
                                   name="webhook_events_known"),
        ]  # fmt: skip

    def __str__(self):
        return self.url

    def wants(self, event_name: str) -> bool:
        return self.is_active and event_name in self.events


class WebhookEvent(models.Model):
    """One event to tell the subscribers about, with the exact body every delivery of it sends.

    ``source`` names what it came from ("ticket_event:123", "survey:7:<answer time>"): unique, so the
    dispatcher reading a row twice never makes a second event."""

    uid = models.UUIDField(_("event id"), default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(_("event"), max_length=30, choices=Event.choices)
    source = models.CharField(max_length=100, unique=True)
    body = models.TextField(_("body"))
    occurred_at = models.DateTimeField(_("occurred"))
    created_at = models.DateTimeField(_("created"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("webhook event")
        verbose_name_plural = _("webhook events")

    def __str__(self):
        return f"{self.name} {self.uid}"


class WebhookDelivery(models.Model):
    """One event for one subscription: pending until an attempt gets a 2xx (succeeded) or the attempts run
    out (failed). ``next_attempt_at`` is when the next attempt is due (the retry schedule lives here, not in
    the broker); ``queued_at`` when a task for it was last queued. ``uid`` is sent as X-Helpdesk-Delivery,
    the same on every attempt, so receivers can drop duplicates."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    uid = models.UUIDField(_("delivery id"), default=uuid.uuid4, unique=True, editable=False)
    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries",
                                     verbose_name=_("webhook"), db_index=False)  # fmt: skip
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries",
                              verbose_name=_("event"), db_index=False)  # fmt: skip
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    attempt_count = models.PositiveSmallIntegerField(_("attempts"), default=0)  # since created or redelivered
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(_("last attempt"), null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(_("response code"), null=True, blank=True)
    last_error = models.CharField(_("error"), max_length=500, blank=True)
    last_duration_ms = models.PositiveIntegerField(_("duration (ms)"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        constraints = [
            models.UniqueConstraint(fields=["subscription", "event"], name="webhook_delivery_once"),
        ]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="webhook_delivery_created"),
            models.Index(fields=["subscription", "-created_at", "-id"], name="webhook_delivery_subscription"),
            models.Index(fields=["event"], name="webhook_delivery_event"),
            # The retry sweep's question: pending deliveries due now.
            models.Index(fields=["next_attempt_at"], name="webhook_delivery_due", condition=Q(status="pending")),
        ]

    def __str__(self):
        return f"{self.uid}"


class WebhookAttempt(models.Model):
    """One POST of a delivery and what came back: the log the admin reads."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveSmallIntegerField(_("attempt"))
    started_at = models.DateTimeField(_("sent"))
    duration_ms = models.PositiveIntegerField(_("duration (ms)"))
    status_code = models.PositiveSmallIntegerField(_("response code"), null=True, blank=True)
    response_excerpt = models.CharField(_("response (start)"), max_length=500, blank=True)
    error = models.CharField(_("error"), max_length=500, blank=True)
    succeeded = models.BooleanField(_("succeeded"), default=False)

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = _("attempt")
        verbose_name_plural = _("attempts")

    def __str__(self):
        return _("Attempt %(number)s") % {"number": self.number}


class WebhookCursor(models.Model):
    """How far the dispatcher has read one source ("ticket_events", "surveys").

    Ticket events: every id up to ``last_id`` was seen, except the ids in ``pending`` (id -> unix time it was
    first missed). Sequence numbers are handed out at INSERT but become visible at COMMIT, so a missing id
    can be a transaction still running: it is looked for again on each run until it appears or is older
    than WEBHOOK_DISPATCH_GAP_SECONDS (then it was rolled back). Surveys: answers up to ``last_time``; each
    run reads again an overlap before it."""

    source = models.CharField(max_length=30, primary_key=True)
    last_id = models.BigIntegerField(default=0)
    last_time = models.DateTimeField(null=True, blank=True)
    pending = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"{self.source} at {self.last_id or self.last_time}"
