from celery import shared_task

from . import services


@shared_task
def idempotency_keys_purge_task() -> int:
    """Drop the responses kept for ``Idempotency-Key`` once they are older than a day."""
    return services.idempotency_keys_purge()
