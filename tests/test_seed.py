"""The dataset generator (``tickets.seeding``) and the ``seed``, ``demo_data`` and ``bench`` commands.

The generated history must be what the services would have written: later reports compute metrics from
it. Each rule below is one SQL query counting the tickets (or messages) that break it.
"""

import io
import re

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from customers.models import Customer
from helpdesk.models import Team, User
from tickets.mail.models import Mailbox
from tickets.management.commands.bench import percentile
from tickets.models import Message, Queue, Tag, Ticket, TicketEvent
from tickets.seeding import BULK_TABLES, LONG_TICKET_MESSAGES, seed_dataset
from tickets.surveys.models import Survey

RULES = {
    "one created event at created_at": """
        SELECT count(*) FROM tickets_ticket t WHERE (SELECT count(*) FROM tickets_ticketevent e
            WHERE e.ticket_id = t.id AND e.kind = 'created' AND e.created_at = t.created_at) <> 1""",
    "first message at created_at, by the customer unless an agent opened it": """
        SELECT count(*) FROM tickets_ticket t LEFT JOIN LATERAL (SELECT m.kind, m.created_at FROM tickets_message m
            WHERE m.ticket_id = t.id ORDER BY m.created_at, m.id LIMIT 1) f ON true
        WHERE f.created_at IS DISTINCT FROM t.created_at
           OR f.kind <> CASE WHEN t.created_by_id IS NOT NULL AND t.channel = 'agent' THEN 'reply' ELSE 'customer' END""",
    "agent-opened tickets are phone/agent tickets": """
        SELECT count(*) FROM tickets_ticket WHERE (created_by_id IS NULL) <> (channel IN ('email', 'portal', 'api', 'chat'))""",
    "message_count, last messages and first response true to the messages": """
        SELECT count(*) FROM tickets_ticket t JOIN LATERAL (SELECT count(*) AS n,
            max(created_at) FILTER (WHERE kind = 'customer') AS last_customer,
            max(created_at) FILTER (WHERE kind = 'reply') AS last_reply,
            min(created_at) FILTER (WHERE kind = 'reply' AND t.created_by_id IS NULL) AS first_reply,
            max(created_at) AS last_message FROM tickets_message m WHERE m.ticket_id = t.id) m ON true
        WHERE m.n <> t.message_count OR m.last_customer IS DISTINCT FROM t.last_customer_message_at
           OR m.last_reply IS DISTINCT FROM t.last_agent_reply_at OR m.first_reply IS DISTINCT FROM t.first_response_at
           OR t.updated_at < m.last_message""",
    "updated_at is the last event": """
        SELECT count(*) FROM tickets_ticket t
        WHERE t.updated_at <> (SELECT max(created_at) FROM tickets_ticketevent e WHERE e.ticket_id = t.id)""",
    "every message has its message event": """
        SELECT count(*) FROM tickets_message m WHERE (SELECT count(*) FROM tickets_ticketevent e WHERE e.message_id = m.id
            AND e.kind = 'message' AND e.created_at = m.created_at AND e.new_value = m.kind) <> 1""",
    "status events chain from new": """
        SELECT count(*) FROM (SELECT e.old_value, lag(e.new_value, 1, 'new') OVER (PARTITION BY e.ticket_id
            ORDER BY e.created_at, e.id) AS previous FROM tickets_ticketevent e WHERE e.field = 'status') x
        WHERE old_value <> previous""",
    "status history replays to the status": """
        SELECT count(*) FROM tickets_ticket t WHERE t.status <> coalesce((SELECT new_value FROM tickets_ticketevent e
            WHERE e.ticket_id = t.id AND e.field = 'status' ORDER BY e.created_at DESC, e.id DESC LIMIT 1), 'new')""",
    "closed is final": """
        SELECT count(*) FROM tickets_ticketevent WHERE field = 'status' AND old_value = 'closed'""",
    "resolved_at is the last entry into solved/closed, closed_at the closing": """
        SELECT count(*) FROM tickets_ticket t
        WHERE t.resolved_at IS DISTINCT FROM (CASE WHEN t.status IN ('solved', 'closed') THEN (
                SELECT max(created_at) FROM tickets_ticketevent e WHERE e.ticket_id = t.id AND e.field = 'status'
                AND e.new_value IN ('solved', 'closed') AND e.old_value NOT IN ('solved', 'closed')) END)
           OR t.closed_at IS DISTINCT FROM (CASE WHEN t.status = 'closed' THEN (SELECT max(created_at)
                FROM tickets_ticketevent e WHERE e.ticket_id = t.id AND e.field = 'status' AND e.new_value = 'closed') END)""",
    "priority_rank matches priority": """
        SELECT count(*) FROM tickets_ticket WHERE priority_rank <> CASE priority
            WHEN 'low' THEN 0 WHEN 'normal' THEN 1 WHEN 'high' THEN 2 WHEN 'urgent' THEN 3 END""",
    "assignees are agents of the queue's team": """
        SELECT count(*) FROM tickets_ticket t JOIN tickets_queue q ON q.id = t.queue_id WHERE t.assignee_id IS NOT NULL
            AND NOT EXISTS (SELECT 1 FROM helpdesk_team_members tm WHERE tm.team_id = q.team_id
                            AND tm.user_id = t.assignee_id)""",
    "assignee history replays to the assignee": """
        SELECT count(*) FROM tickets_ticket t WHERE coalesce(t.assignee_id::text, '') <> coalesce((SELECT new_value
            FROM tickets_ticketevent e WHERE e.ticket_id = t.id AND e.field = 'assignee'
            ORDER BY e.created_at DESC, e.id DESC LIMIT 1), '')""",
    "tags match their events": """
        SELECT count(*) FROM tickets_ticket t WHERE ARRAY(SELECT g.name FROM tickets_ticket_tags tt
            JOIN tickets_tag g ON g.id = tt.tag_id WHERE tt.ticket_id = t.id ORDER BY 1)
            <> ARRAY(SELECT e.new_value FROM tickets_ticketevent e WHERE e.ticket_id = t.id AND e.field = 'tags' ORDER BY 1)""",
    "customer-channel tickets are acknowledged": """
        SELECT count(*) FROM tickets_ticket
        WHERE (acknowledged_at IS NOT NULL) <> (created_by_id IS NULL AND channel IN ('email', 'portal', 'api', 'chat'))
           OR acknowledged_at < created_at""",
    "surveys: the queue's questions, sent when the ticket was first solved, to its customer": """
        SELECT count(*) FROM tickets_ticket t JOIN tickets_queue q ON q.id = t.queue_id
        LEFT JOIN LATERAL (SELECT min(created_at) AS at FROM tickets_ticketevent e WHERE e.ticket_id = t.id
            AND e.field = 'status' AND e.new_value = 'solved') solved ON true
        WHERE ARRAY(SELECT kind::text FROM tickets_survey s WHERE s.ticket_id = t.id AND s.sent_at = solved.at
                    AND s.customer_id = t.customer_id ORDER BY 1)
           <> ARRAY(SELECT k FROM unnest(ARRAY['ces', 'csat', 'nps']) k WHERE solved.at IS NOT NULL AND (
                    (k = 'csat' AND q.survey_csat) OR (k = 'nps' AND q.survey_nps) OR (k = 'ces' AND q.survey_ces)))
           OR (SELECT count(*) FROM tickets_survey s WHERE s.ticket_id = t.id)
              <> cardinality(ARRAY(SELECT 1 FROM tickets_survey s WHERE s.ticket_id = t.id AND s.sent_at = solved.at))""",
    "survey answers after sending, never in the future, score with answer": """
        SELECT count(*) FROM tickets_survey WHERE (score IS NULL) <> (answered_at IS NULL) OR answered_at < sent_at
            OR answered_at > clock_timestamp()""",
    "nothing in the future": """
        SELECT count(*) FROM tickets_ticket WHERE updated_at > clock_timestamp() OR created_at > updated_at""",
    "search vector as ticket_search_refresh builds it": """
        SELECT count(*) FROM tickets_ticket t WHERE t.search_vector IS DISTINCT FROM
            setweight(to_tsvector('helpdesk', t.subject), 'A') || setweight(to_tsvector('helpdesk', left(coalesce(
                (SELECT string_agg(m.body_text, ' ' ORDER BY m.created_at, m.id) FROM tickets_message m
                 WHERE m.ticket_id = t.id), ''), 200000)), 'B')""",
}


def broken_rules() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # deferred foreign keys are checked now, not at a commit
        counts = {}
        for name, sql in RULES.items():
            cursor.execute(sql)
            counts[name] = cursor.fetchone()[0]
    return {name: count for name, count in counts.items() if count}


def schema_of_ticket_tables() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
            "WHERE indrelid = ANY(%s::regclass[]) UNION ALL SELECT conname, pg_get_constraintdef(oid) "
            "FROM pg_constraint WHERE conrelid = ANY(%s::regclass[]) ORDER BY 1, 2",
            [list(BULK_TABLES), list(BULK_TABLES)],
        )
        return cursor.fetchall()


def next_ticket_id() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT last_value FROM tickets_ticket_id_seq")
        return cursor.fetchone()[0] + 1


def seed_small(**kwargs):
    options = {"tickets": 200, "messages_per_ticket": 5, "customers": 40, "agents": 6, "teams": 2, "queues": 4,
               "days": 60, "seed": 7}  # fmt: skip
    return seed_dataset(**options | kwargs)


@pytest.fixture
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_seeded_history_is_what_the_services_would_have_written(db):
    first_free = next_ticket_id()

    stats = seed_small(long_tickets=1)

    assert broken_rules() == {}
    seeded = Ticket.objects.all()
    assert seeded.count() == stats.tickets == 200
    assert Message.objects.filter(ticket__in=seeded).count() == stats.messages
    assert TicketEvent.objects.filter(ticket__in=seeded).count() == stats.events
    ids = list(seeded.order_by("created_at", "pk").values_list("pk", flat=True))
    assert ids == sorted(ids) and ids[0] == stats.first_id >= first_free  # numbers from the sequence, in time order
    assert 3.5 <= (stats.messages - LONG_TICKET_MESSAGES) / (stats.tickets - 1) <= 6.5  # about 5 on average
    assert [Ticket.objects.get(pk=pk).message_count for pk in stats.long_ticket_ids] == [LONG_TICKET_MESSAGES]
    assert {"new", "solved", "closed"} <= set(seeded.values_list("status", flat=True))
    assert Message.objects.filter(ticket__in=seeded, kind=Message.Kind.NOTE).exists()
    surveys = Survey.objects.filter(ticket__in=seeded)
    assert surveys.count() == stats.surveys and {"csat", "nps", "ces"} == set(surveys.values_list("kind", flat=True))
    assert 0 < surveys.filter(answered_at__isnull=False).count() < surveys.count()


def test_seeding_twice_adds_tickets_and_reuses_staff_and_customers(db):
    seed_small(tickets=30)
    users, customers = User.objects.count(), Customer.objects.count()

    stats = seed_small(tickets=30, seed=8)

    assert Ticket.objects.count() == 60
    assert stats.first_id > Ticket.objects.order_by("pk").values_list("pk", flat=True)[29]
    assert (User.objects.count(), Customer.objects.count()) == (users, customers)
    assert broken_rules() == {}


def test_deferred_indexes_are_rebuilt_exactly_as_the_migrations_made_them(db):
    before = schema_of_ticket_tables()

    stats = seed_small(tickets=60, defer_indexes=True)

    assert stats.indexes_deferred
    assert schema_of_ticket_tables() == before
    assert broken_rules() == {}


def test_seed_command_prints_the_rate(db, settings):
    settings.DEBUG = True
    out = io.StringIO()

    call_command("seed", tickets=40, customers=10, agents=3, teams=1, queues=2, days=30, long_tickets=0, stdout=out)

    assert Ticket.objects.count() == 40
    assert re.search(r"Seeded 40 tickets .* in [\d.]+ s: [\d,]+ tickets/s, [\d,]+ messages/s", out.getvalue())


def test_seed_command_is_refused_without_debug_unless_forced(db, settings):
    settings.DEBUG = False

    with pytest.raises(CommandError):
        call_command("seed", tickets=5, customers=2, stdout=io.StringIO())
    assert not Ticket.objects.exists()

    call_command("seed", tickets=5, customers=2, agents=1, teams=1, queues=1, force=True, stdout=io.StringIO())
    assert Ticket.objects.count() == 5


def test_demo_data_loads_what_it_promises_once(db, settings, fast_passwords):
    settings.DEBUG = True
    out = io.StringIO()

    call_command("demo_data", stdout=out)

    assert "owner@demo.example" in out.getvalue() and "demo1234" in out.getvalue()
    teams = {team.name: team for team in Team.objects.all()}
    assert set(teams) == {"Front of house", "Online shop"}
    assert {t.name: t.queues.count() for t in teams.values()} == {"Front of house": 2, "Online shop": 2}
    owner = User.objects.get(email="owner@demo.example")
    assert owner.role == User.Role.OWNER and owner.check_password("demo1234")
    agents = User.objects.filter(role=User.Role.AGENT).order_by("email")
    assert [a.email for a in agents] == [f"agent{n}@demo.example" for n in range(1, 6)]
    assert all(a.check_password("demo1234") for a in agents)
    assert agents.get(email="agent5@demo.example").teams.count() == 2
    assert all(a.teams.exists() for a in agents)
    customers = Customer.objects.all()
    assert customers.count() == 50
    assert all(re.fullmatch(r"[a-z0-9.]+@(example\.(com|org|net)|mail\.example)", c.email) for c in customers)
    assert all(" " in c.name for c in customers)
    assert Ticket.objects.count() == 300
    assert set(Ticket.objects.values_list("status", flat=True)) == set(Ticket.Status.values)
    assert set(Ticket.objects.values_list("channel", flat=True)) == set(Ticket.Channel.values)
    assert len(set(Ticket.objects.values_list("priority", flat=True))) >= 3
    assert set(Message.objects.values_list("kind", flat=True)) == {"customer", "reply", "note"}
    assert Tag.objects.filter(tickets__isnull=False).exists()
    oldest = Ticket.objects.order_by("created_at").first().created_at
    assert (Ticket.objects.order_by("-created_at").first().created_at - oldest).days >= 50
    assert broken_rules() == {}
    assert sorted(Mailbox.objects.values_list("email_address", flat=True)) == [
        "hello@beanandcrumb.example", "shop@beanandcrumb.example"]  # fmt: skip
    from knowledge_base.selectors import article_search, portal_articles

    assert portal_articles().count() == 6 and Queue.objects.filter(on_portal=True).count() == 4
    assert [a.title for a in article_search(query="return")][:1] == ["Returning an item"]

    again = io.StringIO()
    call_command("demo_data", stdout=again)

    assert "already loaded" in again.getvalue()
    assert (Ticket.objects.count(), User.objects.count(), Customer.objects.count()) == (300, 6, 50)


def test_demo_data_is_refused_without_debug_unless_forced(db, settings, fast_passwords):
    settings.DEBUG = False

    with pytest.raises(CommandError):
        call_command("demo_data", stdout=io.StringIO())
    assert not User.objects.exists()

    call_command("demo_data", force=True, stdout=io.StringIO())
    assert Ticket.objects.count() == 300


def test_bench_times_every_read_on_a_small_dataset(db):
    seed_small(long_tickets=1)
    out = io.StringIO()

    call_command("bench", runs=2, words=["order", "zeppelin"], stdout=out)

    output = out.getvalue()
    rows = [line for line in output.splitlines() if line.startswith("| `")]
    for who in ("agent", "admin"):
        for read in ("view=open", "view=mine", "view=unassigned", "view=pending", "sort=priority", "sort=created",
                     "q=order", "q=zeppelin", "ticket_list(view=open&queue)", "ticket_search('order')"):  # fmt: skip
            assert any(read in row and f"| {who} |" in row for row in rows), (read, who)
        assert any(re.search(rf"GET /tickets/\d+/` \| {who} \|", row) for row in rows)
        assert any(
            re.search(rf"ticket_messages\(#\d+\)` \| {who} \| [\d.]+ \| [\d.]+ \| 100 rows", row) for row in rows
        )
    assert "with 100 messages" in output


def test_percentile_interpolates_like_postgres():
    assert percentile([1, 2, 3, 4], 0.5) == 2.5
    assert percentile([10, 20, 30, 40, 50], 0.95) == pytest.approx(48.0)
    assert percentile([7], 0.95) == 7


def test_every_topic_scenario_has_its_subjects_and_answer():
    from tickets.seeding_text import TOPICS

    for topic in TOPICS:
        assert len(topic.subjects) in (1, len(topic.openings)), topic.tag
        assert len(topic.answers) >= 1, topic.tag
