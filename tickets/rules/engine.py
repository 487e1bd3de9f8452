"""Matching and running routing rules.

``rules_evaluate`` only reads: which rules match a ticket, in order, stopping after a rule that stops
(the admin's dry run uses it). ``rules_run`` applies the matching rules' actions through the ticket
services (actor None: the system) and records each rule that ran on the ticket's audit trail.

Conditions see the ticket as it was when the rules started: an earlier rule's actions do not change
which later rules match, so a dry run and a real run agree. Loading the rules costs three queries (rules,
conditions, actions); facts that cost a query (the message text, segments, business hours) are read once,
and only when a condition asks for them.
"""

import re
from functools import cached_property, lru_cache
from typing import Literal

from django.db import transaction
from django.db.models import Prefetch
from django.utils import timezone

from helpdesk.errors import ValidationError

from .models import Rule, RuleAction, RuleCondition

Event = Literal["create", "customer_message"]
Field = RuleCondition.Field
Operator = RuleCondition.Operator
Action = RuleAction.Action


# The rules as last loaded in this process, with the version they were loaded at (``_rules_version``).
_loaded: dict[str | None, tuple[tuple, list[Rule]]] = {}


def _rules_version() -> tuple:
    """What changes whenever a rule, condition or action is added, changed or deleted: their counts, highest
    ids (never reused) and latest ``updated_at`` (one small query). ``QuerySet.update()`` does not move it."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT row(count(*), max(id), max(updated_at))::text FROM tickets_rule), "
            "(SELECT row(count(*), max(id), max(updated_at))::text FROM tickets_rulecondition), "
            "(SELECT row(count(*), max(id), max(updated_at))::text FROM tickets_ruleaction)"
        )
        return cursor.fetchone()


def rules_load(*, event: Event | None = None) -> list[Rule]:
    """Active rules with their conditions and actions (``rule.condition_list``, ``rule.action_list``), in
    order. Kept in memory between calls while ``_rules_version`` is the same: one query instead of three
    and some hundred objects (routing a ticket through 100 rules, docs/performance.md). Read-only."""
    version = _rules_version()
    cached = _loaded.get(event)
    if cached is not None and cached[0] == version:
        return cached[1]
    rules = Rule.objects.filter(active=True)
    if event == "create":
        rules = rules.filter(on_create=True)
    elif event == "customer_message":
        rules = rules.filter(on_customer_message=True)
    loaded = list(rules.prefetch_related(
        Prefetch("conditions", queryset=RuleCondition.objects.order_by("pk"), to_attr="condition_list"),
        Prefetch("actions", queryset=RuleAction.objects.order_by("position", "pk"), to_attr="action_list"),
    ))  # fmt: skip
    _loaded[event] = (version, loaded)
    return loaded


class TicketFacts:
    """What conditions compare, read from the ticket once and lazily."""

    def __init__(self, ticket, *, now=None):
        self.ticket = ticket
        self.now = now or timezone.now()
        self._folded: dict[str, tuple[list[str], list[str]]] = {}

    @cached_property
    def body(self) -> str:
        """The text of the customer's latest message (a new ticket's first one)."""
        from tickets.models import Message

        latest = (Message.objects.filter(ticket_id=self.ticket.pk, kind=Message.Kind.CUSTOMER)
                  .order_by("-created_at", "-id").values_list("body_text", flat=True).first())  # fmt: skip
        return latest or ""

    @cached_property
    def segments(self) -> set[str]:
        """Names (lowercased) and ids of the customer's segments: two queries however many there are."""
        from customers.segments import segments_of

        return {
            name for segment in segments_of(self.ticket.customer) for name in (segment.name.lower(), str(segment.pk))
        }

    @cached_property
    def business_hours(self) -> bool:
        """Whether now is in the default calendar's opening hours (no calendar, or no hours: always)."""
        from helpdesk.business_time import is_business_time
        from helpdesk.calendars import Calendar

        calendar = Calendar.default()
        schedule = calendar.schedule() if calendar is not None else None
        return True if schedule is None or not schedule.has_hours() else is_business_time(schedule, self.now)

    def folded(self, field: str) -> tuple[list[str], list[str]]:
        """The field's values as they are and casefolded, worked out once per field."""
        if field not in self._folded:
            values = self.values(field)
            self._folded[field] = (values, [value.casefold() for value in values])
        return self._folded[field]

    def values(self, field: str) -> list[str]:
        """The ticket's values for a text field; several for fields that have names and ids."""
        ticket, customer = self.ticket, self.ticket.customer
        email = customer.email or ""
        match field:
            case Field.CHANNEL:
                return [ticket.channel]
            case Field.QUEUE:
                return [ticket.queue.slug, ticket.queue.name, str(ticket.queue_id)]
            case Field.SUBJECT:
                return [ticket.subject]
            case Field.BODY:
                return [self.body]
            case Field.SUBJECT_OR_BODY:
                return [ticket.subject, self.body]
            case Field.CUSTOMER_EMAIL:
                return [email]
            case Field.CUSTOMER_DOMAIN:
                return [email.rpartition("@")[2]]
            case Field.ORGANIZATION:
                organization = customer.organization
                return [organization.name, str(organization.pk)] if organization is not None else [""]
            case Field.CUSTOMER_TAG:
                return list(customer.tags) or [""]
            case Field.LANGUAGE:
                return [customer.language]
            case Field.PRIORITY:
                return [ticket.priority]
        raise ValueError(f"unknown field {field!r}")


@lru_cache(maxsize=2048)
def _word_pattern(word: str) -> re.Pattern:
    return re.compile(rf"(?<!\w){re.escape(word)}(?!\w)")


@lru_cache(maxsize=2048)
def _regex(pattern: str) -> re.Pattern | None:
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error:
        return None  # saved around the admin's validation: never matches


def _compare(operator: str, wanted: str, values: list[str], folded: list[str]) -> bool:
    """Case-insensitive comparison of a condition's value with the ticket's values (and the same values
    casefolded): the positive operators hold when any value matches, the negative ones when none does."""
    wanted_folded = wanted.strip().casefold()
    match operator:
        case Operator.IS:
            return wanted_folded in folded
        case Operator.IS_NOT:
            return wanted_folded not in folded
        case Operator.CONTAINS:
            return any(wanted_folded in value for value in folded)
        case Operator.NOT_CONTAINS:
            return not any(wanted_folded in value for value in folded)
        case Operator.MATCHES_WORD:
            if not wanted_folded:
                return False
            pattern = _word_pattern(wanted_folded)
            return any(pattern.search(value) for value in folded)
        case Operator.REGEX:
            pattern = _regex(wanted)
            return pattern is not None and any(pattern.search(value) for value in values)
    return False


def condition_holds(condition: RuleCondition, facts: TicketFacts) -> bool:
    if condition.field == Field.BUSINESS_HOURS:
        wanted = condition.value.strip().lower() == "yes"
        holds = facts.business_hours == wanted
        return holds if condition.operator == Operator.IS else not holds
    if condition.field == Field.SEGMENT:
        member = condition.value.strip().lower() in facts.segments
        return member if condition.operator == Operator.IS else not member
    return _compare(condition.operator, condition.value, *facts.folded(condition.field))


def rule_matches(rule: Rule, facts: TicketFacts) -> bool:
    conditions = rule.condition_list
    if not conditions:
        return True
    combine = all if rule.match_all else any
    return combine(condition_holds(condition, facts) for condition in conditions)


def _stops(rule: Rule) -> bool:
    return rule.stop or any(action.action == Action.STOP for action in rule.action_list)


def _with_relations(ticket):
    from tickets.models import Ticket

    return Ticket.objects.select_related("queue", "customer__organization").get(pk=ticket.pk)


def rules_evaluate(ticket, rules: list[Rule] | None = None, *, event: Event = "create", now=None) -> list[Rule]:
    """The rules that match the ticket, in order, up to and including the first matching rule that stops.
    Changes nothing. ``rules``: loaded by ``rules_load`` (default: the active rules for ``event``)."""
    if rules is None:
        rules = rules_load(event=event)
    return _matching(_with_relations(ticket), rules, now=now) if rules else []


def _matching(ticket, rules: list[Rule], *, now=None) -> list[Rule]:
    facts = TicketFacts(ticket, now=now)
    matched = []
    for rule in rules:
        if rule_matches(rule, facts):
            matched.append(rule)
            if _stops(rule):
                break
    return matched


def _apply(ticket, action: RuleAction):
    """Apply one action; returns the ticket as it is now and what happened (for the audit trail)."""
    from helpdesk.models import User
    from tickets import services
    from tickets.models import Queue
    from tickets.routing import next_agent

    value = action.value.strip()
    match action.action:
        case Action.SET_QUEUE:
            queue = Queue.objects.filter(slug=value).first() or (
                Queue.objects.filter(pk=int(value)).first() if value.isdigit() else None
            )
            if queue is None:
                return ticket, f"queue “{value}” not found"
            return services.ticket_set_queue(ticket=ticket, queue=queue, actor=None), f"queue → {queue.slug}"
        case Action.SET_PRIORITY:
            return services.ticket_set_priority(ticket=ticket, priority=value, actor=None), f"priority → {value}"
        case Action.ADD_TAGS:
            names = [name.strip() for name in value.split(",") if name.strip()]
            return services.ticket_tag(ticket=ticket, actor=None, add=names), f"tags + {', '.join(names)}"
        case Action.ASSIGN_AGENT:
            agent = User.objects.filter(email__iexact=value, is_active=True).first()
            if agent is None:
                return ticket, f"agent “{value}” not found"
            return services.ticket_assign(ticket=ticket, assignee=agent, actor=None), f"assigned → {agent.email}"
        case Action.ASSIGN_BY_STRATEGY:
            agent = next_agent(ticket.queue.team_id)
            if agent is None:
                return ticket, "no agent available by the team's strategy"
            return services.ticket_assign(ticket=ticket, assignee=agent, actor=None), f"assigned → {agent.email}"
        case Action.ADD_NOTE:
            services.ticket_add_note(ticket=ticket, author=None, body=action.value)
            return ticket, "note added"
        case Action.SEND_EMAIL:
            from tickets.mail.outbound import template_email_add

            message, refusal = template_email_add(ticket=ticket, name=value)
            return ticket, f"email “{value}” sent" if message is not None else f"email “{value}” not sent: {refusal}"
        case Action.STOP:
            return ticket, "stop"
    return ticket, f"unknown action {action.action}"


def action_preview(ticket, action: RuleAction) -> str:
    """What an action would do beyond its own description, for the dry run ("" for most): for an email, to
    whom and with which subject, or why it would not be sent. Reads only."""
    if action.action != Action.SEND_EMAIL:
        return ""
    from tickets.mail.outbound import template_email_preview

    return template_email_preview(ticket=ticket, name=action.value.strip())


@transaction.atomic
def rules_run(ticket, *, event: Event, now=None) -> list[str]:
    """Run the active rules for ``event`` on the ticket; returns one line per rule that ran
    ("name: what it did"), each also written as a ``TicketEvent`` of kind "rule". An action the ticket
    cannot take (a closed ticket, an agent outside the queue's team) is skipped and noted; the others run."""
    from tickets.models import TicketEvent

    rules = rules_load(event=event)
    if not rules:
        return []
    ticket = _with_relations(ticket)
    lines = []
    for rule in _matching(ticket, rules, now=now):
        done = []
        for action in rule.action_list:
            try:
                with transaction.atomic():
                    ticket, description = _apply(ticket, action)
            except ValidationError as error:  # InvalidTransition is one too
                description = f"{action.action} failed: {' '.join(error.messages)}"
            done.append(description)
        line = f"{rule.name}: {'; '.join(done) or 'no actions'}"
        TicketEvent.objects.create(ticket_id=ticket.pk, kind=TicketEvent.Kind.RULE, field="rule",
                                   old_value=event, new_value=line[:255])  # fmt: skip
        lines.append(line)
    return lines
