"""Rate limits per token (per user for the browser's session): ``API_RATE_LIMIT`` requests in
``API_RATE_LIMIT_SECONDS``, counted in Redis by ``helpdesk.ratelimit.allow`` (which lets requests through
when Redis is down). Over the limit: 429 with ``Retry-After``, the seconds left in the window."""

from django.conf import settings
from django.core.cache import cache
from redis.exceptions import RedisError
from rest_framework.throttling import BaseThrottle

from helpdesk.client_ip import client_ip
from helpdesk.ratelimit import allow

from .models import ApiToken


def _seconds_left(key: str, window: int) -> int:
    try:
        ttl = cache._cache.get_client(write=False).ttl(cache.make_key(f"ratelimit:{key}"))
    except (RedisError, AttributeError):
        return window
    return ttl if isinstance(ttl, int) and ttl > 0 else window


class TokenRateThrottle(BaseThrottle):
    def _key(self, request) -> str:
        if isinstance(request.auth, ApiToken):
            return f"api:token:{request.auth.pk}"
        if request.user and request.user.is_authenticated:
            return f"api:user:{request.user.pk}"
        return f"api:ip:{client_ip(request)}"

    def allow_request(self, request, view):
        key, window = self._key(request), settings.API_RATE_LIMIT_SECONDS
        if allow(key, limit=settings.API_RATE_LIMIT, seconds=window):
            return True
        self._wait = _seconds_left(key, window)
        return False

    def wait(self):
        return getattr(self, "_wait", settings.API_RATE_LIMIT_SECONDS)
