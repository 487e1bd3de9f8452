"""Every portal URL, with a customer's link, another customer's link, a forged link and a signed-in
customer: none ever shows an internal note, or a request to someone it does not belong to.

A new portal URL must be added to ROUTES (the first test fails until it is)."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tickets import services
from tickets.models import Message
from tickets.portal import urls as portal_urls
from tickets.portal.links import follow_token
from tickets.portal.sign_in import SESSION_KEY
from tickets.surveys.services import surveys_send

from .factories import CustomerFactory

SECRET = "Internal: refund approved by the owner only"
ROUTES = {  # name: how to build its URL from (token, attachment id)
    "request_new": lambda token, file_id: reverse("portal:request_new"),
    "request": lambda token, file_id: reverse("portal:request", args=[token]),
    "attachment": lambda token, file_id: reverse("portal:attachment", args=[token, file_id]),
    "new_link": lambda token, file_id: reverse("portal:new_link", args=[token]),
    "rate": lambda token, file_id: reverse("portal:rate", args=[token]),
    "sign_in": lambda token, file_id: reverse("portal:sign_in"),
    "sign_in_link": lambda token, file_id: reverse("portal:sign_in_link", args=[token]),
    "sign_out": lambda token, file_id: reverse("portal:sign_out"),
    "my_requests": lambda token, file_id: reverse("portal:my_requests"),
}


def test_every_portal_url_is_covered_here():
    assert {pattern.name for pattern in portal_urls.urlpatterns} == set(ROUTES)


@pytest.fixture
def mine(ticket, agent):
    """Ann's request: a reply with a file, an internal note with a file, solved (so it has a survey)."""
    services.ticket_reply(ticket=ticket, author=agent, body="Here is the label.",
                          attachments=[SimpleUploadedFile("label.pdf", b"%PDF public", "application/pdf")])  # fmt: skip
    services.ticket_add_note(ticket=ticket, author=agent, body=SECRET,
                             attachments=[SimpleUploadedFile("secret.pdf", b"%PDF secret", "application/pdf")])  # fmt: skip
    services.ticket_set_status(ticket=ticket, status="solved", actor=agent)
    surveys_send(ticket_id=ticket.pk)
    return ticket


@pytest.fixture
def theirs(queue, agent):
    other = services.ticket_create(customer=CustomerFactory(email="zoe@elsewhere.example"), queue=queue,
                                   subject="Zoe's private matter", body="Zoe's words", channel="portal")  # fmt: skip
    services.ticket_add_note(ticket=other, author=agent, body="Zoe's internal note")
    return other


def note_file_id(ticket) -> int:
    return ticket.messages.get(kind=Message.Kind.NOTE).attachments.get().pk


def shown(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode("latin-1")
    return response.content.decode()


@pytest.mark.parametrize("name", sorted(ROUTES))
@pytest.mark.parametrize("method", ["get", "post"])
def test_no_internal_note_anywhere_with_the_customers_own_link(client, mine, name, method):
    url = ROUTES[name](follow_token(mine), note_file_id(mine))
    page = shown(getattr(client, method)(url))
    assert SECRET not in page and "secret.pdf" not in page and "%PDF secret" not in page


@pytest.mark.parametrize("name", sorted(ROUTES))
@pytest.mark.parametrize("method", ["get", "post"])
def test_another_customers_link_shows_nothing_of_this_request(client, mine, theirs, name, method):
    url = ROUTES[name](follow_token(theirs), note_file_id(mine))
    page = shown(getattr(client, method)(url))
    assert mine.subject not in page and "Here is the label." not in page and SECRET not in page
    assert "Zoe's internal note" not in page


TOKEN_ROUTES = sorted(p.name for p in portal_urls.urlpatterns if "<str:token>" in str(p.pattern))


@pytest.mark.parametrize("name", TOKEN_ROUTES)
def test_forged_links_are_refused(client, mine, name):
    good = follow_token(mine)
    forged = good.split(":")[0] + ":" + good.split(":", 1)[1][::-1]  # our ids, a signature that is not ours
    url = ROUTES[name](forged, note_file_id(mine))
    response = client.post(url) if name == "new_link" else client.get(url)
    assert response.status_code in (404, 410) and mine.subject not in shown(response)


def test_a_signed_in_customer_sees_only_their_own_requests(client, mine, theirs):
    session = client.session
    session[SESSION_KEY] = mine.customer_id
    session.save()
    page = client.get(reverse("portal:my_requests")).content.decode()
    assert mine.subject in page and theirs.subject not in page and SECRET not in page
