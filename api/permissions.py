"""Who may use the API: active staff users (agents, admins, owners), as on the agent screens. Customers are
not users and are refused. A token with the "read" scope may only read. What each agent may see and change
is decided further by the same selectors and services as on the screens."""

from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import SAFE_METHODS, BasePermission

from .models import ApiToken


class IsAgent(BasePermission):
    message = _("Your token may only read: its scope is “read”.")

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated and user.is_active):
            return False
        token = request.auth
        return not (isinstance(token, ApiToken) and request.method not in SAFE_METHODS and not token.can_write)


class AdminsWrite(BasePermission):
    """Everyone reads; owners and admins write (as in the Django admin, open to them only)."""

    message = _("Only owners and admins can do this.")

    def has_permission(self, request, view):
        return request.method in SAFE_METHODS or request.user.is_admin
