import re
from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.translation import gettext as _

from .models import Customer, Organization


def organization_for_email(email: str) -> Organization | None:
    """The organization that lists this address's domain, if any."""
    domain = email.rsplit("@", 1)[-1].strip().lower()
    return Organization.objects.filter(domains__contains=[domain]).order_by("pk").first() if domain else None


def customer_get_or_create(*, email: str, name: str = "") -> Customer:
    """The customer with this email address (case-insensitive), created if new.

    Safe under concurrency: the case-insensitive unique constraint decides, not a check in Python.
    """
    email = (email or "").strip()
    return customers_get_or_create([(email, name)])[email.lower()]


_FIELDS = ["id", "email", "name", "organization_id", "created_at", "updated_at"]


# What mail really carries as a sender, beyond what Django's validator accepts for a form: non-ASCII (SMTPUTF8)
# local parts and domains, quoted local parts ("Big Bug"@bug.com), domains without a dot.
_MAIL_ADDRESS = re.compile(r'(?:"(?:[^"\\\r\n]|\\.)+"|[^\s@<>,;:"()\[\]\\]+)@[^\s@<>,;:"()\[\]\\]+')


@transaction.atomic
def customers_get_or_create(people: Sequence[tuple[str, str]], *, strict: bool = True) -> dict[str, Customer]:
    """The customers with these (email, name) pairs, created where new, by lower-case email; in two or
    three statements however many there are (a batch of inbound email). A name fills in a missing one.
    Raises ValidationError, and creates nothing, when an address is not valid: by Django's rules when
    ``strict`` (what people type in forms), else by what mail servers deliver (senders of inbound email)."""
    wanted: dict[str, tuple[str, str]] = {}
    for email, name in people:
        email = (email or "").strip()
        try:
            if strict:
                validate_email(email)
            elif len(email) > 254 or not _MAIL_ADDRESS.fullmatch(email):
                raise ValidationError("")
        except ValidationError:
            raise ValidationError(_("“%(email)s” is not a valid email address."), params={"email": email}) from None
        wanted.setdefault(email.lower(), (email, (name or "").strip()))
    found = {customer.email.lower(): customer for customer in Customer.objects.with_emails(wanted)}
    missing = [wanted[key] for key in wanted if key not in found]
    if missing:
        found |= _insert_customers(missing)
        if len(found) < len(wanted):  # others created some just now
            found |= {c.email.lower(): c for c in Customer.objects.with_emails(k for k in wanted if k not in found)}
    for key, (_email, name) in wanted.items():
        customer = found[key]
        if name and not customer.name:
            customer.name = name
            customer.save(update_fields=["name", "updated_at"])
    return found


def _insert_customers(people: list[tuple[str, str]]) -> dict[str, Customer]:
    """One INSERT of new customers, each joining the organization of its email's domain; addresses someone
    else created in the meantime are skipped (the caller reads them)."""
    params = [[email for email, _name in people], [name for _email, name in people],
              [email.rsplit("@", 1)[-1].lower() for email, _name in people]]  # fmt: skip
    sql = (
        "INSERT INTO customers_customer (email, name, organization_id, created_at, updated_at) "
        "SELECT v.email, v.name, (SELECT o.id FROM customers_organization o WHERE o.domains @> ARRAY[v.domain]::varchar[]"
        " ORDER BY o.id LIMIT 1), now(), now() FROM unnest(%s::varchar[], %s::varchar[], %s::varchar[])"
        " AS v(email, name, domain) ON CONFLICT (lower(email)) DO NOTHING RETURNING " + ", ".join(_FIELDS)
    )
    with transaction.get_connection().cursor() as cursor:
        cursor.execute(sql, params)
        created = [Customer(**dict(zip(_FIELDS, row, strict=True))) for row in cursor.fetchall()]
    for customer in created:
        customer._state.adding = False
    return {customer.email.lower(): customer for customer in created}
