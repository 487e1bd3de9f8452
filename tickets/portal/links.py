"""Signed, expiring links to a request's page on the portal.

Every email to the customer carries one (the acknowledgement, each reply). The link names the ticket and
its customer and is signed with SECRET_KEY: nobody can make one for another ticket, and it stops working
when the ticket changes hands. After ``PORTAL_LINK_DAYS`` it expires; the customer can then have a fresh
one sent to the address the request belongs to.
"""

from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.urls import reverse

from ..models import Ticket

SALT = "tickets.portal.follow"


class LinkExpired(Exception):
    """A genuine link, but too old: ``ticket`` is the request it was for."""

    def __init__(self, ticket: Ticket):
        super().__init__(f"The link to {ticket.reference} has expired.")
        self.ticket = ticket


def follow_token(ticket: Ticket) -> str:
    return signing.dumps([ticket.pk, ticket.customer_id], salt=SALT)


def follow_url(ticket: Ticket) -> str:
    """The link to put in an email: absolute, on SITE_URL."""
    return settings.SITE_URL.rstrip("/") + reverse("portal:request", args=[follow_token(ticket)])


def ticket_for_token(token: str) -> Ticket:
    """The ticket a link is for. Raises ``LinkExpired`` for a genuine but old link, ``Ticket.DoesNotExist``
    for anything else (tampered, made up, or the ticket is gone or has another customer now)."""
    max_age = timedelta(days=settings.PORTAL_LINK_DAYS)
    try:
        ticket_id, customer_id = signing.loads(token, salt=SALT, max_age=max_age)
        expired = False
    except signing.SignatureExpired:
        ticket_id, customer_id = signing.loads(token, salt=SALT)  # genuine: only its age is wrong
        expired = True
    except (signing.BadSignature, ValueError, TypeError):
        raise Ticket.DoesNotExist("Not a link of ours.") from None
    ticket = Ticket.objects.select_related("customer").filter(pk=ticket_id, customer_id=customer_id).first()
    if ticket is None:
        raise Ticket.DoesNotExist("No such request for this customer.")
    if expired:
        raise LinkExpired(ticket)
    return ticket
