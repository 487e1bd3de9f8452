"""Reading surveys: the answers agents may see."""

from django.db.models import QuerySet

from helpdesk.models import User
from tickets.selectors import tickets_visible_to

from .models import Survey


def survey_answers_visible_to(user: User) -> QuerySet[Survey]:
    """The answered surveys of the tickets ``user`` may see (``tickets_visible_to``), newest answer first."""
    tickets = tickets_visible_to(user).values("id")
    return Survey.objects.filter(answered_at__isnull=False, ticket_id__in=tickets).order_by("-answered_at", "-id")
