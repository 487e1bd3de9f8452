"""Resources beside tickets, each a list and its items: the queues an agent works in and the agents they can
assign to, their teams, canned responses, SLA policies, the knowledge base and the customers' survey answers,
with the same selectors (and so the same permissions) as the agent screens.

Two of them are written too, through the same services as the screens: canned responses (any agent adds their
own and changes or deletes them; only owners and admins share one or change or delete a shared one, as on the
Canned responses page) and the knowledge base (articles and categories, written by owners and admins, as in the
Django admin where they are edited; an agent gets 403)."""

from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils.text import slugify
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response

from helpdesk.models import Team, User
from helpdesk.tags import TAG_MAX_LENGTH
from knowledge_base import selectors as kb_selectors
from knowledge_base import services as kb_services
from knowledge_base.models import Article, Category, Section
from reports.selectors import report_teams
from tickets import selectors
from tickets.canned import access_canned, canned_create, canned_delete, canned_update, canned_visible_to
from tickets.models import CannedResponse, Queue
from tickets.sla.models import SLAPolicy
from tickets.surveys.models import Survey
from tickets.surveys.selectors import survey_answers_visible_to

from .customers import _created, _etag_header, _if_match, _location
from .etags import check_if_match, record_etag
from .idempotency import idempotent
from .permissions import AdminsWrite, IsAgent
from .serializers import MAX_BODY, MAX_TAGS, IdField
from .views import ID_REGEX, IDEMPOTENCY_PARAMETER


class QueueSerializer(serializers.ModelSerializer):
    team = serializers.SerializerMethodField()

    class Meta:
        model = Queue
        fields = ["id", "name", "slug", "team"]
        read_only_fields = fields

    def get_team(self, queue) -> str:
        return queue.team.name


class TeamSerializer(serializers.ModelSerializer):
    class Meta:
        model = Team
        fields = ["id", "name", "assignment", "lead"]
        read_only_fields = fields


class CannedResponseSerializer(serializers.ModelSerializer):
    shared = serializers.BooleanField(source="is_shared", read_only=True)

    class Meta:
        model = CannedResponse
        fields = ["id", "title", "body", "shared"]
        read_only_fields = fields


class CannedResponseUpdateSerializer(serializers.Serializer):
    """The fields to change (any of them). ``shared``: for every agent (owners and admins only), or yours."""

    title = serializers.CharField(required=False, max_length=100)
    body = serializers.CharField(required=False, max_length=MAX_BODY,
                                 help_text="Markdown; may use the placeholders, e.g. {{ customer.first_name }}.")  # fmt: skip
    shared = serializers.BooleanField(required=False, help_text="Owners and admins only.")


class CannedResponseCreateSerializer(CannedResponseUpdateSerializer):
    title = serializers.CharField(max_length=100)
    body = serializers.CharField(max_length=MAX_BODY,
                                 help_text="Markdown; may use the placeholders, e.g. {{ customer.first_name }}.")  # fmt: skip
    shared = serializers.BooleanField(default=False, help_text="For every agent (owners and admins only); "
                                      "by default, yours only.")  # fmt: skip


class SLAPolicySerializer(serializers.ModelSerializer):
    priorities = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = SLAPolicy
        fields = ["id", "name", "position", "active", "priorities", "first_response_minutes",
                  "next_response_minutes", "resolution_minutes", "business_hours", "warn_minutes"]  # fmt: skip
        read_only_fields = fields


class SectionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Section
        fields = ["id", "name", "position"]
        read_only_fields = fields


class ArticleCategorySerializer(serializers.ModelSerializer):
    sections = SectionSerializer(many=True, read_only=True)

    class Meta:
        model = Category
        fields = ["id", "name", "slug", "description", "position", "sections"]
        read_only_fields = fields


class ArticleSerializer(serializers.ModelSerializer):
    section_id = serializers.IntegerField(read_only=True)
    section = serializers.CharField(source="section.name", read_only=True)
    category = serializers.CharField(source="section.category.name", read_only=True)
    tags = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = Article
        fields = ["id", "title", "slug", "excerpt", "state", "visibility", "pinned", "tags", "section_id", "section",
                  "category", "published_at", "updated_at"]  # fmt: skip
        read_only_fields = fields


class ArticleDetailSerializer(ArticleSerializer):
    class Meta(ArticleSerializer.Meta):
        fields = [*ArticleSerializer.Meta.fields, "body"]
        read_only_fields = fields


class ArticleUpdateSerializer(serializers.Serializer):
    """The fields to change (any of them); ``tags`` is the complete new list. Publish or archive an article by
    changing its ``state``; a new ``slug`` keeps the old links working (they redirect)."""

    section = IdField(required=False, help_text="The section's id (see article-categories).")
    title = serializers.CharField(required=False, max_length=200)
    slug = serializers.SlugField(required=False, max_length=200)
    excerpt = serializers.CharField(required=False, allow_blank=True, max_length=300)
    body = serializers.CharField(required=False, max_length=MAX_BODY, help_text="Markdown.")
    tags = serializers.ListField(child=serializers.CharField(max_length=TAG_MAX_LENGTH), max_length=MAX_TAGS,
                                 required=False)  # fmt: skip
    state = serializers.ChoiceField(choices=Article.State.choices, required=False)
    visibility = serializers.ChoiceField(choices=Article.Visibility.choices, required=False)
    pinned = serializers.BooleanField(required=False, help_text="Pinned in the FAQ.")

    def validate_section(self, value):
        section = Section.objects.filter(pk=value).first()
        if section is None:
            raise serializers.ValidationError(_("No such section."))
        return section


class ArticleCreateSerializer(ArticleUpdateSerializer):
    section = IdField(help_text="The section's id (see article-categories).")
    title = serializers.CharField(max_length=200)
    slug = serializers.SlugField(required=False, max_length=200, help_text="Default: made from the title.")
    body = serializers.CharField(max_length=MAX_BODY, help_text="Markdown.")
    state = serializers.ChoiceField(choices=Article.State.choices, default=Article.State.DRAFT)
    visibility = serializers.ChoiceField(choices=Article.Visibility.choices, default=Article.Visibility.PUBLIC)
    pinned = serializers.BooleanField(default=False, help_text="Pinned in the FAQ.")

    def validate(self, attrs):
        if not attrs.get("slug"):
            attrs["slug"] = slugify(attrs["title"])[:200].strip("-")
            if not attrs["slug"]:
                raise serializers.ValidationError({"slug": [_("Give a slug: the title makes none.")]})
        return attrs


class ArticleCategoryUpdateSerializer(serializers.Serializer):
    """The fields to change (any of them)."""

    name = serializers.CharField(required=False, max_length=120)
    slug = serializers.SlugField(required=False, max_length=120)
    description = serializers.CharField(required=False, allow_blank=True, max_length=300)
    position = serializers.IntegerField(required=False, min_value=0, max_value=32767)


class ArticleCategoryCreateSerializer(ArticleCategoryUpdateSerializer):
    name = serializers.CharField(max_length=120)
    slug = serializers.SlugField(max_length=120)
    position = serializers.IntegerField(default=0, min_value=0, max_value=32767)


class SurveyAnswerSerializer(serializers.ModelSerializer):
    class Meta:
        model = Survey
        fields = ["id", "ticket", "customer", "kind", "score", "comment", "sent_at", "answered_at"]
        read_only_fields = fields


class ArticleFilterSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=Article.State.choices, required=False)
    visibility = serializers.ChoiceField(choices=Article.Visibility.choices, required=False)


class AgentSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="get_full_name", read_only=True)

    class Meta:
        model = User
        fields = ["id", "name", "email", "role", "available"]
        read_only_fields = fields


@extend_schema_view(list=extend_schema(summary="Your queues"), retrieve=extend_schema(summary="A queue"))
class QueueViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The queues of your teams (every queue, for owners and admins)."""

    serializer_class = QueueSerializer
    lookup_value_regex = ID_REGEX

    def get_queryset(self):
        return selectors.queues_visible_to(self.request.user).select_related("team").order_by("name", "id")


@extend_schema_view(
    list=extend_schema(summary="Agents you can assign tickets to"), retrieve=extend_schema(summary="An agent")
)
class AgentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Active members of your teams and the owners and admins (everyone active, for an admin): whom the
    ticket list lets you assign to."""

    serializer_class = AgentSerializer
    lookup_value_regex = ID_REGEX

    def get_queryset(self):
        return selectors.bulk_assignees(user=self.request.user).order_by("full_name", "email", "id")


@extend_schema_view(list=extend_schema(summary="Your teams"), retrieve=extend_schema(summary="A team"))
class TeamViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The teams you are a member of (every team, for owners and admins), as the reports show them."""

    serializer_class = TeamSerializer
    lookup_value_regex = ID_REGEX

    def get_queryset(self):
        return report_teams(self.request.user).order_by("name", "id")


@extend_schema_view(list=extend_schema(summary="Canned responses you can use"),
                    retrieve=extend_schema(summary="A canned response"))  # fmt: skip
class CannedResponseViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The shared canned responses and your own, as the reply composer offers them (by title). Any agent adds
    their own and changes or deletes them; owners and admins also share them with every agent and change or
    delete the shared ones."""

    serializer_class = CannedResponseSerializer
    lookup_value_regex = ID_REGEX
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return canned_visible_to(self.request.user)

    def _changeable(self, pk):
        """Yours, or a shared one for owners and admins: 404 for another agent's, 403 for a shared one."""
        response = access_canned(self.request.user, pk)
        if response.is_shared and not self.request.user.is_admin:
            raise PermissionDenied(_("Only owners and admins can change or delete a shared canned response."))
        return response

    @extend_schema(summary="Add a canned response", request=CannedResponseCreateSerializer,
                   parameters=[IDEMPOTENCY_PARAMETER, _location("canned response")],
                   responses={201: CannedResponseSerializer})  # fmt: skip
    @idempotent
    def create(self, request):
        serializer = CannedResponseCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        response = canned_create(user=request.user, **serializer.validated_data)
        data = CannedResponseSerializer(response).data
        return _created(request, data, "canned-response-detail", [response.pk])

    @extend_schema(summary="Change a canned response (yours; a shared one: owners and admins)",
                   request=CannedResponseUpdateSerializer, responses={200: CannedResponseSerializer})  # fmt: skip
    def partial_update(self, request, pk=None):
        response = self._changeable(pk)
        serializer = CannedResponseUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        response = canned_update(user=request.user, response_id=response.pk, **serializer.validated_data)
        return Response(CannedResponseSerializer(response).data)

    @extend_schema(summary="Delete a canned response (yours; a shared one: owners and admins)",
                   responses={204: OpenApiResponse(description="Deleted.")})  # fmt: skip
    def destroy(self, request, pk=None):
        response = self._changeable(pk)
        canned_delete(user=request.user, response_id=response.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(list=extend_schema(summary="SLA policies"), retrieve=extend_schema(summary="An SLA policy"))
class SLAPolicyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Every SLA policy with its priorities and targets (in minutes), in the order they are tried: the first
    active one that matches a ticket wins. Changed by owners and admins in the admin."""

    serializer_class = SLAPolicySerializer
    lookup_value_regex = ID_REGEX

    def get_queryset(self):
        return SLAPolicy.objects.order_by("position", "id")


@extend_schema_view(list=extend_schema(summary="Knowledge-base categories and their sections"),
                    retrieve=extend_schema(summary="A knowledge-base category with its sections",
                                           parameters=[_etag_header("category", [200])]))  # fmt: skip
class ArticleCategoryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The knowledge base's categories, each with its sections, in their order. Every agent reads them; owners
    and admins add and change them (as in the admin)."""

    serializer_class = ArticleCategorySerializer
    permission_classes = [IsAgent, AdminsWrite]
    lookup_value_regex = ID_REGEX
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        return Category.objects.prefetch_related("sections").order_by("position", "name", "id")

    def _answer(self, category_id, *, created=False) -> Response:
        category = get_object_or_404(self.get_queryset(), pk=category_id)
        data = ArticleCategorySerializer(category).data
        headers = {"ETag": record_etag(category)}
        if created:
            return _created(self.request, data, "article-category-detail", [category.pk], headers)
        return Response(data, headers=headers)

    def retrieve(self, request, pk=None):
        return self._answer(pk)

    @extend_schema(summary="Add a knowledge-base category (owners and admins)",
                   request=ArticleCategoryCreateSerializer,
                   parameters=[IDEMPOTENCY_PARAMETER, _etag_header("category", [201]), _location("category")],
                   responses={201: ArticleCategorySerializer})  # fmt: skip
    @idempotent
    def create(self, request):
        serializer = ArticleCategoryCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        category = kb_services.category_create(**serializer.validated_data)
        return self._answer(category.pk, created=True)

    @extend_schema(summary="Change a knowledge-base category (owners and admins)",
                   request=ArticleCategoryUpdateSerializer,
                   parameters=[_if_match("category"), _etag_header("category", [200])],
                   responses={200: ArticleCategorySerializer})  # fmt: skip
    def partial_update(self, request, pk=None):
        category = get_object_or_404(Category, pk=pk)
        serializer = ArticleCategoryUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        kb_services.category_update(category=category, check=lambda locked: check_if_match(request, record_etag(locked)),
                                    **serializer.validated_data)  # fmt: skip
        return self._answer(category.pk)


@extend_schema_view(list=extend_schema(summary="Knowledge-base articles", parameters=[
    OpenApiParameter("state", OpenApiTypes.STR, enum=Article.State.values,
                     description="Only articles in this state (default: every state)."),
    OpenApiParameter("visibility", OpenApiTypes.STR, enum=Article.Visibility.values,
                     description="Only public or only internal articles (default: both)."),
]))  # fmt: skip
class ArticleViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The articles of the agents' Articles page: drafts, published and archived, public and internal; pinned
    first, then by title. Every agent reads them; owners and admins write them (as in the admin)."""

    serializer_class = ArticleSerializer
    permission_classes = [IsAgent, AdminsWrite]
    lookup_value_regex = ID_REGEX
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    queryset = Article.objects.none()  # for the schema; every read goes through the selectors

    def get_queryset(self):
        if self.action != "list":
            return kb_selectors.agent_articles_filtered()
        params = ArticleFilterSerializer(data=self.request.query_params)
        if not params.is_valid():
            raise ValidationError(params.errors)
        return kb_selectors.agent_articles_filtered(**params.validated_data)

    def _article(self, pk) -> Article:
        article = kb_selectors.agent_articles_filtered().filter(pk=pk).first()
        if article is None:
            raise Http404(_("No such article."))
        return article

    def _answer(self, article_id, *, created=False) -> Response:
        article = self._article(article_id)
        data = ArticleDetailSerializer(article).data
        headers = {"ETag": record_etag(article)}
        if created:
            return _created(self.request, data, "article-detail", [article.pk], headers)
        return Response(data, headers=headers)

    @extend_schema(summary="A knowledge-base article, with its text", parameters=[_etag_header("article", [200])],
                   responses={200: ArticleDetailSerializer})  # fmt: skip
    def retrieve(self, request, pk=None):
        return self._answer(pk)

    @extend_schema(summary="Write a knowledge-base article (owners and admins)", request=ArticleCreateSerializer,
                   parameters=[IDEMPOTENCY_PARAMETER, _etag_header("article", [201]), _location("article")],
                   responses={201: ArticleDetailSerializer})  # fmt: skip
    @idempotent
    def create(self, request):
        serializer = ArticleCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        article = kb_services.article_create(author=request.user, **serializer.validated_data)
        return self._answer(article.pk, created=True)

    @extend_schema(summary="Change, publish or archive an article (owners and admins)",
                   request=ArticleUpdateSerializer,
                   parameters=[_if_match("article"), _etag_header("article", [200])],
                   responses={200: ArticleDetailSerializer})  # fmt: skip
    def partial_update(self, request, pk=None):
        article = self._article(pk)
        serializer = ArticleUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        kb_services.article_update(article=article, check=lambda locked: check_if_match(request, record_etag(locked)),
                                   **serializer.validated_data)  # fmt: skip
        return self._answer(article.pk)

    @extend_schema(summary="Delete an article (owners and admins)",
                   responses={204: OpenApiResponse(description="Deleted, with its readers' feedback.")})  # fmt: skip
    def destroy(self, request, pk=None):
        kb_services.article_delete(article=self._article(pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(list=extend_schema(summary="Customers' survey answers"),
                    retrieve=extend_schema(summary="A survey answer"))  # fmt: skip
class SurveyAnswerViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The answered satisfaction (CSAT), recommendation (NPS) and effort (CES) surveys of the tickets you can
    see, newest answer first."""

    serializer_class = SurveyAnswerSerializer
    lookup_value_regex = ID_REGEX

    def get_queryset(self):
        return survey_answers_visible_to(self.request.user)
