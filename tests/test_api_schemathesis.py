"""Schemathesis against the live schema, through the WSGI app: every operation, with an agent's token, gets
no 5xx and no answer that the schema does not describe. Few examples per operation, to stay quick."""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from .api_fixtures import token_for


@pytest.fixture
def wsgi_app():
    """Django's WSGI app, kept from closing the test's database connection (it holds the test's
    transaction) at the start and end of each request, as Django's own test client does."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def agent_token(agent, ticket, settings):
    settings.API_RATE_LIMIT = 100_000
    settings.ALLOWED_HOSTS = ["*"]
    return token_for(agent)


@pytest.fixture
def api_schema(wsgi_app, agent_token):
    return schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", wsgi_app,
                                          headers={"Authorization": f"Bearer {agent_token}"})  # fmt: skip


EXAMPLES = 10  # per operation: the run stays well under a minute
# No 5xx, and every answer as the schema describes it (status, content type, headers, body). Not checked:
# that every schema-valid request succeeds: a queue of another team is schema-valid and rightly refused.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]  # fmt: skip


def test_every_operation_answers_as_the_schema_says(api_schema, agent_token):
    # Each operation as its own Hypothesis run (schemathesis's pytest plugin relies on a pytest internal that
    # pytest 9 no longer has); the failures of all are reported together.
    headers = {"Authorization": f"Bearer {agent_token}"}
    failures, operations = [], 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        @given(case=operation.as_strategy())
        def check(case):
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            check()
        except (Exception, BaseExceptionGroup) as error:
            failures.append(f"{operation.method.upper()} {operation.path}: {error}")
    assert operations >= 8
    assert failures == [], "\n\n".join(failures)
