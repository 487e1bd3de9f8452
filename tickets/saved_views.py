"""Saved views: an agent's own ticket lists (services and selectors, kept beside each other since
they are small and nothing else uses them)."""

from django.db import IntegrityError, transaction
from django.http import Http404, QueryDict
from django.utils.translation import gettext as _

from helpdesk.errors import ValidationError
from helpdesk.models import User

from .models import SavedView

# The list parameters a saved view keeps; anything else in the URL (page, junk) is dropped.
KEPT_PARAMETERS = (
    "view", "queue", "sort", "q", "status", "priority", "channel", "assignee", "tag", "created_from", "created_to",
)  # fmt: skip


def clean_query(query: str) -> str:
    """The list parameters of a query string, in a fixed order (so equal filters compare equal)."""
    params = QueryDict(query, mutable=True)
    kept = QueryDict(mutable=True)
    for key in KEPT_PARAMETERS:
        values = [v for v in params.getlist(key) if v.strip()]
        if values:
            kept.setlist(key, values)
    return kept.urlencode()[:1000]


@transaction.atomic
def saved_view_create(*, user: User, name: str, query: str, pinned: bool = True) -> SavedView:
    """Save the list's current filters under a name of the agent's own; a name already used is refused."""
    name = " ".join((name or "").split())[:60]
    if not name:
        raise ValidationError(_("Give the view a name."))
    try:
        with transaction.atomic():
            return SavedView.objects.create(user=user, name=name, query=clean_query(query), pinned=pinned)
    except IntegrityError:
        raise ValidationError(_("You already have a view called “%(name)s”."), params={"name": name}) from None


def saved_view_delete(*, user: User, view_id: int) -> None:
    deleted, _rows = SavedView.objects.filter(user=user, pk=view_id).delete()
    if not deleted:
        raise Http404("No such view.")


def saved_views_pinned(*, user: User) -> list[SavedView]:
    return list(SavedView.objects.filter(user=user, pinned=True).order_by("name", "id"))
