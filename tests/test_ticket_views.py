"""The agent screens over HTTP: the ticket list (views, queues, search, sort, pages, empty states),
the ticket page, and the composer and field forms behind it."""

import datetime as dt
import re

import pytest
import time_machine
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from helpdesk.emails import send_email
from tickets import selectors, services
from tickets.models import Message, Ticket, TicketEvent

from .factories import CustomerFactory, QueueFactory, UserFactory

Status, Priority = Ticket.Status, Ticket.Priority
LIST_URL = reverse("tickets:list")


@pytest.fixture
def agent_client(client, agent):
    client.force_login(agent)
    return client


def rows(response) -> list[str]:
    """The ticket references shown in the list, in order."""
    return re.findall(r'<td class="col-ref">([A-Z]+-\d+)</td>', response.content.decode())


def detail_url(ticket) -> str:
    return reverse("tickets:detail", args=[ticket.pk])


# --- list --------------------------------------------------------------------------------------


def test_list_shows_the_open_tickets_of_the_agents_teams_only(agent_client, make_ticket, other_queue):
    mine = make_ticket(subject="Parcel lost")
    other_team = make_ticket(subject="Invoice question", queue=other_queue)
    solved = make_ticket(subject="Already solved")
    services.ticket_set_status(ticket=solved, status=Status.SOLVED, actor=None)

    response = agent_client.get(LIST_URL)

    assert response.status_code == 200
    assert rows(response) == [mine.reference]
    assert other_team.reference not in response.content.decode()
    assert "Unsolved" in response.content.decode()  # the default view's title


@pytest.mark.parametrize(
    ("view", "expected"),
    [
        ("mine", ["assigned"]),
        ("unassigned", ["new", "pending", "on_hold"]),
        ("open", ["assigned", "new", "pending", "on_hold"]),
        ("pending", ["pending"]),
        ("on_hold", ["on_hold"]),
        ("solved", ["solved"]),
        ("all", ["assigned", "new", "pending", "on_hold", "solved"]),
    ],
)
def test_each_view_filters_the_list(agent_client, agent, make_ticket, view, expected):
    made = {name: make_ticket(subject=name) for name in ["new", "assigned", "pending", "on_hold", "solved"]}
    services.ticket_assign(ticket=made["assigned"], assignee=agent, actor=agent)
    for name in ["pending", "on_hold", "solved"]:
        services.ticket_set_status(ticket=made[name], status=name, actor=agent)

    response = agent_client.get(LIST_URL, {"view": view, "sort": "created"})

    assert sorted(rows(response)) == sorted(made[name].reference for name in expected)


def test_sidebar_counts_views_and_queues(agent_client, agent, make_ticket, queue, team):
    returns = QueueFactory(name="Returns", slug="returns", team=team)
    first = make_ticket()
    make_ticket(queue=returns)
    pending = make_ticket(queue=returns)
    services.ticket_assign(ticket=first, assignee=agent, actor=agent)
    services.ticket_set_status(ticket=pending, status=Status.PENDING, actor=agent)

    html = agent_client.get(LIST_URL).content.decode()

    def count(label):
        match = re.search(
            rf"<span class=\"nav-list__label\">{label}</span>\s*<span class=\"count\"[^>]*>(\d+)</span>", html
        )
        return int(match.group(1)) if match else None

    assert (count("Assigned to me"), count("Unassigned"), count("Unsolved"), count("Pending"), count("On hold")) == (
        1, 2, 3, 1, 0,
    )  # fmt: skip
    assert count("Solved") is None and count("All tickets") is None  # history gets no count
    assert (count("General"), count("Returns")) == (1, 2)


def test_queue_filter_and_a_queue_of_another_team_is_not_found(agent_client, make_ticket, queue, other_queue):
    ticket = make_ticket()

    response = agent_client.get(LIST_URL, {"queue": queue.pk})
    assert rows(response) == [ticket.reference]
    assert '<h1 id="list-title">General</h1>' in response.content.decode()

    assert agent_client.get(LIST_URL, {"queue": other_queue.pk}).status_code == 404


def test_sort_by_priority_created_and_updated(agent_client, make_ticket):
    with time_machine.travel(dt.datetime(2025, 3, 1, 9, tzinfo=dt.UTC), tick=False) as traveller:
        low = make_ticket(subject="low", priority=Priority.LOW)
        traveller.shift(60)
        urgent = make_ticket(subject="urgent", priority=Priority.URGENT)
        traveller.shift(60)
        normal = make_ticket(subject="normal")
        traveller.shift(60)
        services.ticket_add_note(ticket=low, author=None, body="touched last")

    assert rows(agent_client.get(LIST_URL, {"sort": "priority"})) == [urgent.reference, normal.reference,
                                                                       low.reference]  # fmt: skip
    assert rows(agent_client.get(LIST_URL, {"sort": "created"})) == [normal.reference, urgent.reference,
                                                                      low.reference]  # fmt: skip
    assert rows(agent_client.get(LIST_URL)) == [low.reference, normal.reference, urgent.reference]


def test_search_ranks_subject_matches_first_and_searches_every_status(agent_client, make_ticket):
    in_body = make_ticket(subject="Question", body="The refund for my order never came.")
    in_subject = make_ticket(subject="Refund please", body="Hello, please send the money back.")
    solved = make_ticket(subject="Old refund", body="Refund refund.")
    services.ticket_set_status(ticket=solved, status=Status.SOLVED, actor=None)
    make_ticket(subject="Unrelated", body="Where is my parcel?")

    response = agent_client.get(LIST_URL, {"q": "refunds"})  # stemmed

    assert set(rows(response)) == {in_body.reference, in_subject.reference, solved.reference}
    assert rows(response).index(in_subject.reference) < rows(response).index(in_body.reference)
    assert "Best matches for “refunds” in all tickets, any status" in response.content.decode()


def test_search_never_finds_tickets_of_other_teams(agent_client, make_ticket, other_queue):
    make_ticket(subject="Refund for invoice", queue=other_queue)
    response = agent_client.get(LIST_URL, {"q": "refund"})
    assert rows(response) == []
    assert "No tickets match “refund”" in response.content.decode()


def test_htmx_request_gets_only_the_rows_region(agent_client, make_ticket):
    ticket = make_ticket(subject="Refund please")

    response = agent_client.get(LIST_URL, {"q": "refund"}, headers={"HX-Request": "true", "HX-Request-Type": "partial"})

    html = response.content.decode()
    assert rows(response) == [ticket.reference]
    assert "<html" not in html and 'class="sidebar"' not in html
    assert "HX-Request" in response["Vary"]


def test_every_htmx_request_carries_the_csrf_token(agent_client):
    html = agent_client.get(LIST_URL).content.decode()
    token = agent_client.cookies["csrftoken"].value
    assert re.search(r"<body [^>]*hx-headers:inherited='\{\"X-CSRFToken\": \"[\w-]+\"\}'", html)
    assert token  # the cookie the token belongs to is set


def test_htmx_history_restore_gets_the_whole_page(agent_client, make_ticket):
    make_ticket()
    response = agent_client.get(LIST_URL, headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in response.content.decode()


def test_pages_of_fifty_with_next_and_previous_links(agent_client, make_ticket):
    with time_machine.travel(dt.datetime(2025, 3, 1, 9, tzinfo=dt.UTC), tick=False) as traveller:
        tickets = []
        for number in range(51):
            tickets.append(make_ticket(subject=f"Ticket {number}"))
            traveller.shift(1)

    first = agent_client.get(LIST_URL)
    assert len(rows(first)) == 50
    assert rows(first)[0] == tickets[-1].reference
    assert 'rel="next" href="?page=2"' in first.content.decode()
    assert 'rel="prev"' not in first.content.decode()

    second = agent_client.get(LIST_URL, {"page": 2})
    assert rows(second) == [tickets[0].reference]
    assert 'rel="prev" href="?"' in second.content.decode()
    assert 'rel="next"' not in second.content.decode()

    past_the_end = agent_client.get(LIST_URL, {"page": 3})
    assert "No more tickets here" in past_the_end.content.decode()


@pytest.mark.parametrize(
    ("params", "text"),
    [
        ({}, "All caught up"),
        ({"view": "mine"}, "Nothing is assigned to you"),
        ({"view": "unassigned"}, "Every open ticket has an owner"),
        ({"view": "pending"}, "Nothing is waiting on customers"),
        ({"view": "on_hold"}, "Nothing is on hold"),
        ({"view": "solved"}, "No solved tickets yet"),
        ({"view": "all"}, "No tickets yet"),
        ({"q": "anything"}, "No tickets match “anything”"),
    ],
)
def test_every_view_has_its_own_empty_state(agent_client, params, text):
    response = agent_client.get(LIST_URL, params)
    assert response.status_code == 200
    assert "data-empty-state" in response.content.decode()
    assert text in response.content.decode()


def test_queue_empty_state_names_the_queue(agent_client, queue):
    assert "No open tickets in General" in agent_client.get(LIST_URL, {"queue": queue.pk}).content.decode()


def test_nonsense_parameters_fall_back_to_defaults(agent_client, make_ticket):
    ticket = make_ticket()
    response = agent_client.get(LIST_URL, {"view": "everything", "sort": "random", "page": "x", "queue": "abc"})
    assert response.status_code == 200
    assert rows(response) == [ticket.reference]


def test_times_show_relative_with_the_exact_time_in_the_users_zone(client, team, make_ticket):
    user = UserFactory(time_zone="Europe/Berlin", teams=[team])
    client.force_login(user)
    with time_machine.travel(dt.datetime(2025, 1, 15, 12, 0, tzinfo=dt.UTC), tick=False):
        ticket = make_ticket()
    with time_machine.travel(dt.datetime(2025, 1, 15, 15, 30, tzinfo=dt.UTC), tick=False):
        html = client.get(LIST_URL).content.decode()
        detail = client.get(detail_url(ticket)).content.decode()
    assert 'title="Jan. 15, 2025, 1 p.m.">3\xa0hours ago</time>' in html  # timesince keeps number and unit together
    assert 'datetime="2025-01-15T13:00:00+01:00"' in html
    assert "Jan. 15, 2025, 1 p.m." in detail


# Exact query counts. An agent's queries: session, user, the user's queues with open counts,
# the page of tickets; the full page adds the one aggregate of view counts, the saved views and the
# agents for bulk assignment. A search replaces the page of tickets by: the agent's queue ids and
# tickets assigned elsewhere (admins skip it), the planner's estimate of the matches and of the table's
# size, a savepoint, the planner settings, the matches, the rollback of the savepoint (it takes the
# settings with it), then the ranked page.
@pytest.mark.parametrize(("who", "full", "search", "partial"), [("agent", 7, 14, 4), ("admin_user", 7, 13, 4)])
def test_list_query_counts_are_fixed(client, request, make_ticket, django_assert_num_queries, monkeypatch, who, full,
                                     search, partial):  # fmt: skip
    monkeypatch.setattr(selectors, "WALK_ROW_COST", 10**9)  # search from the index (see test_ticket_selectors)
    for number in range(5):
        make_ticket(subject=f"Ticket {number}")
    client.force_login(request.getfixturevalue(who))

    with django_assert_num_queries(full):
        assert len(rows(client.get(LIST_URL))) == 5
    with django_assert_num_queries(search):
        assert len(rows(client.get(LIST_URL, {"q": "ticket"}))) == 5
    with django_assert_num_queries(partial):
        assert len(rows(client.get(LIST_URL, headers={"HX-Request": "true"}))) == 5


# --- ticket page -------------------------------------------------------------------------------


def png_upload(name="photo.png"):
    return SimpleUploadedFile(name, b"\x89PNG\r\n\x1a\n fake image", content_type="image/png")


def test_ticket_page_shows_the_conversation_in_order_with_notes_set_apart(agent_client, agent, ticket):
    services.ticket_add_system_message(ticket=ticket, body="We got your request.")
    services.ticket_reply(ticket=ticket, author=agent, body="We are on it.")
    services.ticket_add_note(ticket=ticket, author=agent, body="Warehouse says Tuesday.", attachments=[png_upload()])

    response = agent_client.get(detail_url(ticket))

    html = response.content.decode()
    kinds = re.findall(r'class="message message--(\w+)"', html)
    assert kinds == ["customer", "system", "reply", "note"]
    assert html.index("my order has not arrived") < html.index("We got your request") < html.index(
        "We are on it") < html.index("Warehouse says Tuesday")  # fmt: skip
    attachment = ticket.messages.get(kind=Message.Kind.NOTE).attachments.get()
    url = reverse("tickets:attachment", args=[attachment.pk])
    assert f'<img src="{url}"' in html  # an image gets a preview
    assert f'href="{url}" download' in html
    assert '<h1 class="ticket-header__subject">Order 1042 has not arrived</h1>' in html
    assert ticket.reference in html


def test_ticket_page_side_panel(agent_client, agent, make_ticket, customer, other_queue, team):
    colleague = UserFactory(full_name="Casey Colleague", teams=[team])
    UserFactory(full_name="Otto Outsider", teams=[other_queue.team])
    UserFactory(full_name="Ada Admin", role="admin")
    UserFactory(full_name="Iris Inactive", teams=[team], is_active=False)
    older = [make_ticket(subject=f"Earlier request {n}") for n in range(6)]
    hidden = make_ticket(subject="Billing matter", queue=other_queue)
    ticket = make_ticket()
    services.ticket_assign(ticket=ticket, assignee=colleague, actor=agent)
    services.ticket_set_priority(ticket=ticket, priority=Priority.HIGH, actor=agent)

    html = agent_client.get(detail_url(ticket)).content.decode()

    panel = html[html.index('id="prop-assignee"') : html.index("</select>", html.index('id="prop-assignee"'))]
    assert "Casey Colleague" in panel and "Ada Admin" in panel and agent.full_name in panel
    assert "Otto Outsider" not in panel and "Iris Inactive" not in panel
    assert ticket.customer.email in html
    recent = html[html.index('class="mini-list"') : html.index("</ul>", html.index('class="mini-list"'))]
    assert [f"{t.reference}</span> {t.subject}" in recent for t in older] == [False] + [True] * 5
    assert hidden.subject not in recent
    assert f"{agent.full_name} assigned the ticket to Casey Colleague" in html
    assert f"{agent.full_name} changed the priority from Normal to High" in html
    assert f"{customer.name} opened the ticket (Portal)" in html


def test_ticket_of_another_team_is_not_found(client, other_agent, ticket):
    client.force_login(other_agent)
    assert client.get(detail_url(ticket)).status_code == 404


def test_merged_ticket_redirects_to_its_target(agent_client, agent, make_ticket):
    source, target = make_ticket(subject="Duplicate"), make_ticket(subject="Original")
    services.ticket_merge(source=source, target=target, actor=agent)

    response = agent_client.get(detail_url(source), follow=True)

    assert response.redirect_chain == [(detail_url(target), 302)]
    assert f"{source.reference} was merged into {target.reference}." in response.content.decode()


# Session, user, team ids, the ticket, the audit rows, the names in them (one assignee event),
# team ids again and the customer's recent tickets, the messages, their attachments, assignable agents,
# the customer's pinned notes and preferences, the SLA targets, the ticket's survey answers, and the update
# that marks the viewer's notifications about this ticket read.
@pytest.mark.parametrize(("who", "expected"), [("agent", 17), ("admin_user", 17)])
def test_ticket_page_query_count_is_fixed(client, request, agent, ticket, make_ticket, django_assert_num_queries,
                                          who, expected):  # fmt: skip
    make_ticket(subject="An earlier request")
    services.ticket_assign(ticket=ticket, assignee=agent, actor=agent)
    for number in range(3):
        services.ticket_add_note(ticket=ticket, author=agent, body=f"Note {number}",
                                 attachments=[png_upload(f"{number}.png")])  # fmt: skip
    client.force_login(request.getfixturevalue(who))

    with django_assert_num_queries(expected):
        response = client.get(detail_url(ticket))
    assert response.content.decode().count('class="message message--note"') == 3


# --- composer ----------------------------------------------------------------------------------


def test_reply_with_status_and_attachments(agent_client, agent, ticket):
    response = agent_client.post(reverse("tickets:message", args=[ticket.pk]), {
        "kind": "reply", "body": "It left the warehouse today.", "status": "pending",
        "attachments": [png_upload("label.png"), SimpleUploadedFile("notes.txt", b"tracking 123")],
    })  # fmt: skip

    message = ticket.messages.get(kind=Message.Kind.REPLY)
    assert response.status_code == 302
    assert response["Location"] == f"{detail_url(ticket)}#message-{message.pk}"
    assert message.author_user == agent and message.body_text == "It left the warehouse today."
    assert sorted(message.attachments.values_list("filename", flat=True)) == ["label.png", "notes.txt"]
    ticket.refresh_from_db()
    assert ticket.status == Status.PENDING and ticket.first_response_at is not None
    assert "Reply added." in agent_client.get(response["Location"]).content.decode()


def test_internal_note_ignores_the_status_choice(agent_client, agent, ticket):
    response = agent_client.post(reverse("tickets:message", args=[ticket.pk]),
                                 {"kind": "note", "body": "Call the courier.", "status": "solved"})  # fmt: skip

    assert response.status_code == 302
    assert ticket.messages.get(kind=Message.Kind.NOTE).body_text == "Call the courier."
    ticket.refresh_from_db()
    assert ticket.status == Status.NEW and ticket.first_response_at is None


def test_empty_reply_is_refused_with_the_form_shown_again(agent_client, ticket):
    response = agent_client.post(reverse("tickets:message", args=[ticket.pk]), {"kind": "reply", "body": "   "})

    assert response.status_code == 200
    assert "A message needs some text or an attachment." in response.content.decode()
    assert ticket.messages.count() == 1  # only the customer's first message


def test_forbidden_attachment_keeps_the_typed_text(agent_client, ticket):
    response = agent_client.post(reverse("tickets:message", args=[ticket.pk]), {
        "kind": "reply", "body": "Here is the tool <you> asked for & more.", "status": "solved",
        "attachments": [SimpleUploadedFile("tool.exe", b"MZ...", content_type="application/octet-stream")],
    })  # fmt: skip

    html = response.content.decode()
    assert response.status_code == 200
    assert "“tool.exe” cannot be attached" in html
    assert ">Here is the tool &lt;you&gt; asked for &amp; more.</textarea>" in html
    assert '<option value="solved" selected>' in html  # the chosen status is kept too
    assert ticket.messages.count() == 1
    ticket.refresh_from_db()
    assert ticket.status == Status.NEW


def test_htmx_composer_gets_its_partial_back_on_error_and_a_client_redirect_on_success(agent_client, ticket):
    url = reverse("tickets:message", args=[ticket.pk])
    htmx = {"HX-Request": "true", "HX-Request-Type": "partial"}

    error = agent_client.post(url, {"kind": "note", "body": ""}, headers=htmx)
    assert error.status_code == 200
    assert error.content.decode().lstrip().startswith('<form id="composer"')

    done = agent_client.post(url, {"kind": "note", "body": "Done."}, headers=htmx)
    note = ticket.messages.get(kind=Message.Kind.NOTE)
    assert done["HX-Redirect"] == f"{detail_url(ticket)}#message-{note.pk}"


def test_closed_ticket_takes_notes_but_no_replies(agent_client, ticket):
    services.ticket_set_status(ticket=ticket, status=Status.CLOSED, actor=None)

    html = agent_client.get(detail_url(ticket)).content.decode()
    assert "replies are no longer possible" in html
    assert 'value="reply"' not in html and "prop-status" not in html

    refused = agent_client.post(reverse("tickets:message", args=[ticket.pk]), {"kind": "reply", "body": "Hi"})
    assert refused.status_code == 200 and ticket.messages.count() == 1
    agent_client.post(reverse("tickets:message", args=[ticket.pk]), {"kind": "note", "body": "For the record."})
    assert ticket.messages.filter(kind=Message.Kind.NOTE).count() == 1


# --- field forms -------------------------------------------------------------------------------


def test_set_status_priority_and_assignee(agent_client, agent, team, ticket):
    colleague = UserFactory(full_name="Casey Colleague", teams=[team])

    response = agent_client.post(reverse("tickets:status", args=[ticket.pk]), {"status": "on_hold"}, follow=True)
    assert "Status set to “On hold”." in response.content.decode()
    agent_client.post(reverse("tickets:priority", args=[ticket.pk]), {"priority": "urgent"})
    agent_client.post(reverse("tickets:assign", args=[ticket.pk]), {"assignee": colleague.pk})

    ticket.refresh_from_db()
    assert (ticket.status, ticket.priority, ticket.assignee) == (Status.ON_HOLD, Priority.URGENT, colleague)
    assert list(ticket.events.filter(kind=TicketEvent.Kind.FIELD).values_list("field", "actor")) == [
        ("status", agent.pk), ("priority", agent.pk), ("assignee", agent.pk),
    ]  # fmt: skip

    response = agent_client.post(reverse("tickets:assign", args=[ticket.pk]), {"assignee": ""}, follow=True)
    assert "Unassigned." in response.content.decode()
    ticket.refresh_from_db()
    assert ticket.assignee is None


def test_assigning_someone_outside_the_team_is_refused(agent_client, other_agent, ticket):
    response = agent_client.post(reverse("tickets:assign", args=[ticket.pk]), {"assignee": other_agent.pk},
                                 follow=True)  # fmt: skip

    assert response.redirect_chain == [(detail_url(ticket), 302)]
    assert "Select a valid choice." in response.content.decode()
    ticket.refresh_from_db()
    assert ticket.assignee is None


def test_changing_a_closed_ticket_shows_the_reason(agent_client, ticket):
    services.ticket_set_status(ticket=ticket, status=Status.CLOSED, actor=None)

    response = agent_client.post(reverse("tickets:priority", args=[ticket.pk]), {"priority": "high"}, follow=True)

    assert "A closed ticket cannot be changed." in response.content.decode()
    ticket.refresh_from_db()
    assert ticket.priority == Priority.NORMAL


def test_unknown_status_is_refused(agent_client, ticket):
    response = agent_client.post(reverse("tickets:status", args=[ticket.pk]), {"status": "closed"}, follow=True)
    assert "Select a valid choice." in response.content.decode()
    ticket.refresh_from_db()
    assert ticket.status == Status.NEW


def test_htmx_field_change_answers_with_a_client_redirect(agent_client, ticket):
    response = agent_client.post(reverse("tickets:status", args=[ticket.pk]), {"status": "open"},
                                 headers={"HX-Request": "true"})  # fmt: skip
    assert response.status_code == 200
    assert response["HX-Redirect"] == detail_url(ticket)


# --- the acknowledgement email's templates -----------------------------------------------------


def test_acknowledgement_email_names_the_reference_in_the_subject(settings, make_ticket):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    customer = CustomerFactory(name="Zoë O'Brien", email="zoe@customer.example")
    ticket = make_ticket(customer=customer, subject="Fish & chips <cold>")

    send_email(name="ticket_acknowledgement", to=[customer.email], context={"ticket": ticket, "customer": customer})

    email = mail.outbox[0]
    assert email.subject == f"We got your request [{ticket.reference}]: Fish & chips <cold>"
    assert "Hello Zoë," in email.body and "Fish & chips <cold>" in email.body
    html = email.alternatives[0][0]
    assert f"<strong>{ticket.reference}</strong>" in html and "Fish &amp; chips &lt;cold&gt;" in html


def test_composer_takes_markdown(client, agent, ticket):
    client.force_login(agent)
    client.post(reverse("tickets:message", args=[ticket.pk]), {"kind": "reply", "body": "**Shipped** today"})
    reply = ticket.messages.filter(kind=Message.Kind.REPLY).get()
    assert reply.body_html == "<p><strong>Shipped</strong> today</p>\n"
    assert reply.body_text == "**Shipped** today"


def test_move_to_another_of_my_queues(client, agent, ticket, team):
    second = QueueFactory(name="Second", slug="second", team=team)
    client.force_login(agent)
    response = client.post(reverse("tickets:queue", args=[ticket.pk]), {"queue": second.pk})
    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.queue == second


def test_cannot_move_to_a_queue_i_cannot_see(client, agent, ticket, other_queue):
    client.force_login(agent)
    client.post(reverse("tickets:queue", args=[ticket.pk]), {"queue": other_queue.pk})
    ticket.refresh_from_db()
    assert ticket.queue != other_queue


def test_tags_field_sets_exactly_the_typed_tags(client, agent, ticket):
    services.ticket_tag(ticket=ticket, actor=agent, add=["old", "keep"])
    client.force_login(agent)
    client.post(reverse("tickets:tags", args=[ticket.pk]), {"tags": "Keep, New ,, refund"})
    assert sorted(ticket.tags.values_list("name", flat=True)) == ["keep", "new", "refund"]
    html = client.get(detail_url(ticket)).content.decode()
    assert 'value="keep, new, refund"' in html


def test_overlong_tag_is_refused(client, agent, ticket):
    client.force_login(agent)
    client.post(reverse("tickets:tags", args=[ticket.pk]), {"tags": "x" * 51})
    assert ticket.tags.count() == 0


@pytest.mark.parametrize("name", ["tickets:queue", "tickets:tags"])
def test_queue_and_tags_of_another_teams_ticket_are_404(client, other_agent, ticket, name):
    client.force_login(other_agent)
    assert client.post(reverse(name, args=[ticket.pk]), {"tags": "x", "queue": 1}).status_code == 404
