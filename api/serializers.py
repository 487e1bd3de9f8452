"""What the API reads and writes, as DRF serializers. Input serializers parse and check input and resolve
ids through the permission-checked selectors (so an id the user may not see is "not found"); output
serializers describe the rows. The work is done by the domain's services, called from ``api.views``."""

from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from customers.models import Customer
from customers.selectors import access_customer
from helpdesk.models import User
from helpdesk.tags import TAG_MAX_LENGTH
from tickets import selectors as ticket_selectors
from tickets.forms import AGENT_STATUSES
from tickets.models import Attachment, Message, Queue, Ticket

MAX_ID = 2**63 - 1  # a bigint: larger ids are "not found", never a database error
MAX_BODY = 100_000
MAX_TAGS = 50
# Choice sets with names of their own in the schema (SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]).
AGENT_STATUS_CHOICES = [(status.value, status.label) for status in AGENT_STATUSES]
TICKET_BODY_FORMATS = [("text", "text"), ("html", "html")]
MESSAGE_BODY_FORMATS = [("text", "text"), ("markdown", "markdown"), ("html", "html")]


def IdField(**kwargs):
    return serializers.IntegerField(min_value=1, max_value=MAX_ID, **kwargs)


# --- references to other rows ------------------------------------------------------------------


class UserRefSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="get_full_name", read_only=True)

    class Meta:
        model = User
        fields = ["id", "name", "email"]


class QueueRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Queue
        fields = ["id", "name"]


class CustomerRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Customer
        fields = ["id", "name", "email"]


# --- tickets -----------------------------------------------------------------------------------


class TicketSerializer(serializers.ModelSerializer):
    reference = serializers.CharField(read_only=True)
    queue = QueueRefSerializer(read_only=True)
    customer = CustomerRefSerializer(read_only=True)
    assignee = UserRefSerializer(read_only=True, allow_null=True)
    tags = serializers.SlugRelatedField(many=True, read_only=True, slug_field="name")
    merged_into = serializers.IntegerField(source="merged_into_id", read_only=True, allow_null=True)

    class Meta:
        model = Ticket
        fields = [
            "id", "reference", "subject", "status", "priority", "channel", "queue", "customer", "assignee", "tags",
            "message_count", "created_at", "updated_at", "first_response_at", "resolved_at", "closed_at",
            "sla_due_at", "merged_into",
        ]  # fmt: skip
        read_only_fields = fields

    def to_representation(self, ticket):
        """What DRF's field-by-field rendering gives (a test compares the two), written out: a list of 100
        tickets takes a few milliseconds here instead of about 25 through the generic machinery."""
        moment = self.fields["created_at"].to_representation  # the time zone and format of every date field
        queue, customer, assignee = ticket.queue, ticket.customer, ticket.assignee
        return {
            "id": ticket.pk,
            "reference": ticket.reference,
            "subject": ticket.subject,
            "status": str(ticket.status),
            "priority": str(ticket.priority),
            "channel": str(ticket.channel),
            "queue": {"id": queue.pk, "name": queue.name},
            "customer": {"id": customer.pk, "name": customer.name, "email": customer.email},
            "assignee": None
            if assignee is None
            else {"id": assignee.pk, "name": assignee.get_full_name(), "email": assignee.email},
            "tags": [tag.name for tag in ticket.tags.all()],
            "message_count": ticket.message_count,
            **{
                name: moment(value) if value else None
                for name, value in (
                    ("created_at", ticket.created_at),
                    ("updated_at", ticket.updated_at),
                    ("first_response_at", ticket.first_response_at),
                    ("resolved_at", ticket.resolved_at),
                    ("closed_at", ticket.closed_at),
                    ("sla_due_at", ticket.sla_due_at),
                )
            },
            "merged_into": ticket.merged_into_id,
        }


class AttachmentSerializer(serializers.ModelSerializer):
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = Attachment
        fields = ["id", "filename", "content_type", "size", "created_at", "download_url"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.URI)
    def get_download_url(self, attachment) -> str:
        path = reverse("api:attachment-download", args=[attachment.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class AuthorSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["agent", "customer"])
    id = serializers.IntegerField()
    name = serializers.CharField()


class MessageSerializer(serializers.ModelSerializer):
    author = serializers.SerializerMethodField()
    attachments = AttachmentSerializer(many=True, read_only=True)

    class Meta:
        model = Message
        fields = ["id", "kind", "channel", "author", "body_html", "body_text", "created_at", "delivery_status",
                  "attachments"]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(AuthorSerializer(allow_null=True))
    def get_author(self, message):
        """The agent or customer who wrote it; null for the help desk itself (system messages)."""
        if message.author_user_id is not None:
            user = message.author_user
            return {"type": "agent", "id": user.pk, "name": user.get_full_name()}
        if message.author_customer_id is not None:
            customer = message.author_customer
            return {"type": "customer", "id": customer.pk, "name": customer.name or customer.email}
        return None


class TicketDetailSerializer(TicketSerializer):
    messages = MessageSerializer(many=True, read_only=True, source="conversation")

    class Meta(TicketSerializer.Meta):
        fields = [*TicketSerializer.Meta.fields, "messages"]
        read_only_fields = fields

    def to_representation(self, ticket):
        return {**super().to_representation(ticket), "messages": self.fields["messages"].to_representation(
            ticket.conversation)}  # fmt: skip


def _tags(**kwargs):
    return serializers.ListField(child=serializers.CharField(max_length=TAG_MAX_LENGTH), max_length=MAX_TAGS,
                                 **kwargs)  # fmt: skip


def _queue_of(user, queue_id) -> Queue:
    queue = ticket_selectors.queues_visible_to(user).filter(pk=queue_id).first()
    if queue is None:
        raise serializers.ValidationError({"queue": [_("Choose one of your team's queues.")]})
    return queue


def _assignee_for(queue: Queue, user_id) -> User:
    assignee = ticket_selectors.assignable_agents(queue=queue).filter(pk=user_id).first()
    if assignee is None:
        raise serializers.ValidationError(
            {"assignee": [_("Choose an active agent of the queue's team (or an admin).")]}
        )
    return assignee


class TicketCreateSerializer(serializers.Serializer):
    """A new ticket for an existing customer (``customer``) or for an email address (``customer_email``,
    created as a customer if new). ``opened_by_agent``: you open it on the customer's behalf (a phone call):
    no acknowledgement is emailed and it has no first response time; by default the customer wrote it (a
    form of your website) and is acknowledged."""

    customer = IdField(required=False, help_text="An existing customer's id.")
    customer_email = serializers.EmailField(required=False, max_length=254)
    customer_name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    subject = serializers.CharField(max_length=255)
    body = serializers.CharField(max_length=MAX_BODY)
    body_format = serializers.ChoiceField(choices=TICKET_BODY_FORMATS, default="text")
    queue = IdField()
    priority = serializers.ChoiceField(choices=Ticket.Priority.choices, default=Ticket.Priority.NORMAL)
    assignee = IdField(required=False, allow_null=True)
    tags = _tags(required=False)
    opened_by_agent = serializers.BooleanField(default=False)

    def validate(self, attrs):
        user = self.context["request"].user
        if ("customer" in attrs) == ("customer_email" in attrs):
            raise serializers.ValidationError({"customer": [_("Give either customer or customer_email.")]})
        if "customer" in attrs:
            attrs["customer"] = access_customer(user, attrs["customer"])
            if attrs["customer"] is None:
                raise serializers.ValidationError({"customer": [_("No such customer.")]})
        attrs["queue"] = _queue_of(user, attrs["queue"])
        if attrs.get("assignee") is not None:
            attrs["assignee"] = _assignee_for(attrs["queue"], attrs["assignee"])
        return attrs


class TicketUpdateSerializer(serializers.Serializer):
    """The fields to change (any of them); ``tags`` is the complete new list; ``assignee`` null unassigns."""

    status = serializers.ChoiceField(choices=AGENT_STATUS_CHOICES, required=False)
    priority = serializers.ChoiceField(choices=Ticket.Priority.choices, required=False)
    assignee = IdField(required=False, allow_null=True)
    queue = IdField(required=False)
    tags = _tags(required=False)

    def validate(self, attrs):
        user, ticket = self.context["request"].user, self.context["ticket"]
        if "queue" in attrs:
            attrs["queue"] = _queue_of(user, attrs["queue"])
        if attrs.get("assignee") is not None:
            attrs["assignee"] = _assignee_for(attrs.get("queue", ticket.queue), attrs["assignee"])
        return attrs


class MessageCreateSerializer(serializers.Serializer):
    """An internal note (JSON, or multipart/form-data to attach files)."""

    body = serializers.CharField(max_length=MAX_BODY, allow_blank=True, default="",
                                 help_text="May be empty when there are attachments.")  # fmt: skip
    body_format = serializers.ChoiceField(choices=MESSAGE_BODY_FORMATS, default="text")
    attachments = serializers.ListField(child=serializers.FileField(), required=False, max_length=10)


class ReplyCreateSerializer(MessageCreateSerializer):
    """A public reply, emailed to the customer; ``status`` sets the ticket's status in the same step."""

    status = serializers.ChoiceField(choices=AGENT_STATUS_CHOICES, required=False)


class MergeSerializer(serializers.Serializer):
    into = IdField(help_text="The ticket this one is merged into.")
