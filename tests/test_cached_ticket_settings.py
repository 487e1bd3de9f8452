"""What every new ticket reads besides the ticket itself comes from the cache (helpdesk.cached): whether routing
rules run on new tickets, the teams that assign automatically and the SLA policies. A second ticket reads none
of them, and a change saved anywhere shows on the very next ticket."""

from django.core.cache import cache

from helpdesk.models import Team
from tickets import services
from tickets.routing import next_agent
from tickets.rules.models import Rule
from tickets.selectors import AUTOMATIC_TEAMS_KEY
from tickets.sla.models import SLAPolicy, SLATimer

from .factories import QueueFactory


def test_a_second_ticket_reads_neither_rules_nor_teams_nor_policies(
    queue, customer, django_assert_num_queries, django_capture_on_commit_callbacks
):
    def create():
        with django_capture_on_commit_callbacks(execute=False):
            services.ticket_create(customer=customer, queue=queue, subject="Hi", body="Hello", channel="portal")

    create()
    with django_assert_num_queries(6):  # the ticket, its facts, message and event, in a savepoint
        create()


def test_a_saved_rule_routes_the_next_ticket(make_ticket):
    assert not make_ticket().needs_routing
    rule = Rule.objects.create(name="Refunds", on_create=True, active=False)
    assert not make_ticket().needs_routing
    rule.active = True
    rule.save()
    assert make_ticket().needs_routing
    rule.delete()
    assert not make_ticket().needs_routing


def test_a_team_switched_to_automatic_or_back_shows_on_the_next_ticket(make_ticket, team, agent):
    team.members.add(agent)
    assert not make_ticket().needs_routing
    team.assignment = Team.Assignment.ROUND_ROBIN
    team.save()
    assert make_ticket().needs_routing
    team.assignment = Team.Assignment.MANUAL
    team.save()
    assert not make_ticket().needs_routing


def test_round_robin_moving_on_keeps_the_cached_teams(make_ticket, team, agent, django_capture_on_commit_callbacks):
    team.members.add(agent)
    team.assignment = Team.Assignment.ROUND_ROBIN
    team.save()
    assert make_ticket().needs_routing
    assert next_agent(team.pk) == agent  # saves the team's last_assigned
    assert cache.get(AUTOMATIC_TEAMS_KEY) == frozenset({team.pk})


def test_a_saved_policy_and_its_conditions_apply_to_the_next_ticket(make_ticket, team):
    billing = QueueFactory(name="Billing", slug="billing", team=team)
    assert not SLATimer.objects.filter(ticket=make_ticket()).exists()
    policy = SLAPolicy.objects.create(
        name="Standard", first_response_minutes=60, resolution_minutes=600, business_hours=False
    )
    assert SLATimer.objects.filter(ticket=make_ticket()).count() == 2
    policy.queues.add(billing)  # now only for Billing
    assert not SLATimer.objects.filter(ticket=make_ticket()).exists()
    assert SLATimer.objects.filter(ticket=make_ticket(queue=billing)).count() == 2
    policy.queues.clear()
    policy.first_response_minutes = 30
    policy.save()
    timer = SLATimer.objects.get(ticket=make_ticket(), kind=SLATimer.Kind.FIRST_RESPONSE)
    assert abs((timer.due_at - timer.started_at).total_seconds() - 30 * 60) < 1  # due to the second
    policy.delete()
    assert not SLATimer.objects.filter(ticket=make_ticket()).exists()


def test_a_policy_whose_only_queue_is_deleted_applies_to_every_ticket_at_once(make_ticket, team):
    billing = QueueFactory(name="Billing", slug="billing", team=team)
    policy = SLAPolicy.objects.create(name="Billing", first_response_minutes=60, business_hours=False)
    policy.queues.add(billing)
    assert not SLATimer.objects.filter(ticket=make_ticket()).exists()
    billing.delete()  # the policy has no queue condition any more, as the admin would see it
    assert SLATimer.objects.filter(ticket=make_ticket()).exists()
