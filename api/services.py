"""Writes of the API's own rows: personal API tokens (created, used, revoked) and idempotency records."""

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from helpdesk.audit import audit_record
from helpdesk.errors import ValidationError
from helpdesk.models import User

from .models import ApiToken, IdempotencyKey

TOKEN_PREFIX = "hd_"  # every token starts with it, so a leaked one is easy to recognise (secret scanners)
PREFIX_CHARS = 8  # random characters after TOKEN_PREFIX that identify the token (its ``prefix``)
LAST_USED_PRECISION = timedelta(minutes=1)  # ``last_used_at`` is written at most this often per token


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def api_token_create(*, user: User, name: str, scope: str, expires_at: datetime | None = None) -> tuple[ApiToken, str]:
    """A new token for ``user``: the row and the token itself, which is shown once and never kept."""
    name = " ".join((name or "").split())[:100]
    if not name:
        raise ValidationError({"name": _("Give the token a name, so you know later what uses it.")})
    if scope not in ApiToken.Scope.values:
        raise ValidationError({"scope": _("Choose read or write.")})
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": _("The expiry must be in the future.")})
    for _attempt in range(5):  # a clash of 48-bit prefixes is improbable; retrying makes it harmless
        raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
        prefix = raw[: len(TOKEN_PREFIX) + PREFIX_CHARS]
        try:
            with transaction.atomic():
                token = ApiToken.objects.create(user=user, name=name, prefix=prefix, secret_hash=_hash(raw),
                                                scope=scope, expires_at=expires_at)  # fmt: skip
        except IntegrityError:
            continue
        break
    else:  # pragma: no cover
        raise RuntimeError("Could not find a free token prefix.")
    audit_record(actor=user, action="api_token.create", target=f"API token {token.prefix}", name=name,
                 scope=scope, expires_at=expires_at)  # fmt: skip
    return token, raw


@transaction.atomic
def api_token_revoke(*, user: User, token_id) -> ApiToken | None:
    """Revoke one of ``user``'s own tokens (None if they have no such token); revoking twice is a no-op."""
    try:
        token_id = int(token_id)
    except (TypeError, ValueError):
        return None
    token = ApiToken.objects.select_for_update().filter(pk=token_id, user=user).first()
    if token is None:
        return None
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_record(actor=user, action="api_token.revoke", target=f"API token {token.prefix}", name=token.name)
    return token


def api_token_authenticate(raw: str) -> ApiToken | None:
    """The usable token (with its user) that ``raw`` is, or None: unknown, revoked, expired, or its user
    deactivated. The secret is compared in constant time; ``last_used_at`` is kept to the minute."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 100:
        return None
    prefix = raw[: len(TOKEN_PREFIX) + PREFIX_CHARS]
    token = ApiToken.objects.select_related("user").filter(prefix=prefix).first()
    if token is None or not hmac.compare_digest(token.secret_hash, _hash(raw)):
        return None
    now = timezone.now()
    if not token.is_usable(now) or not token.user.is_active:
        return None
    if token.last_used_at is None or token.last_used_at < now - LAST_USED_PRECISION:
        ApiToken.objects.filter(pk=token.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_PRECISION)
        ).update(last_used_at=now)
        token.last_used_at = now
    return token


def idempotency_keys_purge() -> int:
    """Forget the responses older than ``IDEMPOTENCY_KEY_HOURS`` (a beat task); returns how many."""
    cutoff = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_HOURS)
    deleted, _details = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted


# --- tickets: several field changes in one request ---------------------------------------------


@transaction.atomic
def ticket_apply_changes(*, ticket, actor: User, changes: dict, check=None):
    """Apply a PATCH's changes through the ticket services, one at a time as the agent screens do (queue
    first, since the assignee must belong to its team; then assignee, status, priority, tags), all or none.
    ``check(locked_ticket)`` runs first under the row lock (the ``If-Match`` comparison), so no change can
    slip in between the check and the update."""
    from tickets import services as ticket_services
    from tickets.models import Ticket

    locked = Ticket.objects.select_for_update(of=("self",)).get(pk=ticket.pk)
    if check is not None:
        check(locked)
    ticket = locked
    if "queue" in changes:
        ticket = ticket_services.ticket_set_queue(ticket=ticket, queue=changes["queue"], actor=actor)
    if "assignee" in changes:
        ticket = ticket_services.ticket_assign(ticket=ticket, assignee=changes["assignee"], actor=actor)
    if "status" in changes:
        ticket = ticket_services.ticket_set_status(ticket=ticket, status=changes["status"], actor=actor)
    if "priority" in changes:
        ticket = ticket_services.ticket_set_priority(ticket=ticket, priority=changes["priority"], actor=actor)
    if "tags" in changes:
        wanted = {name.strip().lower() for name in changes["tags"] if name.strip()}
        current = set(ticket.tags.values_list("name", flat=True))
        if wanted != current:
            ticket = ticket_services.ticket_tag(ticket=ticket, actor=actor, add=wanted - current,
                                                remove=current - wanted)  # fmt: skip
    return ticket
