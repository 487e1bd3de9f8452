"""Who else is on a ticket right now: presence kept in Redis, expiring by itself.

Each open ticket page reports "viewing" every few seconds and "replying" while its composer is
being typed in. Entries older than ``FRESH_SECONDS`` no longer count, and the whole key expires
when nobody reports, so nothing needs cleaning up.
"""

import json
import time
from dataclasses import dataclass
from functools import cache as memoize

import redis
from django.conf import settings

FRESH_SECONDS = 25
KEY_TTL_SECONDS = 120


@memoize
def _client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)


def _key(ticket_id: int) -> str:
    return f"hd:presence:ticket:{ticket_id}"


@dataclass(frozen=True)
class Presence:
    user_id: int
    name: str
    replying: bool


def presence_touch(*, ticket_id: int, user, replying: bool = False, now: float | None = None) -> None:
    """Record that ``user`` has the ticket open (and is typing a reply, if ``replying``)."""
    now = time.time() if now is None else now
    key = _key(ticket_id)
    raw = _client().hget(key, user.pk)
    entry = json.loads(raw) if raw else {}
    entry.update(name=user.get_short_name(), seen=now)
    if replying:
        entry["typing"] = now
    pipe = _client().pipeline()
    pipe.hset(key, user.pk, json.dumps(entry))
    pipe.expire(key, KEY_TTL_SECONDS)
    pipe.execute()


def presence_others(*, ticket_id: int, user, now: float | None = None) -> list[Presence]:
    """The other people on the ticket in the last ``FRESH_SECONDS``, replying ones first."""
    now = time.time() if now is None else now
    others = []
    for user_id, raw in _client().hgetall(_key(ticket_id)).items():
        if int(user_id) == user.pk:
            continue
        entry = json.loads(raw)
        if now - entry.get("seen", 0) > FRESH_SECONDS:
            continue
        replying = now - entry.get("typing", 0) <= FRESH_SECONDS
        others.append(Presence(user_id=int(user_id), name=entry.get("name", "?"), replying=replying))
    return sorted(others, key=lambda p: (not p.replying, p.name))
