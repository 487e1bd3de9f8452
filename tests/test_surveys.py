"""Satisfaction surveys: asked once a ticket is solved, answered only by pressing a button on the page,
shown to agents (METRICS.md scales: CSAT 1–5, NPS 0–10, CES 1–7)."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from tickets import services
from tickets.mail.models import Mailbox
from tickets.models import Survey, Ticket
from tickets.surveys.services import survey_answer, surveys_send

from .factories import CustomerFactory


@pytest.fixture
def solved(ticket, agent, django_capture_on_commit_callbacks):
    Mailbox.objects.create(name="Shop", email_address="support@shop.example", queue=ticket.queue)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.ticket_set_status(ticket=ticket, status="solved", actor=agent)
    assert len(callbacks) == 1  # the survey task, after commit
    return ticket


def rate_link(email, score) -> str:
    link = re.search(rf"http://\S+/help/requests/\S+/rate/\?csat={score}", email.body).group(0)
    return link.removeprefix("http://127.0.0.1:8000")


def test_solving_sends_one_csat_email_and_a_click_records_nothing(client, solved, mailoutbox):
    assert [s.kind for s in surveys_send(ticket_id=solved.pk)] == ["csat"]
    assert surveys_send(ticket_id=solved.pk) == []  # idempotent
    assert len(mailoutbox) == 1
    email = mailoutbox[0]
    assert email.to == [solved.customer.email] and email.extra_headers["Auto-Submitted"] == "auto-generated"
    assert email.from_email == "Help Desk <support@shop.example>"

    page = client.get(rate_link(email, 4))  # what a link scanner does
    assert page.status_code == 200 and 'value="4" checked' in page.content.decode()
    assert Survey.objects.get().answered_at is None

    response = client.post(rate_link(email, 4).split("?")[0], {"csat": "4", "comment": "Quick and kind."})
    assert response.status_code == 302
    survey = Survey.objects.get()
    assert (survey.score, survey.comment, survey.customer) == (4, "Quick and kind.", solved.customer)
    assert survey.answered_at is not None
    assert "Your rating" in client.get(response["Location"]).content.decode()


def test_a_score_off_the_scale_is_refused(client, solved, mailoutbox):
    surveys_send(ticket_id=solved.pk)
    url = rate_link(mailoutbox[0], 5).split("?")[0]
    for bad in ("0", "6", "five"):
        response = client.post(url, {"csat": bad})
        assert response.status_code == 400, bad
    assert client.post(url, {}).status_code == 400
    assert Survey.objects.get().answered_at is None


def test_the_queue_decides_which_questions(client, solved, mailoutbox):
    queue = solved.queue
    queue.survey_csat, queue.survey_nps, queue.survey_ces = False, True, True
    queue.save()
    assert sorted(s.kind for s in surveys_send(ticket_id=solved.pk)) == ["ces", "nps"]
    url = re.search(r"http://\S+/rate/", mailoutbox[0].body).group(0).removeprefix("http://127.0.0.1:8000")
    html = client.get(url).content.decode()
    assert "recommend us" in html and "How easy" in html and "Anything to tell us?" not in html
    client.post(url, {"nps": "10", "ces": "6"})
    assert dict(Survey.objects.values_list("kind", "score")) == {"nps": 10, "ces": 6}


def test_nps_at_most_once_per_customer_in_90_days(solved, queue, agent, settings):
    queue.survey_nps = True
    queue.save()
    assert sorted(s.kind for s in surveys_send(ticket_id=solved.pk)) == ["csat", "nps"]
    second = services.ticket_create(customer=solved.customer, queue=queue, subject="Again", body="x",
                                    channel="portal")  # fmt: skip
    services.ticket_set_status(ticket=second, status="solved", actor=agent)
    assert [s.kind for s in surveys_send(ticket_id=second.pk)] == ["csat"]
    third = services.ticket_create(customer=solved.customer, queue=queue, subject="Later", body="x",
                                   channel="portal")  # fmt: skip
    services.ticket_set_status(ticket=third, status="solved", actor=agent)
    with time_machine.travel(timezone.now() + timedelta(days=settings.NPS_INTERVAL_DAYS + 1)):
        assert sorted(s.kind for s in surveys_send(ticket_id=third.pk)) == ["csat", "nps"]


def test_no_survey_when_reopened_meanwhile_or_the_address_bounces(solved, agent, mailoutbox):
    services.ticket_add_customer_message(ticket=solved, body="Not fixed!", channel="email")
    assert surveys_send(ticket_id=solved.pk) == []
    services.ticket_set_status(ticket=Ticket.objects.get(pk=solved.pk), status="solved", actor=agent)
    solved.customer.email_bouncing_at = timezone.now()
    solved.customer.save()
    assert surveys_send(ticket_id=solved.pk) == [] and mailoutbox == []


def test_another_tickets_link_cannot_rate_this_one(client, solved, queue, agent, mailoutbox):
    other = services.ticket_create(customer=CustomerFactory(), queue=queue, subject="Other", body="x", channel="portal")
    services.ticket_set_status(ticket=other, status="solved", actor=agent)
    surveys_send(ticket_id=solved.pk)
    surveys_send(ticket_id=other.pk)
    client.post(rate_link(mailoutbox[1], 1).split("?")[0], {"csat": "1"})
    assert Survey.objects.get(ticket=solved).answered_at is None
    assert Survey.objects.get(ticket=other).score == 1
    assert client.get("/help/requests/forged/rate/").status_code == 404


def test_agents_see_the_answer_on_the_ticket(client, agent, solved):
    client.force_login(agent)
    agent_client = client
    survey = surveys_send(ticket_id=solved.pk)[0]
    html = agent_client.get(f"/tickets/{solved.pk}/").content.decode()
    assert "Satisfaction" in html and "no answer yet" in html
    survey_answer(survey=survey, score=2, comment="Took a week.")
    html = agent_client.get(f"/tickets/{solved.pk}/").content.decode()
    assert "<strong>2</strong>" in html and "Took a week." in html
