"""Tickets, their messages and attachments, and the append-only audit trail.

Writes go through ``tickets.services``; reads that depend on who is asking go through
``tickets.selectors``.
"""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from helpdesk.models import Team, TimeStampedModel
from helpdesk.uploads import random_upload_name


class Queue(TimeStampedModel):
    """Where tickets wait to be worked; every queue belongs to one team."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    slug = models.SlugField(_("slug"), max_length=100, unique=True)
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="queues", verbose_name=_("team"))
    # Satisfaction surveys when a ticket of the queue is solved (tickets.surveys).
    survey_csat = models.BooleanField(_("ask for satisfaction (CSAT)"), default=True)
    survey_nps = models.BooleanField(
        _("ask how likely they recommend us (NPS)"), default=False,
        help_text=_("At most once per customer in NPS_INTERVAL_DAYS (90)."),
    )  # fmt: skip
    survey_ces = models.BooleanField(_("ask how easy it was (CES)"), default=False)
    on_portal = models.BooleanField(
        _("customers can choose it on the portal"), default=False,
        help_text=_("The portal's request form offers these queues as topics (the first one when only one is "
                    "on); with none on, requests go to the first queue."),
    )  # fmt: skip
    # The acknowledgement a new ticket's customer gets; empty: the built-in text. Django template syntax,
    # with the placeholders of ``tickets.canned`` ({{ customer.first_name }}, {{ ticket.reference }}, …).
    acknowledgement_subject = models.CharField(_("acknowledgement subject"), max_length=200, blank=True)
    acknowledgement_body = models.TextField(
        _("acknowledgement text"), blank=True,
        help_text=_("Empty: the built-in text. Placeholders: {{ customer.first_name }}, {{ ticket.reference }}, "
                    "{{ ticket.subject }}, {{ ticket_url }}."),
    )  # fmt: skip

    class Meta:
        ordering = ["name"]
        verbose_name = _("queue")
        verbose_name_plural = _("queues")

    def __str__(self):
        return self.name


class Tag(models.Model):
    name = models.CharField(_("name"), max_length=50, unique=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("tag")
        verbose_name_plural = _("tags")

    def __str__(self):
        return self.name


# Unresolved and not merged away: what agents work on, a few percent of all tickets.
OPEN_TICKETS = Q(status__in=["new", "open", "pending", "on_hold"], merged_into__isnull=True)


class Ticket(models.Model):
    """A customer's request. Its primary key is its number: ``HD-1042`` is ticket 1042.

    Postgres sequences never hand out a number twice, so a reference is never reused.
    """

    class Status(models.TextChoices):
        NEW = "new", _("New")
        OPEN = "open", _("Open")
        PENDING = "pending", _("Pending")  # waiting on the customer
        ON_HOLD = "on_hold", _("On hold")  # waiting on a third party
        SOLVED = "solved", _("Solved")
        CLOSED = "closed", _("Closed")

    class Priority(models.TextChoices):
        LOW = "low", _("Low")
        NORMAL = "normal", _("Normal")
        HIGH = "high", _("High")
        URGENT = "urgent", _("Urgent")

    class Channel(models.TextChoices):
        EMAIL = "email", _("Email")
        PORTAL = "portal", _("Portal")
        PHONE = "phone", _("Phone")
        API = "api", _("API")
        CHAT = "chat", _("Chat")
        AGENT = "agent", _("Agent")

    RESOLVED_STATUSES = (Status.SOLVED, Status.CLOSED)
    OPEN_STATUSES = (Status.NEW, Status.OPEN, Status.PENDING, Status.ON_HOLD)
    PRIORITY_RANK = {Priority.LOW: 0, Priority.NORMAL: 1, Priority.HIGH: 2, Priority.URGENT: 3}

    id = models.BigAutoField(primary_key=True)
    subject = models.CharField(_("subject"), max_length=255)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.NEW)
    priority = models.CharField(_("priority"), max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    # 0 low .. 3 urgent, kept beside ``priority`` so lists sort by urgency with an index.
    priority_rank = models.PositiveSmallIntegerField(default=1, editable=False)
    # No single-column indexes on queue, assignee and customer: the composite indexes below start with
    # them (each index is one more write per new ticket).
    queue = models.ForeignKey(
        Queue, on_delete=models.PROTECT, related_name="tickets", verbose_name=_("queue"), db_index=False
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_tickets",
        verbose_name=_("assignee"),
        db_index=False,
    )
    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.PROTECT,
        related_name="tickets",
        verbose_name=_("customer"),
        db_index=False,
    )
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    # Set when an agent opened the ticket on the customer's behalf (phone, walk-in, outbound email).
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    tags = models.ManyToManyField(Tag, related_name="tickets", blank=True, verbose_name=_("tags"))

    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)
    first_response_at = models.DateTimeField(_("first response"), null=True, blank=True)
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    last_customer_message_at = models.DateTimeField(null=True, blank=True)
    last_agent_reply_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    message_count = models.PositiveIntegerField(default=0)
    # The earliest due time of the ticket's running SLA targets (empty: none, or paused); kept by
    # tickets.sla.services for the lists' badge and "sort by due time".
    sla_due_at = models.DateTimeField(_("SLA due"), null=True, blank=True, db_default=None)
    # Set on a new ticket of a team that assigns automatically, cleared once tickets.routing has run for
    # it: a sweep finds tickets whose routing task was lost (Redis or the workers were down).
    needs_routing = models.BooleanField(default=False, db_default=False)
    # Set on a new ticket whose customer is owed an acknowledgement, cleared once it was sent or refused
    # (bouncing, blocked, too many): a sweep sends those whose task was lost (tickets.mail.outbound).
    acknowledgement_due = models.BooleanField(default=False, db_default=False)
    # The one-time id of the portal form that opened the ticket (a hidden field): the same form sent again (the
    # customer reloads after an error page or a lost answer, or clicks twice) lands here instead of opening a
    # second ticket. Unique in the database, so two sends at once cannot both store it (tickets.portal.services).
    portal_submission = models.UUIDField(null=True, blank=True, editable=False, unique=True)
    # When the status last changed (time-based automations count from it); empty: never, since creation.
    status_changed_at = models.DateTimeField(null=True, blank=True, db_default=None)

    merged_into = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="merged_tickets"
    )
    follow_up_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="follow_ups"
    )

    search_vector = SearchVectorField(null=True, editable=False)
    # Email: the addresses the customer copied in, which replies copy too.
    email_cc = ArrayField(models.EmailField(), null=True, blank=True, verbose_name=_("copied addresses (Cc)"))

    class Meta:
        verbose_name = _("ticket")
        verbose_name_plural = _("tickets")
        indexes = [
            # Search: the words, and the queue so an agent's search meets their queues inside the index
            # (btree_gin). A multi-column GIN index also serves the words alone, for admins.
            GinIndex(fields=["queue", "search_vector"], name="ticket_queue_search"),
            models.Index(fields=["queue", "status", "-updated_at"], name="ticket_queue_status_upd"),
            models.Index(fields=["assignee", "status", "-updated_at"], name="ticket_assignee_status_upd"),
            # An agent's tickets outside their teams' queues, read from the index alone (search).
            models.Index(fields=["assignee", "queue"], include=["id"], name="ticket_assignee_queue"),
            models.Index(fields=["status", "-updated_at"], name="ticket_status_upd"),
            models.Index(fields=["customer", "-created_at"], name="ticket_customer_created"),
            # The customer page's timeline reads a customer's tickets newest-updated first.
            models.Index(fields=["customer", "-updated_at", "-id"], name="ticket_customer_updated"),
            models.Index(fields=["-created_at"], name="ticket_created"),
            models.Index(fields=["-updated_at"], name="ticket_updated"),
            models.Index(fields=["resolved_at"], name="ticket_resolved"),
            # Sidebar counts and the open-ticket lists read only these small partial indexes.
            models.Index(fields=["queue", "assignee", "status"], condition=OPEN_TICKETS, name="ticket_open_counts"),
            models.Index(fields=["-updated_at", "-id"], condition=OPEN_TICKETS, name="ticket_open_updated"),
            models.Index(fields=["created_at"], condition=Q(needs_routing=True), name="ticket_needs_routing"),
            models.Index(fields=["created_at"], condition=Q(acknowledgement_due=True), name="ticket_ack_due"),
            models.Index(
                fields=["sla_due_at", "id"],
                condition=OPEN_TICKETS & Q(sla_due_at__isnull=False),
                name="ticket_open_sla_due",
            ),
            models.Index(
                fields=["-priority_rank", "-updated_at", "-id"], condition=OPEN_TICKETS, name="ticket_open_priority"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(merged_into__isnull=True) | ~Q(merged_into=models.F("id")),
                name="ticket_not_merged_into_itself",
            ),
        ]

    def __str__(self):
        return f"{self.reference} {self.subject}"

    def get_absolute_url(self):
        return reverse("tickets:detail", args=[self.pk])

    @property
    def reference(self) -> str:
        return f"{settings.TICKET_REFERENCE_PREFIX}-{self.pk}"

    @property
    def is_resolved(self) -> bool:
        return self.status in self.RESOLVED_STATUSES

    @property
    def opened_by_agent(self) -> bool:
        return self.created_by_id is not None


class TicketLink(models.Model):
    """Two related tickets (shown on both)."""

    from_ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="links_out")
    to_ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="links_in")
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["from_ticket", "to_ticket"], name="ticket_link_unique"),
            models.CheckConstraint(condition=~Q(from_ticket=models.F("to_ticket")), name="ticket_link_not_self"),
        ]

    def __str__(self):
        return f"#{self.from_ticket_id} ↔ #{self.to_ticket_id}"


class DeliveryStatus(models.TextChoices):
    NONE = "", _("Not emailed")
    QUEUED = "queued", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")


class Message(models.Model):
    DeliveryStatus = DeliveryStatus

    class Kind(models.TextChoices):
        CUSTOMER = "customer", _("Customer message")
        REPLY = "reply", _("Public reply")
        NOTE = "note", _("Internal note")
        SYSTEM = "system", _("System message")

    PUBLIC_KINDS = (Kind.CUSTOMER, Kind.REPLY, Kind.SYSTEM)

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="messages", db_index=False)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    author_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    author_customer = models.ForeignKey(
        "customers.Customer", on_delete=models.SET_NULL, null=True, blank=True, related_name="messages"
    )
    channel = models.CharField(_("channel"), max_length=10, choices=Ticket.Channel.choices)
    body_html = models.TextField(_("body (HTML)"), blank=True)
    body_text = models.TextField(_("body (text)"), blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    # Email: the Message-ID of the email this message came in as or went out as (without <>), which
    # threads the customer's replies; and, for a reply sent by email, how its delivery went.
    email_message_id = models.CharField(max_length=255, blank=True, db_default="", default="")
    delivery_status = models.CharField(
        _("email delivery"), max_length=10, choices=DeliveryStatus.choices, blank=True, db_default="", default=""
    )
    delivery_error = models.TextField(blank=True, db_default="", default="")
    delivery_attempts = models.PositiveSmallIntegerField(db_default=0, default=0)
    sent_at = models.DateTimeField(null=True, blank=True)
    # The customer's email was an auto-reply or bulk mail: no automatic email answers it (issue 7's rules).
    automatic = models.BooleanField(default=False, db_default=False)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["ticket", "created_at", "id"], name="message_ticket_created"),
            models.Index(fields=["email_message_id"], name="message_email_id", condition=~Q(email_message_id="")),
            # The outbound sweep's question: emails queued and never sent (their task was lost).
            models.Index(fields=["created_at"], name="message_email_queued", condition=Q(delivery_status="queued")),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} on #{self.ticket_id}"

    @property
    def is_public(self) -> bool:
        return self.kind in self.PUBLIC_KINDS


def attachment_upload_to(instance, filename):
    """A random stored name: the customer's file name is kept in ``filename`` only."""
    return random_upload_name("attachments", filename)


class Attachment(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to=attachment_upload_to, max_length=255)
    filename = models.CharField(_("file name"), max_length=255)
    content_type = models.CharField(_("content type"), max_length=150)
    size = models.PositiveBigIntegerField(_("size in bytes"))
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return self.filename

    @property
    def is_image(self) -> bool:
        return self.content_type in {"image/png", "image/jpeg", "image/gif", "image/webp"}


class TicketEvent(models.Model):
    """An append-only audit row, written in the same transaction as the change it records."""

    class Kind(models.TextChoices):
        CREATED = "created", _("Created")
        FIELD = "field", _("Field changed")
        MESSAGE = "message", _("Message added")
        MERGED = "merged", _("Merged")
        LINKED = "linked", _("Linked")
        SLA = "sla", _("SLA")
        RULE = "rule", _("Rule")
        AUTOMATION = "automation", _("Automation")

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="events", db_index=False)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    actor_customer = models.ForeignKey("customers.Customer", on_delete=models.SET_NULL, null=True, blank=True)
    field = models.CharField(max_length=30, blank=True)
    old_value = models.CharField(max_length=255, blank=True)
    new_value = models.CharField(max_length=255, blank=True)
    message = models.ForeignKey(Message, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["ticket", "created_at"], name="event_ticket_created"),
            models.Index(fields=["field", "created_at"], name="event_field_created"),
        ]

    def __str__(self):
        return f"#{self.ticket_id} {self.kind} {self.field} {self.old_value}→{self.new_value}"


class SavedView(models.Model):
    """An agent's own ticket list: the list's filters and sort, pinned in their sidebar."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views")
    name = models.CharField(_("name"), max_length=60)
    # The list's GET parameters (filters, sort, search), as a query string without the page.
    query = models.CharField(_("filters"), max_length=1000, blank=True)
    pinned = models.BooleanField(_("pinned in the sidebar"), default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("saved view")
        verbose_name_plural = _("saved views")
        constraints = [models.UniqueConstraint(fields=["user", "name"], name="saved_view_unique_name")]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return f"{reverse('tickets:list')}?{self.query}" if self.query else reverse("tickets:list")


class CannedResponse(models.Model):
    """A saved reply an agent inserts from the composer; shared (no owner) or one agent's own.

    The body is Markdown and may use the placeholders in ``tickets.canned.PLACEHOLDERS``.
    """

    title = models.CharField(_("title"), max_length=100)
    body = models.TextField(_("text"))
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="canned_responses",
        help_text=_("Empty: shared with every agent."),
    )  # fmt: skip
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["title", "id"]
        verbose_name = _("canned response")
        verbose_name_plural = _("canned responses")

    def __str__(self):
        return self.title

    @property
    def is_shared(self) -> bool:
        return self.owner_id is None


class Notification(models.Model):
    """An entry in an agent's in-app notifications list (the bell), written with the change it reports.

    Emails about the same events are separate and optional (``User.notify_on_*``); this list is kept always.
    """

    class Kind(models.TextChoices):
        ASSIGNED = "assigned", _("Assigned to you")
        MENTIONED = "mentioned", _("Mentioned you")
        CUSTOMER_REPLIED = "customer_replied", _("Customer replied")
        SLA_WARNING = "sla_warning", _("SLA target soon due")
        SLA_BREACHED = "sla_breached", _("SLA target breached")

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="notifications")
    message = models.ForeignKey(Message, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        indexes = [
            models.Index(fields=["recipient", "-created_at", "-id"], name="notification_recipient"),
            # The unread badge counts from this small index alone.
            models.Index(fields=["recipient", "ticket"], name="notification_unread", condition=Q(read_at__isnull=True)),
        ]

    def __str__(self):
        return f"{self.get_kind_display()}: #{self.ticket_id}"

    @property
    def is_unread(self) -> bool:
        return self.read_at is None


# The email channel's own tables (mailboxes, raw inbound mail, blocked senders) live with its code.
from .automations.models import Automation, AutomationRun  # noqa: E402, F401
from .mail.models import BlockedSender, InboundEmail, Mailbox  # noqa: E402, F401
from .rules.models import EmailTemplate, Rule, RuleAction, RuleCondition  # noqa: E402, F401
from .sla.models import SLAPolicy, SLATimer  # noqa: E402, F401
from .surveys.models import Survey  # noqa: E402, F401
