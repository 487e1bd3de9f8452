"""Running the time-based automations: a periodic sweep (Celery beat) over tickets that have been in a
status long enough. A ticket's time in its status counts from ``Ticket.status_changed_at`` (its creation
when the status never changed). Claiming a (automation, ticket) pair by INSERT … ON CONFLICT DO NOTHING
before acting is what makes each automation fire once per ticket, even with two sweeps at once."""

from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.db.models.functions import Coalesce
from django.utils import timezone

from .models import Automation, AutomationRun

BATCH = 500


def automations_sweep(*, now=None) -> int:
    """Fire every active automation for the tickets it is due on; returns how many fired."""
    from tickets.models import Ticket

    now = now or timezone.now()
    fired = 0
    for automation in Automation.objects.filter(active=True):
        done = AutomationRun.objects.filter(automation=automation, ticket=OuterRef("pk"))
        due = (Ticket.objects.filter(status=automation.status, merged_into__isnull=True)
               .alias(since=Coalesce("status_changed_at", "created_at"))
               .filter(since__lte=now - timedelta(hours=automation.hours))
               .exclude(Exists(done)).order_by("pk").values_list("pk", flat=True))  # fmt: skip
        for ticket_id in list(due[:BATCH]):
            fired += _fire(automation, ticket_id, now)
    return fired


def _fire(automation: Automation, ticket_id: int, now) -> int:
    from tickets import services
    from tickets.models import Ticket, TicketEvent

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO tickets_automationrun (automation_id, ticket_id, fired_at) VALUES (%s, %s, %s) "
                "ON CONFLICT (automation_id, ticket_id) DO NOTHING RETURNING id",
                [automation.pk, ticket_id, now],
            )
            if cursor.fetchone() is None:
                return 0  # another sweep fired it
        ticket = Ticket.objects.select_for_update(of=("self",)).get(pk=ticket_id)
        if ticket.status != automation.status:
            return 0  # changed meanwhile; the run stays recorded, as it was due
        if automation.action == Automation.Action.REMIND:
            from tickets.tasks import send_reminder_task

            send_reminder_task.delay_on_commit(ticket.pk, automation.pk)
        else:
            status = Ticket.Status.SOLVED if automation.action == Automation.Action.SOLVE else Ticket.Status.CLOSED
            services.ticket_set_status(ticket=ticket, status=status, actor=None)
        TicketEvent.objects.create(ticket=ticket, kind=TicketEvent.Kind.AUTOMATION, field="automation",
                                   new_value=automation.name[:255], created_at=now)  # fmt: skip
    return 1
