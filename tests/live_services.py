"""Fixtures that run real services beside the tests: an SMTP server (aiosmtpd) and a Celery worker.

The worker consumes from the Redis at REDIS_URL, on a queue of its own per test session, and uses
the test database, so tests that use it need ``transactional_db`` (data must be committed).
"""

import socket
import threading
import time
import uuid
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller


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
