"""The HTTP way in for inbound email: a mail provider's webhook posts the raw message here.

    POST /mail/inbound/?mailbox=support@example.com
    Authorization: Bearer <INBOUND_EMAIL_SECRET>       (or X-Helpdesk-Secret, or ?secret=)
    Content-Type: message/rfc822                        (the raw message as the body)
or a form with the raw message in a field or file named "message", "email" or "body-mime".
"""

import hmac

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .inbound import inbound_store
from .models import InboundEmail, Mailbox

FORM_FIELDS = ("message", "email", "body-mime")


def _error(status: int, reason: str) -> JsonResponse:
    return JsonResponse({"error": reason}, status=status)


def _secret_given(request) -> str:
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("X-Helpdesk-Secret", "") or request.GET.get("secret", "")


def _raw_message(request) -> bytes:
    if request.content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        for name in FORM_FIELDS:
            if name in request.FILES:
                return request.FILES[name].read()
            if request.POST.get(name):
                return request.POST[name].encode("utf-8", "surrogateescape")
        return b""
    # Read the stream, not request.body: that refuses bodies over DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB).
    return request.read(settings.INBOUND_EMAIL_MAX_BYTES + 1)


@csrf_exempt
@require_POST
def inbound_email_view(request):
    expected = settings.INBOUND_EMAIL_SECRET
    if not expected:
        return _error(404, "Inbound email over HTTP is off: set INBOUND_EMAIL_SECRET to turn it on.")
    if not hmac.compare_digest(_secret_given(request).encode(), expected.encode()):
        return _error(403, "Wrong or missing secret.")
    if int(request.headers.get("Content-Length") or 0) > settings.INBOUND_EMAIL_MAX_BYTES:
        return _error(413, f"The message is larger than {settings.INBOUND_EMAIL_MAX_BYTES} bytes.")
    mailbox = None
    if address := request.GET.get("mailbox"):
        mailbox = Mailbox.objects.filter(email_address__iexact=address).first()
        if mailbox is None:
            return _error(400, f"No mailbox with the address {address}.")
    raw = _raw_message(request)
    if len(raw) > settings.INBOUND_EMAIL_MAX_BYTES:
        return _error(413, f"The message is larger than {settings.INBOUND_EMAIL_MAX_BYTES} bytes.")
    if not raw.strip():
        return _error(400, f"No message: send it as the request body, or in a form field named {FORM_FIELDS[0]!r}.")
    row, created = inbound_store(raw=raw, source=InboundEmail.Source.HTTP, mailbox=mailbox)
    return JsonResponse({"id": row.pk, "duplicate": not created}, status=202 if created else 200)
