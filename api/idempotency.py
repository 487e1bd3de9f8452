"""``Idempotency-Key`` on POST: a retried request (the network dropped the answer) gets the first response
again instead of doing the work twice, e.g. creating a second ticket.

The key, the user, a hash of the request and the response are kept for ``IDEMPOTENCY_KEY_HOURS`` (then a
beat task forgets them). The same key with a different request is refused with 422. The key's row is
written in the same transaction as the work, so a concurrent retry waits on the unique constraint until the
first request commits and then replays its response; a request that failed keeps nothing and can be retried.
"""

import functools
import hashlib
import json
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from .exceptions import Conflict, IdempotencyKeyReused
from .models import IdempotencyKey

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEPT_HEADERS = ("Location", "ETag")


def _file_digest(upload) -> list:
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return ["file", upload.name, upload.size, digest.hexdigest()]


def _plain(value):
    return _file_digest(value) if hasattr(value, "chunks") else value


def request_hash(request) -> str:
    """SHA-256 of the method, path, query and body as parsed (JSON, or form fields and files' contents)."""
    data = request.data
    if hasattr(data, "lists"):  # a QueryDict: form fields and files
        body = sorted([key, [_plain(value) for value in values]] for key, values in data.lists())
    else:
        body = data
    text = json.dumps([request.method, request.path, sorted(request.query_params.lists()), body],
                      sort_keys=True, cls=JSONEncoder)  # fmt: skip
    return hashlib.sha256(text.encode()).hexdigest()


def _replay(record: IdempotencyKey) -> Response:
    return Response(record.response_body, status=record.status_code,
                    headers={**record.response_headers, REPLAYED_HEADER: "true"})  # fmt: skip


def _claim(user, key: str, digest: str) -> IdempotencyKey | Response:
    """The new row for this key, or the response to replay."""
    try:
        with transaction.atomic():
            return IdempotencyKey.objects.create(user=user, key=key, request_hash=digest)
    except IntegrityError:
        pass
    record = IdempotencyKey.objects.select_for_update().get(user=user, key=key)
    if record.created_at < timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_HOURS):
        record.delete()  # an old key used again: a new request
        return IdempotencyKey.objects.create(user=user, key=key, request_hash=digest)
    if record.request_hash != digest:
        raise IdempotencyKeyReused()
    if record.status_code is None:  # pragma: no cover - only while the first request is still running
        raise Conflict(_("A request with this Idempotency-Key is still being processed."))
    return _replay(record)


def idempotent(view_method):
    """Make a POST action idempotent for clients that send ``Idempotency-Key`` (optional)."""

    @functools.wraps(view_method)
    def wrapper(self, request, *args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return view_method(self, request, *args, **kwargs)
        key = key.strip()
        if not key or len(key) > 255:
            raise ValidationError({HEADER: [_("Send 1 to 255 characters, e.g. a random UUID.")]})
        digest = request_hash(request)
        with transaction.atomic():
            claimed = _claim(request.user, key, digest)
            if isinstance(claimed, Response):
                return claimed
            response = view_method(self, request, *args, **kwargs)
            claimed.status_code = response.status_code
            claimed.response_body = json.loads(json.dumps(response.data, cls=JSONEncoder))
            claimed.response_headers = {name: response[name] for name in KEPT_HEADERS if response.has_header(name)}
            claimed.save(update_fields=["status_code", "response_body", "response_headers"])
        return response

    return wrapper
