from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from helpdesk.models import TimeStampedModel


class Customer(TimeStampedModel):
    """Someone who asks for help. Not a staff user; identified by email address.

    Issue 6 grows this into the full CRM record (several emails, organization, notes).
    """

    email = models.EmailField(_("email address"))
    name = models.CharField(_("name"), max_length=200, blank=True)

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
