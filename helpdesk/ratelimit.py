"""Fixed-window rate limits kept in the cache (Redis): for anything the public can trigger."""

from django.core.cache import cache


def allow(key: str, *, limit: int, seconds: int) -> bool:
    """Count one more attempt under ``key``; False once there were ``limit`` in the current window of
    ``seconds`` (the window starts with the first attempt)."""
    name = f"ratelimit:{key}"
    if cache.add(name, 1, timeout=seconds):
        return True
    try:
        return cache.incr(name) <= limit
    except ValueError:  # expired between add and incr: a new window
        cache.add(name, 1, timeout=seconds)
        return True
