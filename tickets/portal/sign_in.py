"""Customers' optional sign-in to the portal by a one-time link sent to their email address.

The link is signed, works for ``SIGN_IN_LINK_MINUTES``, and only once: it carries a fingerprint of the
customer's ``portal_signed_in_at``, which signing in moves on. Opening it shows a button; only pressing
it signs in, so mail scanners that follow links cannot use it up. A signed-in customer is remembered
in the session (apart from any agent signed in with the same browser) and sees all their requests.
"""

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import salted_hmac

from customers.models import Customer

SALT = "tickets.portal.sign-in"
SESSION_KEY = "portal_customer_id"
SIGN_IN_LINK_MINUTES = 30


def _fingerprint(customer: Customer) -> str:
    stamp = customer.portal_signed_in_at.isoformat() if customer.portal_signed_in_at else ""
    return salted_hmac(SALT, f"{customer.pk}:{stamp}", algorithm="sha256").hexdigest()[:24]


def sign_in_url(customer: Customer) -> str:
    token = signing.dumps([customer.pk, _fingerprint(customer)], salt=SALT)
    return settings.SITE_URL.rstrip("/") + reverse("portal:sign_in_link", args=[token])


def customer_for_link(token: str) -> Customer | None:
    """The customer a sign-in link is for, if it is genuine, recent and not used yet."""
    try:
        customer_id, fingerprint = signing.loads(token, salt=SALT, max_age=SIGN_IN_LINK_MINUTES * 60)
    except (signing.BadSignature, ValueError, TypeError):  # SignatureExpired is a BadSignature
        return None
    customer = Customer.objects.filter(pk=customer_id).first()
    if customer is None or _fingerprint(customer) != fingerprint:
        return None
    return customer


def sign_in(request, customer: Customer) -> None:
    """Remember the customer in the session (a new session key) and use up their links."""
    request.session.cycle_key()
    request.session[SESSION_KEY] = customer.pk
    customer.portal_signed_in_at = timezone.now()
    customer.save(update_fields=["portal_signed_in_at", "updated_at"])


def signed_in_customer(request) -> Customer | None:
    customer_id = request.session.get(SESSION_KEY)
    return Customer.objects.select_related("organization").filter(pk=customer_id).first() if customer_id else None


def sign_out(request) -> None:
    request.session.pop(SESSION_KEY, None)
