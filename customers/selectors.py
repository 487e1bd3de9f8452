"""Reads of customers that depend on who is asking."""

from django.db.models import Case, IntegerField, Q, Value, When

from helpdesk.models import User

from .models import Customer

SEARCH_MAX_LIMIT = 50


def customers_visible_to(user: User):
    """Every customer, for every active agent: for now any agent may find any customer. The CRM
    issue (issue 6) will restrict this (by organization or team); callers already pass ``user``."""
    if not user.is_authenticated or not user.is_active:
        return Customer.objects.none()
    return Customer.objects.all()


def customer_search(*, user: User, query: str, limit: int = 10) -> list[Customer]:
    """Customers whose email or name contains ``query`` (case-insensitive), best first: an exact
    email, then emails and names that start with it, then the rest, each group by name.

    Every agent may search every customer for now (see ``customers_visible_to``). ``icontains`` is a
    sequential scan, fine at today's size; a trigram index comes with the CRM issue.
    """
    query = " ".join((query or "").split())[:200]
    if not query:
        return []
    limit = max(1, min(limit, SEARCH_MAX_LIMIT))
    rank = Case(
        When(email__iexact=query, then=Value(0)),
        When(Q(email__istartswith=query) | Q(name__istartswith=query), then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
    matches = customers_visible_to(user).filter(Q(email__icontains=query) | Q(name__icontains=query))
    return list(matches.annotate(rank=rank).order_by("rank", "name", "email", "pk")[:limit])


def access_customer(user: User, customer_id) -> Customer | None:
    """The customer if ``user`` may see it, else ``None`` (an id that does not parse is ``None`` too)."""
    try:
        customer_id = int(customer_id)
    except (TypeError, ValueError):
        return None
    return customers_visible_to(user).filter(pk=customer_id).first()
