"""Reads of the API's own rows."""

from django.db.models import QuerySet

from helpdesk.models import User

from .models import ApiToken


def api_tokens_of(user: User) -> QuerySet[ApiToken]:
    """The user's tokens, newest first, revoked ones included (their settings page shows them as such)."""
    return ApiToken.objects.filter(user=user).order_by("-created_at", "-id")
