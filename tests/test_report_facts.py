"""Report facts (issue 8): kept up to date by the ticket services, equal to a recomputation from the raw
tickets, verified and rebuilt by ``manage.py reports_facts``."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.core.management import CommandError, call_command

from customers.merge import customer_merge
from reports.models import SLAFact, SpanFact, StaleFact, SurveyFact, TicketFact
from reports.services import facts_mark_stale, facts_rebuild, facts_refresh, facts_refresh_stale, facts_verify
from reports.tasks import refresh_facts_task, refresh_stale_facts_task
from tickets import services
from tickets.models import SLAPolicy, Ticket
from tickets.surveys.services import survey_answer, surveys_send


def at(*args):
    return time_machine.travel(datetime(*args, tzinfo=UTC), tick=False)


@pytest.fixture
def history(db, queue, customer, other_customer, agent, django_capture_on_commit_callbacks):
    """A mixed history: replies, pending, solved and reopened, a merge, a survey, an agent-opened ticket."""
    SLAPolicy.objects.create(name="Standard", first_response_minutes=60, next_response_minutes=120,
                             resolution_minutes=480, business_hours=False)  # fmt: skip
    with django_capture_on_commit_callbacks(execute=False):
        with at(2026, 3, 2, 9):
            first = services.ticket_create(customer=customer, queue=queue, subject="A", body="x", channel="email")
            second = services.ticket_create(customer=other_customer, queue=queue, subject="B", body="x",
                                            channel="portal")  # fmt: skip
            dupe = services.ticket_create(customer=customer, queue=queue, subject="A again", body="x", channel="email")
            phoned = services.ticket_create(customer=customer, queue=queue, subject="C", body="x", channel="phone",
                                            created_by=agent)  # fmt: skip
        with at(2026, 3, 2, 10):
            services.ticket_assign(ticket=first, assignee=agent, actor=agent)
            services.ticket_reply(ticket=first, author=agent, body="Hi", status="pending")
        with at(2026, 3, 2, 11):
            services.ticket_add_customer_message(ticket=first, body="More", channel="email")
            services.ticket_merge(source=dupe, target=first, actor=agent)
        with at(2026, 3, 3, 9):
            services.ticket_set_status(ticket=first, status="solved", actor=agent)
            surveys = surveys_send(ticket_id=first.pk)
        with at(2026, 3, 3, 12):
            survey_answer(survey=surveys[0], score=4)
            services.ticket_add_customer_message(ticket=first, body="Broken again", channel="email")
        with at(2026, 3, 4, 9):
            services.ticket_set_priority(ticket=second, priority="high", actor=agent)
            services.ticket_set_status(ticket=phoned, status="solved", actor=agent)
    return {"first": first, "second": second, "dupe": dupe, "phoned": phoned}


def test_every_change_marks_the_ticket_and_the_refresh_equals_a_recomputation(history):
    marked = set(StaleFact.objects.values_list("ticket_id", flat=True))
    assert marked == {ticket.pk for ticket in history.values()}
    assert facts_refresh_stale() == 4
    assert not StaleFact.objects.exists()
    assert facts_verify().differences == []
    first = TicketFact.objects.get(pk=history["first"].pk)
    # reopened after its solution, unresolved now: no resolution, two spans, the second open
    assert (first.resolved_at, first.reopened, first.frt_seconds) == (None, True, 3600)
    assert list(SpanFact.objects.filter(ticket_id=first.pk).order_by("opened_at").values_list("resolved_at", flat=True)) == [
        datetime(2026, 3, 3, 9, tzinfo=UTC), None
    ]  # fmt: skip
    assert SurveyFact.objects.get(ticket_id=first.pk, kind="csat").score == 4
    assert not TicketFact.objects.filter(pk=history["dupe"].pk).exists()  # merged away: no facts
    assert TicketFact.objects.get(pk=history["phoned"].pk).first_response_at is None
    assert SLAFact.objects.filter(ticket_id=history["second"].pk, kind="first_response", met=None).exists()


def test_verify_reports_every_difference_and_rebuild_repairs(history, capsys):
    facts_refresh_stale()
    TicketFact.objects.filter(pk=history["first"].pk).update(frt_seconds=1)
    SpanFact.objects.filter(ticket_id=history["second"].pk).delete()
    TicketFact.objects.filter(pk=history["phoned"].pk).delete()
    with pytest.raises(CommandError):
        call_command("reports_facts", "--verify")
    out = capsys.readouterr().out
    assert f"ticket {history['first'].pk}: frt_seconds stored 1, recomputed 3600" in out
    assert f"ticket {history['second'].pk} span rows" in out
    assert f"ticket {history['phoned'].pk} fact rows" in out
    call_command("reports_facts", "--rebuild")
    call_command("reports_facts", "--verify")
    assert "0 differences" in capsys.readouterr().out


def test_rebuild_from_nothing_equals_the_refreshed_facts(history):
    facts_refresh_stale()
    before = sorted(TicketFact.objects.values_list(), key=repr)
    TicketFact.objects.all().delete()
    SpanFact.objects.all().delete()
    assert facts_rebuild(batch=2) == 4
    assert sorted(TicketFact.objects.values_list(), key=repr) == before
    assert facts_verify().differences == []


def test_a_mark_made_during_a_refresh_is_kept(ticket):
    """The refresh clears only the version it read: a change committed meanwhile is refreshed again."""
    version = StaleFact.objects.get(ticket_id=ticket.pk).version
    facts_mark_stale([ticket.pk])  # another change while a refresh computes
    StaleFact.objects.filter(ticket_id=ticket.pk).update(version=version + 1)
    facts_refresh([ticket.pk])
    assert not StaleFact.objects.exists()  # this refresh read the latest version
    facts_mark_stale([ticket.pk])
    read = StaleFact.objects.get(ticket_id=ticket.pk).version
    facts_mark_stale([ticket.pk])
    assert StaleFact.objects.get(ticket_id=ticket.pk).version == read + 1


def test_the_mark_queues_nothing_and_the_refresh_task_is_idempotent(ticket, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        facts_mark_stale([ticket.pk, ticket.pk])
    assert callbacks == []  # the beat sweep refreshes marked tickets: no task per change
    assert refresh_facts_task(ticket.pk) == 1
    assert refresh_facts_task(ticket.pk) == 0  # nothing marked any more
    assert TicketFact.objects.filter(pk=ticket.pk).exists()
    facts_mark_stale([ticket.pk])
    assert refresh_stale_facts_task() == 1 and not StaleFact.objects.exists()


def test_a_batch_of_new_tickets_is_marked_together(queue, customer):
    drafts = [services.NewTicket(customer=customer, queue=queue, subject=f"S{n}", body="x", channel="email")
              for n in range(5)]  # fmt: skip
    tickets = services.tickets_create(drafts)
    assert set(StaleFact.objects.values_list("ticket_id", flat=True)) == {t.pk for t in tickets}


def test_merging_customers_marks_their_tickets(ticket, customer, other_customer, admin_user):
    facts_refresh_stale()
    customer_merge(source=customer, target=other_customer, actor=admin_user)
    assert list(StaleFact.objects.values_list("ticket_id", flat=True)) == [ticket.pk]
    facts_refresh_stale()
    assert TicketFact.objects.get(pk=ticket.pk).customer_id == other_customer.pk


def test_a_deleted_ticket_takes_its_facts_along(ticket):
    facts_refresh_stale()
    Ticket.objects.filter(pk=ticket.pk).delete()
    assert not TicketFact.objects.exists() and not SpanFact.objects.exists()
