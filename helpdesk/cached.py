"""Small tables that every request of a kind reads and that rarely change (the portal form's topics, the
branding; on every new ticket: whether routing rules run on it, the teams that assign automatically, the SLA
policies), kept in the cache (Redis) for at most a minute and dropped there as soon as they change, so that a
change shows on the next request whatever process serves it. With Redis unreachable they are read from the
database, as without this cache."""

import contextlib
import logging
from collections.abc import Callable
from typing import TypeVar

from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# Bounds how long a change made without a model's save() or delete() (QuerySet.update, SQL) can stay unseen.
SECONDS = 60
KEYS: set[str] = set()
T = TypeVar("T")


def cached(key: str, load: Callable[[], T]) -> T:
    """The value under ``key``, or ``load()`` stored there. ``load`` must return something that pickles."""
    try:
        value = cache.get(key)
    except RedisError:
        log.warning("Cache unreachable: %s read from the database", key)
        return load()
    if value is None:
        value = load()
        with contextlib.suppress(RedisError):
            cache.set(key, value, SECONDS)
    return value


def forget(key: str) -> None:
    with contextlib.suppress(RedisError):
        cache.delete(key)


def forget_all() -> None:
    for key in KEYS:
        forget(key)


def _forget_now_and_after_commit(key: str) -> None:
    """At once, and again after the commit: a request that read the old rows in between may have stored them."""
    forget(key)
    transaction.on_commit(lambda: forget(key), robust=True)


def forget_on_change(model, key: str, *, unless_only: frozenset[str] = frozenset()) -> None:
    """Drop ``key`` whenever a ``model`` row is saved or deleted. ``unless_only``: fields whose saving
    alone (``save(update_fields=...)``) leaves the cached value as it is. For AppConfig.ready()."""

    def changed(update_fields=None, **kwargs) -> None:
        if update_fields and unless_only.issuperset(update_fields):
            return
        _forget_now_and_after_commit(key)

    KEYS.add(key)
    post_save.connect(changed, sender=model, weak=False, dispatch_uid=f"cached:{key}:save")
    post_delete.connect(changed, sender=model, weak=False, dispatch_uid=f"cached:{key}:delete")


def forget_on_relation_change(through, key: str) -> None:
    """Drop ``key`` whenever rows of a many-to-many relation (``through``) are added, removed or cleared."""

    def changed(action: str, **kwargs) -> None:
        if action.startswith("post_"):
            _forget_now_and_after_commit(key)

    KEYS.add(key)
    m2m_changed.connect(changed, sender=through, weak=False, dispatch_uid=f"cached:{key}:{through._meta.label}")
