"""One error body for every API error:

    {"error": {"code": "invalid", "message": "…", "fields": {"subject": ["…"]}}}

``code`` is stable and meant for programs, ``message`` for people (in the request's language), ``fields`` the
problems per input field (empty when there are none). The errors services raise (``helpdesk.errors``)
become 400 (``ValidationError``) or 409 (``InvalidTransition``) with their reason, never a 500.
"""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import exceptions, status
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler as drf_exception_handler

from helpdesk.errors import InvalidTransition
from helpdesk.errors import ValidationError as DomainValidationError


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = gettext_lazy("The request conflicts with the current state of the resource.")
    default_code = "conflict"


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = gettext_lazy("The resource changed since you read it (If-Match does not match its ETag).")
    default_code = "precondition_failed"


class IdempotencyKeyReused(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = gettext_lazy("This Idempotency-Key was used before with a different request.")
    default_code = "idempotency_key_reused"


def _flatten(detail, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail as {"field": [...], "items.0.name": [...]}."""
    fields: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for name, value in detail.items():
            fields |= _flatten(value, f"{prefix}.{name}" if prefix else str(name))
    elif isinstance(detail, list) and any(isinstance(item, dict | list) for item in detail):
        for index, value in enumerate(detail):
            fields |= _flatten(value, f"{prefix}.{index}" if prefix else str(index))
    elif isinstance(detail, list):
        fields[prefix] = [str(item) for item in detail if str(item)]
    else:
        fields[prefix] = [str(detail)]
    return {name: messages for name, messages in fields.items() if messages}


def _as_api_exception(exc):
    if isinstance(exc, InvalidTransition):
        return Conflict(" ".join(exc.messages), code="invalid_transition")
    if isinstance(exc, DomainValidationError):
        return exceptions.ValidationError(as_serializer_error(exc))
    if isinstance(exc, Http404):
        return exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied()
    return exc


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def exception_handler(exc, context):
    exc = _as_api_exception(exc)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a bug: Django's 500
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        general = fields.pop("non_field_errors", []) + fields.pop("", [])
        message = " ".join(general) or _("Please correct the fields marked below.")
        response.data = error_body("invalid", message, fields)
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        code = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
        if isinstance(detail, list | dict):  # an APIException raised with several messages
            detail = " ".join(message for messages in _flatten(detail).values() for message in messages)
        response.data = error_body(str(code), str(detail))
    return response


def not_found_view(request, *args, **kwargs):
    """Any other URL under /api/: the same error body as every API error (not the HTML 404 page)."""
    return JsonResponse(error_body("not_found", _("There is nothing at this address.")), status=404)
