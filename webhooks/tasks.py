"""The webhook tasks: each takes ids (or nothing), re-reads the database and calls one service, so a task
run twice or retried does nothing twice. Failed HTTP attempts are not task retries: the delivery's
``next_attempt_at`` holds the schedule and ``webhooks_queue_due_task`` (beat) queues what is due."""

from smtplib import SMTPException

from celery import shared_task
from django.db import DatabaseError

from . import services


@shared_task(autoretry_for=(DatabaseError,), retry_backoff=True, retry_backoff_max=60, max_retries=5)
def webhooks_dispatch_task() -> int:
    """Beat (every few seconds) and on commit of a ticket change: new ticket events and survey answers
    become deliveries."""
    return services.webhooks_dispatch()


@shared_task(autoretry_for=(DatabaseError,), retry_backoff=True, retry_backoff_max=300, max_retries=5)
def webhook_deliver_task(delivery_id: int) -> str | None:
    """One attempt of one delivery, if it is due; returns its status afterwards (None: nothing to do)."""
    delivery = services.webhook_delivery_attempt(delivery_id=delivery_id)
    return None if delivery is None else delivery.status


@shared_task
def webhooks_queue_due_task() -> int:
    """Beat: queue the deliveries whose next attempt is due (retries, and those whose task was lost)."""
    return services.webhook_deliveries_queue_due()


@shared_task(autoretry_for=(SMTPException, OSError, DatabaseError), retry_backoff=True, retry_backoff_max=900,
             max_retries=8)  # fmt: skip
def webhook_disabled_notify_task(subscription_id: int) -> int:
    """Email the owners and admins that a webhook was disabled because it kept failing (once)."""
    return services.webhook_subscription_tell_admins(subscription_id=subscription_id)


@shared_task
def webhooks_purge_task() -> int:
    """Beat: drop events and their delivery log older than WEBHOOK_LOG_DAYS."""
    return services.webhook_events_purge()
