"""The audit log of sensitive actions: data exports, erasure, merges, imports, admins' changes, two-factor
sign-in and sign-outs.

One row per action, never edited. ``audit_record`` is the one way to write it. The client's IP address comes
from the request being served (``audit_context``, entered by ``helpdesk.middleware.AccountSecurityMiddleware``),
so services need no request to record where an action came from; Celery tasks and commands record none.
"""

import ipaddress
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

_client_ip: ContextVar[str | None] = ContextVar("audit_client_ip", default=None)


class AuditEntry(models.Model):
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+", verbose_name=_("who")
    )
    action = models.CharField(_("action"), max_length=60, db_index=True)  # "customer.erase", "customers.export"
    target = models.CharField(_("about"), max_length=200, blank=True)  # "customer 42"
    details = models.JSONField(_("details"), blank=True, default=dict, encoder=DjangoJSONEncoder)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    created_at = models.DateTimeField(_("when"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return f"{self.action} {self.target}"


@contextmanager
def audit_context(*, ip: str | None):
    """Entries written inside come from ``ip`` (the client of the request being served; ignored unless it is an
    address, as a forged X-Forwarded-For may not be)."""
    try:
        ip = str(ipaddress.ip_address(ip)) if ip else None
    except ValueError:
        ip = None
    token = _client_ip.set(ip)
    try:
        yield
    finally:
        _client_ip.reset(token)


def request_ip() -> str | None:
    """The client address of the request being served (None outside one, or when it is no address)."""
    return _client_ip.get()


def audit_record(*, actor, action: str, target: str = "", **details) -> AuditEntry:
    """Write one entry; ``actor`` is the signed-in user (None for the system)."""
    return AuditEntry.objects.create(actor=actor, action=action, target=str(target)[:200], details=details,
                                     ip=_client_ip.get())  # fmt: skip
