"""A task queued for a row that is gone by the time it runs (a customer erased, a ticket merged and deleted,
a webhook removed) does nothing and says so: no exception, so no error in the worker's log and no retry, and
the other ids of a batch are still handled. Celery tasks take ids (CONVENTIONS.md) and must be idempotent."""

import pytest

from reports.tasks import refresh_facts_task
from tickets import tasks
from webhooks.tasks import webhook_deliver_task, webhook_disabled_notify_task

GONE = 2_000_000_000

CALLS = [
    (tasks.send_acknowledgement_task, (GONE,)),
    (tasks.notify_assigned_task, (GONE, GONE)),
    (tasks.notify_mentioned_task, (GONE, GONE)),
    (tasks.notify_customer_replied_task, (GONE,)),
    (tasks.process_inbound_task, (GONE,)),
    (tasks.send_reply_task, (GONE,)),
    (tasks.send_surveys_task, (GONE,)),
    (tasks.route_tickets_task, (GONE,)),
    (tasks.send_reminder_task, (GONE, GONE)),
    (tasks.send_template_email_task, (GONE, GONE)),
    (tasks.run_rules_task, (GONE, "created")),
    (webhook_deliver_task, (GONE,)),
    (webhook_disabled_notify_task, (GONE,)),
    (refresh_facts_task, (GONE,)),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("task", "args"), CALLS, ids=[call[0].name.rsplit(".", 1)[-1] for call in CALLS])
def test_a_task_for_a_row_that_is_gone_does_nothing(task, args):
    assert not task.run(*args)


@pytest.mark.django_db
def test_a_batch_of_acknowledgements_goes_on_past_a_ticket_that_is_gone(make_ticket, mailoutbox):
    ticket = make_ticket()
    assert tasks.send_acknowledgement_task.run(GONE, ticket.pk) == 1
    assert len(mailoutbox) == 1


def test_every_task_that_takes_ids_is_checked_here():
    """A new task with parameters needs an entry in CALLS (the project's tasks, not Celery's own)."""
    import inspect

    from helpdesk.celery import app

    app.loader.import_default_modules()
    ours = ("tickets.", "webhooks.", "reports.", "customers.", "knowledge_base.", "api.", "helpdesk.")
    with_parameters = {
        name for name, task in app.tasks.items()
        if name.startswith(ours) and inspect.signature(task.run).parameters
    }  # fmt: skip
    assert with_parameters == {task.name for task, _args in CALLS}
