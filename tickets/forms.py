"""Forms of the agent screens: they parse and check input; services do the work."""

from dataclasses import dataclass, field

from django import forms
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from customers.selectors import access_customer
from helpdesk.tags import parse_tags

from . import selectors
from .models import Ticket

Status = Ticket.Status

# The list views, in sidebar order.
VIEWS = [
    ("mine", _("Assigned to me")),
    ("unassigned", _("Unassigned")),
    ("open", _("Unsolved")),  # every open status: new, open, pending, on hold
    ("pending", _("Pending")),
    ("on_hold", _("On hold")),
    ("solved", _("Solved")),
    ("all", _("All tickets")),
]
SORTS = [
    ("updated", _("Recently updated")),
    ("created", _("Newest first")),
    ("priority", _("Highest priority")),
    ("due", _("SLA due first")),
]
# What an agent may set by hand. "New" is where tickets start; "closed" is final and left to automation.
AGENT_STATUSES = [Status.OPEN, Status.PENDING, Status.ON_HOLD, Status.SOLVED]


@dataclass(frozen=True)
class ListParams:
    view: str = "open"
    queue_id: int | None = None
    sort: str = "updated"
    q: str = ""
    page: int = 1
    filters: selectors.TicketFilters = field(default_factory=selectors.TicketFilters)


class TicketListForm(forms.Form):
    """The list's GET parameters. A value that does not parse falls back to its default."""

    view = forms.ChoiceField(choices=VIEWS, required=False)
    queue = forms.IntegerField(required=False, min_value=1)
    sort = forms.ChoiceField(choices=SORTS, required=False)
    q = forms.CharField(required=False, max_length=200)
    page = forms.IntegerField(required=False, min_value=1, max_value=10_000)
    # Filters (kept in the URL, so a filtered list can be bookmarked).
    status = forms.MultipleChoiceField(choices=Status.choices, required=False, widget=forms.CheckboxSelectMultiple)
    priority = forms.MultipleChoiceField(choices=Ticket.Priority.choices, required=False,
                                         widget=forms.CheckboxSelectMultiple)  # fmt: skip
    channel = forms.MultipleChoiceField(choices=Ticket.Channel.choices, required=False,
                                        widget=forms.CheckboxSelectMultiple)  # fmt: skip
    assignee = forms.RegexField(regex=r"^(me|none|\d{1,18})$", required=False)
    tag = forms.CharField(required=False, max_length=50)
    created_from = forms.DateField(required=False)
    created_to = forms.DateField(required=False)

    def params(self) -> ListParams:
        self.is_valid()
        data = {name: value for name, value in self.cleaned_data.items() if value not in (None, "", [])}
        filters = selectors.TicketFilters(
            statuses=tuple(data.get("status", ())),
            priorities=tuple(data.get("priority", ())),
            channels=tuple(data.get("channel", ())),
            assignee=data.get("assignee", ""),
            tag=data.get("tag", "").strip(),
            created_from=data.get("created_from"),
            created_to=data.get("created_to"),
        )
        return ListParams(view=data.get("view", "open"), queue_id=data.get("queue"), sort=data.get("sort", "updated"),
                          q=" ".join(data.get("q", "").split()), page=data.get("page", 1),
                          filters=filters)  # fmt: skip


class MultipleFileInput(forms.FileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one input (the recipe from Django's documentation)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single_clean = super().clean
        if isinstance(data, list | tuple):
            return [single_clean(item, initial) for item in data]
        return [single_clean(data, initial)] if data else []


class ComposerForm(forms.Form):
    """A public reply or an internal note. Whether the text may be empty is the service's rule."""

    REPLY, NOTE = "reply", "note"

    kind = forms.ChoiceField(
        label=_("Type"),
        choices=[(REPLY, _("Reply to customer")), (NOTE, _("Internal note"))],
        initial=REPLY,
        widget=forms.RadioSelect,
    )
    body = forms.CharField(label=_("Message"), required=False, max_length=100_000,
                           widget=forms.Textarea(attrs={"rows": 6}))  # fmt: skip
    attachments = MultipleFileField(label=_("Attachments"), required=False)
    status = forms.ChoiceField(label=_("Then set status"), required=False)
    # The newest message on the page when the agent started writing (collision safety).
    seen_up_to = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)

    def __init__(self, *args, ticket: Ticket, **kwargs):
        super().__init__(*args, **kwargs)
        self.ticket = ticket
        if ticket.status == Status.NEW:
            # A reply opens a new ticket anyway.
            keep, current = _("Open"), Status.OPEN
        else:
            keep, current = _("Keep “%(status)s”") % {"status": ticket.get_status_display()}, ticket.status
        self.fields["status"].choices = [("", keep), *[(s.value, s.label) for s in AGENT_STATUSES if s != current]]
        if ticket.status == Status.CLOSED:
            # A closed ticket takes no more replies; notes are still possible.
            self.fields["kind"].choices = [(self.NOTE, _("Internal note"))]
            self.fields["kind"].initial = self.NOTE

    @property
    def is_note(self) -> bool:
        return self.cleaned_data.get("kind") == self.NOTE


class StatusForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"))

    def __init__(self, *args, ticket: Ticket, **kwargs):
        kwargs.setdefault("initial", {"status": ticket.status})
        super().__init__(*args, **kwargs)
        choices = [(s.value, s.label) for s in AGENT_STATUSES]
        if ticket.status not in AGENT_STATUSES:
            choices.insert(0, (ticket.status, ticket.get_status_display()))
        self.fields["status"].choices = choices


class PriorityForm(forms.Form):
    priority = forms.ChoiceField(label=_("Priority"), choices=Ticket.Priority.choices)

    def __init__(self, *args, ticket: Ticket, **kwargs):
        kwargs.setdefault("initial", {"priority": ticket.priority})
        super().__init__(*args, **kwargs)


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(label=_("Assignee"), queryset=None, required=False,
                                      empty_label=_("Unassigned"))  # fmt: skip

    def __init__(self, *args, ticket: Ticket, **kwargs):
        kwargs.setdefault("initial", {"assignee": ticket.assignee_id})
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = selectors.assignable_agents(queue=ticket.queue,
                                                                       current_id=ticket.assignee_id)  # fmt: skip


class BulkForm(forms.Form):
    """One action on the tickets ticked in the list. ``action`` is "assign:me", "assign:none",
    "assign:<user id>", "status:<status>", "priority:<priority>", "tag_add", "tag_remove" or "merge"."""

    action = forms.CharField(max_length=40)
    tag = forms.CharField(required=False, max_length=50)
    next = forms.CharField(required=False, max_length=2000)

    def __init__(self, *args, assignees=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.assignees = {str(user.pk): user for user in assignees}

    def clean_action(self):
        action = self.cleaned_data["action"]
        kind, _sep, value = action.partition(":")
        valid = (
            (kind == "assign" and (value in ("me", "none") or value in self.assignees))
            or (kind == "status" and value in AGENT_STATUSES)
            or (kind == "priority" and value in Ticket.Priority.values)
            or (kind in ("tag_add", "tag_remove", "merge") and not value)
        )
        if not valid:
            raise forms.ValidationError(_("Choose what to do with the selected tickets."))
        return action

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("action", "").startswith("tag_") and not cleaned.get("tag", "").strip():
            self.add_error("tag", _("Type the tag to add or remove."))
        ids = self.data.getlist("ticket") if hasattr(self.data, "getlist") else []
        cleaned["ticket_ids"] = sorted({int(i) for i in ids if str(i).isdigit()})[:500]
        if not cleaned["ticket_ids"]:
            raise forms.ValidationError(_("Select one or more tickets first."))
        return cleaned


# --- new ticket (an agent opens it on the customer's behalf) ---------------------------------------

# Only the channels an agent opens a ticket on: the customer did not write in themselves.
NEW_TICKET_CHANNELS = [
    (Ticket.Channel.PHONE, _("Phone call or walk-in (you note what the customer said)")),
    (Ticket.Channel.AGENT, _("Email to the customer (you write first)")),
]


class NewTicketForm(forms.Form):
    """An existing customer (``customer_id``) or a new one (``email`` and ``name``), and the ticket."""

    customer_id = forms.CharField(required=False, max_length=20)
    email = forms.EmailField(label=_("Email address"), required=False, max_length=254)
    name = forms.CharField(label=_("Name"), required=False, max_length=200)
    channel = forms.ChoiceField(label=_("How did this start?"), choices=NEW_TICKET_CHANNELS,
                                initial=Ticket.Channel.PHONE, widget=forms.RadioSelect)  # fmt: skip
    queue = forms.ModelChoiceField(label=_("Queue"), queryset=None, empty_label=None,
                                   error_messages={"invalid_choice": _("Choose one of your team's queues.")})  # fmt: skip
    priority = forms.ChoiceField(label=_("Priority"), choices=Ticket.Priority.choices, initial=Ticket.Priority.NORMAL)
    subject = forms.CharField(label=_("Subject"), max_length=255)
    body = forms.CharField(label=_("Message"), max_length=100_000, widget=forms.Textarea(attrs={"rows": 8}))
    assign_to_me = forms.BooleanField(label=_("Assign to me"), required=False, initial=True)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["queue"].queryset = selectors.queues_visible_to(user).order_by("name")

    def clean_customer_id(self):
        value = self.cleaned_data["customer_id"].strip()
        if not value:
            return None
        customer = access_customer(self.user, value)
        if customer is None:
            raise forms.ValidationError(_("That customer does not exist (any more). Search again."))
        return customer

    def clean(self):
        cleaned = super().clean()
        chosen = cleaned.get("customer_id") is not None or "customer_id" in self.errors
        if not chosen and not cleaned.get("email") and "email" not in self.errors:
            self.add_error("email", _("Choose a customer above, or enter the new customer's email address."))
        return cleaned

    @cached_property
    def queue_options(self) -> list:
        """The queues to offer, read once per render: ``[(id, name)]``."""
        return [(queue.pk, queue.name) for queue in self.fields["queue"].queryset]

    @property
    def customer(self):
        """The chosen existing customer (after ``is_valid``), or ``None`` for a new one."""
        return self.cleaned_data.get("customer_id")


class CustomerSearchForm(forms.Form):
    q = forms.CharField(required=False, max_length=200)

    def query(self) -> str:
        return " ".join(self.cleaned_data.get("q", "").split()) if self.is_valid() else ""


class QueueForm(forms.Form):
    queue = forms.ModelChoiceField(label=_("Queue"), queryset=None, empty_label=None)

    def __init__(self, *args, ticket: Ticket, user, **kwargs):
        kwargs.setdefault("initial", {"queue": ticket.queue_id})
        super().__init__(*args, **kwargs)
        self.fields["queue"].queryset = selectors.queues_visible_to(user).order_by("name")


class TagsForm(forms.Form):
    """The ticket's tags as one comma-separated field: what is typed is what the ticket gets."""

    tags = forms.CharField(label=_("Tags"), required=False, max_length=500)

    def clean_tags(self) -> list[str]:
        return parse_tags(self.cleaned_data["tags"])
