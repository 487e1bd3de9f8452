"""The client's IP address, also behind a reverse proxy (used by sign-in throttling)."""

from django.conf import settings


def client_ip(request) -> str:
    """REMOTE_ADDR, or with TRUSTED_PROXY_COUNT = n > 0, the address the outermost of our n proxies saw.

    Only the last n entries of X-Forwarded-For were written by our own proxies; anything before
    them came from the client and may be forged, so it is never used.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    count = settings.TRUSTED_PROXY_COUNT
    if count <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if len(forwarded) >= count:
        return forwarded[-count]
    return remote
