"""Putting the surveys to a solved ticket's customer, and recording their answers."""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from helpdesk.emails import send_email
from helpdesk.errors import ValidationError

from ..models import Ticket
from .models import Survey


def surveys_send(*, ticket_id: int) -> list[Survey]:
    """Ask the customer of a solved ticket the questions its queue asks, in one email; returns the surveys
    sent now. At most once per kind and ticket (a ticket solved again is not asked again); NPS at most
    once per customer in NPS_INTERVAL_DAYS; never when the ticket is no longer solved or automatic mail
    may not go to the address (bouncing, blocked, too many). Idempotent."""
    from ..mail.outbound import automatic_mail_refusal, sender_of
    from ..portal.links import follow_token

    with transaction.atomic():
        ticket = (Ticket.objects.select_for_update(of=("self",)).select_related("customer", "queue")
                  .filter(pk=ticket_id).first())  # fmt: skip
        if ticket is None:  # deleted since it was solved
            return []
        if ticket.status != Ticket.Status.SOLVED or ticket.merged_into_id is not None:
            return []
        queue = ticket.queue
        wanted = [kind for kind, on in ((Survey.Kind.CSAT, queue.survey_csat), (Survey.Kind.NPS, queue.survey_nps),
                                        (Survey.Kind.CES, queue.survey_ces)) if on]  # fmt: skip
        wanted = [kind for kind in wanted if kind not in set(ticket.surveys.values_list("kind", flat=True))]
        if Survey.Kind.NPS in wanted and _nps_asked_lately(ticket.customer_id):
            wanted.remove(Survey.Kind.NPS)
        if not wanted or automatic_mail_refusal(ticket):
            return []
        surveys = Survey.objects.bulk_create([Survey(ticket=ticket, customer=ticket.customer, kind=kind)
                                              for kind in wanted])  # fmt: skip
        _facts_stale([ticket.pk])
        rate_url = settings.SITE_URL.rstrip("/") + _rate_path(follow_token(ticket))
        send_email(
            name="ticket_survey",
            to=[ticket.customer.email],
            context={"ticket": ticket, "customer": ticket.customer, "kinds": wanted, "rate_url": rate_url,
                     "first": wanted[0], "first_scale": surveys[0].scale},
            from_email=sender_of(ticket),
            headers={"Auto-Submitted": "auto-generated", "X-Auto-Response-Suppress": "All"},
            language=ticket.customer.language,
        )  # fmt: skip
    return surveys


def _facts_stale(ticket_ids) -> None:
    from reports.services import facts_mark_stale

    facts_mark_stale(ticket_ids)


def _webhooks_kick() -> None:
    """survey.answered webhooks are dispatched from the answer's time (``webhooks.services``); sooner with this."""
    from webhooks.services import webhooks_kick

    webhooks_kick()


def _rate_path(token: str) -> str:
    return reverse("portal:rate", args=[token])


def _nps_asked_lately(customer_id: int) -> bool:
    since = timezone.now() - timedelta(days=settings.NPS_INTERVAL_DAYS)
    return Survey.objects.filter(customer_id=customer_id, kind=Survey.Kind.NPS, sent_at__gte=since).exists()


def survey_answer(*, survey: Survey, score: int, comment: str = "") -> Survey:
    """Record (or change) an answer. Its time is when it was last given (METRICS.md: an answer belongs to the
    period in which it was given)."""
    low, high = Survey.SCALES[survey.kind]
    if score is None or not low <= score <= high:
        raise ValidationError(_("Choose a score from %(low)s to %(high)s."), params={"low": low, "high": high})
    survey.score = score
    survey.comment = (comment or "").strip()[:5000]
    survey.answered_at = timezone.now()
    with transaction.atomic():
        survey.save(update_fields=["score", "comment", "answered_at"])
        _facts_stale([survey.ticket_id])
        _webhooks_kick()
    return survey
