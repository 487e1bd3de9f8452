"""Read-only resources beside tickets: the queues an agent works in and the agents they can assign to, with
the same selectors (and so the same permissions) as the agent screens."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets

from helpdesk.models import User
from tickets import selectors
from tickets.models import Queue

from .views import ID_REGEX


class QueueSerializer(serializers.ModelSerializer):
    team = serializers.SerializerMethodField()

    class Meta:
        model = Queue
        fields = ["id", "name", "slug", "team"]
        read_only_fields = fields

    def get_team(self, queue) -> str:
        return queue.team.name


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
