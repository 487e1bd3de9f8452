from collections.abc import Iterable

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models
from django.db.models.functions import Lower, Upper
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from helpdesk.models import TIMEZONE_CHOICES, TimeStampedModel


class Organization(TimeStampedModel):
    """A company some customers belong to. A new customer whose email domain is listed joins it."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    domains = ArrayField(
        models.CharField(max_length=253), blank=True, default=list, verbose_name=_("email domains"),
        help_text=_("Lower case, without “@”, separated by commas: example.com, example.co.uk"),
    )  # fmt: skip
    notes = models.TextField(_("notes"), blank=True)
    shared_tickets = models.BooleanField(
        _("members see each other's requests"), default=False, db_default=False,
        help_text=_("Signed in to the portal, a member sees every request of the organization's members."),
    )  # fmt: skip

    class Meta:
        verbose_name = _("organization")
        verbose_name_plural = _("organizations")
        ordering = ["name"]

    def __str__(self):
        return self.name

    def clean(self):
        self.domains = sorted({domain.strip().lower().lstrip("@") for domain in self.domains if domain.strip()})


class CustomerQuerySet(models.QuerySet):
    def with_email(self, email: str) -> "CustomerQuerySet":
        """The customer with this address, in any case: ``lower(email) = …``, which the unique index serves
        (``email__iexact`` compiles to ``UPPER(email)`` and would scan the table)."""
        return self.alias(email_lower=Lower("email")).filter(email_lower=email.strip().lower())

    def with_emails(self, emails: Iterable[str]) -> "CustomerQuerySet":
        """The customers with any of these addresses, in any case (the same index)."""
        return self.alias(email_lower=Lower("email")).filter(email_lower__in={e.strip().lower() for e in emails})


class Customer(TimeStampedModel):
    """Someone who asks for help. Not a staff user; identified by email address.

    Issue 6 grows this into the full CRM record (several emails, notes, custom fields).
    """

    email = models.EmailField(_("email address"))
    name = models.CharField(_("name"), max_length=200, blank=True)
    # The language of the portal when they first asked there; emails to them are written in it.
    language = models.CharField(
        _("language"), max_length=10, blank=True, default="", db_default="", choices=settings.LANGUAGES,
        help_text=_("Emails to this customer are written in it. Empty: the help desk's default language."),
    )  # fmt: skip
    # db_default on new columns: bulk loaders (COPY in tickets.seeding, the INSERT in services) may leave them out.
    phone = models.CharField(_("phone"), max_length=50, blank=True, default="", db_default="")
    time_zone = models.CharField(
        _("time zone"), max_length=64, blank=True, default="", db_default="", choices=TIMEZONE_CHOICES,
        help_text=_("Empty: the help desk's time zone."),
    )  # fmt: skip
    tags = ArrayField(models.CharField(max_length=50), blank=True, default=list, db_default=[], verbose_name=_("tags"))
    # Values of the admins' CustomField definitions, by key; dates as YYYY-MM-DD, numbers as JSON numbers.
    custom_fields = models.JSONField(_("custom fields"), blank=True, default=dict, db_default={})
    # Set when mail to this address bounced for good; acknowledgements and replies then warn instead of sending.
    email_bouncing_at = models.DateTimeField(_("email bouncing since"), null=True, blank=True)
    organization = models.ForeignKey(
        Organization, on_delete=models.SET_NULL, null=True, blank=True, related_name="customers",
        verbose_name=_("organization"),
    )  # fmt: skip

    # When the customer last signed in to the portal by an emailed link; each link is good until then only.
    portal_signed_in_at = models.DateTimeField(_("last signed in to the portal"), null=True, blank=True)

    objects = CustomerQuerySet.as_manager()

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        ordering = ["name", "email"]
        constraints = [models.UniqueConstraint(Lower("email"), name="customer_email_ci_unique")]
        indexes = [
            GinIndex(fields=["tags"], name="customer_tags_gin"),
            models.Index(fields=["name", "email", "id"], name="customer_list_order"),  # the list walks it
            # Find-as-you-type: ``icontains`` compiles to UPPER(col) LIKE '%…%', which these serve.
            GinIndex(OpClass(Upper("email"), name="gin_trgm_ops"), name="customer_email_trgm"),
            GinIndex(OpClass(Upper("name"), name="gin_trgm_ops"), name="customer_name_trgm"),
            GinIndex(OpClass(Upper("phone"), name="gin_trgm_ops"), name="customer_phone_trgm"),
        ]

    def __str__(self):
        return f"{self.name} <{self.email}>" if self.name else self.email

    @property
    def first_name(self) -> str:
        return self.name.split(" ")[0] if self.name else ""


class CustomerEmail(models.Model):
    """Another address of a customer (the primary one is ``Customer.email``): mail from it joins the same
    customer. An address belongs to one customer only, primary or not (``customers.services`` checks)."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="other_emails")
    email = models.EmailField(_("email address"))
    created_at = models.DateTimeField(_("added"), auto_now_add=True)

    class Meta:
        verbose_name = _("other email address")
        verbose_name_plural = _("other email addresses")
        ordering = ["email"]
        constraints = [models.UniqueConstraint(Lower("email"), name="customer_other_email_ci_unique")]
        indexes = [GinIndex(OpClass(Upper("email"), name="gin_trgm_ops"), name="customer_other_email_trgm")]

    def __str__(self):
        return self.email


class CustomerNote(TimeStampedModel):
    """What an agent wrote down about a customer. Pinned notes show on every ticket of the customer."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    body = models.TextField(_("note"))
    pinned = models.BooleanField(_("pinned"), default=False)

    class Meta:
        verbose_name = _("customer note")
        verbose_name_plural = _("customer notes")
        ordering = ["-pinned", "-created_at", "-pk"]

    def __str__(self):
        return self.body[:60]


class CustomerPreference(models.Model):
    """A free key/value pair ("usual order": "iced caramel macchiato, oat milk"), shown on the ticket page."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="preferences")
    key = models.CharField(_("preference"), max_length=80)
    value = models.CharField(_("value"), max_length=500)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("preference")
        verbose_name_plural = _("preferences")
        ordering = ["key", "pk"]
        constraints = [models.UniqueConstraint("customer", Lower("key"), name="customer_preference_key_unique")]

    def __str__(self):
        return f"{self.key}: {self.value}"


class CustomField(models.Model):
    """A field admins add to every customer (loyalty number, birthday, plan). Values live in
    ``Customer.custom_fields`` under ``key``."""

    class Kind(models.TextChoices):
        TEXT = "text", _("Text")
        NUMBER = "number", _("Number")
        DATE = "date", _("Date")
        CHOICE = "choice", _("Choice")

    name = models.CharField(_("name"), max_length=80)
    key = models.SlugField(_("key"), max_length=50, unique=True, help_text=_("Used in imports, exports and the API."))
    kind = models.CharField(_("type"), max_length=10, choices=Kind.choices, default=Kind.TEXT)
    choices = ArrayField(
        models.CharField(max_length=100), blank=True, default=list, verbose_name=_("choices"),
        help_text=_("For the Choice type: the allowed values, separated by commas."),
    )  # fmt: skip
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("custom field")
        verbose_name_plural = _("custom fields")
        ordering = ["position", "name"]

    def __str__(self):
        return self.name

    def clean(self):
        self.choices = list(dict.fromkeys(choice.strip() for choice in self.choices if choice.strip()))
        if self.kind == self.Kind.CHOICE and not self.choices:
            raise ValidationError({"choices": _("A choice field needs at least one choice.")})


class CustomerEvent(models.Model):
    """The audit trail of a customer: field changes, merges, exports, erasure. Part of the timeline."""

    class Kind(models.TextChoices):
        CHANGED = "changed", _("Changed")
        MERGED = "merged", _("Merged")
        EXPORTED = "exported", _("Exported")
        ERASED = "erased", _("Erased")
        IMPORTED = "imported", _("Imported")

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    field = models.CharField(max_length=80, blank=True)
    old_value = models.TextField(blank=True)
    new_value = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["customer", "-created_at"], name="customer_event_timeline")]

    def __str__(self):
        return f"{self.kind} {self.field}"

    @property
    def field_label(self) -> str:
        """The changed field as people read it: "phone", "preference “Usual order”", a custom field's key."""
        kind, _sep, name = self.field.partition(":")
        if kind == "preference":
            return _("preference “%(name)s”") % {"name": name}
        if kind == "custom":
            return name
        if kind == "other_emails":
            return _("other email addresses")
        try:
            return str(Customer._meta.get_field(kind).verbose_name)
        except FieldDoesNotExist:
            return self.field


class Segment(models.Model):
    """A saved filter over customers ("VIP", "regulars", "unhappy last time"): every condition that is set
    must hold. Used as a filter on the customer list and shown on the customer page; routing rules and
    reports (issues 7 and 8) take segments as conditions through ``customers.segments``."""

    name = models.CharField(_("name"), max_length=80, unique=True)
    description = models.CharField(_("description"), max_length=300, blank=True)
    tags = ArrayField(
        models.CharField(max_length=50), blank=True, default=list, verbose_name=_("has any of these tags"),
        help_text=_("Separated by commas. Empty: any tags."),
    )  # fmt: skip
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, null=True, blank=True, related_name="+",
        verbose_name=_("in this organization"),
    )  # fmt: skip
    language = models.CharField(_("language"), max_length=10, blank=True, choices=settings.LANGUAGES)
    custom_field = models.ForeignKey(
        CustomField, on_delete=models.CASCADE, null=True, blank=True, related_name="+",
        verbose_name=_("custom field"),
    )  # fmt: skip
    custom_value = models.CharField(
        _("custom field value"), max_length=500, blank=True, help_text=_("The custom field's value, exactly.")
    )
    min_tickets = models.PositiveIntegerField(_("at least this many tickets"), null=True, blank=True)
    tickets_within_days = models.PositiveIntegerField(
        _("…in the last days"), null=True, blank=True, help_text=_("Empty: ever.")
    )
    last_csat_below = models.PositiveSmallIntegerField(
        _("last CSAT answer below"), null=True, blank=True,
        help_text=_("1–5: customers whose latest satisfaction answer scored less than this."),
    )  # fmt: skip
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        ordering = ["name"]

    def __str__(self):
        return self.name

    def clean(self):
        self.tags = sorted({tag.strip().lower() for tag in self.tags if tag.strip()})
        if self.custom_field_id and not self.custom_value:
            raise ValidationError({"custom_value": _("Give the value the custom field must have.")})
        if self.tickets_within_days and not self.min_tickets:
            raise ValidationError({"min_tickets": _("Give the number of tickets for the period.")})
        if self.last_csat_below is not None and not 2 <= self.last_csat_below <= 5:
            raise ValidationError({"last_csat_below": _("CSAT answers are 1 to 5: give 2, 3, 4 or 5.")})
