from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.translation import gettext as _

from .models import Customer, Organization


def organization_for_email(email: str) -> Organization | None:
    """The organization that lists this address's domain, if any."""
    domain = email.rsplit("@", 1)[-1].strip().lower()
    return Organization.objects.filter(domains__contains=[domain]).order_by("pk").first() if domain else None


@transaction.atomic
def customer_get_or_create(*, email: str, name: str = "") -> Customer:
    """The customer with this email address (case-insensitive), created if new.

    Safe under concurrency: the case-insensitive unique constraint decides, not a check in Python.
    """
    email = (email or "").strip()
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError(_("“%(email)s” is not a valid email address."), params={"email": email}) from None
    customer = Customer.objects.with_email(email).first()
    if customer is not None:
        if name and not customer.name:
            customer.name = name.strip()
            customer.save(update_fields=["name", "updated_at"])
        return customer
    sql = (
        "INSERT INTO customers_customer (email, name, organization_id, created_at, updated_at) "
        "SELECT %s, %s, (SELECT id FROM customers_organization WHERE domains @> ARRAY[%s]::varchar[] ORDER BY id"
        " LIMIT 1), now(), now() ON CONFLICT (lower(email)) DO NOTHING"
        " RETURNING id, email, name, organization_id, created_at, updated_at"
    )
    domain = email.rsplit("@", 1)[-1].strip().lower()
    with transaction.get_connection().cursor() as cursor:
        cursor.execute(sql, [email, name.strip(), domain])
        row = cursor.fetchone()
    if row is None:  # someone else created it just now
        return Customer.objects.with_email(email).get()
    return Customer(**dict(zip(["id", "email", "name", "organization_id", "created_at", "updated_at"], row,
                               strict=True)))  # fmt: skip
