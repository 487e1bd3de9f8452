"""A fast generator of a realistic help-desk dataset, for benchmarks (``seed``) and the demo (``demo_data``).

Each ticket's history is simulated in plain Python (``random`` with a fixed seed) as the services would
have written it, then loaded with COPY in batches inside one transaction. What every ticket obeys:

- a ``created`` event at ``created_at`` and the first message at that instant: a customer message, or, for
  a ticket an agent opened on the customer's behalf (``created_by`` set, channel phone or agent), the
  agent's phone notes (kind customer) or outbound reply (kind reply), as ``ticket_create`` writes them;
- messages in time order, each with its ``message`` event; ``message_count``, ``last_customer_message_at``,
  ``last_agent_reply_at`` and ``updated_at`` (the last event) true to them;
- ``first_response_at`` = the first public agent reply when ``created_by`` is null, else null;
- a ``field``/``status`` event for every status change, following the services' rules (a reply moves
  new to open, a customer message reopens pending and solved tickets, closed is final), so the history
  replays to the final status; ``resolved_at`` = the last entry into solved/closed, ``closed_at`` when closed;
- ``assignee`` and ``tags`` events; assignees are always agents of the queue's team;
- ``acknowledged_at`` for customer-channel tickets; ``priority_rank`` from ``Ticket.PRIORITY_RANK``;
- ``search_vector`` computed exactly as ``ticket_search_refresh`` builds it (subject A, messages B);
- ids drawn from the tables' own sequences (never reused), tickets numbered in order of creation.

Large loads drop the secondary indexes and foreign keys of the ticket tables and recreate them, from their
own catalog definitions, in the same transaction, so the schema is never left different from the migrations.
"""

import bisect
import math
import random
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django.utils import timezone

from customers.models import Customer, Organization
from helpdesk.html import text_to_html
from helpdesk.models import Team, User

from .mail.models import Mailbox
from .models import Message, Queue, Tag, Ticket, TicketEvent
from .seeding_text import (
    AGENT_CLOSINGS,
    AGENT_FOLLOW_UPS,
    CAKES,
    CODES,
    CUSTOMER_FOLLOW_UPS,
    DAYS,
    DEMO_TEAMS,
    EMAIL_DOMAINS,
    EXTRA_TAGS,
    ITEMS,
    LOST,
    NAME_LOCALES,
    NOTES,
    OUTBOUND,
    QUEUE_KIND_LABELS,
    QUEUE_KINDS,
    RARE_ASIDES,
    SEED_TEAMS,
    TAG_NAMES,
    TOPICS,
    Topic,
)
from .services import ACKNOWLEDGED_CHANNELS, SEARCH_TEXT_LIMIT

NEW, OPEN, PENDING, ON_HOLD, SOLVED, CLOSED = (str(s) for s in Ticket.Status)
RESOLVED = {SOLVED, CLOSED}
CUSTOMER, REPLY, NOTE = str(Message.Kind.CUSTOMER), str(Message.Kind.REPLY), str(Message.Kind.NOTE)
EVENT = TicketEvent.Kind
EV_CREATED, EV_FIELD, EV_MESSAGE = str(EVENT.CREATED), str(EVENT.FIELD), str(EVENT.MESSAGE)
PRIORITY_RANK = {str(k): v for k, v in Ticket.PRIORITY_RANK.items()}
CUSTOMER_CHANNELS = {str(c) for c in ACKNOWLEDGED_CHANNELS}
DAY = 86400
BULK_TABLES = ("tickets_ticket", "tickets_message", "tickets_ticketevent", "tickets_ticket_tags", "tickets_survey")

# A small share of tickets is forgotten early, in one of these statuses: the old backlog of a real desk.
STALE_STATUSES = (NEW, OPEN, PENDING, ON_HOLD, SOLVED)
SEED_STALE_SHARE = 0.01
DEMO_STALE_SHARE = 0.12
CHANNEL_WEIGHTS = {"email": 40, "portal": 20, "chat": 12, "phone": 10, "api": 8, "agent": 10}
PRIORITY_WEIGHTS = {"low": 20, "normal": 55, "high": 18, "urgent": 7}
FIRST_RESPONSE_MEDIAN = {"urgent": 1800, "high": 3600, "normal": 3 * 3600, "low": 6 * 3600}
NEXT_RESPONSE_MEDIAN = {"urgent": 3600, "high": 2 * 3600, "normal": 4 * 3600, "low": 8 * 3600}
NOTE_SHARE = 0.1
# Surveys: the share of customers who answer, and how they answer (satisfied customers answer more).
SURVEY_ANSWER_SHARE = {"csat": 0.3, "nps": 0.2, "ces": 0.25}
SURVEY_SCORE_WEIGHTS = {
    "csat": {5: 52, 4: 26, 3: 10, 2: 5, 1: 7},
    "nps": {10: 30, 9: 22, 8: 16, 7: 10, 6: 6, 5: 5, 4: 3, 3: 2, 2: 2, 1: 1, 0: 3},
    "ces": {7: 35, 6: 25, 5: 15, 4: 10, 3: 7, 2: 4, 1: 4},
}
LONG_TICKET_MESSAGES = 100

# --- staff and customers (a few ORM rows) ------------------------------------------------------


@dataclass(frozen=True)
class QueueStaff:
    id: int
    kind: str
    agent_ids: tuple[int, ...]
    surveys: tuple[str, ...] = ("csat",)  # the questions the queue asks once a ticket is solved


@dataclass(frozen=True)
class Staff:
    """Who works where: what the ticket simulation needs to know about queues, agents and tags."""

    queues: tuple[QueueStaff, ...]
    agent_first_names: dict[int, str]
    tag_ids: dict[str, int]


class _NamePool:
    """First and last names from Faker, drawn from one locale at a time so they go together.

    A small pool (Faker is slow); rows combine its names.
    """

    def __init__(self, *, seed: int, locales: Sequence[str] = NAME_LOCALES, size: int = 150):
        from faker import Faker  # a development dependency: only the seeding commands need it

        self.pools = []
        for offset, locale in enumerate(locales):
            fake = Faker(locale)
            fake.seed_instance(seed + offset)
            firsts = sorted({fake.first_name() for _ in range(size)})
            self.pools.append((firsts, sorted({fake.last_name() for _ in range(size)})))

    def draw(self, rng: random.Random) -> tuple[str, str]:
        firsts, lasts = rng.choice(self.pools)
        return rng.choice(firsts), rng.choice(lasts)


def _ascii_slug(value: str) -> str:
    ascii_value = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode().lower()
    return ".".join("".join(c if c.isalnum() else " " for c in ascii_value).split())


def _staff_of(queues: Sequence[Queue], kinds: dict[int, str]) -> Staff:
    Tag.objects.bulk_create([Tag(name=n) for n in TAG_NAMES], ignore_conflicts=True)
    members: dict[int, list[int]] = {}
    for team_id, user_id in Team.members.through.objects.filter(team__in={q.team_id for q in queues}).values_list(
        "team_id", "user_id"
    ):
        members.setdefault(team_id, []).append(user_id)
    agents = User.objects.filter(pk__in={u for ids in members.values() for u in ids}, is_active=True)
    first_names = {u.pk: u.get_short_name() for u in agents}
    return Staff(
        queues=tuple(
            QueueStaff(
                q.pk,
                kinds[q.pk],
                tuple(sorted(u for u in members.get(q.team_id, []) if u in first_names)),
                surveys=tuple(
                    kind for kind, on in (("csat", q.survey_csat), ("nps", q.survey_nps), ("ces", q.survey_ces)) if on
                ),
            )
            for q in queues
        ),
        agent_first_names=first_names,
        tag_ids=dict(Tag.objects.filter(name__in=TAG_NAMES).values_list("name", "id")),
    )


@transaction.atomic
def seed_staff(*, teams: int, queues: int, agents: int, seed: int = 1) -> Staff:
    """Teams, queues (cycling over the café/shop kinds), agents and an admin; reused when they exist.

    Agent ``n`` is ``agent{n}@seed.example`` in team ``n % teams``; every fifth agent is in two teams.
    """
    teams, queues, agents = max(1, teams), max(1, queues), max(1, agents)
    names = _NamePool(seed=seed, locales=("en_GB", "en_US"))
    rng = random.Random(seed)
    team_objs = [
        Team.objects.get_or_create(name=SEED_TEAMS[i] if i < len(SEED_TEAMS) else f"Team {i + 1}")[0]
        for i in range(teams)
    ]
    User.objects.get_or_create(
        email="admin@seed.example",
        defaults={"full_name": "Seed Admin", "role": User.Role.ADMIN, "password": make_password(None)},
    )
    for n in range(max(agents, teams)):
        user, _ = User.objects.get_or_create(
            email=f"agent{n % agents + 1}@seed.example",
            defaults={"full_name": " ".join(names.draw(rng)), "password": make_password(None)},
        )
        user.teams.add(team_objs[n % teams])
        if n % 5 == 4 and teams > 1:
            user.teams.add(team_objs[(n + 1) % teams])
    queue_objs, kinds = [], {}
    for i in range(queues):
        kind = QUEUE_KINDS[i % len(QUEUE_KINDS)]
        name = QUEUE_KIND_LABELS[kind] + (f" {i // len(QUEUE_KINDS) + 1}" if i >= len(QUEUE_KINDS) else "")
        queue, _ = Queue.objects.get_or_create(
            slug=f"seed-{_ascii_slug(name).replace('.', '-')}",
            # every queue asks CSAT; every other one NPS too, every third CES
            defaults={"name": name, "team": team_objs[i % teams], "survey_csat": True, "survey_nps": i % 2 == 0,
                      "survey_ces": i % 3 == 0},
        )  # fmt: skip
        queue_objs.append(queue)
        kinds[queue.pk] = kind
    return _staff_of(queue_objs, kinds)


@dataclass(frozen=True)
class CustomerRef:
    id: int
    first_name: str


def _copy_customers(cursor, people: Sequence[tuple[str, str]], *, created_at: int) -> list[CustomerRef]:
    """COPY ``(name, email)`` rows into customers_customer; ids from the table's sequence."""
    ids = _reserve_ids(cursor, "customers_customer", len(people))
    stamp = _timestamp(created_at)
    lines = [
        f"{i}\t{stamp}\t{stamp}\t{_esc(email)}\t{_esc(name)}\n" for i, (name, email) in zip(ids, people, strict=True)
    ]
    _copy(cursor, "COPY customers_customer (id, created_at, updated_at, email, name) FROM STDIN", lines)
    return [CustomerRef(i, name.split(" ")[0]) for i, (name, _) in zip(ids, people, strict=True)]


@transaction.atomic
def seed_customers(*, count: int, seed: int = 1, days: int = 365) -> list[CustomerRef]:
    """``count`` customers: the existing ones first (oldest), then new ones with Faker names, on record
    since before the ``days`` the tickets span.

    New emails carry a running number (``anna.schmidt.1042@example.org``), so they are unique.
    """
    existing = [
        CustomerRef(pk, (name or email).split(" ")[0])
        for pk, name, email in Customer.objects.order_by("pk").values_list("pk", "name", "email")[:count]
    ]
    missing = count - len(existing)
    if missing <= 0:
        return existing
    names = _NamePool(seed=seed)
    rng = random.Random(seed)
    offset = Customer.objects.count()
    people = []
    for n in range(offset, offset + missing):
        first, last = names.draw(rng)
        people.append((f"{first} {last}", f"{_ascii_slug(first)}.{_ascii_slug(last)}.{n}@{rng.choice(EMAIL_DOMAINS)}"))
    connection.ensure_connection()
    with connection.connection.cursor() as cursor:
        created = _copy_customers(cursor, people, created_at=int(time.time()) - (days + 30) * DAY)
    return existing + created


# --- one ticket's history ----------------------------------------------------------------------


class _Clipped(Exception):
    """The history reached "now": what would come next has not happened yet."""


class _Story:
    """One ticket's history, as the services would have written it. Times are epoch seconds, never after ``now``."""

    def __init__(self, *, now: int, created_at: int, channel: str, customer_id: int, created_by: int | None,
                 subject: str, priority: str, queue_id: int):  # fmt: skip
        self.now = now
        self.created_at = self.updated_at = created_at
        self.channel, self.customer_id, self.created_by = channel, customer_id, created_by
        self.subject, self.priority, self.queue_id = subject, priority, queue_id
        self.status = NEW
        self.assignee: int | None = None
        self.touched = False
        self.first_response_at = self.resolved_at = self.closed_at = self.acknowledged_at = None
        self.last_customer_at = self.last_agent_at = None
        self.messages: list[tuple] = []  # (t, kind, user, customer, channel, text)
        self.events: list[tuple] = []  # (t, kind, actor, actor_customer, field, old, new, message index)
        self.tags: list[str] = []
        self.surveys: list[tuple] = []  # (kind, sent_at, score, answered_at)

    def _at(self, t: int) -> None:
        if t > self.now:
            raise _Clipped

    def event(self, t, kind, *, actor=None, customer=None, field="", old="", new="", message=None):
        self._at(t)
        self.events.append((t, kind, actor, customer, field, old, new, message))
        self.updated_at = t

    def message(self, t, kind, text, *, user=None, customer=None, channel=None):
        """``_add_message`` plus what ``ticket_create``/``ticket_reply``/... keep on the ticket."""
        self._at(t)
        self.messages.append((t, kind, user, customer, channel or self.channel, text))
        self.event(t, EV_MESSAGE, actor=user, customer=customer, new=kind, message=len(self.messages) - 1)
        if kind == CUSTOMER:
            self.last_customer_at = t
        elif kind == REPLY:
            self.last_agent_at = t
            if self.first_response_at is None and self.created_by is None:
                self.first_response_at = t

    def set_status(self, t, status, *, actor=None, customer=None):
        """``_apply_status``: records the change and keeps ``resolved_at``/``closed_at``."""
        self._at(t)
        old = self.status
        if old == status:
            return
        if status in RESOLVED and old not in RESOLVED:
            self.resolved_at = t
        elif status not in RESOLVED and old in RESOLVED:
            self.resolved_at = None
        if status == CLOSED:
            self.closed_at = t
        self.status = status
        self.event(t, EV_FIELD, actor=actor, customer=customer, field="status", old=old, new=status)

    def assign(self, t, agent, *, actor):
        self.event(t, EV_FIELD, actor=actor, field="assignee", old=self.assignee or "", new=agent)
        self.assignee = agent

    def tag(self, t, name, *, actor):
        if name not in self.tags:
            self.event(t, EV_FIELD, actor=actor, field="tags", new=name)
            self.tags.append(name)


def _cumulative(weights: dict) -> tuple[list, list[float]]:
    keys, total, cum = list(weights), 0.0, []
    for key in keys:
        total += weights[key]
        cum.append(total)
    return keys, cum


class _Simulator:
    """Plays out ticket histories: who writes when, which status each step leaves, how it ends."""

    def __init__(self, *, rng: random.Random, staff: Staff, customers: Sequence[CustomerRef], now: int,
                 survey_seed: int = 0):  # fmt: skip
        self.rng, self.staff, self.customers, self.now = rng, staff, customers, now
        self.survey_rng = random.Random(survey_seed)
        self.survey_scores = {kind: _cumulative(weights) for kind, weights in SURVEY_SCORE_WEIGHTS.items()}
        self.channels = _cumulative(CHANNEL_WEIGHTS)
        self.priorities = _cumulative(PRIORITY_WEIGHTS)
        self.items = _cumulative(ITEMS)
        self.queues = [q for q in staff.queues if q.agent_ids] or list(staff.queues)
        self.topics = {k: _cumulative({t: t.weight for t in TOPICS if t.kind == k}) for k in QUEUE_KINDS}

    def pick(self, table, rng: random.Random | None = None):
        keys, cum = table
        return keys[bisect.bisect(cum, (rng or self.rng).random() * cum[-1])]

    # --- when
    def arrivals(self, count: int, start: int, end: int) -> list[int]:
        """``count`` creation times in [start, end), sorted: fewer at night and at weekends."""
        times = []
        while len(times) < count:
            t = start + int(self.rng.random() * (end - start))
            day, second = divmod(t, DAY)
            if ((day + 3) % 7 < 5 and 7 * 3600 <= second < 20 * 3600) or self.rng.random() < 0.25:
                times.append(t)  # (day + 3) % 7 is the weekday, Monday 0: 1970-01-01 was a Thursday
        return sorted(times)

    def _working_time(self, t: int) -> int:
        """Most agent work happens Mon–Fri 08:00–18:00 (UTC): push a reply to the next working morning."""
        day, second = divmod(t, DAY)
        if ((day + 3) % 7 < 5 and 8 * 3600 <= second < 18 * 3600) or self.rng.random() < 0.2:
            return t
        if second >= 8 * 3600:
            day += 1
        while (day + 3) % 7 >= 5:
            day += 1
        return day * DAY + 8 * 3600 + self.rng.randrange(2 * 3600)

    def agent_time(self, t: int, median: int, cap: int | None) -> int:
        delay = max(60, int(self.rng.lognormvariate(math.log(median), 1.0)))
        if cap:
            return t + min(delay, cap)
        return max(t + 60, self._working_time(t + min(delay, 5 * DAY)))

    def customer_time(self, t: int, cap: int | None) -> int:
        delay = max(120, int(self.rng.lognormvariate(math.log(4 * 3600), 1.3)))
        return t + min(delay, cap or 10 * DAY)

    # --- who and what
    def context(self, customer: CustomerRef) -> dict:
        rng = self.rng
        return {
            "first": customer.first_name, "order": f"BC-{rng.randrange(10_000, 99_999)}", "item": self.pick(self.items),
            "item2": self.pick(self.items), "day": rng.choice(DAYS), "party": rng.randrange(2, 13),
            "people": rng.randrange(20, 150), "cake": rng.choice(CAKES), "lost": rng.choice(LOST),
            "code": rng.choice(CODES), "ref": f"{rng.choice('RJTQ')}{rng.randrange(10**9, 10**10)}",
            "amount": rng.randrange(12, 900),
        }  # fmt: skip

    def customer_text(self, body: str, ctx: dict) -> str:
        for chance, aside in RARE_ASIDES:
            if self.rng.random() < chance:
                body = f"{body}\n\n{aside}"
        return f"Hello,\n\n{body.format(**ctx)}\n\nThanks,\n{ctx['first']}"

    def agent_text(self, body: str, ctx: dict, agent: int | None) -> str:
        name = self.staff.agent_first_names.get(agent, "The team")
        return f"Hi {ctx['first']},\n\n{body.format(**ctx)}\n\nBest wishes,\n{name}\nBean & Crumb"

    def agent_of(self, queue: QueueStaff) -> int | None:
        """An agent of the queue's team; the first ones of the team take more of the work."""
        ids = queue.agent_ids
        return ids[min(len(ids) - 1, int(len(ids) * self.rng.random() ** 1.3))] if ids else None

    def touch(self, story: _Story, t: int, queue: QueueStaff, topic: Topic, *, assign: bool = False) -> int | None:
        """The agent who acts now; the first time someone works on a ticket they usually take it and tag it."""
        rng = self.rng
        agent = story.assignee if story.assignee is not None and rng.random() < 0.9 else self.agent_of(queue)
        if not story.touched:
            story.touched = True
            if story.assignee is None and agent is not None and (assign or rng.random() < 0.95):
                story.assign(t, agent, actor=agent)
            if rng.random() < 0.4:
                story.tag(t, topic.tag, actor=agent)
                if rng.random() < 0.25:
                    story.tag(t, rng.choice(EXTRA_TAGS), actor=agent)
        return agent

    # --- a whole ticket
    def ticket(self, *, created_at: int, n_messages: int, stale: str | None = None, long: bool = False) -> _Story:
        """A ticket created at ``created_at`` that runs its course (solved, then closed 3 to 7 days later)
        unless ``now`` cuts it short; a ``stale`` ticket is forgotten early, in that status."""
        rng = self.rng
        queue = rng.choice(self.queues)
        topic = self.pick(self.topics[queue.kind])
        customer = self.customers[int(len(self.customers) * rng.random() ** 2)]  # regulars write more
        channel, priority = self.pick(self.channels), self.pick(self.priorities)
        created_by = None if channel in CUSTOMER_CHANNELS else self.agent_of(queue)
        if created_by is None and channel not in CUSTOMER_CHANNELS:
            channel = "email"
        ctx = self.context(customer)
        ctx["scenario"] = scenario = rng.randrange(len(topic.openings))
        subject = rng.choice(topic.subjects[scenario % len(topic.subjects)]).format(**ctx)
        story = _Story(now=self.now, created_at=created_at, channel=channel, customer_id=customer.id,
                       created_by=created_by, subject=subject, priority=priority, queue_id=queue.id)  # fmt: skip
        if created_by is None:
            story.acknowledged_at = min(created_at + rng.randrange(2, 40), self.now)
        try:
            self._open(story, ctx, topic)
            if stale == NEW:
                self._unanswered(story, queue, topic, ctx, n_messages)
            elif stale is None and n_messages == 1 and channel != "agent" and rng.random() < 0.3:
                t = self.agent_time(created_at, NEXT_RESPONSE_MEDIAN[priority], None)  # spam or a duplicate
                story.set_status(t, CLOSED, actor=self.touch(story, t, queue, topic))
            else:
                self._conversation(story, queue, topic, ctx, n_messages, stale, cap=3600 if long else None)
        except _Clipped:
            pass
        self._surveys(story, queue)
        return story

    def _surveys(self, story: _Story, queue: QueueStaff) -> None:
        """What ``surveys_send`` writes when the ticket is first solved: the queue's questions, sent then; some
        answered within days (if that is before ``now``). Drawn from their own generator, so the rest of the
        dataset does not change with them."""
        solved = next((e[0] for e in story.events if e[4] == "status" and e[6] == SOLVED), None)
        if solved is None:
            return
        rng = self.survey_rng
        for kind in queue.surveys:
            answered = solved + int(rng.expovariate(1 / (8 * 3600))) + 60
            if rng.random() < SURVEY_ANSWER_SHARE[kind] and answered <= self.now:
                score = self.pick(self.survey_scores[kind], rng)
                story.surveys.append((kind, solved, score, answered))
            else:
                story.surveys.append((kind, solved, None, None))

    def _open(self, story: _Story, ctx: dict, topic: Topic) -> None:
        """What ``ticket_create`` writes: the created event, the first message, the assignee if any."""
        t, by, customer = story.created_at, story.created_by, story.customer_id
        story.event(t, EV_CREATED, actor=by, customer=None if by else customer, new=story.channel)
        opening = self.customer_text(topic.openings[ctx["scenario"]], ctx)
        if story.channel == "agent":  # an outbound email: the agent writes first
            story.message(t, REPLY, self.agent_text(self.rng.choice(OUTBOUND), ctx, by), user=by)
        elif story.channel == "phone":  # the agent types up the call
            story.message(t, CUSTOMER, f"Phone call with {ctx['first']}:\n\n{opening}", user=by, customer=customer)
        else:
            story.message(t, CUSTOMER, opening, customer=customer)
        if by is not None and self.rng.random() < 0.8:
            story.assign(t, by, actor=by)
            story.touched = True

    def _unanswered(self, story: _Story, queue: QueueStaff, topic: Topic, ctx: dict, n_messages: int) -> None:
        t = story.created_at
        if n_messages > 1 and story.created_by is None and self.rng.random() < 0.4:
            t = self.customer_time(t, None)
            story.message(t, CUSTOMER, self.customer_text(self.rng.choice(CUSTOMER_FOLLOW_UPS[OPEN]), ctx),
                          customer=story.customer_id)  # fmt: skip
        if not story.touched and self.rng.random() < 0.3:
            self.touch(story, t + self.rng.randrange(60, 3600), queue, topic, assign=True)

    def _conversation(self, story, queue, topic, ctx, n, stale, cap):
        """Customer and agents take turns until ``n`` messages (internal notes among them); the last agent
        reply solves the ticket (or leaves it ``stale``), and solved tickets close 3 to 7 days later."""
        rng = self.rng
        n = max(2, min(n, rng.randrange(2, 5)) if stale else n)
        notes = sum(rng.random() < NOTE_SHARE for _ in range(n - 2))
        public = n - notes
        first_is_customer = story.messages[0][1] == CUSTOMER
        end_on_customer = stale == OPEN and first_is_customer and rng.random() < 0.6
        if (((public - 1) % 2 == 0) == first_is_customer) != end_on_customer:  # the other side has the last word
            if notes:
                notes, public = notes - 1, public + 1
            elif public > 2:
                notes, public = notes + 1, public - 1
            else:
                public += 1
        agent_turns = [i for i in range(1, public) if (i % 2 == 0) != first_is_customer]
        note_after = [rng.choice(agent_turns) for _ in range(notes)] if agent_turns else []
        final = stale or SOLVED
        reply_channel = story.channel if story.channel in ("email", "portal", "chat") else "email"
        t = story.created_at
        for i in range(1, public):
            if (i % 2 == 0) == first_is_customer:
                t = self.customer_time(t, cap)
                follow_ups = CUSTOMER_FOLLOW_UPS.get(story.status, CUSTOMER_FOLLOW_UPS[OPEN])
                text = self.customer_text(rng.choice(follow_ups), ctx)
                story.message(t, CUSTOMER, text, customer=story.customer_id, channel=reply_channel)
                if story.status in (SOLVED, PENDING):  # ``ticket_add_customer_message`` reopens
                    story.set_status(t, OPEN, customer=story.customer_id)
                continue
            first_answer = story.first_response_at is None and story.created_by is None
            t = self.agent_time(
                t, (FIRST_RESPONSE_MEDIAN if first_answer else NEXT_RESPONSE_MEDIAN)[story.priority], cap
            )
            agent = self.touch(story, t, queue, topic, assign=bool(cap))
            body = topic.answer(ctx["scenario"], rng) if first_answer else rng.choice(AGENT_FOLLOW_UPS)
            if i == public - 1:
                status = final
                if final == SOLVED:
                    body = f"{body}\n\n{rng.choice(AGENT_CLOSINGS)}"
            else:
                status = self._interim_status(before_last_word=end_on_customer and i == public - 2)
            story.message(t, REPLY, self.agent_text(body, ctx, agent), user=agent)
            status = status or (OPEN if story.status == NEW else None)  # as ``ticket_reply`` does
            if status:
                story.set_status(t, status, actor=agent)
            for _ in range(note_after.count(i)):
                t += rng.randrange(60, 1800)
                colleague = self.agent_of(queue) if rng.random() < 0.3 else agent
                story.message(t, NOTE, rng.choice(NOTES).format(**ctx), user=colleague)
        if stale is None:
            story.set_status(t + rng.randrange(3 * DAY, 7 * DAY), CLOSED)  # closed automatically

    def _interim_status(self, *, before_last_word: bool) -> str | None:
        r = self.rng.random()
        if before_last_word:  # the customer's answer must leave the ticket open
            return PENDING if r < 0.6 else SOLVED if r < 0.8 else OPEN
        return PENDING if r < 0.55 else None if r < 0.85 else SOLVED if r < 0.93 else ON_HOLD


# --- COPY --------------------------------------------------------------------------------------


def _esc(value: str) -> str:
    """COPY text format escaping (chained ``replace`` is several times faster than ``str.translate``)."""
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _n(value) -> str:
    return "\\N" if value is None else str(value)


_DATES: dict[int, str] = {}
_TIMES: list[str] = []


def _timestamp(t: int | None) -> str:
    """COPY text of a UTC timestamp (cached per day and second of day: this runs tens of millions of times)."""
    if t is None:
        return "\\N"
    if not _TIMES:
        _TIMES.extend(f" {s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}+00" for s in range(DAY))
    day, second = divmod(t, DAY)
    text = _DATES.get(day)
    if text is None:
        text = _DATES[day] = (date(1970, 1, 1) + timedelta(days=day)).isoformat()
    return text + _TIMES[second]


def _reserve_ids(cursor, table: str, count: int) -> list[int]:
    """``count`` new ids from the table's own sequence (so they are never handed out again)."""
    if not count:
        return []
    cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, count])
    return [row[0] for row in cursor.fetchall()]


def _copy(cursor, sql: str, lines: list[str]) -> None:
    if lines:
        with cursor.copy(sql) as copy:
            for start in range(0, len(lines), 5000):
                copy.write("".join(lines[start : start + 5000]))


TICKET_COLUMNS = (
    "id, subject, status, priority, priority_rank, channel, created_at, updated_at, first_response_at, "
    "resolved_at, closed_at, last_customer_message_at, last_agent_reply_at, acknowledged_at, message_count, "
    "assignee_id, created_by_id, customer_id, queue_id"
)
MESSAGE_COLUMNS = "id, ticket_id, kind, channel, author_user_id, author_customer_id, body_html, body_text, created_at"
EVENT_COLUMNS = "ticket_id, kind, actor_id, actor_customer_id, field, old_value, new_value, message_id, created_at"
# The search vector as ``ticket_search_refresh`` builds it; ``search_text`` is the messages' text in order.
INSERT_TICKETS = (
    f"INSERT INTO tickets_ticket ({TICKET_COLUMNS}, search_vector) SELECT {TICKET_COLUMNS}, "
    "setweight(to_tsvector('helpdesk', subject), 'A') || setweight(to_tsvector('helpdesk', search_text), 'B') "
    "FROM seed_ticket_stage ORDER BY id"
)


class _Writer:
    """Writes batches of ticket histories with COPY. Within a batch, message and event ids follow time."""

    def __init__(self, cursor, tag_ids: dict[str, int]):
        self.cursor, self.tag_ids = cursor, tag_ids
        self.messages = self.events = self.surveys = 0
        cursor.execute(
            "CREATE TEMP TABLE seed_ticket_stage ON COMMIT DROP AS SELECT "
            f"{TICKET_COLUMNS}, ''::text AS search_text FROM tickets_ticket WITH NO DATA"
        )

    def write(self, stories: Sequence[_Story]) -> list[int]:
        """Load ``stories`` (in creation order); returns their ticket ids."""
        cursor = self.cursor
        ticket_ids = _reserve_ids(cursor, "tickets_ticket", len(stories))
        in_time = sorted((m[0], k, j) for k, story in enumerate(stories) for j, m in enumerate(story.messages))
        message_ids = [[0] * len(story.messages) for story in stories]
        lines = []
        for message_id, (t, k, j) in zip(_reserve_ids(cursor, "tickets_message", len(in_time)), in_time, strict=True):
            message_ids[k][j] = message_id
            _, kind, user, customer, channel, text = stories[k].messages[j]
            lines.append(f"{message_id}\t{ticket_ids[k]}\t{kind}\t{channel}\t{_n(user)}\t{_n(customer)}\t"
                         f"{_esc(text_to_html(text))}\t{_esc(text)}\t{_timestamp(t)}\n")  # fmt: skip
        tickets = [self._ticket_line(ticket_id, story) for ticket_id, story in zip(ticket_ids, stories, strict=True)]
        _copy(cursor, f"COPY seed_ticket_stage ({TICKET_COLUMNS}, search_text) FROM STDIN", tickets)
        cursor.execute(INSERT_TICKETS)
        cursor.execute("TRUNCATE seed_ticket_stage")
        _copy(cursor, f"COPY tickets_message ({MESSAGE_COLUMNS}) FROM STDIN", lines)
        lines = []
        for t, k, j in sorted((e[0], k, j) for k, story in enumerate(stories) for j, e in enumerate(story.events)):
            _, kind, actor, customer, field_name, old, new, message = stories[k].events[j]
            message_id = None if message is None else message_ids[k][message]
            lines.append(f"{ticket_ids[k]}\t{kind}\t{_n(actor)}\t{_n(customer)}\t{field_name}\t{old}\t{new}\t"
                         f"{_n(message_id)}\t{_timestamp(t)}\n")  # fmt: skip
        _copy(cursor, f"COPY tickets_ticketevent ({EVENT_COLUMNS}) FROM STDIN", lines)
        tags = [
            f"{ticket_id}\t{self.tag_ids[name]}\n"
            for ticket_id, s in zip(ticket_ids, stories, strict=True)
            for name in s.tags
        ]
        _copy(cursor, "COPY tickets_ticket_tags (ticket_id, tag_id) FROM STDIN", tags)
        surveys = [
            f"{ticket_id}\t{s.customer_id}\t{kind}\t{_timestamp(sent)}\t{_n(score)}\t\t{_timestamp(answered)}\n"
            for ticket_id, s in zip(ticket_ids, stories, strict=True)
            for kind, sent, score, answered in s.surveys
        ]
        _copy(cursor, "COPY tickets_survey (ticket_id, customer_id, kind, sent_at, score, comment, answered_at) "
                      "FROM STDIN", surveys)  # fmt: skip
        self.surveys += len(surveys)
        self.messages += len(in_time)
        self.events += len(lines)
        return ticket_ids

    def close(self) -> None:
        self.cursor.execute("DROP TABLE seed_ticket_stage")

    @staticmethod
    def _ticket_line(ticket_id: int, s: _Story) -> str:
        search_text = " ".join(m[5] for m in s.messages)[:SEARCH_TEXT_LIMIT]
        return "\t".join((
            str(ticket_id), _esc(s.subject), s.status, s.priority, str(PRIORITY_RANK[s.priority]), s.channel,
            _timestamp(s.created_at), _timestamp(s.updated_at), _timestamp(s.first_response_at),
            _timestamp(s.resolved_at), _timestamp(s.closed_at), _timestamp(s.last_customer_at),
            _timestamp(s.last_agent_at), _timestamp(s.acknowledged_at), str(len(s.messages)), _n(s.assignee),
            _n(s.created_by), str(s.customer_id), str(s.queue_id), _esc(search_text),
        )) + "\n"  # fmt: skip


@contextmanager
def _indexes_deferred(cursor, tables: Sequence[str]) -> Iterator[None]:
    """Drop the secondary (non-unique) indexes and the foreign keys of ``tables``; recreate them on exit
    from their catalog definitions, so names and definitions stay exactly those of the migrations.
    Runs inside the loading transaction: if anything fails, the rollback restores them too.

    Partial and expression indexes stay: their definitions do not come back from ``pg_get_indexdef``
    in the same words, and a partial index over the open tickets costs little to keep up."""
    cursor.execute(
        "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c "
        "WHERE c.contype = 'f' AND c.conrelid = ANY(%s::regclass[]) ORDER BY c.conrelid, c.conname",
        [list(tables)],
    )
    foreign_keys = cursor.fetchall()
    cursor.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisunique AND NOT i.indisprimary "
        "AND i.indpred IS NULL AND i.indexprs IS NULL "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.contype <> 'f') "
        "ORDER BY i.indrelid, i.indexrelid",
        [list(tables)],
    )
    indexes = cursor.fetchall()
    for table, name, _ in foreign_keys:
        cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        cursor.execute(f"DROP INDEX {name}")
    yield
    for _, definition in indexes:
        cursor.execute(definition)
    for table, name, definition in foreign_keys:
        cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')


# --- entry points ------------------------------------------------------------------------------


@dataclass
class SeedStats:
    tickets: int = 0
    messages: int = 0
    events: int = 0
    surveys: int = 0
    seconds: float = 0.0
    first_id: int | None = None
    last_id: int | None = None
    indexes_deferred: bool = False
    long_ticket_ids: list[int] = field(default_factory=list)

    @property
    def tickets_per_second(self) -> float:
        return self.tickets / self.seconds if self.seconds else 0.0

    @property
    def messages_per_second(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0


def _message_count(rng: random.Random, mean: float) -> int:
    """A skewed count: most conversations are short, a few run long (mean about ``mean``, at most 60)."""
    if mean <= 1:
        return 1
    return min(60, 1 + round(rng.expovariate(1 / (mean - 1))))


@transaction.atomic
def seed_tickets(
    *,
    staff: Staff,
    customers: Sequence[CustomerRef],
    tickets: int,
    messages_per_ticket: float,
    days: int,
    seed: int,
    long_tickets: int = 0,
    stale_share: float = SEED_STALE_SHARE,
    now: int | None = None,
    defer_indexes: bool | None = None,
    batch_size: int = 5000,
    on_progress: Callable[[SeedStats], None] | None = None,
) -> SeedStats:
    """Simulate and COPY ``tickets`` tickets created over the last ``days`` days, oldest first (so ids follow
    creation time); ``long_tickets`` of them, among the oldest, have exactly 100 messages.

    ``stale_share`` of the tickets are forgotten early, in turn new, open, pending, on hold or solved: the
    old backlog every help desk has. ``defer_indexes`` (by default: when the load is large next to the
    table) drops the secondary indexes and foreign keys of the ticket tables and recreates them at the end.
    """
    if not customers or not staff.queues:
        raise ValueError("Seeding tickets needs at least one customer and one queue.")
    started = time.perf_counter()
    now = int(timezone.now().timestamp()) if now is None else now
    start, span = now - days * DAY, days * DAY
    rng = random.Random(seed)
    simulator = _Simulator(rng=rng, staff=staff, customers=customers, now=now, survey_seed=seed + 7919)
    long_numbers = {i * (tickets // long_tickets) for i in range(long_tickets)} if long_tickets else set()
    stale_count = 0
    stats = SeedStats()
    connection.ensure_connection()
    with connection.connection.cursor() as cursor:
        if defer_indexes is None:
            cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = 'tickets_ticket'::regclass")
            defer_indexes = tickets >= 20_000 and tickets >= cursor.fetchone()[0] // 4
        stats.indexes_deferred = defer_indexes
        if defer_indexes:  # ALTER TABLE refuses tables with foreign-key checks still pending in this transaction
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        # Index builds get memory but no parallel workers: the machine is shared.
        cursor.execute("SET LOCAL maintenance_work_mem = '1GB'")
        cursor.execute("SET LOCAL max_parallel_maintenance_workers = 0")
        with _indexes_deferred(cursor, BULK_TABLES) if defer_indexes else nullcontext():
            writer = _Writer(cursor, staff.tag_ids)
            for first in range(0, tickets, batch_size):
                count = min(batch_size, tickets - first)
                times = simulator.arrivals(
                    count, start + span * first // tickets, start + span * (first + count) // tickets
                )
                stories = []
                for number, created_at in enumerate(times, start=first):
                    long = number in long_numbers
                    stale = None
                    if not long and int((number + 1) * stale_share) > int(number * stale_share):
                        stale, stale_count = STALE_STATUSES[stale_count % len(STALE_STATUSES)], stale_count + 1
                    n = LONG_TICKET_MESSAGES if long else _message_count(rng, messages_per_ticket)
                    stories.append(simulator.ticket(created_at=created_at, n_messages=n, stale=stale, long=long))
                ids = writer.write(stories)
                stats.long_ticket_ids += [i for number, i in enumerate(ids, start=first) if number in long_numbers]
                stats.first_id = stats.first_id or ids[0]
                stats.last_id = ids[-1]
                stats.tickets, stats.messages, stats.events = first + count, writer.messages, writer.events
                stats.surveys = writer.surveys
                stats.seconds = time.perf_counter() - started
                if on_progress:
                    on_progress(stats)
            writer.close()
        cursor.execute(f"ANALYZE {', '.join(BULK_TABLES)}")
    stats.seconds = time.perf_counter() - started
    return stats


def seed_dataset(
    *,
    tickets: int,
    messages_per_ticket: float,
    customers: int,
    agents: int = 20,
    teams: int = 4,
    queues: int = 8,
    days: int = 365,
    seed: int = 1,
    long_tickets: int = 3,
    defer_indexes: bool | None = None,
    on_progress: Callable[[SeedStats], None] | None = None,
) -> SeedStats:
    """Staff, ``customers`` customers and ``tickets`` tickets spread over the last ``days`` days."""
    started = time.perf_counter()
    staff = seed_staff(teams=teams, queues=queues, agents=agents, seed=seed)
    customer_refs = seed_customers(count=customers, seed=seed, days=days)
    stats = seed_tickets(
        staff=staff, customers=customer_refs, tickets=tickets, messages_per_ticket=messages_per_ticket, days=days,
        seed=seed, long_tickets=min(long_tickets, tickets), defer_indexes=defer_indexes, on_progress=on_progress,
    )  # fmt: skip
    stats.seconds = time.perf_counter() - started
    return stats


# --- demo data ---------------------------------------------------------------------------------

DEMO_OWNER = "owner@demo.example"
DEMO_AGENTS = tuple(f"agent{n}@demo.example" for n in range(1, 6))
DEMO_CUSTOMERS = 50
DEMO_ORGANIZATIONS = (("Harbour Lane Offices", "harbourlane.example"), ("Greenleaf Yoga Studio", "greenleaf.example"))
DEMO_TICKETS = 300
DEMO_DAYS = 60
DEMO_SEED = 2024


def demo_data_exists() -> bool:
    return User.objects.filter(email__iexact=DEMO_OWNER).exists()


@dataclass(frozen=True)
class DemoLogins:
    owner: str
    agents: tuple[str, ...]
    tickets: int


@transaction.atomic
def demo_data_load(*, password: str) -> DemoLogins | None:
    """The demo help desk of a café with a web shop; ``None`` (and nothing written) when it is already there.

    2 teams with 2 queues each, an owner, 5 agents (agent5 in both teams), 50 customers and about 300
    tickets of the last 60 days, in every status. Everyone signs in with ``password``.
    """
    if demo_data_exists():  # two concurrent loads: the second fails on the unique email and rolls back
        return None
    names = _NamePool(seed=DEMO_SEED, locales=("en_GB", "en_GB", "en_GB", "fr_FR", "de_DE", "es_ES"))
    rng = random.Random(DEMO_SEED)
    User.objects.create_superuser(DEMO_OWNER, password, full_name=" ".join(names.draw(rng)))
    agents = [User.objects.create_user(email, password, full_name=" ".join(names.draw(rng))) for email in DEMO_AGENTS]
    queues, kinds = [], {}
    for index, (team_name, team_queues) in enumerate(DEMO_TEAMS.items()):
        team = Team.objects.create(name=team_name)
        team.members.add(*agents[index * 2 : index * 2 + 2], agents[4])
        for name, slug, kind in team_queues:
            queue = Queue.objects.create(name=name, slug=slug, team=team, on_portal=True)  # topics of /help/
            queues.append(queue)
            kinds[queue.pk] = kind
    people, emails = [], set()
    while len(people) < DEMO_CUSTOMERS:
        first, last = names.draw(rng)
        email = f"{_ascii_slug(first)}.{_ascii_slug(last)}@{rng.choice(EMAIL_DOMAINS)}"
        if email not in emails and not Customer.objects.with_email(email).exists():
            emails.add(email)
            people.append((f"{first} {last}", email))
    connection.ensure_connection()
    with connection.connection.cursor() as cursor:
        customers = _copy_customers(cursor, people, created_at=int(time.time()) - 2 * DEMO_DAYS * DAY)
    # Where customers write: one mailbox per team, to its first queue (no IMAP server in the demo; try
    # `manage.py ingest_email some.eml`, and see the replies in var/mail/).
    for domain_part, queue in (("hello", queues[0]), ("shop", queues[2])):
        Mailbox.objects.create(name=f"{queue.team.name}", email_address=f"{domain_part}@beanandcrumb.example",
                               queue=queue, from_name="Bean & Crumb")  # fmt: skip
    # Regular business customers: an office that orders catering, a yoga studio next door.
    for (name, domain), members in zip(DEMO_ORGANIZATIONS, (customers[:6], customers[6:10]), strict=True):
        organization = Organization.objects.create(name=name, domains=[domain])
        Customer.objects.filter(pk__in=[ref.id for ref in members]).update(organization=organization)
    seed_tickets(
        staff=_staff_of(queues, kinds), customers=customers, tickets=DEMO_TICKETS, messages_per_ticket=5,
        days=DEMO_DAYS, seed=DEMO_SEED, stale_share=DEMO_STALE_SHARE, defer_indexes=False,
    )  # fmt: skip
    from knowledge_base.demo import demo_help_center_load

    demo_help_center_load()
    return DemoLogins(owner=DEMO_OWNER, agents=DEMO_AGENTS, tickets=DEMO_TICKETS)
