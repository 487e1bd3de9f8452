"""Organizations (the companies customers belong to): the list every agent reads, and the writes that owners and
admins make (in the Django admin, and through the API). Who may write is checked by the caller, as for every
admins-only action; these functions check the data: a unique name, email domains without ``@`` or spaces,
lower case (``Organization.clean``)."""

import re
from collections.abc import Sequence

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from helpdesk.audit import audit_record
from helpdesk.errors import ValidationError

from .models import Organization

ORGANIZATION_FIELDS = ["name", "domains", "notes", "shared_tickets"]
_DOMAIN = re.compile(r"[^\s@,;/\\<>()\[\]\"']+")


def organizations_filtered(*, query: str = "") -> QuerySet[Organization]:
    """Every organization (agents pick them on the customer list), by name; ``query``: a part of the name, or
    one of its email domains exactly."""
    organizations = Organization.objects.all()
    query = " ".join((query or "").split())[:200]
    if query:
        domain = query.lower().lstrip("@")
        organizations = organizations.filter(Q(name__icontains=query) | Q(domains__contains=[domain]))
    return organizations.order_by("name", "id")


def _checked(organization: Organization) -> None:
    """Normalise and check ``organization`` as the admin's form does (``full_clean``: the unique name too)."""
    organization.name = " ".join(organization.name.split())
    organization.full_clean()  # Organization.clean: domains lower case, without "@", each once, sorted
    wrong = [domain for domain in organization.domains if not _DOMAIN.fullmatch(domain)]
    if wrong:
        raise ValidationError({"domains": _("“%(domain)s” is not an email domain (like example.com).")
                                          % {"domain": wrong[0]}})  # fmt: skip


def _saved(organization: Organization, **kwargs) -> None:
    try:
        with transaction.atomic():
            organization.save(**kwargs)
    except IntegrityError:  # the same name, saved by someone else since the check
        raise ValidationError({"name": _("An organization with this name exists already.")}) from None


@transaction.atomic
def organization_create(*, actor, name: str, domains: Sequence[str] = (), notes: str = "",
                        shared_tickets: bool = False) -> Organization:  # fmt: skip
    """A new organization; ValidationError (by field) when the name is taken or a domain is not one. New
    customers whose email domain it lists join it from now on (existing ones keep theirs)."""
    organization = Organization(name=name, domains=list(domains), notes=notes, shared_tickets=shared_tickets)
    _checked(organization)
    _saved(organization)
    audit_record(actor=actor, action="organization.create", target=f"organization {organization.pk}",
                 name=organization.name, domains=organization.domains, shared_tickets=shared_tickets)  # fmt: skip
    return organization


@transaction.atomic
def organization_update(*, organization: Organization, actor, check=None, **changes) -> Organization:
    """Change any of ``ORGANIZATION_FIELDS`` under the row lock; ``check(locked)`` runs first (the API's
    ``If-Match``). Writes an audit entry with the changed fields' old and new values, when something changed."""
    locked = Organization.objects.select_for_update().get(pk=organization.pk)
    if check is not None:
        check(locked)
    old = {field: getattr(locked, field) for field in ORGANIZATION_FIELDS}
    for field in ORGANIZATION_FIELDS:
        if field in changes:
            setattr(locked, field, list(changes[field]) if field == "domains" else changes[field])
    _checked(locked)
    changed = [field for field in ORGANIZATION_FIELDS if getattr(locked, field) != old[field]]
    if changed:
        _saved(locked, update_fields=[*changed, "updated_at"])
        audit_record(actor=actor, action="organization.update", target=f"organization {locked.pk}",
                     **{field: [old[field], getattr(locked, field)] for field in changed})  # fmt: skip
    return locked
