"""Fixed-window rate limits kept in the cache (Redis): for anything the public can trigger."""

import logging

from django.core.cache import cache
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)


def allow(key: str, *, limit: int, seconds: int) -> bool:
    """Count one more attempt under ``key``; False once there were ``limit`` in the current window of
    ``seconds`` (the window starts with the first attempt). With Redis unreachable the attempt is allowed
    (and logged): a customer's request must not fail because the counter cannot be kept."""
    name = f"ratelimit:{key}"
    try:
        if cache.add(name, 1, timeout=seconds):
            return True
        try:
            return cache.incr(name) <= limit
        except ValueError:  # expired between add and incr: a new window
            cache.add(name, 1, timeout=seconds)
            return True
    except RedisError:
        logger.warning("Rate limit %s not checked: the cache is unreachable", key.split(":", 1)[0])
        return True
