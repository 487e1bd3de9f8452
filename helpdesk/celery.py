import os

from celery import Celery, signals
from celery.contrib.django.task import DjangoTask
from django.db import close_old_connections, transaction

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")


class RobustTask(DjangoTask):
    """``delay_on_commit`` that never turns a committed change into an error page: when the broker (Redis)
    cannot take the task, the failure is logged and the request still succeeds. What the task would have
    done is found later by the sweeps (routing, inbound email, SLA) from the rows the request committed."""

    def delay_on_commit(self, *args, **kwargs):
        def queue():  # a named function: Django's log of a failed robust callback names it
            self.delay(*args, **kwargs)

        transaction.on_commit(queue, robust=True)

    def apply_async_on_commit(self, *args, **kwargs):
        def queue():
            self.apply_async(*args, **kwargs)

        transaction.on_commit(queue, robust=True)


app = Celery("helpdesk", task_cls="helpdesk.celery:RobustTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# Database connections in the worker. Celery's Django fix-up closes every connection before and after every
# task unless CELERY_DB_REUSE_MAX is set (settings.py sets it), so each task paid for a new PostgreSQL
# connection: a backend process started and its caches filled, several milliseconds of CPU on both sides.
# Instead, a task starts and ends as Django's requests do: a connection that is broken, left mid-transaction
# or older than CONN_MAX_AGE is closed, and the next use of a kept one is health-checked
# (CONN_HEALTH_CHECKS). Tasks run eagerly (in tests) stay inside their caller's transaction: not touched.


def _close_old_connections(sender=None, **kwargs):
    if not getattr(getattr(sender, "request", None), "is_eager", False):
        close_old_connections()


signals.task_prerun.connect(_close_old_connections, weak=False)
signals.task_postrun.connect(_close_old_connections, weak=False)
