"""A test failing on a database lock gets the other sessions of the test database in its report."""

import os

from django.core.management.base import CommandError
from django.db import OperationalError, connection

from .db_diagnostics import database_activity, is_lock_trouble


def test_lock_trouble_is_recognised_through_the_chain():
    try:
        try:
            raise OperationalError("deadlock detected\nDETAIL: Process 1 waits for ShareLock")
        except OperationalError as error:
            raise CommandError("Database test_helpdesk couldn't be flushed.") from error
    except CommandError as error:
        assert is_lock_trouble(error) and is_lock_trouble(error.__cause__)
    assert not is_lock_trouble(ValueError("no such ticket")) and not is_lock_trouble(None)


def test_the_report_names_the_other_sessions_and_threads(db):
    with connection.get_new_connection(connection.get_connection_params()) as other:
        pid = other.execute("SELECT pg_backend_pid()").fetchone()[0]
        other.execute("SELECT 'left busy by an earlier test'")  # and idle in its transaction
        activity = database_activity()
    line = next(line for line in activity.splitlines() if line.startswith(f"{pid} |"))
    assert "idle in transaction" in line and "left busy by an earlier test" in line
    assert "threads: " in activity and "MainThread" in activity


def test_each_connection_of_the_tests_says_which_process_and_thread_opened_it(transactional_db):
    import threading

    from django.db import connections

    from .db_diagnostics import connection_label

    seen = {}

    def in_a_thread():
        try:
            with connections["default"].cursor() as cursor:
                cursor.execute("SELECT current_setting('application_name')")
                seen["label"] = cursor.fetchone()[0]
                seen["expected"] = connection_label()
        finally:
            connections.close_all()

    thread = threading.Thread(target=in_a_thread, name="a-thread-of-the-test")
    thread.start()
    thread.join()
    assert seen["label"] == seen["expected"] and "a-thread-of-the-test" in seen["label"]
    assert seen["label"].startswith(f"pytest pid {os.getpid()} ")


def test_the_live_servers_request_threads_are_found():
    import threading

    from .db_diagnostics import request_threads

    release = threading.Event()

    def process_request_thread():  # named as socketserver names a request's thread
        release.wait(5)

    thread = threading.Thread(target=process_request_thread, name="Thread-9 (process_request_thread)")
    thread.start()
    try:
        assert request_threads() == [thread]
    finally:
        release.set()
        thread.join()
    assert request_threads() == []
