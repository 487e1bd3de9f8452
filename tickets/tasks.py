from smtplib import SMTPException

from celery import shared_task
from django.db import DatabaseError

from . import notifications, services


@shared_task(
    autoretry_for=(SMTPException, OSError, DatabaseError),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=8,
)
def send_acknowledgement_task(*ticket_ids: int) -> int:
    """Tell customers their requests arrived (one ticket, or a batch opened together); returns how many
    emails went out. Idempotent: the service sends at most once per ticket, so a retry after a failure
    sends only what is still due."""
    return sum(services.ticket_send_acknowledgement(ticket_id=ticket_id) for ticket_id in ticket_ids)


@shared_task(autoretry_for=(SMTPException, OSError, DatabaseError), retry_backoff=True, retry_backoff_max=600,
             max_retries=8)  # fmt: skip
def notify_assigned_task(ticket_id: int, assignee_id: int) -> bool:
    return notifications.notify_assigned(ticket_id=ticket_id, assignee_id=assignee_id)


@shared_task(autoretry_for=(SMTPException, OSError, DatabaseError), retry_backoff=True, retry_backoff_max=600,
             max_retries=8)  # fmt: skip
def notify_mentioned_task(message_id: int, user_id: int) -> bool:
    return notifications.notify_mentioned(message_id=message_id, user_id=user_id)


@shared_task(autoretry_for=(SMTPException, OSError, DatabaseError), retry_backoff=True, retry_backoff_max=600,
             max_retries=8)  # fmt: skip
def notify_customer_replied_task(message_id: int) -> bool:
    return notifications.notify_customer_replied(message_id=message_id)


# --- email ---------------------------------------------------------------------------------------


@shared_task(autoretry_for=(DatabaseError,), retry_backoff=True, retry_backoff_max=300, max_retries=10)
def process_inbound_task(*inbound_ids: int) -> list[str]:
    """Parse stored inbound emails (one, or a batch stored together) and put each on its ticket. Idempotent."""
    from .mail.inbound import inbound_process_many

    return [row.status for row in inbound_process_many(inbound_ids=inbound_ids)]


@shared_task
def process_waiting_inbound_task() -> int:
    """Beat: process inbound emails that were stored but never processed (broker or worker was down)."""
    from .mail.inbound import inbound_process_many, waiting_inbound_ids

    ids = waiting_inbound_ids()
    inbound_process_many(inbound_ids=ids)
    return len(ids)


@shared_task(autoretry_for=(SMTPException, OSError, DatabaseError), retry_backoff=True, retry_backoff_max=900,
             max_retries=10)  # fmt: skip
def send_reply_task(message_id: int) -> bool:
    """Email an agent's public reply. Idempotent: a reply already sent is not sent again."""
    from .mail.outbound import reply_send

    return reply_send(message_id=message_id)


@shared_task
def fetch_mailboxes_task() -> dict:
    """Beat: fetch new mail from every mailbox with an IMAP server. Each message is stored, then processed."""
    from .mail.imap import fetch_all_mailboxes

    return {str(key): value for key, value in fetch_all_mailboxes().items()}


@shared_task(autoretry_for=(SMTPException, OSError, DatabaseError), retry_backoff=True, retry_backoff_max=900,
             max_retries=8)  # fmt: skip
def send_surveys_task(ticket_id: int) -> int:
    """A ticket was solved: ask its customer the queue's survey questions. Idempotent."""
    from .surveys.services import surveys_send

    return len(surveys_send(ticket_id=ticket_id))


@shared_task(autoretry_for=(DatabaseError,), retry_backoff=True, retry_backoff_max=60, max_retries=3)
def sla_sweep_task() -> tuple[int, int]:
    """Every minute (beat): warn about SLA targets soon due and record breaches, each exactly once."""
    from .sla.services import sla_sweep

    return sla_sweep()


@shared_task(autoretry_for=(DatabaseError,), retry_backoff=True, retry_backoff_max=60, max_retries=5)
def route_tickets_task(*ticket_ids: int) -> int:
    """Assign new tickets by their team's strategy (once each, whatever retries or duplicates)."""
    from .routing import tickets_route

    return tickets_route(ticket_ids)


@shared_task
def send_waiting_email_task() -> tuple[int, int]:
    """Every minute (beat): send the acknowledgements, replies and rules' emails whose task was lost."""
    from .mail.outbound import outbound_sweep

    return outbound_sweep()


@shared_task
def route_waiting_tickets_task() -> int:
    """Every minute (beat): route tickets whose routing task was lost."""
    from .routing import route_waiting_tickets

    return route_waiting_tickets()


@shared_task(autoretry_for=(SMTPException, OSError, DatabaseError), retry_backoff=True, retry_backoff_max=900,
             max_retries=8)  # fmt: skip
def send_reminder_task(ticket_id: int, automation_id: int) -> bool:
    from .mail.outbound import reminder_send

    return reminder_send(ticket_id=ticket_id)


@shared_task(autoretry_for=(SMTPException, OSError, DatabaseError), retry_backoff=True, retry_backoff_max=900,
             max_retries=8)  # fmt: skip
def send_template_email_task(message_id: int, template_id: int) -> bool:
    """Email a routing rule's message from an email template. Idempotent: sent at most once."""
    from .mail.outbound import template_email_send

    return template_email_send(message_id=message_id, template_id=template_id)


@shared_task
def automations_sweep_task() -> int:
    """Every five minutes (beat): fire the time-based automations that are due."""
    from .automations.services import automations_sweep

    return automations_sweep()


@shared_task(autoretry_for=(DatabaseError,), retry_backoff=True, retry_backoff_max=60, max_retries=5)
def run_rules_task(ticket_id: int, event: str) -> list[str]:
    """The routing rules for a customer message on an existing ticket (new tickets: route_tickets_task)."""
    from .models import Ticket
    from .rules.engine import rules_run

    ticket = Ticket.objects.filter(pk=ticket_id).first()
    return rules_run(ticket, event=event) if ticket is not None else []
