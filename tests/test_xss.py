"""Untrusted content through every way in, with every payload of tests/xss_payloads.py: an email's HTML (and its
subject and sender's name), the portal's request form, the REST API (new ticket, reply and note, in each body
format) and knowledge-base Markdown.

Each payload is its own message (or article), so one cannot hide another: what is stored must pass the strict
check of a sanitized fragment. The pages that show it (the agent's ticket page, the customer's page of the
request, the customer's timeline, the ticket list, the article on the portal and for agents, the search
results) must carry no script of the content's. The browser opens the same pages in tests/test_xss_browser.py.
"""

import base64
from email.utils import make_msgid

import pytest
from django.urls import reverse

from knowledge_base.models import Article
from tickets.mail.inbound import inbound_process_many, inbound_store_many
from tickets.mail.models import InboundEmail, Mailbox
from tickets.models import Message, Ticket
from tickets.portal.links import follow_token

from .mail_factory import raw_email
from .xss_payloads import ALL, HTML, fragment_problems, page_problems

pytestmark = pytest.mark.django_db

NUL_REFUSED = "a NUL cannot be in Postgres text: forms and the API refuse it with a 400"


def one_line(text: str) -> str:
    """A payload as it can be in a header or a one-line field (a subject, a name)."""
    return " ".join(text.replace("\x00", "").split())[:200] or "x"


def assert_page_safe(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    html = response.content.decode()
    assert page_problems(html) == [], url
    return html


def assert_messages_safe(messages) -> None:
    for message in messages:
        assert fragment_problems(message.body_html) == [], (message.body_text[:200], message.body_html)


def assert_ticket_pages_safe(client, agent, ticket: Ticket) -> None:
    client.force_login(agent)
    assert_page_safe(client, reverse("tickets:detail", args=[ticket.pk]))
    assert_page_safe(client, reverse("customers:detail", args=[ticket.customer_id]))  # the timeline
    assert_page_safe(client, reverse("tickets:list"))
    client.logout()
    assert_page_safe(client, reverse("portal:request", args=[follow_token(ticket)]))


# --- (a) inbound email ------------------------------------------------------------------------------------------


def email_from(name: str, address: str, **fields) -> bytes:
    """A raw email from ``name``, which goes in an RFC 2047 encoded word as mail clients send names with odd
    characters. (Written into the bytes afterwards: the standard library's ``EmailMessage`` would decode the word
    and write the name back unquoted, "<" and all, which is another header.)"""
    raw = raw_email(sender=address, **fields)
    word = f"=?utf-8?b?{base64.b64encode(name.encode()).decode()}?="
    return raw.replace(f"From: {address}\n".encode(), f"From: {word} <{address}>\n".encode(), 1)


def email_thread(payloads, *, domain: str = "customer.example") -> list[bytes]:
    """One email per payload (in its HTML, its subject and its sender's name), each answering the first."""
    first = make_msgid(domain=domain)
    return [
        email_from(one_line(payload.text), f"ann@{domain}", subject=one_line(payload.text),
                   text=f"Payload {payload.number}: see the HTML part.", html=f"<p>Hi</p>{payload.text}<p>Bye</p>",
                   message_id=first if index == 0 else None, in_reply_to=None if index == 0 else first)
        for index, payload in enumerate(payloads)
    ]  # fmt: skip


def ingest(raws: list[bytes]) -> list[InboundEmail]:
    stored = inbound_store_many(raws=raws, source=InboundEmail.Source.PIPE, schedule=False)
    return inbound_process_many(inbound_ids=[row.pk for row, _new in stored])


@pytest.fixture
def mailbox(queue):
    return Mailbox.objects.create(name="Shop", email_address="support@shop.example", queue=queue)


def test_email_html_subjects_and_names_are_sanitized_on_every_page(client, agent, mailbox):
    rows = ingest(email_thread(HTML))
    assert [row.status for row in rows] == ["done"] * len(HTML), [row.error for row in rows if row.error]
    ticket = rows[0].ticket
    assert ticket.customer.name == one_line(HTML[0].text)
    assert {row.ticket_id for row in rows} == {ticket.pk} and ticket.messages.count() == len(HTML)
    assert_messages_safe(ticket.messages.all())
    assert_ticket_pages_safe(client, agent, ticket)

    # Each payload as a ticket's subject (the list shows them all).
    raws = [email_from(one_line(p.text), f"c{p.number}@example.com", subject=one_line(p.text), text=p.text)
            for p in ALL]  # fmt: skip
    rows = ingest(raws)
    assert [row.status for row in rows] == ["done"] * len(ALL), [row.error for row in rows if row.error]
    assert len({row.ticket_id for row in rows}) == len(ALL)
    assert_ticket_pages_safe(client, agent, rows[-1].ticket)


def test_an_email_that_cannot_be_read_is_flagged_not_shown(mailbox):
    """A sender's garbage is the handled outcome "failed" with the reason, never a crash or a ticket."""
    rows = ingest([b"<script>alert(1)</script>", b"\x00\xff<svg onload=alert(1)>"])
    assert [(row.status, row.error.split(":")[0]) for row in rows] == [("failed", "EmailParseError")] * 2
    assert not Ticket.objects.exists()


# --- (b) the portal's request form --------------------------------------------------------------------------------


def test_portal_requests_show_their_text_as_text(client, agent, queue):
    for payload in ALL:
        response = client.post(
            "/help/requests/new/",
            {
                "email": f"zoe{payload.number}@example.com",
                "name": one_line(payload.text),
                "subject": one_line(payload.text),
                "body": payload.text,
                "website": "",
            },
            REMOTE_ADDR=f"127.0.{payload.number}.1",
        )  # fmt: skip  (each from its own address: the hourly limit)
        if "\x00" in payload.text:
            assert response.status_code == 400, NUL_REFUSED
            continue
        assert response.status_code == 302, (payload, response.content.decode()[:2000])
        ticket = Ticket.objects.get(customer__email=f"zoe{payload.number}@example.com")
        message = ticket.messages.get()
        assert message.body_text == payload.text.strip(), payload  # kept as typed, shown escaped
        assert_messages_safe([message])
        assert_page_safe(client, response["Location"])  # the request's page, as the customer sees it first
    client.force_login(agent)
    assert_page_safe(client, reverse("tickets:list"))
    assert_ticket_pages_safe(client, agent, ticket)


# --- (c) the REST API ---------------------------------------------------------------------------------------------


def test_api_tickets_replies_and_notes_in_every_format(client, api_as, agent, queue):
    api = api_as("agent")
    created = api.post(reverse("api:ticket-list"), {
        "customer_email": "ann@customer.example", "subject": "Payloads", "body": HTML[0].text, "body_format": "html",
        "queue": queue.pk}, format="json")  # fmt: skip
    assert created.status_code == 400, "a lone <script> is nothing once sanitized: refused, not stored"
    thread = api.post(reverse("api:ticket-list"), {
        "customer_email": "ann@customer.example", "subject": "Payloads", "body": "Replies follow.",
        "queue": queue.pk}, format="json").json()["id"]  # fmt: skip
    for payload in ALL:
        # A new ticket: the payload as the customer's name, the subject and the body (html, or text).
        data = {"customer_email": f"c{payload.number}@example.com", "customer_name": one_line(payload.text),
                "subject": one_line(payload.text), "body": f"Hi\n\n{payload.text}\n\nBye", "queue": queue.pk,
                "body_format": "html" if payload in HTML else "text"}  # fmt: skip
        created = api.post(reverse("api:ticket-list"), data, format="json")
        if "\x00" in payload.text:
            assert created.status_code == 400, NUL_REFUSED
            continue
        assert created.status_code == 201, (payload, created.content)
        assert fragment_problems(created.json()["messages"][0]["body_html"]) == [], payload
        # A reply and a note on one ticket, in the two formats that make HTML.
        for kind, body_format in [("reply", "html"), ("notes", "markdown")]:
            response = api.post(reverse(f"api:ticket-{kind}", args=[thread]),
                                {"body": payload.text, "body_format": body_format}, format="json")  # fmt: skip
            if response.status_code == 400:  # nothing left once sanitized (a lone <script>): refused, not stored
                assert body_format == "html", (payload, response.content)
                assert response.json()["error"]["message"] == "A message needs some text or an attachment."
                continue
            assert response.status_code == 201, (payload, kind, body_format, response.content)
            assert fragment_problems(response.json()["body_html"]) == [], (payload, kind, body_format)
    assert api.get(reverse("api:ticket-detail", args=[thread])).status_code == 200
    assert_messages_safe(Message.objects.all())
    assert_ticket_pages_safe(client, agent, Ticket.objects.get(pk=thread))
    assert_ticket_pages_safe(client, agent, Ticket.objects.get(pk=created.json()["id"]))


# --- (d) knowledge-base Markdown ----------------------------------------------------------------------------------


def test_articles_show_safely_on_the_portal_to_agents_and_in_search_results(client, agent, make_article):
    articles = [
        make_article(
            f"Payload {payload.number}",
            body=f"{payload.text}\n\nalert onerror script javascript",
            excerpt=one_line(payload.text),
            tags=[one_line(payload.text)[:50]],
        )
        for payload in ALL
        if "\x00" not in payload.text
    ]  # fmt: skip  (the admin's form refuses a NUL)
    assert len(articles) == len(ALL) - 1
    for article in articles:
        assert fragment_problems(article.body_html) == [], (article.body, article.body_html)
        assert_page_safe(client, article.get_absolute_url())
    for query in ("alert", "onerror", "script", "javascript"):
        html = assert_page_safe(client, f"{reverse('kb:search')}?q={query}")
        assert "<mark>" in html
    client.force_login(agent)
    for article in articles:
        assert_page_safe(client, reverse("articles:detail", args=[article.pk]))
    assert_page_safe(client, f"{reverse('articles:list')}?q=alert")
    assert Article.objects.count() == len(articles)


# --- the checks themselves ----------------------------------------------------------------------------------------


def test_the_checks_see_a_payload_that_was_not_sanitized(agent, client, make_ticket):
    """The negative control: content stored without the sanitizer (as a bug would) fails both checks."""
    ticket = make_ticket()
    Message.objects.filter(ticket=ticket).update(body_html='<p><img src=x onerror="alert(1)"></p>')
    message = ticket.messages.get()
    assert fragment_problems(message.body_html) == ["<img onerror>: not an allowed attribute",
                                                    "<img onerror=...>: an event handler"]  # fmt: skip
    client.force_login(agent)
    response = client.get(reverse("tickets:detail", args=[ticket.pk]))
    assert page_problems(response.content.decode()) == ["<img onerror=...>: an event handler"]
