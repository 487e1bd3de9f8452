from smtplib import SMTPException

from celery import shared_task
from django.db import DatabaseError


@shared_task(autoretry_for=(DatabaseError,), retry_backoff=True, retry_backoff_max=60, max_retries=5)
def refresh_facts_task(*ticket_ids: int) -> int:
    """Compute these tickets' report facts again now (only those still marked stale). Idempotent."""
    from .services import facts_refresh_stale

    return facts_refresh_stale(ticket_ids=ticket_ids)


@shared_task
def refresh_stale_facts_task() -> int:
    """Every 30 seconds (beat): refresh the facts of the tickets the services marked stale; prune the facts'
    change feed."""
    from .services import fact_changes_prune, facts_refresh_stale

    refreshed = facts_refresh_stale()
    fact_changes_prune()
    return refreshed


@shared_task(autoretry_for=(SMTPException, OSError, DatabaseError), retry_backoff=True, retry_backoff_max=600,
             max_retries=8)  # fmt: skip
def send_weekly_summaries_task() -> int:
    """Monday morning (beat): last week's figures to the owners and admins. Idempotent: each recipient gets
    one email per week, however often this runs."""
    from .services import weekly_summaries_send

    return weekly_summaries_send()
