from collections.abc import Iterable

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from helpdesk.models import TimeStampedModel


class Organization(TimeStampedModel):
    """A company some customers belong to. A new customer whose email domain is listed joins it."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    domains = ArrayField(
        models.CharField(max_length=253), blank=True, default=list, verbose_name=_("email domains"),
        help_text=_("Lower case, without “@”, separated by commas: example.com, example.co.uk"),
    )  # fmt: skip
    notes = models.TextField(_("notes"), blank=True)

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

    def __str__(self):
        return f"{self.name} <{self.email}>" if self.name else self.email

    @property
    def first_name(self) -> str:
        return self.name.split(" ")[0] if self.name else ""
