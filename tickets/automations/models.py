"""Time-based automations (issue 7): "pending for 5 days → remind the customer", "pending for 10 days →
solve", "solved for 7 days → close". Each fires at most once per ticket (``AutomationRun``)."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Automation(models.Model):
    class Action(models.TextChoices):
        REMIND = "remind", _("Email the customer a reminder")
        SOLVE = "solve", _("Mark solved")
        CLOSE = "close", _("Close")

    name = models.CharField(_("name"), max_length=100, unique=True)
    active = models.BooleanField(_("active"), default=True)
    status = models.CharField(
        _("when a ticket has been"), max_length=10,
        choices=[("new", _("New")), ("open", _("Open")), ("pending", _("Pending")), ("on_hold", _("On hold")),
                 ("solved", _("Solved"))],
    )  # fmt: skip
    hours = models.PositiveIntegerField(_("for at least (hours)"), help_text=_("Since it entered that status."))
    action = models.CharField(_("then"), max_length=10, choices=Action.choices)

    class Meta:
        verbose_name = _("time-based automation")
        verbose_name_plural = _("time-based automations")
        ordering = ["status", "hours", "pk"]

    def __str__(self):
        return self.name


class AutomationRun(models.Model):
    """That an automation fired for a ticket: the unique pair is what makes it fire once."""

    automation = models.ForeignKey(Automation, on_delete=models.CASCADE, related_name="runs")
    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="+")
    fired_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["automation", "ticket"], name="automation_once_per_ticket")]

    def __str__(self):
        return f"{self.automation_id} on #{self.ticket_id}"
