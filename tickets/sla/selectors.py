"""What agents see of a ticket's SLA targets."""

from dataclasses import dataclass

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from ..display import sla_badge
from .models import SLATimer


@dataclass(frozen=True)
class TimerRow:
    label: str
    state: str  # ok, soon, breached, met, paused
    text: str
    title: str


def ticket_sla(ticket) -> list[TimerRow]:
    """The latest timer of each target, in the order first response, next response, resolution (one query)."""
    latest: dict[str, SLATimer] = {}
    for timer in SLATimer.objects.filter(ticket=ticket).order_by("pk"):
        latest[timer.kind] = timer
    now, rows = timezone.now(), []
    for kind, label in SLATimer.Kind.choices:
        timer = latest.get(kind)
        if timer is None or (timer.stopped_at is not None and timer.met is None):
            continue  # no target, or one that stopped applying
        due = timer.due_at
        title = _("Due %(when)s") % {"when": date_format(timezone.localtime(due), "DATETIME_FORMAT")} if due else ""
        if timer.stopped_at is not None:
            state, text = ("met", _("Met")) if timer.met else ("breached", _("Missed"))
        elif due is None:
            state, text = "paused", _("Paused while pending")
        else:
            badge = sla_badge(due, now)
            state, text = badge["sla_state"], badge["sla_label"]
        rows.append(TimerRow(label=str(label), state=state, text=text, title=title))
    return rows
