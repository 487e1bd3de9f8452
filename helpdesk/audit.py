"""The audit log of sensitive actions: data exports, erasure, merges, imports and admins' changes.

One row per action, never edited. ``audit_record`` is the one way to write it.
"""

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class AuditEntry(models.Model):
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+", verbose_name=_("who")
    )
    action = models.CharField(_("action"), max_length=60, db_index=True)  # "customer.erase", "customers.export"
    target = models.CharField(_("about"), max_length=200, blank=True)  # "customer 42"
    details = models.JSONField(_("details"), blank=True, default=dict, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(_("when"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return f"{self.action} {self.target}"


def audit_record(*, actor, action: str, target: str = "", **details) -> AuditEntry:
    """Write one entry; ``actor`` is the signed-in user (None for the system)."""
    return AuditEntry.objects.create(actor=actor, action=action, target=target, details=details)
