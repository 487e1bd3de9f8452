"""GET /healthz: the state of the database, Redis and Celery beat, for load balancers and humans."""

import time

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .tasks import BEAT_HEARTBEAT_KEY


def _check_database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return {"ok": True}
    except Exception as error:  # any failure means "down"; the reason is reported, not raised
        return {"ok": False, "error": error.__class__.__name__}


def _check_redis() -> dict:
    try:
        client = cache._cache.get_client(write=True)
        client.ping()
        return {"ok": True}
    except Exception as error:
        return {"ok": False, "error": error.__class__.__name__}


def _check_beat(redis_ok: bool) -> dict:
    if not redis_ok:
        return {"ok": False, "error": "redis unavailable"}
    try:
        last = cache.get(BEAT_HEARTBEAT_KEY)
    except Exception as error:
        return {"ok": False, "error": error.__class__.__name__}
    if last is None:
        return {"ok": False, "error": "no beat tick recorded yet", "last_tick": None}
    age = time.time() - float(last)
    return {
        "ok": age <= settings.BEAT_HEARTBEAT_MAX_AGE,
        "last_tick": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(last))),
        "age_seconds": round(age, 1),
    }


@never_cache
@require_GET
def healthz(request):
    """All parts by default; ``?scope=web`` checks only what serving pages needs (for load balancers,
    which should not take every web container out because Celery beat is down)."""
    database = _check_database()
    redis = _check_redis()
    checks = {"database": database, "redis": redis}
    if request.GET.get("scope") != "web":
        checks["celery_beat"] = _check_beat(redis["ok"])
    down = [name for name, check in checks.items() if not check["ok"]]
    body = {"status": "ok" if not down else "down", "down": down, "checks": checks}
    return JsonResponse(body, status=200 if not down else 503)
