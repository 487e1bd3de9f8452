"""Fixtures of the API tests: clients that send an agent's personal token (imported by tests/test_api_*.py)."""

import pytest
from rest_framework.test import APIClient

from api.services import api_token_create


def token_for(user, scope: str = "write", **kwargs) -> str:
    return api_token_create(user=user, name="Tests", scope=scope, **kwargs)[1]


def client_with(token: str | None) -> APIClient:
    client = APIClient()
    if token:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def api_as(request):
    """An API client for a role's fixture ("agent", "other_agent", "admin_user", "owner") with a write token
    (``scope="read"`` for a read-only one), or without credentials ("anonymous")."""

    def make(role: str, scope: str = "write") -> APIClient:
        if role == "anonymous":
            return client_with(None)
        return client_with(token_for(request.getfixturevalue(role), scope))

    return make
