"""The customers API: customers (the agent list's search and filters, their record, added and changed through
``customers.services``), the notes about them, their other email addresses, and organizations.

Thin adapters, as ``api.views``: who may see a customer is ``customers.selectors.customers_visible_to`` (a
customer the agent may not see is a 404, and so are its notes and addresses); any agent may add customers
and change, annotate and give addresses to the ones they see, as on the customer page; only a note's author
or an admin deletes it. Organizations are read by every agent and written by owners and admins only (who
edit them in the admin), else 403.
"""

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from customers import selectors, services
from customers.forms import custom_form_field, stored_value
from customers.models import Customer, CustomerEmail, CustomerNote, CustomField, Organization
from customers.organizations import organization_create, organization_update, organizations_filtered
from helpdesk.tags import TAG_MAX_LENGTH
from helpdesk.time_zones import TIMEZONE_CHOICES

from .etags import check_if_match, record_etag
from .idempotency import idempotent
from .permissions import AdminsWrite, IsAgent
from .serializers import MAX_TAGS, IdField, UserRefSerializer
from .views import ID_REGEX, IDEMPOTENCY_PARAMETER

NOTE_MAX = 5000  # as the customer page's note field
TIME_ZONES = frozenset(name for name, _label in TIMEZONE_CHOICES)

CUSTOMER_ID = OpenApiParameter("customer_id", OpenApiTypes.STR, OpenApiParameter.PATH, pattern=f"^{ID_REGEX}$",
                               description="The customer's id.")  # fmt: skip


def _etag_header(what: str, codes=(200, 201)) -> OpenApiParameter:
    return OpenApiParameter("ETag", OpenApiTypes.STR, OpenApiParameter.HEADER, response=list(codes),
                            description=f"The {what}'s version, for If-Match.")  # fmt: skip


def _if_match(what: str) -> OpenApiParameter:
    return OpenApiParameter("If-Match", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False,
                            description=f"The ETag of the {what} as you read it: the update is refused with 412 if "
                                        "it changed since.")  # fmt: skip


def _location(what: str) -> OpenApiParameter:
    return OpenApiParameter("Location", OpenApiTypes.URI, OpenApiParameter.HEADER, response=[201],
                            description=f"The new {what}'s address.")  # fmt: skip


def _params(serializer_class, request) -> dict:
    """The list's query parameters, checked: one that does not parse is a 400 naming it."""
    params = serializer_class(data=request.query_params)
    if not params.is_valid():
        raise exceptions.ValidationError(params.errors)
    return params.validated_data


def _created(request, data, route: str, args, headers=None) -> Response:
    location = request.build_absolute_uri(reverse(f"api:{route}", args=args))
    return Response(data, status=status.HTTP_201_CREATED, headers={"Location": location, **(headers or {})})


# --- serializers -----------------------------------------------------------------------------------


class OrganizationRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Organization
        fields = ["id", "name"]
        read_only_fields = fields


class OtherEmailSerializer(serializers.ModelSerializer):
    class Meta:
        model = CustomerEmail
        fields = ["id", "email", "created_at"]
        read_only_fields = fields


class CustomerSerializer(serializers.ModelSerializer):
    organization = OrganizationRefSerializer(read_only=True, allow_null=True)
    language = serializers.CharField(read_only=True, help_text="Emails to them are written in it; empty: the default.")
    time_zone = serializers.CharField(read_only=True, help_text="Empty: the help desk's time zone.")
    tags = serializers.ListField(child=serializers.CharField(), read_only=True)
    custom_fields = serializers.DictField(read_only=True, help_text="The admins' custom fields' values, by key.")
    other_emails = OtherEmailSerializer(many=True, read_only=True)
    ticket_count = serializers.IntegerField(read_only=True)
    last_ticket_at = serializers.DateTimeField(read_only=True, allow_null=True)

    class Meta:
        model = Customer
        fields = ["id", "email", "name", "phone", "organization", "language", "time_zone", "tags", "custom_fields",
                  "other_emails", "email_bouncing_at", "ticket_count", "last_ticket_at", "created_at",
                  "updated_at"]  # fmt: skip
        read_only_fields = fields


class CustomerFilterSerializer(serializers.Serializer):
    q = serializers.CharField(required=False, allow_blank=True, max_length=200)
    organization = IdField(required=False)
    tag = serializers.CharField(required=False, allow_blank=True, max_length=TAG_MAX_LENGTH)
    segment = IdField(required=False)


class CustomerUpdateSerializer(serializers.Serializer):
    """The fields to change (any of them). ``tags`` is the complete new list; ``custom_fields`` holds the
    values to change, by key (null removes one); the others are kept."""

    name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    phone = serializers.CharField(required=False, allow_blank=True, max_length=50)
    organization = IdField(required=False, allow_null=True, help_text="An organization's id; null: none.")
    language = serializers.ChoiceField(choices=settings.LANGUAGES, required=False, allow_blank=True,
                                       help_text="Emails to them are written in it; empty: the default.")  # fmt: skip
    time_zone = serializers.CharField(required=False, allow_blank=True, max_length=64,
                                      help_text="A time zone name (Europe/Paris); empty: the help desk's.")  # fmt: skip
    tags = serializers.ListField(child=serializers.CharField(max_length=TAG_MAX_LENGTH), max_length=MAX_TAGS,
                                 required=False)  # fmt: skip
    custom_fields = serializers.DictField(required=False, help_text="Values of the admins' custom fields, by key: "
                                          "text, a number, a date (YYYY-MM-DD) or one of the choices; null: none.")  # fmt: skip

    def validate_time_zone(self, value: str) -> str:
        if value and value not in TIME_ZONES:
            raise serializers.ValidationError(_("Choose a time zone name, like Europe/Paris."))
        return value

    def validate_tags(self, value: list[str]) -> list[str]:
        return sorted({name.strip().lower() for name in value if name.strip()})

    def validate_organization(self, value) -> Organization | None:
        if value is None:
            return None
        organization = Organization.objects.filter(pk=value).first()
        if organization is None:
            raise serializers.ValidationError(_("No such organization."))
        return organization

    def validate_custom_fields(self, value: dict) -> dict:
        definitions = {definition.key: definition for definition in CustomField.objects.all()}
        cleaned, errors = {}, {}
        for key, raw in value.items():
            definition = definitions.get(key)
            if definition is None:
                errors[key] = [_("No such custom field.")]
            elif raw is None:
                cleaned[key] = None
            elif isinstance(raw, dict | list | bool):
                errors[key] = [_("Give a text, a number or a date.")]
            else:
                try:
                    cleaned[key] = stored_value(custom_form_field(definition).clean(raw))
                except DjangoValidationError as error:
                    errors[key] = error.messages
        if errors:
            raise serializers.ValidationError(errors)
        return cleaned


class CustomerCreateSerializer(CustomerUpdateSerializer):
    """A new customer: an email address that is no customer's yet, and any of the profile fields. Without
    ``organization``, they join the organization that lists their email's domain."""

    email = serializers.EmailField(max_length=254)

    def validate_custom_fields(self, value: dict) -> dict:
        return {key: stored for key, stored in super().validate_custom_fields(value).items() if stored is not None}


class CustomerNoteSerializer(serializers.ModelSerializer):
    author = UserRefSerializer(read_only=True, allow_null=True)

    class Meta:
        model = CustomerNote
        fields = ["id", "body", "pinned", "author", "created_at", "updated_at"]
        read_only_fields = fields


class CustomerNoteCreateSerializer(serializers.Serializer):
    body = serializers.CharField(max_length=NOTE_MAX)
    pinned = serializers.BooleanField(default=False, help_text="Show it on every ticket of the customer.")


class CustomerNotePinSerializer(serializers.Serializer):
    pinned = serializers.BooleanField(help_text="Show it on every ticket of the customer.")


class OtherEmailCreateSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)


class OrganizationSerializer(serializers.ModelSerializer):
    domains = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = Organization
        fields = ["id", "name", "domains", "notes", "shared_tickets", "created_at", "updated_at"]
        read_only_fields = fields


class OrganizationFilterSerializer(serializers.Serializer):
    q = serializers.CharField(required=False, allow_blank=True, max_length=200)


class OrganizationUpdateSerializer(serializers.Serializer):
    """The fields to change (any of them); ``domains`` is the complete new list."""

    name = serializers.CharField(required=False, max_length=200)
    domains = serializers.ListField(child=serializers.CharField(max_length=253), max_length=100, required=False,
                                    help_text="Email domains (example.com): a new customer whose address is at "
                                              "one of them joins the organization.")  # fmt: skip
    notes = serializers.CharField(required=False, allow_blank=True, max_length=10_000)
    shared_tickets = serializers.BooleanField(required=False, help_text="Members see each other's requests in "
                                              "the portal.")  # fmt: skip


class OrganizationCreateSerializer(OrganizationUpdateSerializer):
    name = serializers.CharField(max_length=200)


# --- customers ------------------------------------------------------------------------------------

CUSTOMER_LIST_PARAMETERS = [
    OpenApiParameter("q", OpenApiTypes.STR, description="A part of the name, an email address (other ones too) or "
                     "the phone number; the best matches first, then by name."),
    OpenApiParameter("organization", OpenApiTypes.INT, description="Only the customers of this organization."),
    OpenApiParameter("tag", OpenApiTypes.STR, description="Only the customers with this tag."),
    OpenApiParameter("segment", OpenApiTypes.INT, description="Only the customers of this segment."),
]  # fmt: skip


def _customer_answer(request, customer_id, *, created=False) -> Response:
    """The customer as the API shows it (read again, after a change), with its ETag."""
    visible = selectors.customers_visible_to(request.user).filter(pk=customer_id)
    customer = selectors.customers_with_ticket_stats(visible).first()
    if customer is None:
        raise Http404(_("No such customer."))
    data = CustomerSerializer(customer, context={"request": request}).data
    headers = {"ETag": record_etag(customer)}
    if created:
        return _created(request, data, "customer-detail", [customer.pk], headers)
    return Response(data, headers=headers)


def _visible_customer(user, customer_id) -> Customer:
    customer = selectors.access_customer(user, customer_id)
    if customer is None:
        raise Http404(_("No such customer."))
    return customer


@extend_schema_view(
    list=extend_schema(summary="List customers", parameters=CUSTOMER_LIST_PARAMETERS,
                       description="The customers you can see, searched and filtered as on the agents' customer "
                                   "list; by name; cursor-paginated."),
    retrieve=extend_schema(summary="Get a customer", parameters=[_etag_header("customer", [200])]),
)  # fmt: skip
class CustomerViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = CustomerSerializer
    lookup_value_regex = ID_REGEX
    http_method_names = ["get", "post", "patch", "head", "options"]
    queryset = Customer.objects.none()  # for the schema; every read goes through the selectors

    def get_queryset(self):
        params = _params(CustomerFilterSerializer, self.request)
        customers = selectors.customers_filtered(
            user=self.request.user, query=params.get("q", ""), organization_id=params.get("organization"),
            tag=params.get("tag", "").strip().lower(), segment_id=params.get("segment"),
        )  # fmt: skip
        return selectors.customers_with_ticket_stats(customers)

    def retrieve(self, request, pk=None):
        return _customer_answer(request, pk)

    @extend_schema(summary="Add a customer", request=CustomerCreateSerializer,
                   parameters=[IDEMPOTENCY_PARAMETER, _etag_header("customer", [201]), _location("customer")],
                   responses={201: CustomerSerializer})  # fmt: skip
    @idempotent
    def create(self, request):
        serializer = CustomerCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        customer = services.customer_create(actor=request.user, **serializer.validated_data)
        return _customer_answer(request, customer.pk, created=True)

    @extend_schema(summary="Change a customer's record", request=CustomerUpdateSerializer,
                   parameters=[_if_match("customer"), _etag_header("customer", [200])],
                   responses={200: CustomerSerializer})  # fmt: skip
    def partial_update(self, request, pk=None):
        customer = _visible_customer(request.user, pk)
        serializer = CustomerUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.customer_apply_changes(customer=customer, actor=request.user, changes=serializer.validated_data,
                                        check=lambda locked: check_if_match(request, record_etag(locked)))  # fmt: skip
        return _customer_answer(request, customer.pk)


# --- notes about a customer -------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Notes about a customer", parameters=[CUSTOMER_ID],
                       description="What agents wrote down about the customer: pinned first, then newest first."),
    retrieve=extend_schema(summary="A note about a customer", parameters=[CUSTOMER_ID]),
)  # fmt: skip
class CustomerNoteViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Notes about a customer you can see. Pinned notes show on every ticket of the customer."""

    serializer_class = CustomerNoteSerializer
    lookup_value_regex = ID_REGEX
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    queryset = CustomerNote.objects.none()

    def _customer(self) -> Customer:
        return _visible_customer(self.request.user, self.kwargs["customer_id"])

    def get_queryset(self):
        return selectors.customer_notes(customer=self._customer())

    def _note(self, pk) -> CustomerNote:
        return get_object_or_404(self.get_queryset(), pk=pk)

    @extend_schema(summary="Write a note about a customer", request=CustomerNoteCreateSerializer,
                   parameters=[CUSTOMER_ID, IDEMPOTENCY_PARAMETER, _location("note")],
                   responses={201: CustomerNoteSerializer})  # fmt: skip
    @idempotent
    def create(self, request, customer_id=None):
        customer = self._customer()
        serializer = CustomerNoteCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        note = services.customer_note_add(customer=customer, author=request.user, **serializer.validated_data)
        data = CustomerNoteSerializer(note, context=self.get_serializer_context()).data
        return _created(request, data, "customer-note-detail", [customer.pk, note.pk])

    @extend_schema(summary="Pin or unpin a note", request=CustomerNotePinSerializer, parameters=[CUSTOMER_ID],
                   responses={200: CustomerNoteSerializer})  # fmt: skip
    def partial_update(self, request, customer_id=None, pk=None):
        note = self._note(pk)
        serializer = CustomerNotePinSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.customer_note_pin(note=note, pinned=serializer.validated_data["pinned"])
        return Response(CustomerNoteSerializer(note, context=self.get_serializer_context()).data)

    @extend_schema(summary="Delete a note (its author or an admin)", parameters=[CUSTOMER_ID],
                   responses={204: OpenApiResponse(description="Deleted.")})  # fmt: skip
    def destroy(self, request, customer_id=None, pk=None):
        note = self._note(pk)
        if note.author_id != request.user.pk and not request.user.is_admin:
            raise exceptions.PermissionDenied(_("Only its author or an admin can delete a note."))
        services.customer_note_delete(note=note)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- a customer's other email addresses ----------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="A customer's other email addresses", parameters=[CUSTOMER_ID],
                       description="Mail from any of them joins the customer; their primary address is the "
                                   "customer's `email`."),
)  # fmt: skip
class CustomerEmailViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = OtherEmailSerializer
    lookup_value_regex = ID_REGEX
    http_method_names = ["get", "post", "delete", "head", "options"]
    queryset = CustomerEmail.objects.none()

    def _customer(self) -> Customer:
        return _visible_customer(self.request.user, self.kwargs["customer_id"])

    def get_queryset(self):
        return self._customer().other_emails.order_by("email", "id")

    def _other(self, pk) -> tuple[Customer, CustomerEmail]:
        customer = self._customer()
        return customer, get_object_or_404(CustomerEmail, pk=pk, customer=customer)

    @extend_schema(summary="Add another email address", request=OtherEmailCreateSerializer,
                   parameters=[CUSTOMER_ID, IDEMPOTENCY_PARAMETER], responses={201: OtherEmailSerializer})  # fmt: skip
    @idempotent
    def create(self, request, customer_id=None):
        customer = self._customer()
        serializer = OtherEmailCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            other = services.customer_email_add(customer=customer, email=serializer.validated_data["email"],
                                                actor=request.user)  # fmt: skip
        except DjangoValidationError as error:  # an address of someone (this customer too)
            raise exceptions.ValidationError({"email": error.messages}) from None
        return Response(OtherEmailSerializer(other).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Remove another email address", parameters=[CUSTOMER_ID],
                   responses={204: OpenApiResponse(description="Removed.")})  # fmt: skip
    def destroy(self, request, customer_id=None, pk=None):
        customer, other = self._other(pk)
        services.customer_email_remove(customer=customer, other=other, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(summary="Make this address the primary one", request=None,
                   description="Swaps it with the customer's `email`: emails go to it from now on, and the old "
                               "primary address becomes this other address.",
                   parameters=[CUSTOMER_ID, IDEMPOTENCY_PARAMETER, _etag_header("customer", [200])],
                   responses={200: CustomerSerializer})  # fmt: skip
    @action(detail=True, methods=["post"])
    @idempotent
    def primary(self, request, customer_id=None, pk=None):
        customer, other = self._other(pk)
        services.customer_email_make_primary(customer=customer, other=other, actor=request.user)
        return _customer_answer(request, customer.pk)


# --- organizations -----------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Organizations", parameters=[
        OpenApiParameter("q", OpenApiTypes.STR, description="A part of the name, or one of its email domains.")]),
    retrieve=extend_schema(summary="An organization", parameters=[_etag_header("organization", [200])]),
)  # fmt: skip
class OrganizationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The companies customers belong to, by name. A new customer whose email domain an organization lists
    joins it. Every agent reads them; owners and admins add and change them."""

    serializer_class = OrganizationSerializer
    permission_classes = [IsAgent, AdminsWrite]
    lookup_value_regex = ID_REGEX
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        query = _params(OrganizationFilterSerializer, self.request).get("q", "") if self.action == "list" else ""
        return organizations_filtered(query=query)

    def _answer(self, organization, *, created=False) -> Response:
        data = OrganizationSerializer(organization, context=self.get_serializer_context()).data
        headers = {"ETag": record_etag(organization)}
        if created:
            return _created(self.request, data, "organization-detail", [organization.pk], headers)
        return Response(data, headers=headers)

    def retrieve(self, request, pk=None):
        return self._answer(self.get_object())

    @extend_schema(summary="Add an organization (owners and admins)", request=OrganizationCreateSerializer,
                   parameters=[IDEMPOTENCY_PARAMETER, _etag_header("organization", [201]), _location("organization")],
                   responses={201: OrganizationSerializer})  # fmt: skip
    @idempotent
    def create(self, request):
        serializer = OrganizationCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return self._answer(organization_create(actor=request.user, **serializer.validated_data), created=True)

    @extend_schema(summary="Change an organization (owners and admins)", request=OrganizationUpdateSerializer,
                   parameters=[_if_match("organization"), _etag_header("organization", [200])],
                   responses={200: OrganizationSerializer})  # fmt: skip
    def partial_update(self, request, pk=None):
        organization = self.get_object()
        serializer = OrganizationUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        organization = organization_update(organization=organization, actor=request.user,
                                           check=lambda locked: check_if_match(request, record_etag(locked)),
                                           **serializer.validated_data)  # fmt: skip
        return self._answer(organization)
