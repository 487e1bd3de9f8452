"""The OpenAPI schema (drf-spectacular): the Bearer token scheme, and the error answers every operation can
give, all with the one error body of ``api.exceptions``."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

ErrorSerializer = inline_serializer(
    name="Error",
    fields={
        "error": inline_serializer(
            name="ErrorDetail",
            fields={
                "code": serializers.CharField(help_text="Stable, for programs: invalid, not_found, throttled, …"),
                "message": serializers.CharField(help_text="For people, in the request's language."),
                "fields": serializers.DictField(child=serializers.ListField(child=serializers.CharField()),
                                                help_text="The problems of each input field."),
            },
        )
    },
)  # fmt: skip

ERRORS = {
    "400": "The input is not valid (see `fields`).",
    "401": "No credentials, or a token that is not valid, expired or revoked.",
    "403": "Not allowed: a read-only token writing, or a CSRF failure with the session.",
    "404": "Not found, or not visible to you.",
    "406": "The Accept header asks for a format the API does not offer.",
    "429": "Too many requests: wait the seconds in Retry-After.",
}
WRITE_ERRORS = {
    "409": "The change is not possible in the resource's current state.",
    "415": "The request body's Content-Type is not JSON or multipart/form-data.",
    "422": "The Idempotency-Key was used before with a different request.",
}
PATCH_ERRORS = {"412": "If-Match does not match the resource's current ETag: read it again."}


class AutoSchema(SpectacularAutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        errors = dict(ERRORS)
        if self.method in ("POST", "PATCH", "PUT", "DELETE"):
            errors |= WRITE_ERRORS
        if self.method in ("PATCH", "PUT"):
            errors |= PATCH_ERRORS
        for code, description in errors.items():
            if code not in responses:
                responses[code] = self._get_response_for_code(
                    OpenApiResponse(response=ErrorSerializer, description=description), code
                )
        if "429" in responses:
            responses["429"]["headers"] = {
                "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds until the limit resets."}
            }
        return responses


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.BearerTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer",
                "description": "A personal API token, created on your settings page (“Your settings”)."}  # fmt: skip
