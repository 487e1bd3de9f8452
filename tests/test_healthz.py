import time

import pytest
from django.core.cache import cache
from django.db import OperationalError
from django.urls import reverse

from helpdesk.tasks import BEAT_HEARTBEAT_KEY, beat_heartbeat_task

from .live_services import wait_for


@pytest.fixture
def fresh_beat():
    cache.set(BEAT_HEARTBEAT_KEY, time.time(), timeout=None)
    yield
    cache.delete(BEAT_HEARTBEAT_KEY)


def test_healthy(client, db, fresh_beat):
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["down"] == []
    assert set(body["checks"]) == {"database", "redis", "celery_beat"}
    assert response["Cache-Control"].startswith("max-age=0")


def test_stale_or_missing_beat_is_503_naming_beat(client, db, settings):
    cache.delete(BEAT_HEARTBEAT_KEY)
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    assert response.json()["down"] == ["celery_beat"]
    cache.set(BEAT_HEARTBEAT_KEY, time.time() - settings.BEAT_HEARTBEAT_MAX_AGE - 5, timeout=None)
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    assert response.json()["checks"]["celery_beat"]["age_seconds"] > settings.BEAT_HEARTBEAT_MAX_AGE


def test_redis_down_is_503_naming_redis(client, db, settings):
    settings.CACHES = {"default": {"BACKEND": "helpdesk.redis_cache.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}}
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    assert response.json()["down"] == ["redis", "celery_beat"]
    assert response.json()["checks"]["database"]["ok"] is True


def test_database_down_is_503_naming_database(client, db, fresh_beat, monkeypatch):
    from django.db import connection

    def broken_cursor(*args, **kwargs):
        raise OperationalError("connection refused")

    with monkeypatch.context() as patch:
        patch.setattr(connection, "cursor", broken_cursor)
        response = client.get(reverse("healthz"))
    assert response.status_code == 503
    assert response.json()["down"] == ["database"]
    assert response.json()["checks"]["database"]["error"] == "OperationalError"


def test_only_get_is_allowed(client, db):
    assert client.post(reverse("healthz")).status_code == 405


def test_beat_is_scheduled_to_tick_within_the_allowed_age(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["beat-heartbeat"]
    assert entry["task"] == beat_heartbeat_task.name
    assert entry["schedule"] < settings.BEAT_HEARTBEAT_MAX_AGE


def test_heartbeat_task_run_by_the_worker_makes_beat_healthy(celery_worker, client):
    cache.delete(BEAT_HEARTBEAT_KEY)
    beat_heartbeat_task.delay()
    wait_for(lambda: cache.get(BEAT_HEARTBEAT_KEY))
    assert client.get(reverse("healthz")).status_code == 200


def test_web_scope_ignores_beat_for_load_balancers(client, db):
    cache.delete(BEAT_HEARTBEAT_KEY)
    response = client.get(reverse("healthz"), {"scope": "web"})
    assert response.status_code == 200
    assert set(response.json()["checks"]) == {"database", "redis"}
