"""When a test fails on a database lock (a deadlock, or the flush between transactional tests that could not
truncate), its report gets what else was using the test database then, and the threads of this process: a
connection left busy by an earlier test (a live server's request, a worker thread) is then named, not guessed.
Every connection the tests open says whose it is (PostgreSQL's application_name: process id and thread).

And a test with a live server waits, before its tables are emptied, for the requests the browser left running
(a chart's data, a badge loading as the page closed): the flush must not race a request for the tables' locks.
"""

import os
import threading
import time

import psycopg
import pytest
from django.db import connections
from django.db.backends.signals import connection_created

REQUESTS_FINISH_SECONDS = 15

LOCK_TROUBLE = ("deadlock detected", "couldn't be flushed", "lock timeout", "canceling statement due to lock")


def is_lock_trouble(error: BaseException | None) -> bool:
    """Whether ``error``, or an exception it was raised from, is about database locks."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if any(text in str(error) for text in LOCK_TROUBLE):
            return True
        error = error.__cause__ or error.__context__
    return False


def database_activity() -> str:
    """The other sessions on the test database (from a connection of its own: the test's may be broken), and
    this process's threads."""
    database = connections["default"]
    lines = []
    try:
        # As the test's own connection is made (host, socket, options), but a new one.
        with database.get_new_connection(database.get_connection_params()) as conn:
            conn.autocommit = True
            rows = conn.execute(
                "SELECT pid, state, wait_event_type, wait_event, now() - xact_start, application_name, "
                "left(regexp_replace(query, '\\s+', ' ', 'g'), 300) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() ORDER BY pid"
            ).fetchall()
        lines += [" | ".join(str(value) for value in row) for row in rows] or ["(no other session)"]
    except psycopg.Error as error:
        lines.append(f"(pg_stat_activity could not be read: {error})")
    lines.append("threads: " + ", ".join(sorted(thread.name for thread in threading.enumerate())))
    return "\n".join(lines)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and call.excinfo is not None and is_lock_trouble(call.excinfo.value):
        report.sections.append(("database sessions at the failure", database_activity()))


def connection_label(**_kwargs) -> str:
    return f"pytest pid {os.getpid()} {threading.current_thread().name}"[:63]


def _label_connection(sender, connection, **kwargs) -> None:
    """application_name: which process and thread of the tests opened the connection (on the raw connection,
    so that no test counting queries sees it)."""
    if connection.vendor == "postgresql":
        with connection.connection.cursor() as cursor:
            cursor.execute("SELECT set_config('application_name', %s, false)", [connection_label()])


connection_created.connect(_label_connection, dispatch_uid="tests.db_diagnostics.label")


def request_threads() -> list[threading.Thread]:
    """The live server's threads that are serving a request now (socketserver names them after their target)."""
    return [thread for thread in threading.enumerate() if "process_request_thread" in thread.name and thread.is_alive()]


@pytest.fixture(autouse=True)
def _live_server_requests_finish(request):
    """Set up after pytest-django's transactional_db (autouse, from the plugin), so torn down before its flush,
    and after the test's browser is closed (the test's own fixtures are torn down first)."""
    yield
    if "live_server" not in request.fixturenames:
        return
    deadline = time.monotonic() + REQUESTS_FINISH_SECONDS
    while request_threads() and time.monotonic() < deadline:
        time.sleep(0.05)
