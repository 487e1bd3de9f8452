"""The API's foundation: the schema and its docs, one error body for every error, rate limits."""

import pytest
from django.urls import reverse

from api.exceptions import exception_handler
from helpdesk.errors import InvalidTransition, ValidationError

from .api_fixtures import client_with, token_for

LIST = reverse("api:ticket-list")


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["code"] == code and body["error"]["message"]
    return body["error"]


def test_the_schema_is_openapi_3_and_describes_the_operations(api_as, db):
    response = api_as("agent").get(reverse("api:schema"), HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert {"/api/v1/tickets/", "/api/v1/tickets/{id}/", "/api/v1/tickets/{id}/reply/"} <= set(schema["paths"])
    assert schema["components"]["securitySchemes"]["tokenAuth"] == {
        "type": "http", "scheme": "bearer",
        "description": "A personal API token, created on your settings page (“Your settings”).",
    }  # fmt: skip
    create = schema["paths"]["/api/v1/tickets/"]["post"]
    assert {"201", "400", "401", "403", "409", "422", "429"} <= set(create["responses"])


def test_the_schema_needs_credentials(api_as, db):
    response = api_as("anonymous").get(reverse("api:schema"), HTTP_ACCEPT="application/json")
    assert_error(response, 401, "not_authenticated")


def test_the_docs_page_uses_our_static_files_no_cdn(client, agent):
    client.force_login(agent)
    html = client.get(reverse("api:docs")).content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower() and "unpkg" not in html


def test_the_docs_page_sends_visitors_to_sign_in(client, db):
    response = client.get(reverse("api:docs"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_401_without_credentials_has_a_bearer_challenge(api_as, db):
    response = api_as("anonymous").get(LIST)
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_401_for_a_token_that_is_not_one(db):
    assert_error(client_with("hd_notarealtoken").get(LIST), 401, "authentication_failed")
    assert_error(client_with("something-else").get(LIST), 401, "authentication_failed")


def test_403_for_writing_with_a_read_token(api_as, queue, customer):
    body = assert_error(api_as("agent", scope="read").post(LIST, {}, format="json"), 403, "permission_denied")
    assert body["message"] == "Your token may only read: its scope is “read”."


def test_404_for_an_unknown_address_under_the_api(api_as, db):
    assert_error(api_as("agent").get("/api/v1/nothing-here/"), 404, "not_found")
    assert_error(api_as("agent").get("/api/v1/tickets/99999999999999999999999/"), 404, "not_found")


def test_405_for_a_method_an_address_does_not_take(api_as, db):
    assert_error(api_as("agent").delete(LIST), 405, "method_not_allowed")


def test_415_for_a_body_that_is_not_json(api_as, db):
    response = api_as("agent").generic("POST", LIST, "subject=x", content_type="text/plain")
    assert_error(response, 415, "unsupported_media_type")


def test_400_for_json_that_does_not_parse(api_as, db):
    response = api_as("agent").generic("POST", LIST, "{not json", content_type="application/json")
    assert_error(response, 400, "parse_error")


def test_400_lists_the_problems_per_field(api_as, queue):
    body = assert_error(api_as("agent").post(LIST, {"queue": "x"}, format="json"), 400, "invalid")
    assert body["message"] == "Please correct the fields marked below."
    assert body["fields"]["subject"] == ["This field is required."]
    assert body["fields"]["queue"] == ["A valid integer is required."]


def test_service_errors_become_400_and_409_with_their_reason():
    response = exception_handler(ValidationError("A ticket needs a subject."), {})
    assert response.status_code == 400
    assert response.data == {"error": {"code": "invalid", "message": "A ticket needs a subject.", "fields": {}}}
    response = exception_handler(ValidationError({"email": "Not an address."}), {})
    assert response.data["error"]["fields"] == {"email": ["Not an address."]}
    response = exception_handler(InvalidTransition("Closed."), {})
    assert response.status_code == 409
    assert response.data == {"error": {"code": "invalid_transition", "message": "Closed.", "fields": {}}}


def test_error_messages_speak_the_requests_language(api_as, db):
    response = api_as("anonymous").get(LIST, HTTP_ACCEPT_LANGUAGE="de")
    assert response.json()["error"]["message"] != "Authentication credentials were not provided."


# --- rate limits ----------------------------------------------------------------------------------


@pytest.fixture
def low_limit(settings):
    settings.API_RATE_LIMIT = 3
    settings.API_RATE_LIMIT_SECONDS = 60


def test_429_with_retry_after_once_a_token_used_its_limit(low_limit, agent, admin_user):
    client = client_with(token_for(agent))
    assert [client.get(LIST).status_code for _ in range(3)] == [200, 200, 200]
    response = client.get(LIST)
    assert_error(response, 429, "throttled")
    assert 0 < int(response["Retry-After"]) <= 60
    # another token has its own count
    assert client_with(token_for(agent)).get(LIST).status_code == 200


def test_the_browser_session_is_limited_per_agent(low_limit, client, agent):
    client.force_login(agent)
    statuses = [client.get(LIST).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


def test_with_redis_down_requests_go_through(low_limit, agent, settings):
    settings.CACHES = {"default": {"BACKEND": "helpdesk.redis_cache.RedisCache",
                                   "LOCATION": "redis://127.0.0.1:1/0"}}  # fmt: skip
    client = client_with(token_for(agent))
    assert {client.get(LIST).status_code for _ in range(5)} == {200}
