"""The signature of a delivery: HMAC-SHA256 with the subscription's secret over "<timestamp>.<body>",
sent as ``X-Helpdesk-Signature: t=<unix time>,v1=<hex digest>``. Receivers check it as in docs/api.md."""

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Helpdesk-Signature"
DEFAULT_TOLERANCE = 300  # seconds a receiver should accept between the timestamp and its clock


def signature(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def signature_verify(secret: str, body: bytes, header: str, *, tolerance: int = DEFAULT_TOLERANCE,
                     now: float | None = None) -> bool:  # fmt: skip
    """Whether ``header`` signs ``body`` with ``secret`` and its timestamp is within ``tolerance`` seconds
    of ``now``: what a receiver does (the Python example in docs/api.md is this function)."""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), parts.get("v1", ""))
