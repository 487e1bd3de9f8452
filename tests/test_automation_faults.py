"""Faults in automation (issue 7), with real processes: a Celery worker killed (SIGKILL) while it routes a
ticket or runs the SLA sweep, two sweeps at once, and Redis stopped while portal requests keep arriving.
Nothing half-done stays behind (the killed transaction rolls back), and once things recover the work is
done exactly once: one audit event per rule, one assignment, the round-robin pointer moved once, one breach
per timer with one notification per recipient and the priority raised one step.

The worker is a subprocess (``celery -A helpdesk worker``) on the test database (so these tests use
``transactional_db``) and on a Redis server of each test's own (a ``redis-server`` on a free port, without
persistence), so nothing here touches the shared Redis. To stop the worker at a known point without test
hooks in production code, the test holds a row lock from a connection of its own and waits until the
worker's database session waits on it (``pg_stat_activity``). The private Redis, the workers and their
fixtures are in tests/live_services.py.
"""

import contextlib
import os
import signal
import time
from datetime import timedelta

import psutil
import psycopg
import pytest
import time_machine
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone
from kombu import Connection

from helpdesk.models import Team
from tickets import services
from tickets.models import Notification, Queue, SLAPolicy, SLATimer, Ticket, TicketEvent
from tickets.routing import route_waiting_tickets
from tickets.rules.models import Rule
from tickets.sla.services import sla_sweep

from .factories import UserFactory
from .live_services import PrivateRedis, database_params, stop_process, wait_for

pytestmark = [pytest.mark.celery_worker, pytest.mark.timeout(120)]


# --- the private Redis (tests.live_services) --------------------------------------------------------


def _queue_depth(server: PrivateRedis, queue: str) -> tuple[int, int]:
    """(messages waiting in the queue, messages delivered but not acknowledged)."""
    client = server.client()
    return client.llen(queue), client.hlen("unacked")


def _redeliver_unacknowledged(server: PrivateRedis) -> int:
    """What Redis does once the visibility timeout (an hour) of a message nobody acknowledged has passed:
    put it back on its queue. Returns how many came back."""
    before = server.client().hlen("unacked")
    with Connection(server.url, transport_options={"visibility_timeout": 0}) as conn:
        conn.default_channel.qos.restore_visible(num=1000)
    return before - server.client().hlen("unacked")


# --- holding a row lock from a connection of the test's own ---------------------------------------


class RowLock:
    """A transaction on its own connection that holds a lock on one row until ``release``."""

    def __init__(self, table: str, pk: int, mode: str = "UPDATE"):
        self.conn = psycopg.connect(**database_params())
        self.conn.execute(f"SELECT 1 FROM {table} WHERE id = %s FOR {mode}", [pk])  # opens the transaction
        self.pid = self.conn.info.backend_pid

    def waiting(self) -> list[tuple[int, str]]:
        """(pid, query) of each other session of this database blocked on a lock (the worker's)."""
        with psycopg.connect(self.conn.info.dsn, password=connection.settings_dict["PASSWORD"] or None,
                             autocommit=True) as watcher:  # fmt: skip
            return watcher.execute(
                "SELECT pid, query FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> %s AND pid <> pg_backend_pid()",
                [self.pid],
            ).fetchall()

    def release(self) -> None:
        if not self.conn.closed:
            self.conn.rollback()
            self.conn.close()


@contextlib.contextmanager
def row_lock(table: str, pk: int, mode: str = "UPDATE"):
    lock = RowLock(table, pk, mode)
    try:
        yield lock
    finally:
        lock.release()


def _tables_written(pid: int) -> set[str]:
    """The tables a session has inserted into or updated in its open transaction (its RowExclusiveLocks):
    what the worker had done, uncommitted, when it stopped."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT c.relname FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                       "WHERE l.pid = %s AND l.mode = 'RowExclusiveLock' AND c.relkind = 'r'", [pid])  # fmt: skip
        return {row[0] for row in cursor.fetchall()}


def _session_gone(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
        return cursor.fetchone()[0] == 0


# --- the help desk ----------------------------------------------------------------------------------


@pytest.fixture
def agents(team, agent):
    others = [UserFactory(email=f"rr{i}@staff.example") for i in range(2)]
    team.members.add(*others)
    return [agent, *others]


def _round_robin(team) -> None:
    team.assignment = Team.Assignment.ROUND_ROBIN
    team.save()


def _routing_rules() -> list[Rule]:
    refunds = Rule.objects.create(name="Refunds are urgent", position=0)
    refunds.conditions.create(field="subject", operator="matches_word", value="refund")
    refunds.actions.create(action="set_priority", value="urgent", position=0)
    phone = Rule.objects.create(name="Phone calls tagged", position=1)
    phone.conditions.create(field="channel", operator="is", value="phone")
    phone.actions.create(action="add_tags", value="called", position=0)
    return [refunds, phone]


def _events(ticket, kind, **filters) -> int:
    return TicketEvent.objects.filter(ticket=ticket, kind=kind, **filters).count()


# --- 1. a worker killed while it routes a ticket ----------------------------------------------------


@pytest.mark.parametrize("pool", ["solo", "prefork"])
def test_a_worker_killed_while_routing_leaves_nothing_half_done_and_the_ticket_is_routed_once(
    pool, workers, private_redis, celery_queue, team, agents, queue, customer
):
    """The worker has cleared the ticket's mark and run both rules when it blocks on the team row (the
    round robin's lock), and is killed there. solo: the whole worker dies; the message stays unacknowledged
    for the hour of Redis's visibility timeout, so the routing sweep routes the ticket, and the message that
    comes back an hour later does nothing. prefork: only the pool process dies; the worker gives the message
    back at once (acks_late, reject_on_worker_lost) and the task runs again."""
    _round_robin(team)
    rules = _routing_rules()
    worker = workers.start(pool)
    with row_lock("helpdesk_team", team.pk) as lock:
        # committed, so route_tickets_task is queued
        ticket = services.ticket_create(customer=customer, queue=queue, subject="Refund for order 12", body="x",
                                        channel=Ticket.Channel.PHONE)  # fmt: skip
        assert ticket.needs_routing
        [(backend_pid, query)] = wait_for(lock.waiting, timeout=15)
        assert "helpdesk_team" in query and "FOR UPDATE" in query  # next_agent, after the rules ran
        # uncommitted so far: the mark cleared, the priority and tag set, the rules' audit events
        assert {"tickets_ticket", "tickets_ticket_tags", "tickets_ticketevent"} <= _tables_written(backend_pid)
        if pool == "solo":
            victim = worker
        else:
            [victim] = psutil.Process(worker.pid).children()  # the pool process running the task
        os.kill(victim.pid, signal.SIGKILL)
        if pool == "solo":
            worker.wait(timeout=10)
        else:
            psutil.Process(victim.pid).wait(timeout=10)
    # The lock is released: the killed worker's session gets it, finds its client gone and rolls back.
    wait_for(lambda: _session_gone(backend_pid), timeout=15)
    team.refresh_from_db()

    if pool == "solo":
        ticket.refresh_from_db()
        assert ticket.needs_routing and ticket.assignee is None and ticket.priority == "normal"
        assert ticket.tags.count() == 0
        assert _events(ticket, TicketEvent.Kind.RULE) == 0 and _events(ticket, "field") == 0
        assert team.last_assigned_id is None
        assert _queue_depth(private_redis, celery_queue) == (0, 1)  # not lost: delivered, never acknowledged

        assert route_waiting_tickets(now=timezone.now() + timedelta(minutes=2)) == 1  # the beat sweep
        # An hour later Redis gives the killed worker's message back; a new worker runs it: nothing to do.
        assert _redeliver_unacknowledged(private_redis) == 1
        workers.start("solo")

    # Every task done, and the ticket routed: the prefork pool hands the lost task back (reject, requeue),
    # and the queue can look empty for an instant between the two, so the queue alone is no signal.
    wait_for(lambda: not Ticket.objects.get(pk=ticket.pk).needs_routing, timeout=30)
    wait_for(lambda: _queue_depth(private_redis, celery_queue) == (0, 0), timeout=20)
    ticket.refresh_from_db()
    team.refresh_from_db()
    assert not ticket.needs_routing and ticket.assignee == agents[0]
    assert (ticket.priority, list(ticket.tags.values_list("name", flat=True))) == ("urgent", ["called"])
    assert [_events(ticket, TicketEvent.Kind.RULE, new_value__startswith=rule.name) for rule in rules] == [1, 1]
    assert _events(ticket, "field", field="assignee") == 1
    assert Notification.objects.filter(ticket=ticket, kind=Notification.Kind.ASSIGNED).count() == 1
    assert team.last_assigned == agents[0]  # the round robin moved once: the next ticket goes to the second agent


# --- 2. a worker killed during the SLA sweep; two sweeps at once ------------------------------------


@pytest.fixture
def breached(workers, team, agents, queue, customer, admin_user):
    """Three assigned tickets whose first response target (ten minutes, round the clock) passed five minutes
    ago; the policy notifies the assignee and the admins and raises the priority."""
    policy = SLAPolicy.objects.create(name="Fast", first_response_minutes=10, business_hours=False, warn_minutes=0,
                                      notify_assignee=True, notify_admins=True, raise_priority=True)  # fmt: skip
    with time_machine.travel(timezone.now() - timedelta(minutes=15)):
        tickets = [services.ticket_create(customer=customer, queue=queue, subject=f"Late {i}", body="x",
                                          channel=Ticket.Channel.PHONE, assignee=agent)
                   for i, agent in enumerate(agents)]  # fmt: skip
    assert SLATimer.objects.filter(policy=policy, breached_at__isnull=True).count() == 3  # first response only
    return tickets


def _assert_each_breach_recorded_once(tickets, agents, admin_user):
    for ticket, agent in zip(tickets, agents, strict=True):
        ticket.refresh_from_db()
        assert ticket.priority == "high"  # from normal, one step
        assert _events(ticket, TicketEvent.Kind.SLA, new_value="breached") == 1
        assert _events(ticket, "field", field="priority") == 1
        recipients = sorted(Notification.objects.filter(ticket=ticket, kind=Notification.Kind.SLA_BREACHED)
                            .values_list("recipient_id", flat=True))  # fmt: skip
        assert recipients == sorted([agent.pk, admin_user.pk])
        assert Notification.objects.filter(ticket=ticket, kind=Notification.Kind.SLA_WARNING).count() == 1
    assert SLATimer.objects.filter(breached_at__isnull=False).count() == len(tickets)


def _last_escalated(tickets) -> Ticket:
    """The ticket the sweep escalates last (it takes its timers in the model's order)."""
    return SLATimer.objects.filter(ticket__in=tickets).order_by("started_at", "pk").last().ticket


def test_a_worker_killed_during_the_sla_sweep_records_each_breach_once_after_recovery(
    workers, private_redis, celery_queue, breached, agents, admin_user
):
    """The worker has claimed every breached timer, written the breach events and raised the first tickets'
    priority when it blocks on the last ticket (FOR NO KEY UPDATE from the test lets the events' foreign
    keys through but not the priority change's FOR UPDATE); it is killed there, and the claim, the events
    and the raised priorities all roll back. The next sweep, and the killed one's message coming back,
    escalate each breach once."""
    from tickets.tasks import sla_sweep_task

    workers.start()
    with row_lock("tickets_ticket", _last_escalated(breached).pk, mode="NO KEY UPDATE") as lock:
        sla_sweep_task.delay()
        [(backend_pid, query)] = wait_for(lock.waiting, timeout=15)
        assert "tickets_ticket" in query and "FOR UPDATE" in query  # ticket_set_priority, mid-escalation
        # uncommitted so far: the claim, the breach events, the first tickets' priority
        assert {"tickets_slatimer", "tickets_ticketevent", "tickets_ticket"} <= _tables_written(backend_pid)
        stop_process(workers.started[0])
    wait_for(lambda: _session_gone(backend_pid), timeout=15)

    assert not SLATimer.objects.filter(breached_at__isnull=False).exists()
    assert not TicketEvent.objects.filter(kind=TicketEvent.Kind.SLA).exists()
    assert not Notification.objects.filter(kind=Notification.Kind.SLA_BREACHED).exists()
    assert set(Ticket.objects.values_list("priority", flat=True)) == {"normal"}
    assert Notification.objects.filter(kind=Notification.Kind.SLA_WARNING).count() == 3  # committed before

    assert _redeliver_unacknowledged(private_redis) == 1  # the killed sweep runs again...
    sla_sweep_task.delay()  # ...and so does the next beat tick
    workers.start()
    wait_for(lambda: _queue_depth(private_redis, celery_queue) == (0, 0), timeout=20)
    _assert_each_breach_recorded_once(breached, agents, admin_user)
    assert sla_sweep() == (0, 0)


def test_two_sweeps_at_once_record_each_breach_once_while_one_is_held(workers, breached, agents, admin_user):
    """A worker's sweep is held mid-escalation; a second sweep in this process (its own connection) skips
    the timers the first one claimed and records nothing; the first then finishes alone."""
    from tickets.tasks import sla_sweep_task

    workers.start()
    with row_lock("tickets_ticket", _last_escalated(breached).pk, mode="NO KEY UPDATE") as lock:
        sla_sweep_task.delay()
        wait_for(lock.waiting, timeout=15)
        assert sla_sweep() == (0, 0)  # claimed by the other sweep (SKIP LOCKED): not recorded twice
    wait_for(lambda: SLATimer.objects.filter(breached_at__isnull=False).count() == 3, timeout=15)
    _assert_each_breach_recorded_once(breached, agents, admin_user)
    assert sla_sweep() == (0, 0)


# --- 3. Redis stopped while portal requests keep arriving ------------------------------------------


@pytest.fixture
def portal(settings, private_redis, team, agents, queue, smtp_server):
    """The portal form on, the cache on the private Redis as well (in production the cache and the broker
    are the same Redis: stopping it stops both)."""
    _round_robin(team)
    Queue.objects.filter(pk=queue.pk).update(on_portal=True)
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": private_redis.url}}
    return smtp_server


def _ask(client, email: str, subject: str):
    return client.post("/help/requests/new/", {"email": email, "name": "", "subject": subject,
                                               "body": "It does not work.", "website": ""})  # fmt: skip


def _customer_mail(smtp_server) -> list[str]:
    return sorted(message["To"] for message in smtp_server.messages if "customer" in message["To"])


def _mail_env(smtp_server) -> dict[str, str]:
    return {"EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend", "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(django_settings.EMAIL_PORT), "EMAIL_TIMEOUT": "5"}  # fmt: skip


def _run_every_beat_task(app, private_redis, celery_queue) -> None:
    """One tick of every beat entry, as ``celery beat`` would send them, run by the worker."""
    for entry in django_settings.CELERY_BEAT_SCHEDULE.values():
        app.send_task(entry["task"], queue=celery_queue)
    wait_for(lambda: _queue_depth(private_redis, celery_queue) == (0, 0), timeout=30)


def _outage(client, workers, private_redis, up: int, down: int, caplog) -> tuple[list[Ticket], list[Ticket]]:
    """``up`` portal requests with Redis running (a worker routes and acknowledges them), then Redis
    stopped (worker too) and ``down`` more; then Redis restarted, empty, and a new worker. Returns the
    tickets of both phases, the second phase's made a minute older (the sweeps' grace period)."""
    first = workers.start()
    for i in range(up):
        assert _ask(client, f"up{i}@customer.example", f"Printer {i} is jammed").status_code == 302
    wait_for(lambda: not Ticket.objects.filter(needs_routing=True).exists(), timeout=20)
    wait_for(lambda: Ticket.objects.filter(acknowledged_at__isnull=False).count() == up, timeout=20)
    stop_process(first, signal.SIGTERM)
    private_redis.stop()

    caplog.clear()
    started = time.monotonic()
    pages = []
    for i in range(down):
        response = _ask(client, f"down{i}@customer.example", f"Scanner {i} is broken")
        assert response.status_code == 302
        pages.append(response.url)
    assert time.monotonic() - started < 5 * down  # failing to queue does not hang the request (~1.3 s)
    assert [client.get(page).status_code for page in pages] == [200] * down  # the request's own page opens
    failed = [r for r in caplog.records if "on_commit" in r.getMessage()]
    assert len(failed) >= 2 * down, [r.getMessage() for r in caplog.records]  # acknowledgement and routing

    tickets = list(Ticket.objects.order_by("pk"))
    assert len(tickets) == up + down
    before, during = tickets[:up], tickets[up:]
    assert all(t.needs_routing and t.assignee_id is None for t in during)

    private_redis.start()  # empty: what was queued before is gone too
    workers.start()
    Ticket.objects.filter(pk__in=[t.pk for t in during]).update(created_at=timezone.now() - timedelta(minutes=2))
    return before, during


def test_with_redis_stopped_requests_succeed_and_the_sweep_routes_every_ticket_once(
    client, workers, private_redis, celery_queue, portal, team, agents, caplog, app_on_private_redis
):
    """Three portal requests with Redis up (routed and acknowledged by the worker), three with Redis killed:
    each still answers 302 and stores its ticket, marked for routing (enqueuing failed and was logged, fast);
    Redis comes back empty, a new worker runs one tick of every beat task, and the routing sweep assigns the
    three waiting tickets: each ticket assigned once, the round robin in turn over all six."""
    workers.env.update(_mail_env(portal))
    before, during = _outage(client, workers, private_redis, up=3, down=3, caplog=caplog)
    _run_every_beat_task(app_on_private_redis, private_redis, celery_queue)  # the routing sweep among them

    tickets = list(Ticket.objects.order_by("pk"))
    assert not any(t.needs_routing for t in tickets)
    assert [t.assignee for t in tickets] == agents + agents  # the round robin went on in turn
    for ticket in tickets:
        assert _events(ticket, "field", field="assignee") == 1
    assert Notification.objects.filter(kind=Notification.Kind.ASSIGNED).count() == len(tickets)
    assert Team.objects.get(pk=team.pk).last_assigned == agents[2]
    # Every customer got their acknowledgement once: by the worker, or by the outbound sweep for the tickets
    # opened while Redis was down.
    assert _customer_mail(portal) == sorted([*(f"up{i}@customer.example" for i in range(len(before))),
                                             *(f"down{i}@customer.example" for i in range(len(during)))])  # fmt: skip


def test_with_redis_stopped_the_acknowledgements_are_sent_once_it_is_back(
    client, workers, private_redis, celery_queue, portal, caplog, app_on_private_redis
):
    """The customers who wrote while Redis was down get their confirmation once it is back (the portal's
    success message promises it): the outbound sweep finds the acknowledgements that were never queued."""
    workers.env.update(_mail_env(portal))
    _before, during = _outage(client, workers, private_redis, up=1, down=2, caplog=caplog)
    _run_every_beat_task(app_on_private_redis, private_redis, celery_queue)
    assert all(Ticket.objects.get(pk=t.pk).acknowledged_at for t in during)
    assert _customer_mail(portal) == sorted(["up0@customer.example", "down0@customer.example",
                                             "down1@customer.example"])  # fmt: skip
