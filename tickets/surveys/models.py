from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Survey(models.Model):
    """One question put to a ticket's customer once the ticket was solved, and their answer (none yet:
    ``answered_at`` empty). At most one of each kind per ticket. The scores are defined in
    ../shared/METRICS.md: CSAT 1–5, NPS 0–10, CES 1–7; the response rate is answered / sent."""

    class Kind(models.TextChoices):
        CSAT = "csat", _("Satisfaction (CSAT)")
        NPS = "nps", _("Recommendation (NPS)")
        CES = "ces", _("Effort (CES)")

    SCALES = {Kind.CSAT: (1, 5), Kind.NPS: (0, 10), Kind.CES: (1, 7)}
    ORDER = [Kind.CSAT, Kind.NPS, Kind.CES]  # the order they are asked in

    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="surveys")
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="surveys")
    kind = models.CharField(_("kind"), max_length=4, choices=Kind.choices)
    sent_at = models.DateTimeField(_("sent"), default=timezone.now)
    score = models.PositiveSmallIntegerField(_("score"), null=True, blank=True)
    comment = models.TextField(_("comment"), blank=True, max_length=5000)
    answered_at = models.DateTimeField(_("answered"), null=True, blank=True)

    class Meta:
        verbose_name = _("survey")
        verbose_name_plural = _("surveys")
        constraints = [
            models.UniqueConstraint(fields=["ticket", "kind"], name="survey_once_per_ticket"),
            models.CheckConstraint(
                condition=models.Q(score__isnull=True)
                | models.Q(kind="csat", score__gte=1, score__lte=5)
                | models.Q(kind="nps", score__gte=0, score__lte=10)
                | models.Q(kind="ces", score__gte=1, score__lte=7),
                name="survey_score_on_its_scale",
            ),
        ]
        indexes = [
            models.Index(fields=["answered_at"], name="survey_answered"),
            models.Index(fields=["customer", "kind", "sent_at"], name="survey_customer_kind"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} for {self.ticket_id}: {self.score if self.score is not None else '—'}"

    @property
    def scale(self) -> range:
        low, high = self.SCALES[self.kind]
        return range(low, high + 1)

    @classmethod
    def of_ticket(cls, ticket) -> list["Survey"]:
        """The ticket's surveys, in the order they are asked."""
        return sorted(ticket.surveys.all(), key=lambda survey: cls.ORDER.index(survey.kind))
