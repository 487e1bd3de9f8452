from celery import shared_task
from django.db import DatabaseError


@shared_task(autoretry_for=(DatabaseError,), retry_backoff=True, retry_backoff_max=60, max_retries=5)
def refresh_facts_task(*ticket_ids: int) -> int:
    """Compute these tickets' report facts again now (only those still marked stale). Idempotent."""
    from .services import facts_refresh_stale

    return facts_refresh_stale(ticket_ids=ticket_ids)


@shared_task
def refresh_stale_facts_task() -> int:
    """Every 30 seconds (beat): refresh the facts of the tickets the services marked stale."""
    from .services import facts_refresh_stale

    return facts_refresh_stale()
