"""Faults in the database and in the mail server (issue 10, reliability), with real processes.

PostgreSQL restarted (tests 1 and 2). The help desk runs as in production: the app in gunicorn (DEBUG off,
persistent database connections with health checks), a Celery worker subprocess, a Redis, a real SMTP
server (aiosmtpd) and a PostgreSQL server of this module's own (``PrivatePostgres``, a free port on
127.0.0.1: the shared server the other tests use is never touched), which the tests stop with
``pg_ctl stop -m fast`` (every session ends, open transactions roll back) and start again.
1. In the middle of a burst of portal requests from simulated customers, each with a browser of its own.
   Whoever gets an error page sends the form again, as a browser user does; some lose the answer to a
   request that went through and send it again as well, some click twice. Afterwards every request exists
   exactly once and every customer got exactly one acknowledgement; the app went on without a restart, and a
   restart when it is quiet fails no request at all (the stale connections are health-checked).
2. While the SMTP server takes an acknowledgement: it went out, but the database went away before it was
   recorded. It is recorded once the database is back, and not sent a second time.

The SMTP server refusing (tests 3 and 4), with a worker subprocess on the test database
(``tests.live_services.workers``) and the beat's outbound sweep run by it:
3. For a while (451 to the message, then 421 to the recipients), then accepting: the acknowledgements, an
   agent's reply and an acknowledgement whose task was lost are tried again with backoff and each sent
   exactly once.
4. For good (550) for one address: recorded, visible and not tried again (the reply shows it failed, the
   ticket has a note about its acknowledgement), the sweep goes on with the others, and the agent's "try
   again" sends the reply once the address works.

Then, in the test process, the details: the portal form's one-time id (the same form sent again lands on
its first request, also when both sends race) and which SMTP answers are refusals for good.
"""

import asyncio
import http.client
import os
import re
import smtplib
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from email import message_from_bytes, policy
from urllib.parse import urlencode

import psutil
import pytest
from aiosmtpd.controller import Controller
from django.core import signing
from django.utils import timezone

from tickets import services
from tickets.mail.outbound import RECORD_SENT_WITHIN, permanent_refusal
from tickets.models import DeliveryStatus, Message, Ticket
from tickets.portal.links import SALT as LINK_SALT
from tickets.tasks import send_waiting_email_task

from .factories import CustomerFactory
from .live_services import REPO, PrivatePostgres, PrivateRedis, Workers, _free_port, stop_process, wait_for

pytestmark = [pytest.mark.celery_worker, pytest.mark.timeout(120)]

DATABASE = "helpdesk"
APP_SECRET = f"faults-{uuid.uuid4().hex}"  # the app's SECRET_KEY: the test reads the links the app answers with
FORM = "/help/requests/new/"


# --- a mail server that refuses when told ----------------------------------------------------------


class MailServer:
    """A real SMTP server (aiosmtpd on loopback) that keeps the emails it accepts and refuses as the test
    says: ``data_reply`` answers every message, ``rcpt_reply`` every recipient, ``refused`` some addresses
    (e.g. "451 ..." or "550 ..."); an email to ``hold_for`` waits before its answer until ``released``."""

    def __init__(self):
        self.lock = threading.Lock()
        self.messages = []
        self.tries = Counter()  # RCPT commands per address
        self.refusals = Counter()  # refused RCPT or DATA per address
        self.data_reply = self.rcpt_reply = None
        self.refused: dict[str, str] = {}
        self.hold_for = None
        self.holding, self.released = threading.Event(), threading.Event()
        self.controller = Controller(self, hostname="127.0.0.1", port=_free_port())

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        with self.lock:
            self.tries[address] += 1
            reply = self.refused.get(address) or self.rcpt_reply
            if reply:
                self.refusals[address] += 1
                return reply
            # DATA answers as the server did when the message's recipients were taken: a switch of the
            # replies between RCPT and DATA must not let a message through that neither reply would have.
            envelope.data_reply = self.data_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    def answer(self, *, data_reply: str | None = None, rcpt_reply: str | None = None) -> None:
        """Change both replies at once."""
        with self.lock:
            self.data_reply, self.rcpt_reply = data_reply, rcpt_reply

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            data_reply = getattr(envelope, "data_reply", self.data_reply)
            if data_reply:
                self.refusals.update(envelope.rcpt_tos)
                return data_reply
        if self.hold_for in envelope.rcpt_tos:
            self.holding.set()
            while not self.released.is_set():
                await asyncio.sleep(0.02)
        with self.lock:
            self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"

    def to(self, address: str) -> list:
        with self.lock:
            return [message for message in self.messages if message["To"] == address]

    def env(self) -> dict[str, str]:
        """The settings that send a process's email here (the client waits longer than a held email)."""
        return {"EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend", "EMAIL_HOST": "127.0.0.1",
                "EMAIL_PORT": str(self.controller.port), "EMAIL_USE_TLS": "0", "EMAIL_USE_SSL": "0",
                "EMAIL_TIMEOUT": "30"}  # fmt: skip


@pytest.fixture
def mail():
    server = MailServer()
    server.controller.start()
    try:
        yield server
    finally:
        server.released.set()
        server.controller.stop()


def _queue_depth(redis_server: PrivateRedis, queue: str) -> tuple[int, int]:
    """(messages waiting in the queue, messages delivered but not acknowledged): (0, 0) once the worker has
    done everything, retries included (a retry waiting for its countdown is held unacknowledged)."""
    client = redis_server.client()
    return client.llen(queue), client.hlen("unacked")


# --- the help desk on a PostgreSQL server of its own -----------------------------------------------

SEED = """
import django

django.setup()
from helpdesk.models import Team
from tickets.models import Queue

Queue.objects.create(name="General", slug="general", team=Team.objects.create(name="Support"), on_portal=True)
"""


@dataclass
class Desk:
    postgres: PrivatePostgres
    redis: PrivateRedis
    mail: MailServer
    queue: str
    worker: subprocess.Popen
    app: subprocess.Popen
    port: int

    def app_processes(self) -> set[int]:
        """The gunicorn master and its workers."""
        return {self.app.pid, *(child.pid for child in psutil.Process(self.app.pid).children())}

    def rows(self, sql: str, params=()) -> list[tuple]:
        with self.postgres.connect(DATABASE, autocommit=True) as conn:
            return conn.execute(sql, params).fetchall()

    def tickets(self, subject_prefix: str) -> list[tuple]:
        """(id, subject, customer id, customer email, acknowledged_at, acknowledgement_due) of the tickets."""
        return self.rows("SELECT t.id, t.subject, t.customer_id, c.email, t.acknowledged_at, t.acknowledgement_due "
                         "FROM tickets_ticket t JOIN customers_customer c ON c.id = t.customer_id "
                         "WHERE t.subject LIKE %s ORDER BY t.id", [subject_prefix + "%"])  # fmt: skip

    def restart_database(self) -> None:
        self.postgres.stop("fast")
        self.postgres.start()

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.log.name}\n{p.log.read_text(errors='replace')[-3000:]}" for p in (self.worker, self.app)
        )


def _desk_env(postgres: PrivatePostgres, redis_server: PrivateRedis, queue: str, mail: MailServer) -> dict:
    return {
        "DEBUG": "0", "SECRET_KEY": APP_SECRET, "ALLOWED_HOSTS": "127.0.0.1",
        "STATICFILES_STORAGE": "django.contrib.staticfiles.storage.StaticFilesStorage",  # no collectstatic run
        "DATABASE_URL": postgres.url(DATABASE), "REDIS_URL": redis_server.url, "CELERY_BROKER_URL": redis_server.url,
        "CELERY_TASK_DEFAULT_QUEUE": queue, "CELERY_TASK_ALWAYS_EAGER": "0",
        # Behind the proxy: each customer's own address, for the portal's rate limits per address.
        "TRUSTED_PROXY_COUNT": "1",
        "GUNICORN_WORKERS": "2", "GUNICORN_THREADS": "4", "GUNICORN_MAX_REQUESTS": "100000", "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1", "DJANGO_SETTINGS_MODULE": "helpdesk.settings", **mail.env(),
    }  # fmt: skip


def _start_app(env: dict, port: int, logdir) -> subprocess.Popen:
    """gunicorn with the production settings (gunicorn.conf.py: gthread workers), on loopback. Preloaded: the
    app is imported once, not once per worker (no connection is opened before the workers fork)."""
    log = logdir / "gunicorn.log"
    with log.open("wb") as out:
        app = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--preload",
                                "--bind", f"127.0.0.1:{port}"], cwd=REPO, env={**os.environ, **env}, stdout=out,
                               stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    app.log = log
    return app


def _wait_until_serving(app: subprocess.Popen, port: int) -> None:
    def ready() -> bool:
        assert app.poll() is None, f"gunicorn exited:\n{app.log.read_text()[-3000:]}"
        try:
            return Browser(port, "127.0.0.1").get("/healthz?scope=web")[0] == 200
        except OSError:
            return False

    wait_for(ready, timeout=60, interval=0.2)


def _seed(env: dict) -> None:
    seed = subprocess.run([sys.executable, "-c", SEED], cwd=REPO, env={**os.environ, **env}, timeout=60,
                          capture_output=True, text=True)  # fmt: skip
    assert seed.returncode == 0, seed.stderr[-3000:]


@pytest.fixture(scope="module")
def desk(django_db_setup, tmp_path_factory):
    """The help desk on a PostgreSQL server of its own: its schema copied from the test database, one team and
    one queue on the portal. Shared by the tests of this module that restart PostgreSQL."""
    logdir = tmp_path_factory.mktemp("desk")
    postgres, redis_server, mail = PrivatePostgres(), PrivateRedis(logdir), MailServer()
    queue = f"faults-{uuid.uuid4().hex[:12]}"
    env = _desk_env(postgres, redis_server, queue, mail)
    workers = app = None
    mail.controller.start()
    try:
        postgres.start()
        postgres.create_database_like_the_test_database(DATABASE)
        redis_server.start()
        port = _free_port()
        app = _start_app(env, port, logdir)
        workers = Workers(redis_server.url, queue, logdir, extra_env=env)
        with ThreadPoolExecutor(2) as starting:  # all three import Django: at once, while the others wait on I/O
            seeding, worker = starting.submit(_seed, env), starting.submit(workers.start)
            seeding.result()
            worker = worker.result()
        _wait_until_serving(app, port)
        yield Desk(postgres, redis_server, mail, queue, worker, app, port)
    finally:
        if app is not None:
            stop_process(app)
        if workers is not None:
            workers.stop_all()
        mail.released.set()
        mail.controller.stop()
        redis_server.stop()
        postgres.destroy()


# --- customers and their browsers ------------------------------------------------------------------


class Browser:
    """One customer's browser: their cookies, and their own address, which the proxy in front of the app
    passes on in X-Forwarded-For. A new connection for each request."""

    def __init__(self, port: int, address: str):
        self.port, self.address, self.cookies = port, address, {}

    def request(self, method: str, path: str, body: str | None = None) -> tuple[int, str, str]:
        """(status, Location, page)."""
        headers = {"X-Forwarded-For": self.address}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            page = response.read().decode(errors="replace")
        finally:
            conn.close()
        for cookie in response.headers.get_all("Set-Cookie") or []:
            name, _, value = cookie.split(";", 1)[0].partition("=")
            self.cookies[name.strip()] = value
        return response.status, response.getheader("Location") or "", page

    def get(self, path: str) -> tuple[int, str, str]:
        return self.request("GET", path)

    def post(self, path: str, fields: dict) -> tuple[int, str, str]:
        return self.request("POST", path, urlencode(fields))


HIDDEN = re.compile(r'name="(csrfmiddlewaretoken|submission)" value="([^"]+)"')
ERROR_PAGE = "Something went wrong on our side"  # templates/500.html


@dataclass
class Asker:
    """A customer who asks for help with the portal form and does what a person at a browser does when the
    page fails: send it again, after a moment, until it goes through. ``lost``: the answer to the first send
    that went through is lost (the connection dropped), so the form is sent once more. ``double``: the first
    send is two at once (a double click)."""

    number: int
    run: str
    lost: bool = False
    double: bool = False
    pages: list[str] = field(default_factory=list)  # where each send that went through led
    errors: list[str] = field(default_factory=list)  # each failed answer: its status, or the connection error
    first_ok: float | None = None  # when the first send went through (time.monotonic)

    @property
    def subject(self) -> str:
        return f"Burst {self.run} {self.number:04d}"

    @property
    def email(self) -> str:
        return f"burst{self.number:04d}.{self.run}@customer.example"

    def _answer(self, send) -> bool:
        try:
            status, location, page = send()
        except OSError as error:
            self.errors.append(type(error).__name__)
            return False
        if status == 302 and location.startswith("/help/requests/"):
            self.pages.append(location)
            self.first_ok = self.first_ok or time.monotonic()
            return True
        # The designed error page, never a traceback: the database is away.
        assert status == 500 and ERROR_PAGE in page and "Traceback" not in page, (status, page[:500])
        self.errors.append(str(status))
        return False

    def ask(self, port: int, deadline: float) -> None:
        browser = Browser(port, f"2001:db8::{self.number + 1:x}")
        form = {}
        while not form:  # open the form (it fails too while the database is away)
            assert time.monotonic() < deadline, f"{self.subject}: the form never opened: {self.errors}"
            try:
                status, _, page = browser.get(FORM)
            except OSError as error:
                status, page = type(error).__name__, ""
            if status == 200:
                form = dict(HIDDEN.findall(page))
            else:
                self.errors.append(str(status))
                time.sleep(0.2)
        fields = {**form, "email": self.email, "name": "", "subject": self.subject, "body": "It does not work.",
                  "website": ""}  # fmt: skip

        def send():
            return browser.post(FORM, fields)

        if self.double:
            with ThreadPoolExecutor(2) as clicks:
                for answer in [clicks.submit(self._answer, send) for _ in range(2)]:
                    answer.result()
        wanted = 2 if self.lost else 1
        while len(self.pages) < wanted:
            assert time.monotonic() < deadline, f"{self.subject} never went through: {self.errors}"
            if not self._answer(send):
                time.sleep(0.2)  # a person reads the error page, then sends the form again


def _ticket_of_page(location: str, key: str | None = APP_SECRET) -> int:
    """The ticket a request page's link names (signed with the app's SECRET_KEY; None: this process's)."""
    token = location.removeprefix("/help/requests/").split("/", 1)[0]
    ticket_id, _customer_id = signing.loads(token, key=key, salt=LINK_SALT)
    return ticket_id


# --- 1. PostgreSQL restarted during a burst of portal requests --------------------------------------

CUSTOMERS = 200
AT_ONCE = 12  # browsers sending at the same time


@pytest.mark.django_db  # the schema of the test database is copied: it must be set up
def test_postgres_restarted_during_a_burst_of_portal_requests_loses_and_duplicates_nothing(desk):
    run = uuid.uuid4().hex[:6]
    askers = [Asker(n, run, lost=n % 9 == 4, double=n % 13 == 6) for n in range(CUSTOMERS)]
    app_processes = desk.app_processes()
    deadline = time.monotonic() + 75  # far more than it takes, even on a loaded machine
    with ThreadPoolExecutor(AT_ONCE) as pool:
        started = time.monotonic()
        asking = [pool.submit(asker.ask, desk.port, deadline) for asker in askers]
        # A third of the requests in, PostgreSQL stops; it starts again once customers met the error page.
        wait_for(lambda: sum(a.first_ok is not None for a in askers) >= CUSTOMERS // 3, timeout=60)
        errors_before = sum(len(a.errors) for a in askers)
        desk.postgres.stop("fast")
        stopped = time.monotonic()
        wait_for(lambda: sum(len(a.errors) for a in askers) >= errors_before + 3 * AT_ONCE, timeout=20)
        desk.postgres.start()
        restarted = time.monotonic()
        for future in asking:
            future.result()
        burst = time.monotonic() - started
    print(f"{CUSTOMERS} customers in {burst:.1f} s; PostgreSQL away {restarted - stopped:.1f} s")

    # The outage hit the burst: customers before it, customers who met the error page and sent again, and
    # customers after it.
    assert sum(a.first_ok < stopped for a in askers) >= CUSTOMERS // 3
    assert sum(bool(a.errors) and a.first_ok > restarted for a in askers) >= AT_ONCE // 2
    assert sum(a.first_ok > restarted for a in askers) >= CUSTOMERS // 4

    # Each request exists exactly once, and every page a customer was sent to is their request's.
    tickets = desk.tickets(f"Burst {run} ")
    assert sorted(Counter(subject for _, subject, *_ in tickets).items()) == [(a.subject, 1) for a in askers]
    by_subject = {subject: (pk, email) for pk, subject, _customer, email, *_ in tickets}
    for asker in askers:
        assert by_subject[asker.subject][1] == asker.email
        assert {_ticket_of_page(page) for page in asker.pages} == {by_subject[asker.subject][0]}
    assert all(len(a.pages) == 2 for a in askers if a.lost)

    # Each customer gets exactly one acknowledgement: the worker's tasks retried through the outage.
    wait_for(lambda: all(ack for *_, ack, _due in desk.tickets(f"Burst {run} ")), timeout=60, interval=0.5)
    wait_for(lambda: _queue_depth(desk.redis, desk.queue) == (0, 0), timeout=30)
    assert not any(due for *_, due in desk.tickets(f"Burst {run} "))
    received = Counter(message["To"] for message in desk.mail.messages if f".{run}@" in message["To"])
    assert received == {a.email: 1 for a in askers}, desk.logs()

    # The app went on by itself: the same processes, and a restart when it is quiet fails no request (each
    # persistent connection is checked before it is used again: CONN_HEALTH_CHECKS).
    assert desk.app_processes() == app_processes
    desk.restart_database()
    browser = Browser(desk.port, "2001:db8::ffff")
    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(lambda _: browser.get(FORM)[0], range(32)))
    assert statuses == [200] * 32, desk.app.log.read_text()[-3000:]
    assert desk.app_processes() == app_processes


# --- 2. PostgreSQL stopped while the SMTP server takes an acknowledgement ---------------------------


@pytest.mark.django_db  # the schema of the test database is copied: it must be set up
def test_an_acknowledgement_sent_as_postgres_stops_is_recorded_once_it_is_back_and_not_sent_again(desk):
    """The worker has locked the ticket and handed the acknowledgement to the SMTP server, which holds its
    answer while PostgreSQL stops (the worker's session and its transaction end). The server then takes the
    email: recording it fails, the task waits for the database instead of failing (a retry would send it a
    second time), and records it once PostgreSQL is back."""
    asker = Asker(0, uuid.uuid4().hex[:6])
    desk.mail.hold_for = asker.email
    desk.mail.holding.clear()
    desk.mail.released.clear()
    try:
        asker.ask(desk.port, time.monotonic() + 30)
        assert desk.mail.holding.wait(timeout=30), desk.logs()
        desk.postgres.stop("fast")
        desk.mail.released.set()
        wait_for(lambda: desk.mail.to(asker.email), timeout=15)  # taken; the worker's session is gone
        desk.postgres.start()
    finally:
        desk.mail.hold_for = None
        desk.mail.released.set()
    wait_for(lambda: desk.tickets(asker.subject)[0][4] is not None, timeout=RECORD_SENT_WITHIN.total_seconds())
    wait_for(lambda: _queue_depth(desk.redis, desk.queue) == (0, 0), timeout=30)  # no retry left to come
    [(_pk, _subject, _customer, _email, acknowledged_at, due)] = desk.tickets(asker.subject)
    assert acknowledged_at is not None and not due
    assert len(desk.mail.to(asker.email)) == 1, desk.logs()
    assert b"went away before it was recorded" in desk.worker.log.read_bytes()


# --- 3. the SMTP server refusing for a while -----------------------------------------------------


def _lost_acknowledgement(queue, customer, agent, minutes: int) -> Ticket:
    """A portal ticket whose acknowledgement task was lost ``minutes`` ago (Redis was down): due, never
    queued (opened as an agent's ticket, which is not acknowledged, then made the customer's)."""
    ticket = services.ticket_create(customer=customer, queue=queue, subject=f"Lost {customer.email}", body="x",
                                    channel=Ticket.Channel.PORTAL, created_by=agent)  # fmt: skip
    Ticket.objects.filter(pk=ticket.pk).update(created_by=None, acknowledgement_due=True,
                                               created_at=timezone.now() - timedelta(minutes=minutes))  # fmt: skip
    return ticket


def _phone_ticket(queue, customer, agent) -> Ticket:
    return services.ticket_create(customer=customer, queue=queue, subject=f"Call from {customer.email}", body="x",
                                  channel=Ticket.Channel.PHONE, created_by=agent)  # fmt: skip


def _one_tick_of_every_beat_task(app, private_redis, celery_queue) -> None:
    from django.conf import settings

    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        app.send_task(entry["task"], queue=celery_queue)
    wait_for(lambda: _queue_depth(private_redis, celery_queue) == (0, 0), timeout=30)


def test_mail_refused_for_a_while_is_retried_and_sent_exactly_once(
    workers, private_redis, celery_queue, app_on_private_redis, mail, queue, agent
):
    """The server answers 451 to every message until each email was refused once, then 421 to every recipient
    (and closes) until each was refused twice, then takes them: two acknowledgements (their tasks retry with
    backoff), an agent's reply (its task too; the message shows the failure meanwhile) and an acknowledgement
    whose task was lost (the beat's outbound sweep fails while the server refuses, the next tick sends it)."""
    ann, bob, carol, dave = (
        CustomerFactory(email=f"{name}@customer.example") for name in ("ann", "bob", "carol", "dave")
    )
    everyone = [c.email for c in (ann, bob, carol, dave)]
    mail.data_reply = "451 4.3.0 Mail server busy, try again later"
    workers.env.update(mail.env())
    worker = workers.start()

    acknowledged = [services.ticket_create(customer=c, queue=queue, subject="Parcel lost", body="x",
                                           channel=Ticket.Channel.PORTAL) for c in (ann, bob)]  # fmt: skip
    reply = services.ticket_reply(ticket=_phone_ticket(queue, carol, agent), author=agent, body="Found it.")
    lost = _lost_acknowledgement(queue, dave, agent, minutes=2)
    send_waiting_email_task.delay()
    wait_for(lambda: all(mail.refusals[email] >= 1 for email in everyone), timeout=30)
    wait_for(lambda: Message.objects.get(pk=reply.pk).delivery_status == DeliveryStatus.FAILED, timeout=15)
    assert "451" in Message.objects.get(pk=reply.pk).delivery_error  # what the agent sees meanwhile

    mail.answer(rcpt_reply="421 4.3.2 Service not available, closing channel")
    send_waiting_email_task.delay()
    wait_for(lambda: all(mail.refusals[email] >= 2 for email in everyone), timeout=30)

    mail.answer()
    send_waiting_email_task.delay()  # the next beat tick
    wait_for(lambda: all(mail.to(email) for email in everyone), timeout=30)
    _one_tick_of_every_beat_task(app_on_private_redis, private_redis, celery_queue)

    assert Counter(message["To"] for message in mail.messages) == dict.fromkeys(everyone, 1)
    for ticket in [*acknowledged, lost]:
        ticket.refresh_from_db()
        assert ticket.acknowledged_at is not None and not ticket.acknowledgement_due
    reply.refresh_from_db()
    assert (reply.delivery_status, reply.delivery_error) == (DeliveryStatus.SENT, "")
    assert reply.delivery_attempts == mail.tries[carol.email] >= 3
    log = worker.log.read_text()
    for task in ("send_acknowledgement_task", "send_reply_task"):  # retried by Celery, with a countdown
        assert re.search(rf"tickets\.tasks\.{task}\[[^\]]+\] retry: Retry in \d+s", log), log[-3000:]


# --- 4. the SMTP server refusing one address for good ---------------------------------------------


def test_mail_refused_for_good_is_recorded_not_retried_and_the_agent_can_send_it_again(
    client, workers, private_redis, celery_queue, app_on_private_redis, mail, queue, agent
):
    """The server answers 550 to one address: its acknowledgements (one by its task, one whose task was lost,
    the oldest for the beat's sweep) and an agent's reply are tried once each. The reply shows the failure
    with "Try again", each ticket has a note, and the sweep goes on to the next customer's acknowledgement.
    Once the address works, the agent's "Try again" sends the reply, once."""
    gone, kim = (CustomerFactory(email=f"{name}@customer.example") for name in ("gone", "kim"))
    mail.refused[gone.email] = "550 5.1.1 <gone@customer.example>: Recipient address rejected"
    workers.env.update(mail.env())
    workers.start()

    swept = [_lost_acknowledgement(queue, gone, agent, minutes=3), _lost_acknowledgement(queue, kim, agent, minutes=2)]
    by_task = services.ticket_create(customer=gone, queue=queue, subject="Wrong size", body="x",
                                     channel=Ticket.Channel.PORTAL)  # fmt: skip
    reply = services.ticket_reply(ticket=_phone_ticket(queue, gone, agent), author=agent, body="A new pair is here.")
    send_waiting_email_task.delay()
    wait_for(lambda: mail.to(kim.email) and mail.tries[gone.email] == 3, timeout=30)
    _one_tick_of_every_beat_task(app_on_private_redis, private_redis, celery_queue)  # and no retry was waiting

    assert mail.tries[gone.email] == 3 and mail.to(gone.email) == []  # each tried once, never again
    assert len(mail.to(kim.email)) == 1
    reply.refresh_from_db()
    assert (reply.delivery_status, reply.delivery_attempts) == (DeliveryStatus.FAILED, 1)
    assert (
        reply.delivery_error == "gone@customer.example: 550 5.1.1 <gone@customer.example>: Recipient address rejected"
    )
    for ticket in (swept[0], by_task):
        ticket.refresh_from_db()
        assert ticket.acknowledged_at is None and not ticket.acknowledgement_due
        [note] = ticket.messages.filter(kind=Message.Kind.NOTE)
        assert note.author_user is None
        assert note.body_text.startswith(
            "The confirmation of this request could not be emailed to gone@customer.example: "
        )
        assert "550 5.1.1" in note.body_text
    client.force_login(agent)
    page = client.get(f"/tickets/{reply.ticket_id}/").content.decode()
    assert "This reply could not be emailed to the customer." in page and "550 5.1.1" in page

    mail.refused.clear()  # the customer's mailbox works again
    resend = client.post(f"/tickets/{reply.ticket_id}/messages/{reply.pk}/resend/")
    assert resend.status_code == 302
    wait_for(lambda: mail.to(gone.email), timeout=30)
    wait_for(lambda: _queue_depth(private_redis, celery_queue) == (0, 0), timeout=30)
    assert len(mail.to(gone.email)) == 1
    reply.refresh_from_db()
    assert (reply.delivery_status, reply.delivery_error, reply.delivery_attempts) == (DeliveryStatus.SENT, "", 2)


# --- in the test process: the portal form's one-time id, and which refusals are for good -----------


def _portal_form(client) -> dict:
    page = client.get(FORM).content.decode()
    [submission] = re.findall(r'name="submission" value="([^"]+)"', page)
    return {"submission": submission, "email": "zoe@example.com", "name": "", "subject": "The grinder rattles",
            "body": "Since Monday.", "website": ""}  # fmt: skip


def test_the_same_portal_form_sent_again_lands_on_its_request_without_counting_against_the_limits(
    client, queue, monkeypatch
):
    from tickets.portal import views

    monkeypatch.setattr(views, "REQUESTS_PER_HOUR_PER_EMAIL", 1)
    form = _portal_form(client)
    first, again = client.post(FORM, form), client.post(FORM, form)  # e.g. a reload after a lost answer
    assert first.status_code == again.status_code == 302
    [ticket] = Ticket.objects.all()
    assert ticket.portal_submission == uuid.UUID(form["submission"])
    assert {_ticket_of_page(answer["Location"], key=None) for answer in (first, again)} == {ticket.pk}
    assert f"We got your request {ticket.reference}" in client.get(again["Location"]).content.decode()
    another = client.post(FORM, {**_portal_form(client), "subject": "Another question"})  # a new form: counted
    assert another.status_code == 400 and Ticket.objects.count() == 1


def test_two_sends_of_one_form_at_once_open_one_request(queue):
    """What the view's look-up cannot see (both sends before either committed): the unique id decides."""
    from tickets.portal.services import portal_request_create

    submission = uuid.uuid4()
    send = {"email": "zoe@example.com", "name": "", "language": "", "subject": "Rattles", "body": "x", "queue": queue,
            "submission": submission}  # fmt: skip
    first = portal_request_create(**send)
    assert portal_request_create(**send) == first and Ticket.objects.count() == 1
    other = portal_request_create(**{**send, "email": "bob@example.com"})  # the id of someone else's form
    assert other != first and other.customer.email == "bob@example.com" and other.portal_submission is None


@pytest.mark.parametrize("submission", [None, "", "not-a-uuid"])
def test_a_form_without_a_good_id_is_still_sent(client, queue, submission):
    form = _portal_form(client)
    if submission is None:
        del form["submission"]
    else:
        form["submission"] = submission
    assert client.post(FORM, form).status_code == 302 and client.post(FORM, form).status_code == 302
    assert list(Ticket.objects.values_list("portal_submission", flat=True)) == [None, None]  # no guard, no error


@pytest.mark.parametrize(
    ("error", "permanent"),
    [
        (smtplib.SMTPRecipientsRefused({"a@x.example": (550, b"5.1.1 No such user")}), True),
        (smtplib.SMTPRecipientsRefused({"a@x.example": (550, b"No"), "b@x.example": (451, b"Later")}), False),
        (smtplib.SMTPRecipientsRefused({"a@x.example": (421, b"4.3.2 Closing")}), False),
        (smtplib.SMTPDataError(554, b"5.7.1 Message refused"), True),
        (smtplib.SMTPDataError(451, b"4.3.0 Try again later"), False),
        (smtplib.SMTPSenderRefused(553, b"5.7.1 Sender not allowed", "support@example.com"), True),
        (smtplib.SMTPAuthenticationError(535, b"5.7.8 Bad credentials"), False),  # the admins' to fix
        (smtplib.SMTPServerDisconnected("Connection unexpectedly closed"), False),
        (ConnectionRefusedError(111, "Connection refused"), False),
    ],
)
def test_only_a_5xx_answer_about_the_email_is_a_refusal_for_good(error, permanent):
    assert permanent_refusal(error) is permanent
