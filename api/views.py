"""The tickets API: thin adapters that parse input, check access through the same selectors as the agent
screens (``tickets.selectors.access_ticket``: a ticket the agent may not see is a 404) and call one
service. Permissions, errors, pagination and rate limits come from the REST_FRAMEWORK settings."""

from django.db import transaction
from django.db.models import FloatField
from django.db.models.functions import Cast
from django.http import FileResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from customers.services import customer_get_or_create
from tickets import selectors, services
from tickets.forms import SORTS, VIEWS, TicketListForm
from tickets.models import Message, Ticket

from . import serializers as s
from .etags import check_if_match, ticket_etag
from .idempotency import HEADER as IDEMPOTENCY_HEADER
from .idempotency import idempotent
from .services import ticket_apply_changes

ID_REGEX = r"[0-9]{1,18}"
IDEMPOTENCY_PARAMETER = OpenApiParameter(
    IDEMPOTENCY_HEADER, OpenApiTypes.STR, OpenApiParameter.HEADER, required=False,
    description="Any unique string (a UUID): a retry with the same key and body replays the first response "
                "instead of doing the work again. Kept for 24 hours.",
)  # fmt: skip
IF_MATCH_PARAMETER = OpenApiParameter(
    "If-Match", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False,
    description="The ETag of the ticket as you read it: the update is refused with 412 if it changed since.",
)  # fmt: skip
ETAG_HEADER = OpenApiParameter("ETag", OpenApiTypes.STR, OpenApiParameter.HEADER, response=[200, 201],
                               description="The ticket's version, for If-Match.")  # fmt: skip
LOCATION_HEADER = OpenApiParameter("Location", OpenApiTypes.URI, OpenApiParameter.HEADER, response=[201],
                                   description="The new ticket's address.")  # fmt: skip


def _multi(name: str, choices, description: str) -> OpenApiParameter:
    return OpenApiParameter(name, OpenApiTypes.STR, many=True, explode=True, enum=[value for value, _l in choices],
                            description=description)  # fmt: skip


LIST_PARAMETERS = [
    OpenApiParameter("view", OpenApiTypes.STR, enum=[key for key, _label in VIEWS],
                     description="One of the agent list's views (default `all`)."),
    OpenApiParameter("queue", OpenApiTypes.INT, description="Only this queue (one of yours)."),
    OpenApiParameter("q", OpenApiTypes.STR, description="Full-text search (subject and messages, web search "
                     "syntax); results are ranked by relevance, the most recently updated 500 matches at most."),
    OpenApiParameter("sort", OpenApiTypes.STR, enum=[key for key, _label in SORTS],
                     description="Order of the list without `q` (default `updated`)."),
    _multi("status", Ticket.Status.choices, "Any of these statuses."),
    _multi("priority", Ticket.Priority.choices, "Any of these priorities."),
    _multi("channel", Ticket.Channel.choices, "Any of these channels."),
    OpenApiParameter("assignee", OpenApiTypes.STR, pattern=r"^(me|none|\d{1,18})$",
                     description="`me`, `none` (unassigned) or an agent's id."),
    OpenApiParameter("tag", OpenApiTypes.STR, description="Tickets with this tag."),
    OpenApiParameter("created_from", OpenApiTypes.DATE, description="Created on or after this day."),
    OpenApiParameter("created_to", OpenApiTypes.DATE, description="Created on or before this day."),
]  # fmt: skip


def _message_content(data) -> dict:
    body_format = data["body_format"]
    return {"body": data["body"], "body_is_html": body_format == "html", "body_is_markdown": body_format == "markdown",
            "attachments": data.get("attachments", [])}  # fmt: skip


@extend_schema_view(
    list=extend_schema(summary="List tickets", parameters=LIST_PARAMETERS,
                       description="The tickets you can see, with the agent list's views, filters, sorts and "
                                   "search; cursor-paginated."),
    retrieve=extend_schema(summary="Get a ticket with its conversation", parameters=[ETAG_HEADER],
                           responses={200: s.TicketDetailSerializer}),
)  # fmt: skip
class TicketViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = s.TicketSerializer
    lookup_value_regex = ID_REGEX
    parser_classes = [JSONParser, MultiPartParser, FormParser]
    http_method_names = ["get", "post", "patch", "head", "options"]
    queryset = Ticket.objects.none()  # for the schema; every read goes through the selectors

    def get_queryset(self):
        user = self.request.user
        form = TicketListForm(self.request.query_params)
        if not form.is_valid():
            raise ValidationError(form.errors)
        params = form.params()
        if params.queue_id and not selectors.queues_visible_to(user).filter(pk=params.queue_id).exists():
            raise ValidationError({"queue": [_("Choose one of your team's queues.")]})
        if params.q:
            tickets = selectors.ticket_search(user=user, query=params.q, queue_id=params.queue_id,
                                              filters=params.filters)  # fmt: skip
            # The rank is a Postgres real, which does not survive a trip through a JSON cursor exactly; as a
            # double it does (the same order).
            tickets = tickets.annotate(relevance=Cast("rank", FloatField())).order_by("-relevance", "-updated_at",
                                                                                      "-id")  # fmt: skip
        else:
            view = self.request.query_params.get("view") or "all"
            tickets = selectors.ticket_list(user=user, view=view, queue_id=params.queue_id, filters=params.filters,
                                            sort=params.sort)  # fmt: skip
        return tickets.prefetch_related("tags")

    def _ticket(self):
        return selectors.access_ticket(self.request.user, self.kwargs["pk"])

    def _detail(self, ticket: Ticket, *, status_code=status.HTTP_200_OK, headers=None, fresh=False) -> Response:
        if not fresh:  # after a change: read it again, with what the answer shows
            ticket = selectors.access_ticket(self.request.user, ticket.pk)
        ticket.conversation = list(selectors.ticket_messages(ticket=ticket))
        data = s.TicketDetailSerializer(ticket, context=self.get_serializer_context()).data
        return Response(data, status=status_code, headers={"ETag": ticket_etag(ticket), **(headers or {})})

    def retrieve(self, request, pk=None):
        return self._detail(self._ticket(), fresh=True)

    @extend_schema(summary="Open a ticket", request=s.TicketCreateSerializer,
                   parameters=[IDEMPOTENCY_PARAMETER, ETAG_HEADER, LOCATION_HEADER], responses={201: s.TicketDetailSerializer})  # fmt: skip
    @idempotent
    def create(self, request):
        serializer = s.TicketCreateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        with transaction.atomic():  # a ticket that cannot be created leaves no new customer behind
            customer = data.get("customer") or customer_get_or_create(email=data["customer_email"],
                                                                      name=data.get("customer_name", ""))  # fmt: skip
            ticket = services.ticket_create(
                customer=customer, subject=data["subject"], body=data["body"], channel=Ticket.Channel.API,
                queue=data["queue"], priority=data["priority"], body_is_html=data["body_format"] == "html",
                created_by=request.user if data["opened_by_agent"] else None, assignee=data.get("assignee"),
                tags=data.get("tags", ()),
            )  # fmt: skip
        location = request.build_absolute_uri(reverse("api:ticket-detail", args=[ticket.pk]))
        return self._detail(ticket, status_code=status.HTTP_201_CREATED, headers={"Location": location})

    @extend_schema(summary="Change a ticket's fields", request=s.TicketUpdateSerializer,
                   parameters=[IF_MATCH_PARAMETER, ETAG_HEADER], responses={200: s.TicketDetailSerializer})  # fmt: skip
    def partial_update(self, request, pk=None):
        ticket = self._ticket()
        serializer = s.TicketUpdateSerializer(data=request.data, context={**self.get_serializer_context(),
                                                                          "ticket": ticket})  # fmt: skip
        serializer.is_valid(raise_exception=True)
        ticket = ticket_apply_changes(ticket=ticket, actor=request.user, changes=serializer.validated_data,
                                      check=lambda locked: check_if_match(request, ticket_etag(locked)))  # fmt: skip
        return self._detail(ticket)

    def _add_message(self, request, serializer_class, add):
        ticket = self._ticket()
        serializer = serializer_class(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        message = add(ticket, serializer.validated_data)
        message = selectors.ticket_messages(ticket=ticket).get(pk=message.pk)
        data = s.MessageSerializer(message, context=self.get_serializer_context()).data
        return Response(data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Reply to the customer", request={"application/json": s.ReplyCreateSerializer,
                                                               "multipart/form-data": s.ReplyCreateSerializer},
                   parameters=[IDEMPOTENCY_PARAMETER], responses={201: s.MessageSerializer})  # fmt: skip
    @action(detail=True, methods=["post"])
    @idempotent
    def reply(self, request, pk=None):
        return self._add_message(request, s.ReplyCreateSerializer, lambda ticket, data: services.ticket_reply(
            ticket=ticket, author=request.user, status=data.get("status"), **_message_content(data)))  # fmt: skip

    @extend_schema(summary="Add an internal note", request={"application/json": s.MessageCreateSerializer,
                                                              "multipart/form-data": s.MessageCreateSerializer},
                   parameters=[IDEMPOTENCY_PARAMETER], responses={201: s.MessageSerializer})  # fmt: skip
    @action(detail=True, methods=["post"])
    @idempotent
    def notes(self, request, pk=None):
        return self._add_message(request, s.MessageCreateSerializer, lambda ticket, data: services.ticket_add_note(
            ticket=ticket, author=request.user, **_message_content(data)))  # fmt: skip

    @extend_schema(summary="Merge this ticket into another", request=s.MergeSerializer,
                   parameters=[IDEMPOTENCY_PARAMETER], responses={200: s.TicketDetailSerializer})  # fmt: skip
    @action(detail=True, methods=["post"])
    @idempotent
    def merge(self, request, pk=None):
        source = self._ticket()
        serializer = s.MergeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        target = selectors.tickets_visible_to(request.user).filter(pk=serializer.validated_data["into"]).first()
        if target is None:
            raise ValidationError({"into": [_("No such ticket.")]})
        target = services.ticket_merge(source=source, target=target, actor=request.user)
        return self._detail(target)

    @extend_schema(summary="The conversation of a ticket", responses={200: s.MessageSerializer(many=True)},
                   parameters=[_multi("kind", Message.Kind.choices, "Only messages of these kinds (`note`: the "
                                      "internal notes).")])  # fmt: skip
    @action(detail=True, methods=["get"], url_path="messages")
    def messages(self, request, pk=None):
        ticket = self._ticket()
        kinds = request.query_params.getlist("kind")
        if any(kind not in Message.Kind.values for kind in kinds):
            raise ValidationError({"kind": [_("Choose among: %(kinds)s.") % {"kinds": ", ".join(Message.Kind.values)}]})
        messages = selectors.ticket_messages(ticket=ticket)
        if kinds:
            messages = messages.filter(kind__in=kinds)
        page = self.paginate_queryset(messages.order_by("created_at", "id"))
        data = s.MessageSerializer(page, many=True, context=self.get_serializer_context()).data
        return self.get_paginated_response(data)


class DownloadRenderer(JSONRenderer):
    """Lets a download be asked for with ``Accept: application/octet-stream`` (or any type); the file itself
    is a ``FileResponse`` and not rendered, errors are JSON as everywhere."""

    media_type = "*/*"
    format = "download"


@extend_schema_view(retrieve=extend_schema(summary="An attachment's details"))
class AttachmentViewSet(viewsets.GenericViewSet):
    """Attachments of the messages of tickets you can see. Upload them with a reply or note
    (multipart/form-data, field ``attachments``)."""

    serializer_class = s.AttachmentSerializer
    lookup_value_regex = ID_REGEX
    queryset = Ticket.objects.none()

    def retrieve(self, request, pk=None):
        attachment = selectors.access_attachment(request.user, pk)
        return Response(self.get_serializer(attachment).data)

    @extend_schema(
        summary="Download an attachment",
        responses={(200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY)},
    )
    @action(detail=True, methods=["get"], renderer_classes=[JSONRenderer, DownloadRenderer])
    def download(self, request, pk=None):
        attachment = selectors.access_attachment(request.user, pk)
        response = FileResponse(attachment.file.open("rb"), as_attachment=True, filename=attachment.filename,
                                content_type=attachment.content_type)  # fmt: skip
        response["X-Content-Type-Options"] = "nosniff"
        return response
