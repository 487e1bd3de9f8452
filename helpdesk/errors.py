"""Errors shared by every app.

Services raise these; views and the API turn them into a 4xx answer with the message.
"""

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

__all__ = ["Http404", "InvalidTransition", "PermissionDenied", "ValidationError"]


class InvalidTransition(ValidationError):
    """A status change the ticket rules do not allow (e.g. reopening a closed ticket)."""
