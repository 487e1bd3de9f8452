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
def send_acknowledgement_task(ticket_id: int) -> bool:
    """Tell the customer their request arrived. Idempotent: the service sends at most once."""
    return services.ticket_send_acknowledgement(ticket_id=ticket_id)


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
