"""``manage.py loadtest`` (issue 10): agents and portal customers against the real stack, on loopback, for a
bounded time, and a table of what they got.

What a run does, in order (everything it starts is stopped at the end, also on Ctrl-C, SIGTERM or an error):

1. Checks: the database is a bench database (its name contains "bench"; ``--any-database`` to override: the run
   adds tickets, customers and replies), it has every migration, tickets and agents.
2. Prepares: a run id, a secret key for the servers of this run, and a signed-in session for each of the
   ``--users`` agents, written straight into the session store as a sign-in leaves it (the seed's agents have
   no usable password; nothing about signing in changes). With more users than agents, agents get several
   sessions (several tabs or devices). Each session carries the agent's queues and tickets they may see.
3. Starts on 127.0.0.1: an SMTP sink (aiosmtpd, in this process: it counts the mail), a Celery worker on a queue of
   this run, and gunicorn with gunicorn.conf.py on a free port, with the production settings (DEBUG off) except
   those that assume TLS in front (HTTPS redirect, secure cookies), the portal's hourly limits per address (raised:
   every customer of the test comes from 127.0.0.1) and the static files' storage (plain: static files are not
   requested, a browser has them cached).
4. Runs locust headless (bench/load/locustfile.py) for ``--run-time``: ``--users`` agents with think time and
   ``--portal-rate`` portal submissions per second.
5. Waits for the worker to send the acknowledgements, checks the side effects (portal tickets created = POSTs
   accepted, replies in the database = replies accepted, one acknowledgement per portal ticket), and prints the
   table: per request type the count, rate, median, p95, max and errors, then the errors themselves.

Files of the run (locust's CSV, the logs of gunicorn, the worker and locust, report.md) are kept in
bench/results/load-<run id>/.
"""

import argparse
import contextlib
import csv
import json
import logging
import math
import os
import random
import re
import runpy
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .shape import customer_domain, portal_users

ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
RESULTS = ROOT / "bench" / "results"
PAGE_P95_TARGET_MS = 300
SAMPLE_TICKETS = 100  # tickets each agent may open besides those on the lists, spread over the dataset
SPAWN_SECONDS = 10  # all users are started within this time
STOP_TIMEOUT_SECONDS = 30  # at the end, users finish what they are doing (a reply, a submission) for this long
ACK_WAIT_SECONDS = 120  # at most this long for the worker to send the acknowledgements after the run
RAISED_LIMIT = str(10**9)


class LoadTestError(Exception):
    """The run could not be made (not: the targets were missed)."""


# --- options ---------------------------------------------------------------------------------------------------


def parse_duration(text: str) -> int:
    """Seconds in "300", "30s", "5m", "1h", "1m30s" (as locust's --run-time)."""
    text = str(text).strip().lower()
    if text.isdigit():
        seconds = int(text)
    else:
        parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text)
        if not text or parts is None:
            raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 5m, 1h30m)")
        hours, minutes, secs = (int(part or 0) for part in parts.groups())
        seconds = hours * 3600 + minutes * 60 + secs
    if seconds < 1:
        raise ValueError("the duration must be at least 1 s")
    return seconds


def _duration(text: str) -> int:
    try:
        return parse_duration(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def add_arguments(parser) -> None:
    parser.add_argument("--run-time", type=_duration, default=parse_duration("5m"),
                        help="how long the load lasts, e.g. 30s, 5m (default 5m)")  # fmt: skip
    parser.add_argument("--users", type=_positive_int, default=50,
                        help="agents browsing and replying at the same time (default 50)")  # fmt: skip
    parser.add_argument("--portal-rate", type=_positive_float, default=20.0,
                        help="portal submissions per second (default 20)")  # fmt: skip
    parser.add_argument("--port", type=int, default=0, help="gunicorn's port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--worker-concurrency", type=_positive_int, default=2,
                        help="processes of the Celery worker (default 2)")  # fmt: skip
    parser.add_argument("--any-database", action="store_true",
                        help="run on a database whose name does not contain 'bench' (the run adds data to it)")  # fmt: skip


def format_duration(seconds: int) -> str:
    minutes, secs = divmod(seconds, 60)
    return f"{minutes}m{secs:02d}s" if minutes and secs else f"{minutes}m" if minutes else f"{secs}s"


# --- the report ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatRow:
    method: str
    name: str
    count: int
    failures: int
    rps: float
    median_ms: float
    p95_ms: float
    max_ms: float

    @property
    def is_page_view(self) -> bool:
        """A full page a person waits for: a GET that is not an htmx request."""
        return self.method == "GET" and "(htmx)" not in self.name

    @property
    def label(self) -> str:
        return f"{self.method} {self.name}" if self.method else self.name


@dataclass(frozen=True)
class Failure:
    method: str
    name: str
    error: str
    occurrences: int


def read_results(path: Path) -> tuple[list[StatRow], StatRow | None, list[Failure]]:
    """The rows, the total and the errors that the locustfile wrote at the end (``--results-file``)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    rows = [StatRow(**row) for row in data["requests"]]
    total = StatRow(**data["total"]) if data.get("total") else None
    failures = sorted((Failure(**error) for error in data["errors"]), key=lambda f: (-f.occurrences, f.name))
    return rows, total, failures


def _ms(value: float) -> str:
    return f"{value:,.0f}"


def format_table(rows: list[StatRow], total: StatRow | None) -> str:
    lines = [
        "| request | kind | count | req/s | median ms | p95 ms | max ms | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in sorted(rows, key=lambda r: (not r.is_page_view, r.name, r.method)):
        kind = "page" if row.is_page_view else ("htmx" if "(htmx)" in row.name else "form")
        lines.append(f"| `{row.label}` | {kind} | {row.count:,} | {row.rps:.2f} | {_ms(row.median_ms)} | "
                     f"{_ms(row.p95_ms)} | {_ms(row.max_ms)} | {row.failures:,} |")  # fmt: skip
    if total is not None:
        lines.append(f"| **all requests** | | {total.count:,} | {total.rps:.2f} | {_ms(total.median_ms)} | "
                     f"{_ms(total.p95_ms)} | {_ms(total.max_ms)} | {total.failures:,} |")  # fmt: skip
    return "\n".join(lines)


def format_failures(failures: list[Failure]) -> str:
    if not failures:
        return "Errors: none."
    lines = ["Errors:"]
    lines += [f"- {f.occurrences:,} × `{f.method} {f.name}`: {f.error}" for f in failures]
    return "\n".join(lines)


def target_lines(rows: list[StatRow], total: StatRow | None) -> list[tuple[str, bool]]:
    """The targets of issue 10: (what, met)."""
    pages = [row for row in rows if row.is_page_view and row.count]
    errors = total.failures if total is not None else sum(row.failures for row in rows)
    result = [(f"errors: {errors:,} (target 0)", errors == 0)]
    if pages:
        worst = max(pages, key=lambda row: row.p95_ms)
        result.append((f"page views: worst p95 {_ms(worst.p95_ms)} ms, `{worst.name}` (target ≤ {PAGE_P95_TARGET_MS} ms)",
                       worst.p95_ms <= PAGE_P95_TARGET_MS))  # fmt: skip
    else:
        result.append(("page views: none were made", False))
    return result


@dataclass(frozen=True)
class SideEffects:
    portal_accepted: int  # POSTs answered with the redirect to the new request
    portal_tickets: int  # portal tickets of this run's customers in the database
    replies_accepted: int
    replies_created: int  # replies and notes written by agents since the run started
    acknowledgements: int  # acknowledgement emails to this run's customers received by the SMTP sink
    emails: int  # every email the sink received
    tasks_left: int | None = None  # tasks still queued when the worker stopped


def verification_lines(effects: SideEffects) -> list[tuple[str, bool]]:
    e = effects
    lines = [
        (f"portal tickets created: {e.portal_tickets:,}; submissions accepted: {e.portal_accepted:,}",
         e.portal_tickets == e.portal_accepted),
        (f"replies and notes created: {e.replies_created:,}; replies accepted: {e.replies_accepted:,}",
         e.replies_created == e.replies_accepted),
        (f"acknowledgements received by the SMTP sink: {e.acknowledgements:,} of {e.portal_tickets:,} "
         f"({e.emails:,} emails in all)", e.acknowledgements == e.portal_tickets),
    ]  # fmt: skip
    if e.tasks_left:
        lines.append((f"tasks left in the worker's queue at the end (dropped): {e.tasks_left:,}", False))
    return lines


def format_checks(title: str, lines: list[tuple[str, bool]]) -> str:
    return "\n".join([title, *(f"- {'ok' if ok else 'NOT MET'}: {text}" for text, ok in lines)])


def accepted(rows: list[StatRow], name: str) -> int:
    return sum(row.count - row.failures for row in rows if row.name == name)


# --- processes ---------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Children:
    """Processes this run started, each in a session of its own (Ctrl-C in the terminal reaches only us); stopped
    in reverse order with SIGTERM, then SIGKILL after 20 s."""

    def __init__(self, say):
        self.say = say
        self.started: list[tuple[str, subprocess.Popen, object]] = []

    def start(self, name: str, args: list[str], *, env: dict, log: Path) -> subprocess.Popen:
        self.say(f"starting {name} (log: {log.relative_to(ROOT) if log.is_relative_to(ROOT) else log})")
        output = open(log, "ab")  # noqa: SIM115 (closed in stop)
        process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
        self.started.append((name, process, output))
        return process

    def dead(self) -> str | None:
        """The name of a child that exited on its own, if any."""
        return next((name for name, process, _ in self.started if process.poll() is not None), None)

    def stop(self, process: subprocess.Popen | None = None) -> None:
        chosen = [item for item in self.started if process is None or item[1] is process]
        for name, child, _ in reversed(chosen):
            if child.poll() is None:
                self.say(f"stopping {name}")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGTERM)
        for name, child, output in reversed(chosen):
            try:
                child.wait(20)
            except subprocess.TimeoutExpired:
                self.say(f"{name} did not stop in 20 s: killing it")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)
                child.wait()
            output.close()
        self.started = [item for item in self.started if item not in chosen]


class MailSink:
    """An SMTP server on 127.0.0.1 that counts what it receives: in all, and to this run's customers."""

    def __init__(self, customer_domain: str):
        self.domain = "@" + customer_domain.lower()
        self.total = self.to_customers = 0
        self.lock = threading.Lock()
        self.controller = None

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.total += 1
            # Acknowledgements only (automatic, Auto-Submitted): agents' replies to this run's tickets are not.
            automatic = b"\nauto-submitted: auto-replied" in envelope.original_content.lower()
            if automatic and any(address.lower().endswith(self.domain) for address in envelope.rcpt_tos):
                self.to_customers += 1
        return "250 OK"

    def start(self) -> int:
        from aiosmtpd.controller import Controller

        logging.getLogger("mail.log").setLevel(logging.WARNING)  # not every connection
        self.controller = Controller(self, hostname="127.0.0.1", port=free_port())
        self.controller.start()
        return self.controller.port

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


def wait_for_http(url: str, *, seconds: float, alive) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, urllib.error.URLError), urllib.request.urlopen(url, timeout=2) as response:
            if response.status == 200:
                return
        if not alive():
            raise LoadTestError(f"the server exited before answering {url}")
        time.sleep(0.5)
    raise LoadTestError(f"no answer from {url} within {seconds:.0f} s")


# --- the run -----------------------------------------------------------------------------------------------------


class LoadTest:
    def __init__(self, options: dict, *, write):
        self.options = options
        self.write = write
        self.run_id = datetime.now().strftime("%Y%m%d-%H%M%S").lower()
        self.domain = customer_domain(self.run_id)
        self.dir = RESULTS / f"load-{self.run_id}"
        self.secret = secrets.token_urlsafe(50)
        self.session_keys: list[str] = []
        self.children = Children(self.say)
        self.sink = MailSink(self.domain)

    def say(self, message: str) -> None:
        self.write(f"[loadtest] {message}")

    def run(self) -> bool:
        """True when every target was met and every side effect matched."""
        # SIGTERM stops the run as Ctrl-C does; Ctrl-C works even where a shell started us with SIGINT ignored.
        previous = signal.signal(signal.SIGTERM, _interrupt), signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            self._check_database()
            self.dir.mkdir(parents=True, exist_ok=True)
            return self._run()
        except KeyboardInterrupt:
            self.say(f"interrupted: stopping everything (what was measured is in {self.dir.relative_to(ROOT)}/)")
            raise
        finally:
            self.children.stop()
            self.sink.stop()
            self._end_sessions()
            signal.signal(signal.SIGTERM, previous[0])
            signal.signal(signal.SIGINT, previous[1])

    def _check_database(self) -> None:
        from django.db import connection
        from django.db.migrations.executor import MigrationExecutor

        from helpdesk.models import User
        from tickets.models import Ticket

        name = connection.settings_dict["NAME"]
        if "bench" not in name and not self.options["any_database"]:
            raise LoadTestError(f"The run adds tickets, customers and replies to the database {name!r}: use a bench "
                                "database (its name contains 'bench'), or --any-database.")  # fmt: skip
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if plan:
            raise LoadTestError(f"{len(plan)} migrations are not applied to {name!r}: run manage.py migrate first.")
        if not Ticket.objects.exists():
            raise LoadTestError("There are no tickets: seed the database first (docs/performance.md).")
        if not User.objects.filter(is_active=True, role=User.Role.AGENT).exists():
            raise LoadTestError("There are no active agents: seed the database first (docs/performance.md).")

    def _run(self) -> bool:
        from django.db import connection

        from tickets.models import Message, Ticket

        options = self.options
        agents = options["users"]
        portal = portal_users(options["portal_rate"])
        self.say(f"run {self.run_id}: {agents} agents, {options['portal_rate']:g} portal submissions/s, "
                 f"{format_duration(options['run_time'])}, database {connection.settings_dict['NAME']}")  # fmt: skip
        self._tidy_database()
        sessions_file = self.dir / "sessions.json"
        accounts = self._sign_in(agents, sessions_file)
        tickets_before = Ticket.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        messages_before = Message.objects.order_by("-pk").values_list("pk", flat=True).first() or 0

        smtp_port = self.sink.start()
        port = options["port"] or free_port()
        host = f"http://127.0.0.1:{port}"
        env = self._server_env(port=port, smtp_port=smtp_port)
        queue = env["CELERY_TASK_DEFAULT_QUEUE"]
        worker = [sys.executable, "-m", "celery", "-A", "helpdesk", "worker", "-l", "warning", "-Q", queue,
                  "-n", f"{queue}@%h", "--concurrency", str(options["worker_concurrency"]), "--without-gossip",
                  "--without-mingle"]  # fmt: skip
        self.children.start("Celery worker", worker, env=env, log=self.dir / "worker.log")
        server = [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}",
                  "--no-control-socket"]  # fmt: skip
        gunicorn = self.children.start("gunicorn", server, env=env, log=self.dir / "gunicorn.log")
        wait_for_http(f"{host}/healthz?scope=web", seconds=90, alive=lambda: gunicorn.poll() is None)
        workers = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
        self.say(f"gunicorn on {host}: {workers['workers']} workers × {workers['threads']} threads; "
                 f"{accounts} agent accounts for {agents} agents")  # fmt: skip
        self._warm_up(host, rounds=2 * workers["workers"])

        started = time.monotonic()
        self._locust(host, sessions_file, agents=agents, portal=portal)
        self.say(f"load ended after {time.monotonic() - started:.0f} s")
        if not (self.dir / "results.json").exists():
            raise LoadTestError(f"locust wrote no statistics: see {self.dir / 'locust.log'}")
        rows, total, failures = read_results(self.dir / "results.json")

        portal_tickets = Ticket.objects.filter(pk__gt=tickets_before, channel=Ticket.Channel.PORTAL,
                                               customer__email__endswith="@" + self.domain)  # fmt: skip
        created = portal_tickets.count()
        self._wait_for_acknowledgements(created)
        tasks_left = self._stop_worker(queue)
        replies = Message.objects.filter(pk__gt=messages_before, author_user__isnull=False,
                                         kind__in=[Message.Kind.REPLY, Message.Kind.NOTE]).count()  # fmt: skip
        effects = SideEffects(
            portal_accepted=accepted(rows, "portal: submit request (POST)"), portal_tickets=created,
            replies_accepted=accepted(rows, "reply (POST)"), replies_created=replies,
            acknowledgements=self.sink.to_customers, emails=self.sink.total, tasks_left=tasks_left,
        )  # fmt: skip
        passed = self._report(rows, total, failures, effects)
        self._remove_portal_data(f"@{self.domain}")
        return passed

    def _tidy_database(self) -> None:
        """Start every run from the same state: remove what earlier runs' portal customers left (their tickets
        stay open and would make the lists and counts of each run longer than the last), then vacuum the
        tables the load writes, as autovacuum does on a server that has been up a while (pages marked
        all-visible: the index-only scans of the counts stay index-only)."""
        from django.db import connection

        self._remove_portal_data(".load.example")
        started = time.monotonic()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE) tickets_ticket, tickets_message, tickets_ticketevent, customers_customer")
        self.say(f"vacuumed the tables the load writes in {time.monotonic() - started:.0f} s")

    def _remove_portal_data(self, email_suffix: str) -> None:
        """Delete the portal customers whose address ends with ``email_suffix`` (those of load runs) and their
        tickets, with everything that hangs on them (messages, events, surveys, facts)."""
        from django.db import transaction

        from customers.models import Customer
        from tickets.models import Ticket

        customers = Customer.objects.filter(email__endswith=email_suffix)
        started = time.monotonic()
        with transaction.atomic():
            tickets, _ = Ticket.objects.filter(customer__in=customers).delete()
            removed, _ = customers.delete()
        if removed:
            self.say(f"removed {removed:,} load-test customers and {tickets:,} rows of their tickets in "
                     f"{time.monotonic() - started:.0f} s")  # fmt: skip

    def _sign_in(self, count: int, path: Path) -> int:
        """A session for each of ``count`` agents (round robin over the seed's agents), written to ``path`` with
        the queues and a sample of the tickets each may see. How many accounts that is."""
        from importlib import import_module

        from django.conf import settings
        from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
        from django.db.models import Max, Min
        from django.test.utils import override_settings

        from helpdesk.models import User
        from tickets import selectors
        from tickets.models import Ticket

        agents = User.objects.filter(is_active=True, role=User.Role.AGENT).order_by("pk")
        if agents.filter(email__endswith="@seed.example").exists():
            agents = agents.filter(email__endswith="@seed.example")
        agents = list(agents[:count])
        bounds = Ticket.objects.aggregate(low=Min("pk"), high=Max("pk"))
        rng = random.Random(1)
        store = import_module(settings.SESSION_ENGINE).SessionStore
        backend = next(b for b in settings.AUTHENTICATION_BACKENDS if b.endswith("ModelBackend"))
        entries = []
        with override_settings(SECRET_KEY=self.secret):  # the servers' key: sessions are signed with it
            for number in range(count):
                agent = agents[number % len(agents)]
                session = store()
                session[SESSION_KEY] = agent._meta.pk.value_to_string(agent)
                session[BACKEND_SESSION_KEY] = backend
                session[HASH_SESSION_KEY] = agent.get_session_auth_hash()
                session.create()
                self.session_keys.append(session.session_key)
                if number < len(agents):
                    candidates = rng.sample(range(bounds["low"], bounds["high"] + 1),
                                            min(SAMPLE_TICKETS * 20, bounds["high"] - bounds["low"] + 1))  # fmt: skip
                    visible = selectors.tickets_visible_to(agent).filter(pk__in=candidates, merged_into__isnull=True)
                    tickets = list(visible.values_list("pk", flat=True)[:SAMPLE_TICKETS])
                    queues = list(selectors.queues_visible_to(agent).values_list("pk", flat=True))
                else:
                    tickets, queues = entries[number % len(agents)]["tickets"], entries[number % len(agents)]["queues"]
                entries.append({"email": agent.email, "session": session.session_key, "queues": queues,
                                "tickets": tickets})  # fmt: skip
        data = {"run_id": self.run_id, "cookie_name": settings.SESSION_COOKIE_NAME, "agents": entries}
        self.first_agent = (settings.SESSION_COOKIE_NAME, entries[0])
        path.write_text(json.dumps(data), encoding="utf-8")
        path.chmod(0o600)
        return len(agents)

    def _warm_up(self, host: str, *, rounds: int) -> None:
        """The first requests a gunicorn worker serves load templates, URL patterns and a database connection: a
        few of the main pages before the measured run, not counted, so that the run measures the steady state."""
        cookie_name, agent = self.first_agent
        paths = ["/tickets/?view=open", "/help/requests/new/"] + [f"/tickets/{pk}/" for pk in agent["tickets"][:1]]
        started, refused = time.monotonic(), 0
        for _ in range(rounds):
            for path in paths:
                request = urllib.request.Request(host + path, headers={"Cookie": f"{cookie_name}={agent['session']}"})
                try:
                    with urllib.request.urlopen(request, timeout=30) as response:
                        response.read()
                except (OSError, urllib.error.URLError):
                    refused += 1
        self.say(f"warm-up: {rounds * len(paths)} requests in {time.monotonic() - started:.0f} s (not counted)"
                 + (f", {refused} failed" if refused else ""))  # fmt: skip

    def _end_sessions(self) -> None:
        if not self.session_keys:
            return
        from importlib import import_module

        from django.conf import settings

        store = import_module(settings.SESSION_ENGINE).SessionStore()
        for key in self.session_keys:
            with contextlib.suppress(Exception):
                store.delete(key)
        self.say(f"signed out the {len(self.session_keys)} sessions of the run")
        self.session_keys = []
        with contextlib.suppress(OSError):
            (self.dir / "sessions.json").unlink()

    def _server_env(self, *, port: int, smtp_port: int) -> dict[str, str]:
        """The environment of gunicorn and the worker: production settings on plain HTTP on loopback."""
        env = dict(os.environ)
        env.update({
            "DEBUG": "0", "SECRET_KEY": self.secret, "ALLOWED_HOSTS": "127.0.0.1",
            "SITE_URL": f"http://127.0.0.1:{port}", "CSRF_TRUSTED_ORIGINS": "",
            # No TLS proxy in front of this test: no redirect to https, cookies without the Secure flag.
            "SECURE_SSL_REDIRECT": "0", "SESSION_COOKIE_SECURE": "0", "CSRF_COOKIE_SECURE": "0",
            "TRUSTED_PROXY_COUNT": "0",
            # Every customer of the test comes from 127.0.0.1 (bench/load, docs/performance.md).
            "PORTAL_REQUESTS_PER_HOUR_PER_IP": RAISED_LIMIT, "PORTAL_REQUESTS_PER_HOUR_PER_EMAIL": RAISED_LIMIT,
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend", "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(smtp_port), "EMAIL_USE_TLS": "0", "EMAIL_USE_SSL": "0", "EMAIL_HOST_USER": "",
            "EMAIL_HOST_PASSWORD": "",
            "CELERY_TASK_ALWAYS_EAGER": "0", "CELERY_TASK_DEFAULT_QUEUE": f"loadtest-{self.run_id}",
            # Static files are not part of the load (a browser has them cached): plain storage, no collectstatic.
            "STATICFILES_STORAGE": "django.contrib.staticfiles.storage.StaticFilesStorage",
            "PYTHONUNBUFFERED": "1",
        })  # fmt: skip
        return env

    def _locust(self, host: str, sessions_file: Path, *, agents: int, portal: int) -> None:
        options = self.options
        users = agents + portal
        args = [
            sys.executable, "-m", "locust", "-f", str(LOCUSTFILE.relative_to(ROOT)), "--headless", "--host", host,
            "--users", str(users), "--spawn-rate", str(max(1, math.ceil(users / SPAWN_SECONDS))),
            "--run-time", f"{options['run_time']}s", "--stop-timeout", str(STOP_TIMEOUT_SECONDS),
            "--csv", str(self.dir / "locust"), "--only-summary", "--exit-code-on-error", "0",
            "--sessions-file", str(sessions_file), "--agents", str(agents),
            "--portal-rate", str(options["portal_rate"]), "--run-id", self.run_id,
            "--results-file", str(self.dir / "results.json"),
        ]  # fmt: skip
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        locust = self.children.start("locust", args, env=env, log=self.dir / "locust.log")
        started = time.monotonic()
        deadline = started + options["run_time"] + STOP_TIMEOUT_SECONDS + 60
        next_note = started + 30
        while locust.poll() is None:
            dead = self.children.dead()
            if dead and dead != "locust":
                raise LoadTestError(f"{dead} exited during the run: see its log in {self.dir}")
            now = time.monotonic()
            if now > deadline:
                self.say("locust did not finish in time: stopping it")
                break
            if now >= next_note:
                self.say(f"{now - started:.0f} s of {options['run_time']} s: {self._progress()}")
                next_note += 30
            time.sleep(0.5)
        self.children.stop(locust)

    def _progress(self) -> str:
        """The running totals from locust's CSV file (written every few seconds)."""
        with contextlib.suppress(OSError, KeyError, ValueError), open(self.dir / "locust_stats.csv") as file:
            for record in csv.DictReader(file):
                if record["Name"] == "Aggregated":
                    return (f"{int(record['Request Count']):,} requests, {int(record['Failure Count']):,} errors, "
                            f"p95 {record['95%']} ms")  # fmt: skip
        return "no statistics yet"

    def _wait_for_acknowledgements(self, expected: int) -> None:
        self.say(f"waiting for the worker to send {expected:,} acknowledgements")
        deadline = time.monotonic() + ACK_WAIT_SECONDS
        last, last_change = -1, time.monotonic()
        while self.sink.to_customers < expected and time.monotonic() < deadline:
            if self.sink.to_customers != last:
                last, last_change = self.sink.to_customers, time.monotonic()
            elif time.monotonic() - last_change > 20:
                break  # nothing for 20 s: the rest is not coming
            time.sleep(0.5)

    def _stop_worker(self, queue: str) -> int | None:
        """Stop the worker and drop what is left in its queue (how many tasks: None if that cannot be told)."""
        for name, process, _ in list(self.children.started):
            if name == "Celery worker":
                self.children.stop(process)
        try:
            from helpdesk.celery import app

            with app.connection_for_write() as connection:
                return connection.default_channel.queue_purge(queue) or 0
        except Exception:  # the queue does not exist when nothing was ever put in it
            return None

    def _report(self, rows, total, failures, effects: SideEffects) -> bool:
        options = self.options
        targets = target_lines(rows, total)
        checks = verification_lines(effects)
        submitted = next((row.rps for row in rows if row.name == "portal: submit request (POST)"), 0.0)
        report = "\n\n".join([
            f"Load test {self.run_id}: {options['users']} agents and {options['portal_rate']:g} portal submissions/s "
            f"asked ({submitted:.2f}/s sent) for {format_duration(options['run_time'])}.",
            format_table(rows, total),
            format_failures(failures),
            format_checks("Targets (issue 10):", targets),
            format_checks("Side effects:", checks),
        ])  # fmt: skip
        (self.dir / "report.md").write_text(report + "\n", encoding="utf-8")
        self.write("")
        self.write(report)
        self.write("")
        self.say(f"files of the run: {self.dir.relative_to(ROOT)}/")
        return all(ok for _, ok in targets + checks)


def _interrupt(signum, frame):
    raise KeyboardInterrupt
