"""What a delivery's body holds. The envelope is ``{"id", "event", "created_at", "data"}``; ``data`` holds the
ticket, message and survey answer shaped by the REST API's own serializers (``api.serializers``), so an
integration reads the same objects from both. docs/api.md, "Webhooks", shows each event's ``data``."""

import json
from collections.abc import Iterable

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from rest_framework import serializers

from tickets.models import Message, Ticket
from tickets.surveys.models import Survey


class _Site:
    """Stands in for the request the API's serializers make absolute URLs with (attachment downloads)."""

    def build_absolute_uri(self, path: str) -> str:
        return settings.SITE_URL.rstrip("/") + path


def timestamp(value) -> str:
    """A time as the API writes it (ISO 8601, UTC as "Z")."""
    return serializers.DateTimeField().to_representation(value)


def body(*, uid, name: str, occurred_at, data: dict) -> str:
    envelope = {"id": str(uid), "event": name, "created_at": timestamp(occurred_at), "data": data}
    return json.dumps(envelope, cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":"))


def tickets_data(ids: Iterable[int]) -> dict[int, dict]:
    """Ticket id -> the ticket as ``GET /api/v1/tickets/<id>/`` lists it (without the conversation); two queries."""
    from api.serializers import TicketSerializer

    tickets = (Ticket.objects.filter(pk__in=set(ids)).select_related("queue", "customer", "assignee")
               .prefetch_related("tags"))  # fmt: skip
    return {ticket.pk: dict(TicketSerializer(ticket).data) for ticket in tickets}


def messages_data(ids: Iterable[int]) -> dict[int, dict]:
    """Message id -> the message as the API's conversation shows it; two queries."""
    from api.serializers import MessageSerializer

    messages = (Message.objects.filter(pk__in=set(ids)).select_related("author_user", "author_customer")
                .prefetch_related("attachments"))  # fmt: skip
    context = {"request": _Site()}
    return {message.pk: dict(MessageSerializer(message, context=context).data) for message in messages}


def survey_data(survey: Survey) -> dict:
    """The answer as ``GET /api/v1/survey-answers/`` lists it."""
    from api.resources import SurveyAnswerSerializer

    return dict(SurveyAnswerSerializer(survey).data)


def actor_data(user=None, customer=None) -> dict | None:
    """Who did it, as the API's message ``author``: an agent, a customer, or null (the help desk itself)."""
    if user is not None:
        return {"type": "agent", "id": user.pk, "name": user.get_full_name()}
    if customer is not None:
        return {"type": "customer", "id": customer.pk, "name": customer.name or customer.email}
    return None
