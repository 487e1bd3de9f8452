import re
from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils.translation import gettext as _

from .models import Customer, CustomerEmail, CustomerEvent, CustomerNote, CustomerPreference, Organization


def organization_for_email(email: str) -> Organization | None:
    """The organization that lists this address's domain, if any."""
    domain = email.rsplit("@", 1)[-1].strip().lower()
    return Organization.objects.filter(domains__contains=[domain]).order_by("pk").first() if domain else None


def customer_get_or_create(*, email: str, name: str = "", language: str = "") -> Customer:
    """The customer with this email address (case-insensitive), created if new; ``name`` and ``language``
    fill in missing ones.

    Safe under concurrency: the case-insensitive unique constraint decides, not a check in Python.
    """
    email = (email or "").strip()
    customer = customers_get_or_create([(email, name)], language=language)[email.lower()]
    if language and not customer.language:
        customer.language = language
        customer.save(update_fields=["language", "updated_at"])
    return customer


_FIELDS = ["id", "email", "name", "language", "organization_id", "created_at", "updated_at"]

BY_DOMAIN = object()  # ``customer_create``'s organization when none is given: the one of the email's domain


@transaction.atomic
def customer_create(*, email: str, actor, name: str = "", phone: str = "", organization=BY_DOMAIN, language: str = "",
                    time_zone: str = "", tags: Sequence[str] = (), custom_fields: dict | None = None) -> Customer:  # fmt: skip
    """A new customer, as an agent adds one (the API), with its profile fields already checked. Refused with
    a ValidationError on ``email`` when the address is not valid or is already a customer's, primary or
    other (the case-insensitive unique constraint decides between concurrent requests). Without
    ``organization``, the customer joins the one that lists the email's domain, as ``customer_get_or_create``.
    The customer's timeline starts with who added them (an event on ``email``)."""
    email = (email or "").strip()
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError({"email": _("“%(email)s” is not a valid email address.") % {"email": email}}) from None
    taken = ValidationError({"email": _("A customer with this email address exists already.")})
    if _address_taken(email, by_other_than=None):
        raise taken
    if organization is BY_DOMAIN:
        organization = organization_for_email(email)
    try:
        with transaction.atomic():
            customer = Customer.objects.create(email=email, name=name.strip(), phone=phone.strip(),
                                               organization=organization, language=language, time_zone=time_zone,
                                               tags=list(tags), custom_fields=custom_fields or {})  # fmt: skip
    except IntegrityError:  # created by someone else since the check
        raise taken from None
    _event(customer, actor, "email", "", email)  # the timeline's first entry: who added them
    return customer


# What mail really carries as a sender, beyond what Django's validator accepts for a form: non-ASCII (SMTPUTF8)
# local parts and domains, quoted local parts ("Big Bug"@bug.com), domains without a dot.
_MAIL_ADDRESS = re.compile(r'(?:"(?:[^"\\\r\n]|\\.)+"|[^\s@<>,;:"()\[\]\\]+)@[^\s@<>,;:"()\[\]\\]+')


@transaction.atomic
def customers_get_or_create(people: Sequence[tuple[str, str]], *, strict: bool = True,
                            language: str = "") -> dict[str, Customer]:  # fmt: skip
    """The customers with these (email, name) pairs, created where new (with ``language``), by lower-case
    email; in two or three statements however many there are (a batch of inbound email). A name fills in a
    missing one.
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
    if len(found) < len(wanted):  # a customer's other address? (only new senders pay this query)
        others = CustomerEmail.objects.alias(email_lower=Lower("email")).filter(
            email_lower__in=[key for key in wanted if key not in found]
        )
        found |= {other.email.lower(): other.customer for other in others.select_related("customer")}
    missing = [wanted[key] for key in wanted if key not in found]
    if missing:
        found |= _insert_customers(missing, language=language)
        if len(found) < len(wanted):  # others created some just now
            found |= {c.email.lower(): c for c in Customer.objects.with_emails(k for k in wanted if k not in found)}
    for key, (_email, name) in wanted.items():
        customer = found[key]
        if name and not customer.name:
            customer.name = name
            customer.save(update_fields=["name", "updated_at"])
    return found


def _insert_customers(people: list[tuple[str, str]], *, language: str = "") -> dict[str, Customer]:
    """One INSERT of new customers, each joining the organization of its email's domain; addresses someone
    else created in the meantime are skipped (the caller reads them)."""
    params = [language, [email for email, _name in people], [name for _email, name in people],
              [email.rsplit("@", 1)[-1].lower() for email, _name in people]]  # fmt: skip
    sql = (
        "INSERT INTO customers_customer (email, name, language, organization_id, created_at, updated_at) "
        "SELECT v.email, v.name, %s::varchar, (SELECT o.id FROM customers_organization o WHERE o.domains @> ARRAY[v.domain]::varchar[]"
        " ORDER BY o.id LIMIT 1), now(), now() FROM unnest(%s::varchar[], %s::varchar[], %s::varchar[])"
        " AS v(email, name, domain) ON CONFLICT (lower(email)) DO NOTHING RETURNING " + ", ".join(_FIELDS)
    )
    with transaction.get_connection().cursor() as cursor:
        cursor.execute(sql, params)
        created = [Customer(**dict(zip(_FIELDS, row, strict=True))) for row in cursor.fetchall()]
    for customer in created:
        customer._state.adding = False
    return {customer.email.lower(): customer for customer in created}


# --- the agent's edits: profile, other addresses, notes, preferences ------------------------------

PROFILE_FIELDS = ["name", "phone", "organization", "language", "time_zone", "tags"]


def _shown(value) -> str:
    if isinstance(value, list):
        return ", ".join(value)
    return "" if value is None else str(value)


@transaction.atomic
def customer_update(*, customer: Customer, actor, **changes) -> list[str]:
    """Change profile fields and custom field values (``custom_fields`` as a whole dict, already checked
    by the form); one CustomerEvent per changed field, for the timeline. Returns the changed fields."""
    changed = []
    for field in [*PROFILE_FIELDS, "custom_fields"]:
        if field not in changes:
            continue
        old, new = getattr(customer, field), changes[field]
        if field == "custom_fields":
            for key in sorted(set(old) | set(new)):
                if old.get(key) != new.get(key):
                    changed.append(f"custom:{key}")
                    _event(customer, actor, f"custom:{key}", old.get(key), new.get(key))
        elif old != new:
            changed.append(field)
            _event(customer, actor, field, old, new)
        setattr(customer, field, new)
    if changed:
        customer.save()
    return changed


@transaction.atomic
def customer_apply_changes(*, customer: Customer, actor, changes: dict, check=None) -> Customer:
    """``customer_update`` under the customer's row lock (the API's PATCH): ``check(locked_customer)`` runs
    first (the ``If-Match`` comparison), so no change slips in between. ``changes["custom_fields"]`` holds
    only the values to change, ``None`` for one to remove; the others are kept. Returns the customer."""
    locked = Customer.objects.select_for_update(of=("self",)).get(pk=customer.pk)
    if check is not None:
        check(locked)
    changes = dict(changes)
    if "custom_fields" in changes:
        custom = dict(locked.custom_fields)
        for key, value in changes["custom_fields"].items():
            if value is None:
                custom.pop(key, None)
            else:
                custom[key] = value
        changes["custom_fields"] = custom
    customer_update(customer=locked, actor=actor, **changes)
    return locked


def _event(customer, actor, field, old, new) -> None:
    CustomerEvent.objects.create(customer=customer, actor=actor, kind=CustomerEvent.Kind.CHANGED, field=field,
                                 old_value=_shown(old), new_value=_shown(new))  # fmt: skip


def _address_taken(email: str, *, by_other_than: Customer | None) -> bool:
    customers = Customer.objects.with_email(email)
    if by_other_than is not None:
        customers = customers.exclude(pk=by_other_than.pk)
    return (
        customers.exists()
        or CustomerEmail.objects.alias(email_lower=Lower("email")).filter(email_lower=email.lower()).exists()
    )


@transaction.atomic
def customer_email_add(*, customer: Customer, email: str, actor) -> CustomerEmail:
    """Another address of the customer: mail from it joins them. Refused (ValidationError) when it is not
    valid or belongs to someone (merge the two customers instead)."""
    email = (email or "").strip()
    validate_email(email)
    Customer.objects.select_for_update().filter(pk=customer.pk).first()  # one change at a time per customer
    if email.lower() == customer.email.lower() or _address_taken(email, by_other_than=customer):
        raise ValidationError(
            _("%(email)s is already the address of a customer. Merge the two customers instead."),
            params={"email": email},
        )
    other = CustomerEmail.objects.create(customer=customer, email=email)
    _event(customer, actor, "other_emails", "", email)
    return other


@transaction.atomic
def customer_email_remove(*, customer: Customer, other: CustomerEmail, actor) -> None:
    other.delete()
    _event(customer, actor, "other_emails", other.email, "")


@transaction.atomic
def customer_email_make_primary(*, customer: Customer, other: CustomerEmail, actor) -> None:
    """Swap: the other address becomes the primary one (emails go to it), the primary one an other."""
    old = customer.email
    customer.email, other.email = other.email, old
    other.save(update_fields=["email"])
    customer.email_bouncing_at = None  # bouncing was about the old address
    customer.save(update_fields=["email", "email_bouncing_at", "updated_at"])
    _event(customer, actor, "email", old, customer.email)


def customer_note_add(*, customer: Customer, author, body: str, pinned: bool = False) -> CustomerNote:
    return CustomerNote.objects.create(customer=customer, author=author, body=body.strip(), pinned=pinned)


def customer_note_pin(*, note: CustomerNote, pinned: bool) -> None:
    note.pinned = pinned
    note.save(update_fields=["pinned", "updated_at"])


def customer_note_delete(*, note: CustomerNote) -> None:
    note.delete()


@transaction.atomic
def customer_preference_set(*, customer: Customer, key: str, value: str, actor) -> CustomerPreference:
    """Set a preference; a key that exists in any case is updated (keeping its spelling)."""
    key, value = " ".join(key.split()), value.strip()
    preference = (CustomerPreference.objects.select_for_update().alias(key_lower=Lower("key"))
                  .filter(customer=customer, key_lower=key.lower()).first())  # fmt: skip
    if preference is None:
        preference = CustomerPreference.objects.create(customer=customer, key=key, value=value)
        _event(customer, actor, f"preference:{key}", "", value)
    elif preference.value != value:
        _event(customer, actor, f"preference:{preference.key}", preference.value, value)
        preference.value = value
        preference.save(update_fields=["value", "updated_at"])
    return preference


def customer_preference_delete(*, customer: Customer, preference: CustomerPreference, actor) -> None:
    preference.delete()
    _event(customer, actor, f"preference:{preference.key}", preference.value, "")
