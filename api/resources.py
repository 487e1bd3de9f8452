"""Read-only resources beside tickets, each a list and its items: the queues an agent works in and the agents
they can assign to, their teams, canned responses, SLA policies, the knowledge base and the customers' survey
answers, with the same selectors (and so the same permissions) as the agent screens."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.exceptions import ValidationError

from helpdesk.models import Team, User
from knowledge_base import selectors as kb_selectors
from knowledge_base.models import Article, Category, Section
from reports.selectors import report_teams
from tickets import selectors
from tickets.canned import canned_visible_to
from tickets.models import CannedResponse, Queue
from tickets.sla.models import SLAPolicy
from tickets.surveys.models import Survey
from tickets.surveys.selectors import survey_answers_visible_to

from .views import ID_REGEX


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
    """The shared canned responses and your own, as the reply composer offers them (by title)."""

    serializer_class = CannedResponseSerializer
    lookup_value_regex = ID_REGEX

    def get_queryset(self):
        return canned_visible_to(self.request.user)


@extend_schema_view(list=extend_schema(summary="SLA policies"), retrieve=extend_schema(summary="An SLA policy"))
class SLAPolicyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Every SLA policy with its priorities and targets (in minutes), in the order they are tried: the first
    active one that matches a ticket wins. Changed by owners and admins in the admin."""

    serializer_class = SLAPolicySerializer
    lookup_value_regex = ID_REGEX

    def get_queryset(self):
        return SLAPolicy.objects.order_by("position", "id")


@extend_schema_view(list=extend_schema(summary="Knowledge-base categories and their sections"),
                    retrieve=extend_schema(summary="A knowledge-base category with its sections"))  # fmt: skip
class ArticleCategoryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The knowledge base's categories, each with its sections, in their order."""

    serializer_class = ArticleCategorySerializer
    lookup_value_regex = ID_REGEX

    def get_queryset(self):
        return Category.objects.prefetch_related("sections").order_by("position", "name", "id")


@extend_schema_view(list=extend_schema(summary="Knowledge-base articles", parameters=[
    OpenApiParameter("state", OpenApiTypes.STR, enum=Article.State.values,
                     description="Only articles in this state (default: every state)."),
    OpenApiParameter("visibility", OpenApiTypes.STR, enum=Article.Visibility.values,
                     description="Only public or only internal articles (default: both)."),
]), retrieve=extend_schema(summary="A knowledge-base article"))  # fmt: skip
class ArticleViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The articles of the agents' Articles page: drafts, published and archived, public and internal; pinned
    first, then by title."""

    serializer_class = ArticleSerializer
    lookup_value_regex = ID_REGEX

    def get_queryset(self):
        if self.action != "list":
            return kb_selectors.agent_articles_filtered()
        params = ArticleFilterSerializer(data=self.request.query_params)
        if not params.is_valid():
            raise ValidationError(params.errors)
        return kb_selectors.agent_articles_filtered(**params.validated_data)


@extend_schema_view(list=extend_schema(summary="Customers' survey answers"),
                    retrieve=extend_schema(summary="A survey answer"))  # fmt: skip
class SurveyAnswerViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The answered satisfaction (CSAT), recommendation (NPS) and effort (CES) surveys of the tickets you can
    see, newest answer first."""

    serializer_class = SurveyAnswerSerializer
    lookup_value_regex = ID_REGEX

    def get_queryset(self):
        return survey_answers_visible_to(self.request.user)
