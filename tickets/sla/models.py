"""SLA policies and the timers they start on tickets (issue 7).

A policy matches tickets by priority, queue, organization and customer segment (first match by position
wins) and sets targets for the first response, the next response (after each customer message) and the
resolution, in business or calendar minutes on its calendar. Each running target is one ``SLATimer`` row:
its due time, whether the clock is paused (the ticket is pending), and the warning and breach, each
recorded once (``tickets.sla.services``).
"""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class SLAPolicy(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    position = models.PositiveSmallIntegerField(
        _("position"), default=0, help_text=_("The first policy that matches wins.")
    )
    active = models.BooleanField(_("active"), default=True)
    # Conditions: each one left empty matches every ticket.
    priorities = ArrayField(models.CharField(max_length=10), blank=True, default=list, verbose_name=_("priorities"),
                            help_text=_("low, normal, high, urgent; separated by commas. Empty: any."))  # fmt: skip
    queues = models.ManyToManyField("tickets.Queue", blank=True, related_name="+", verbose_name=_("queues"))
    organizations = models.ManyToManyField("customers.Organization", blank=True, related_name="+",
                                           verbose_name=_("organizations"))  # fmt: skip
    segments = models.ManyToManyField(
        "customers.Segment", blank=True, related_name="+", verbose_name=_("customer segments")
    )
    # Targets, in minutes; empty: no target.
    first_response_minutes = models.PositiveIntegerField(_("first response within (minutes)"), null=True, blank=True)
    next_response_minutes = models.PositiveIntegerField(_("next response within (minutes)"), null=True, blank=True)
    resolution_minutes = models.PositiveIntegerField(_("resolution within (minutes)"), null=True, blank=True)
    business_hours = models.BooleanField(_("count business hours only"), default=True)
    calendar = models.ForeignKey(
        "helpdesk.Calendar", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("calendar"), help_text=_("Empty: the default calendar."),
    )  # fmt: skip
    warn_minutes = models.PositiveIntegerField(_("warn this many minutes before"), default=15)
    # Escalation when a target is breached.
    notify_assignee = models.BooleanField(_("notify the assignee"), default=True)
    notify_admins = models.BooleanField(_("notify owners and admins"), default=False)
    notify_team_lead = models.BooleanField(
        _("notify the team lead"), default=False,
        help_text=_("The lead of the ticket's team; also warned before the target when nobody is assigned."),
    )  # fmt: skip
    raise_priority = models.BooleanField(_("raise the priority one step"), default=False)
    reassign_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("reassign to"),
    )  # fmt: skip

    class Meta:
        verbose_name = _("SLA policy")
        verbose_name_plural = _("SLA policies")
        ordering = ["position", "pk"]

    def __str__(self):
        return self.name

    def target_minutes(self, kind: str) -> int | None:
        return {SLATimer.Kind.FIRST_RESPONSE: self.first_response_minutes,
                SLATimer.Kind.NEXT_RESPONSE: self.next_response_minutes,
                SLATimer.Kind.RESOLUTION: self.resolution_minutes}[kind]  # fmt: skip


class SLATimer(models.Model):
    class Kind(models.TextChoices):
        FIRST_RESPONSE = "first_response", _("First response")
        NEXT_RESPONSE = "next_response", _("Next response")
        RESOLUTION = "resolution", _("Resolution")

    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="sla_timers")
    policy = models.ForeignKey(SLAPolicy, on_delete=models.SET_NULL, null=True, related_name="+")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    started_at = models.DateTimeField()
    target_seconds = models.PositiveIntegerField()
    # SLA clock seconds (business or calendar, as the policy counts) spent paused so far.
    paused_seconds = models.PositiveIntegerField(default=0)
    paused_at = models.DateTimeField(null=True, blank=True)  # the ticket is pending: the clock stands still
    due_at = models.DateTimeField(null=True, blank=True)  # empty while paused
    warn_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)  # the target's event happened (or no longer applies)
    met = models.BooleanField(null=True)  # set when stopped: the event came at or before the due time
    warned_at = models.DateTimeField(null=True, blank=True)
    breached_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["started_at", "pk"]
        indexes = [
            models.Index(fields=["ticket", "kind"], name="sla_timer_ticket"),
            # The sweep's two questions, answered from small partial indexes (running timers only).
            models.Index(
                fields=["due_at"],
                condition=Q(stopped_at__isnull=True, breached_at__isnull=True, due_at__isnull=False),
                name="sla_timer_to_breach",
            ),
            models.Index(
                fields=["warn_at"],
                condition=Q(stopped_at__isnull=True, warned_at__isnull=True, warn_at__isnull=False),
                name="sla_timer_to_warn",
            ),
        ]

    def __str__(self):
        return f"#{self.ticket_id} {self.kind} due {self.due_at}"

    @property
    def running(self) -> bool:
        return self.stopped_at is None
