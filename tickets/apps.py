from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TicketsConfig(AppConfig):
    name = "tickets"
    verbose_name = _("Tickets")

    def ready(self):
        from customers.models import Organization, Segment
        from helpdesk.cached import forget_on_change, forget_on_relation_change
        from helpdesk.models import Team

        from .models import Queue
        from .rules.models import Rule
        from .selectors import AUTOMATIC_TEAMS_KEY, PORTAL_QUEUES_KEY, RULES_ON_CREATE_KEY
        from .sla.models import SLAPolicy
        from .sla.services import POLICIES_KEY

        forget_on_change(Queue, PORTAL_QUEUES_KEY)
        forget_on_change(Rule, RULES_ON_CREATE_KEY)
        forget_on_change(Team, AUTOMATIC_TEAMS_KEY, unless_only=frozenset({"last_assigned"}))  # round robin
        # a policy's conditions: the policy, its segments, and its queues and organizations (deleting one
        # deletes the condition on it without a signal for the relation)
        for model in (SLAPolicy, Segment, Queue, Organization):
            forget_on_change(model, POLICIES_KEY)
        for relation in (SLAPolicy.queues, SLAPolicy.organizations, SLAPolicy.segments):
            forget_on_relation_change(relation.through, POLICIES_KEY)
