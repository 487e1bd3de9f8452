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
    customer = Customer.objects.filter(email__iexact=email).first()
    if customer is not None:
        if name and not customer.name:
            customer.name = name.strip()
            customer.save(update_fields=["name", "updated_at"])
        return customer
    organization = organization_for_email(email)
    sql = (
        "INSERT INTO customers_customer (email, name, organization_id, created_at, updated_at) "
        "VALUES (%s, %s, %s, now(), now()) ON CONFLICT (lower(email)) DO NOTHING RETURNING id"
    )
    with transaction.get_connection().cursor() as cursor:
        cursor.execute(sql, [email, name.strip(), organization.pk if organization else None])
        cursor.fetchone()
    return Customer.objects.get(email__iexact=email)
