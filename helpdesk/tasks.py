import time

from celery import shared_task
from django.core.cache import cache

BEAT_HEARTBEAT_KEY = "celery-beat-heartbeat"


@shared_task
def beat_heartbeat_task() -> float:
    """Scheduled by Celery beat and run by a worker: /healthz reads the time it left."""
    now = time.time()
    cache.set(BEAT_HEARTBEAT_KEY, now, timeout=None)
    return now
