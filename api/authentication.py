"""``Authorization: Bearer <token>`` with an agent's personal API token (see ``api.models.ApiToken``)."""

from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from .services import api_token_authenticate


class BearerTokenAuthentication(BaseAuthentication):
    """``request.user`` is the token's agent and ``request.auth`` the ``ApiToken`` (its scope is checked by
    ``api.permissions.IsAgent``)."""

    keyword = b"bearer"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None  # no token: the next scheme (the browser's session) may apply
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(_("Send the header as “Authorization: Bearer <token>”."))
        try:
            raw = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(_("The token is not valid, or it expired or was revoked.")) from None
        token = api_token_authenticate(raw)
        if token is None:
            raise exceptions.AuthenticationFailed(_("The token is not valid, or it expired or was revoked."))
        return token.user, token

    def authenticate_header(self, request):
        # Answering 401 (not 403) to a request without credentials needs a WWW-Authenticate challenge.
        return 'Bearer realm="api"'
