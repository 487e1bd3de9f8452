"""When a test fails on a database lock (a deadlock, or the flush between transactional tests that could not
truncate), its report gets what else was using the test database then, and the threads of this process: a
connection left busy by an earlier test (a live server's request, a worker thread) is then named, not guessed."""

import threading

import psycopg
import pytest
from django.db import connections

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
