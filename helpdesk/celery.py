import os

from celery import Celery
from celery.contrib.django.task import DjangoTask
from django.db import transaction

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
