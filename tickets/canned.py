"""Canned responses: saved replies with placeholders, shared or personal."""

import re

from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils.translation import gettext as _

from helpdesk.errors import ValidationError
from helpdesk.models import User

from .models import CannedResponse, Ticket

# What a canned response may say about the ticket at hand; anything else in braces is left as typed.
PLACEHOLDERS = {
    "customer.first_name": lambda ticket, agent: ticket.customer.first_name or ticket.customer.name,
    "customer.name": lambda ticket, agent: ticket.customer.name or ticket.customer.email,
    "customer.email": lambda ticket, agent: ticket.customer.email,
    "ticket.reference": lambda ticket, agent: ticket.reference,
    "ticket.subject": lambda ticket, agent: ticket.subject,
    "agent.first_name": lambda ticket, agent: agent.get_short_name(),
    "agent.name": lambda ticket, agent: agent.get_full_name(),
}
_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+\.[a-z_]+)\s*\}\}")


def canned_render(*, response: CannedResponse, ticket: Ticket, agent: User) -> str:
    """The response's text with its placeholders filled in for ``ticket`` and ``agent``."""

    def fill(match):
        value = PLACEHOLDERS.get(match.group(1))
        return value(ticket, agent) if value else match.group(0)

    return _PLACEHOLDER.sub(fill, response.body)


def canned_visible_to(user: User, *, query: str = "") -> QuerySet[CannedResponse]:
    """The shared responses and the user's own, matching ``query`` in title or text."""
    responses = CannedResponse.objects.filter(Q(owner__isnull=True) | Q(owner=user))
    query = query.strip()
    if query:
        responses = responses.filter(Q(title__icontains=query) | Q(body__icontains=query))
    return responses.order_by("title", "id")


def access_canned(user: User, response_id) -> CannedResponse:
    try:
        return canned_visible_to(user).get(pk=int(response_id))
    except (TypeError, ValueError, CannedResponse.DoesNotExist):
        raise Http404("No such canned response.") from None


def _checked(*, user: User, title: str, body: str, shared: bool) -> tuple[str, str]:
    title, body = " ".join((title or "").split())[:100], (body or "").strip()
    if not title or not body:
        raise ValidationError(_("A canned response needs a title and a text."))
    if shared and not user.is_admin:
        raise ValidationError(_("Only owners and admins can share a canned response with everyone."))
    return title, body


def canned_create(*, user: User, title: str, body: str, shared: bool = False) -> CannedResponse:
    """A new response: the user's own, or shared with every agent (owners and admins only)."""
    title, body = _checked(user=user, title=title, body=body, shared=shared)
    return CannedResponse.objects.create(title=title, body=body, owner=None if shared else user)


def canned_update(*, user: User, response_id, title: str | None = None, body: str | None = None,
                  shared: bool | None = None) -> CannedResponse:  # fmt: skip
    """Change one's own response, or (owners and admins only) a shared one, with the rules of
    ``canned_create``: only owners and admins share one; a shared one they unshare becomes their own."""
    response = access_canned(user, response_id)
    if response.is_shared and not user.is_admin:
        raise ValidationError(_("Only owners and admins can change a shared canned response."))
    shared = response.is_shared if shared is None else shared
    response.title, response.body = _checked(user=user, title=response.title if title is None else title,
                                             body=response.body if body is None else body, shared=shared)  # fmt: skip
    response.owner = None if shared else (response.owner or user)
    response.save(update_fields=["title", "body", "owner"])
    return response


def canned_delete(*, user: User, response_id) -> None:
    """Delete one's own response; shared ones are deleted by owners and admins only."""
    response = access_canned(user, response_id)
    if response.is_shared and not user.is_admin:
        raise ValidationError(_("Only owners and admins can delete a shared canned response."))
    response.delete()
