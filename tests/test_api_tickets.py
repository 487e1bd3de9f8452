"""The tickets API: list (the agent list's views, filters and search, with the same permissions), retrieve,
create through ``ticket_create``, field changes, reply, note, merge, messages and attachments; idempotency,
ETags, and exact query counts on the lists."""

import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from api.models import IdempotencyKey
from helpdesk.models import User
from tickets import services
from tickets.models import Message, Ticket

from .api_fixtures import client_with, token_for
from .factories import UserFactory

LIST = reverse("api:ticket-list")


def detail(ticket_id) -> str:
    return reverse("api:ticket-detail", args=[ticket_id])


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


# --- list ----------------------------------------------------------------------------------------


def test_an_agent_lists_the_tickets_they_can_see_and_no_others(api_as, make_ticket, other_queue):
    mine = make_ticket()
    make_ticket(queue=other_queue, subject="Billing only")
    response = api_as("agent").get(LIST)
    assert ids(response) == [mine.pk]
    row = response.json()["results"][0]
    assert row["reference"] == mine.reference and row["queue"]["name"] == "General"
    assert row["customer"]["email"] == "ann@customer.example" and row["assignee"] is None and row["tags"] == []


def test_another_teams_agent_sees_none_of_them_and_an_admin_sees_all(api_as, make_ticket, other_queue):
    make_ticket()
    theirs = make_ticket(queue=other_queue)
    assert ids(api_as("other_agent").get(LIST)) == [theirs.pk]
    assert len(ids(api_as("admin_user").get(LIST))) == 2


def test_the_list_has_the_agent_lists_views_and_filters(api_as, make_ticket, agent):
    new = make_ticket(subject="Broken mug")
    pending = make_ticket(subject="Lost parcel", priority="high")
    services.ticket_set_status(ticket=pending, status="pending", actor=agent)
    services.ticket_assign(ticket=pending, assignee=agent, actor=agent)
    services.ticket_tag(ticket=new, actor=agent, add=["vip"])
    client = api_as("agent")

    assert ids(client.get(LIST, {"view": "pending"})) == [pending.pk]
    assert ids(client.get(LIST, {"view": "mine"})) == [pending.pk]
    assert ids(client.get(LIST, {"assignee": "none"})) == [new.pk]
    assert ids(client.get(LIST, {"priority": ["high", "urgent"]})) == [pending.pk]
    assert ids(client.get(LIST, {"status": ["new", "open"]})) == [new.pk]
    assert ids(client.get(LIST, {"tag": "VIP"})) == [new.pk]
    assert ids(client.get(LIST, {"sort": "created"})) == [pending.pk, new.pk]
    assert ids(client.get(LIST, {"q": "parcel"})) == [pending.pk]
    assert ids(client.get(LIST, {"channel": "email"})) == []


@pytest.mark.parametrize("params", [{"view": "everything"}, {"status": "lost"}, {"assignee": "somebody"},
                                    {"created_from": "yesterday"}, {"sort": "random"}])  # fmt: skip
def test_a_filter_that_does_not_parse_is_a_400_naming_it(api_as, db, params):
    response = api_as("agent").get(LIST, params)
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == set(params)


def test_another_teams_queue_cannot_be_listed(api_as, make_ticket, other_queue, agent):
    assigned_elsewhere = make_ticket(queue=other_queue, assignee=None)
    services.ticket_assign(ticket=assigned_elsewhere, assignee=UserFactory(role="admin"), actor=None)
    response = api_as("agent").get(LIST, {"queue": other_queue.pk})
    assert response.status_code == 400 and "queue" in response.json()["error"]["fields"]


def test_pages_follow_the_cursor_without_gaps_or_repeats(api_as, make_ticket):
    made = [make_ticket(subject=f"Ticket {n}").pk for n in range(5)]
    client, seen, url = api_as("agent"), [], LIST + "?page_size=2"
    while url:
        page = client.get(url).json()
        seen += [row["id"] for row in page["results"]]
        url = page["next"]
    assert seen == sorted(made, reverse=True)  # newest updated first, each once


@pytest.mark.parametrize("sort", ["priority", "due", "created"])
def test_every_sort_pages_through_every_ticket(api_as, make_ticket, agent, sort):
    made = {make_ticket(subject=f"Ticket {n}", priority=["low", "high"][n % 2]).pk for n in range(5)}
    client, seen, url = api_as("agent"), [], f"{LIST}?page_size=2&sort={sort}"
    while url:
        page = client.get(url).json()
        seen += [row["id"] for row in page["results"]]
        url = page["next"]
    assert sorted(seen) == sorted(made)


def test_a_search_pages_through_its_ranked_results(api_as, make_ticket):
    made = {make_ticket(subject=f"Parcel number {n}", body="parcel " * n).pk for n in range(1, 5)}
    client, seen, url = api_as("agent"), [], f"{LIST}?page_size=3&q=parcel"
    while url:
        page = client.get(url).json()
        seen += [row["id"] for row in page["results"]]
        url = page["next"]
    assert sorted(seen) == sorted(made) and len(seen) == 4


@pytest.mark.parametrize("cursor", ["nonsense", "W10", "WyJ4Il0", "WzEsMl0"])
def test_a_cursor_that_is_not_ours_is_a_400(api_as, make_ticket, cursor):
    make_ticket()
    response = api_as("agent").get(LIST, {"cursor": cursor})
    assert response.status_code == 400 and "cursor" in response.json()["error"]["fields"]


@pytest.mark.parametrize("size", ["0", "101", "ten"])
def test_page_size_is_1_to_100(api_as, db, size):
    assert api_as("agent").get(LIST, {"page_size": size}).status_code == 400


@pytest.mark.parametrize("count", [1, 20])
def test_the_list_takes_the_same_queries_for_1_or_20_tickets(client, agent, make_ticket, count,
                                                             django_assert_num_queries):  # fmt: skip
    for n in range(count):
        ticket = make_ticket(subject=f"Ticket {n}")
        services.ticket_tag(ticket=ticket, actor=agent, add=["vip", f"tag{n}"])
    client.force_login(agent)  # the session: 2 queries (session, user); a token is 1 (token with its user)
    # session, user, the page of tickets with queue/customer/assignee, their tags
    with django_assert_num_queries(4):
        response = client.get(LIST, {"page_size": 50})
    assert len(response.json()["results"]) == count


@pytest.mark.parametrize("count", [1, 20])
def test_the_list_with_a_token_takes_the_same_queries(agent, make_ticket, count, django_assert_num_queries):
    for n in range(count):
        make_ticket(subject=f"Ticket {n}")
    client = client_with(token_for(agent))
    client.get(LIST)  # the token's first use notes when it was used (once a minute)
    # token with its user, the page of tickets, their tags
    with django_assert_num_queries(3):
        response = client.get(LIST)
    assert len(response.json()["results"]) == count


# --- retrieve --------------------------------------------------------------------------------------


def test_the_written_out_rendering_equals_drfs_field_by_field_one(api_as, make_ticket, agent, settings):
    from django.utils import timezone
    from rest_framework import serializers as drf

    from api.serializers import TicketDetailSerializer, TicketSerializer

    plain = make_ticket()
    rich = make_ticket(assignee=agent, tags=["refund", "vip"], priority="high")
    services.ticket_reply(ticket=rich, author=agent, body="On it", status="solved")
    services.ticket_merge(source=plain, target=rich, actor=agent)  # a merged ticket: merged_into and closed_at
    response = api_as("agent").get(detail(rich.pk))  # the view's own queryset (related rows, conversation)
    assert response.status_code == 200
    for zone in ("UTC", "Asia/Kolkata"):
        with timezone.override(zone):
            for ticket in Ticket.objects.select_related("queue", "customer", "assignee").prefetch_related("tags"):
                serializer = TicketSerializer()
                assert serializer.to_representation(ticket) == drf.ModelSerializer.to_representation(serializer,
                                                                                                     ticket)  # fmt: skip
            ticket = Ticket.objects.select_related("queue", "customer", "assignee").get(pk=rich.pk)
            ticket.conversation = list(ticket.messages.order_by("created_at", "pk"))
            serializer = TicketDetailSerializer()
            assert serializer.to_representation(ticket) == drf.ModelSerializer.to_representation(serializer, ticket)
    assert response.json()["assignee"]["id"] == agent.pk and response.json()["tags"] == ["refund", "vip"]


def test_a_ticket_comes_with_its_conversation_and_an_etag(api_as, ticket, agent):
    services.ticket_add_note(ticket=ticket, author=agent, body="Internal: call them",
                             attachments=[SimpleUploadedFile("notes.txt", b"hello")])  # fmt: skip
    response = api_as("agent").get(detail(ticket.pk))
    assert response.status_code == 200
    data = response.json()
    assert [m["kind"] for m in data["messages"]] == ["customer", "note"]
    assert data["messages"][0]["author"] == {"type": "customer", "id": ticket.customer_id, "name": "Ann Smith"}
    attachment = data["messages"][1]["attachments"][0]
    assert attachment["filename"] == "notes.txt" and attachment["download_url"].endswith("/download/")
    ticket.refresh_from_db()
    assert (
        response["ETag"]
        == f'"{ticket.pk}-{int(ticket.updated_at.timestamp()) * 10**6 + ticket.updated_at.microsecond}"'
    )


def test_a_ticket_the_agent_may_not_see_is_a_404(api_as, ticket):
    response = api_as("other_agent").get(detail(ticket.pk))
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Not found.", "fields": {}}}


def test_the_ticket_page_takes_a_fixed_number_of_queries(client, agent, ticket, django_assert_num_queries):
    for n in range(3):
        services.ticket_add_note(ticket=ticket, author=agent, body=f"Note {n}")
    client.force_login(agent)
    # session, user, ticket, tags, messages with authors, their attachments
    with django_assert_num_queries(6):
        assert client.get(detail(ticket.pk)).status_code == 200


# --- create ---------------------------------------------------------------------------------------


def test_create_opens_a_ticket_through_ticket_create_on_the_api_channel(api_as, queue, customer, agent,
                                                                        django_capture_on_commit_callbacks):  # fmt: skip
    with django_capture_on_commit_callbacks(execute=False):
        response = api_as("agent").post(LIST, {"customer": customer.pk, "subject": "Where is my order?",
                                               "body": "It is late.", "queue": queue.pk, "priority": "high",
                                               "tags": ["Shop"], "assignee": agent.pk}, format="json")  # fmt: skip
    assert response.status_code == 201, response.content
    ticket = Ticket.objects.get(pk=response.json()["id"])
    assert (ticket.channel, ticket.priority, ticket.assignee, ticket.created_by) == ("api", "high", agent, None)
    assert ticket.acknowledgement_due  # the customer wrote it (their request came through an integration)
    assert list(ticket.tags.values_list("name", flat=True)) == ["shop"]
    assert response["Location"] == f"http://testserver{detail(ticket.pk)}" and response["ETag"]
    assert response.json()["messages"][0]["kind"] == "customer"


def test_create_for_a_new_email_address_makes_the_customer(api_as, queue, agent):
    response = api_as("agent").post(LIST, {"customer_email": "new@shop.example", "customer_name": "Nia",
                                           "subject": "Hello", "body": "Hi", "queue": queue.pk,
                                           "opened_by_agent": True}, format="json")  # fmt: skip
    assert response.status_code == 201
    ticket = Ticket.objects.get(pk=response.json()["id"])
    assert ticket.customer.email == "new@shop.example" and ticket.customer.name == "Nia"
    assert ticket.created_by == agent and not ticket.acknowledgement_due


@pytest.mark.parametrize(("change", "field"), [
    ({"subject": ""}, "subject"),
    ({"queue": "other"}, "queue"),
    ({"customer": 999_999}, "customer"),
    ({"customer": None, "customer_email": "not an email"}, "customer_email"),
    ({"priority": "whenever"}, "priority"),
    ({"assignee": "other"}, "assignee"),
    ({"tags": ["x" * 51]}, "tags.0"),
    ({"queue": 2**63}, "queue"),
])  # fmt: skip
def test_create_refuses_bad_input_and_creates_nothing(api_as, queue, other_queue, customer, other_agent, change,
                                                      field):  # fmt: skip
    data = {"customer": customer.pk, "subject": "Hello", "body": "Hi", "queue": queue.pk} | change
    if data.get("queue") == "other":
        data["queue"] = other_queue.pk  # not a queue of the agent's team
    if data.get("assignee") == "other":
        data["assignee"] = other_agent.pk  # not in the queue's team
    data = {key: value for key, value in data.items() if value is not None}
    response = api_as("agent").post(LIST, data, format="json")
    assert response.status_code == 400
    body = response.json()["error"]
    assert body["code"] == "invalid" and field in body["fields"], body
    assert not Ticket.objects.exists()


def test_create_needs_a_customer(api_as, queue):
    response = api_as("agent").post(LIST, {"subject": "Hello", "body": "Hi", "queue": queue.pk}, format="json")
    assert response.status_code == 400 and "customer" in response.json()["error"]["fields"]


def test_the_same_idempotency_key_twice_makes_one_ticket_and_the_same_answer(api_as, queue, customer):
    client, key = api_as("agent"), str(uuid.uuid4())
    data = {"customer": customer.pk, "subject": "Hello", "body": "Hi", "queue": queue.pk}
    first = client.post(LIST, data, format="json", HTTP_IDEMPOTENCY_KEY=key)
    again = client.post(LIST, data, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again["Location"] == first["Location"]
    assert again["Idempotent-Replayed"] == "true"
    assert Ticket.objects.count() == 1


def test_the_same_key_with_another_body_is_a_422(api_as, queue, customer):
    client, key = api_as("agent"), "key-1"
    data = {"customer": customer.pk, "subject": "Hello", "body": "Hi", "queue": queue.pk}
    assert client.post(LIST, data, format="json", HTTP_IDEMPOTENCY_KEY=key).status_code == 201
    response = client.post(LIST, data | {"subject": "Other"}, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 422 and response.json()["error"]["code"] == "idempotency_key_reused"
    assert Ticket.objects.count() == 1


def test_keys_are_per_user_and_a_failed_request_keeps_nothing(api_as, queue, customer, admin_user):
    data = {"customer": customer.pk, "subject": "", "body": "Hi", "queue": queue.pk}
    client = api_as("agent")
    assert client.post(LIST, data, format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == 400
    assert not IdempotencyKey.objects.exists()  # the retry, corrected, goes through
    assert client.post(LIST, data | {"subject": "Hi"}, format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == 201
    other = api_as("admin_user").post(LIST, data | {"subject": "Hi"}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert other.status_code == 201 and Ticket.objects.count() == 2


def test_an_old_key_is_a_new_request(api_as, queue, customer, time_machine):
    data = {"customer": customer.pk, "subject": "Hello", "body": "Hi", "queue": queue.pk}
    client = api_as("agent")
    time_machine.move_to("2030-01-01 09:00Z")
    assert client.post(LIST, data, format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == 201
    time_machine.move_to("2030-01-02 09:01Z")
    assert client.post(LIST, data, format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == 201
    assert Ticket.objects.count() == 2


# --- update ---------------------------------------------------------------------------------------


def test_patch_changes_fields_through_the_services_and_records_them(api_as, ticket, agent, queue):
    client = api_as("agent")
    etag = client.get(detail(ticket.pk))["ETag"]
    response = client.patch(detail(ticket.pk), {"status": "pending", "priority": "urgent", "assignee": agent.pk,
                                                "tags": ["vip", "Refund"]}, format="json", HTTP_IF_MATCH=etag)  # fmt: skip
    assert response.status_code == 200, response.content
    ticket.refresh_from_db()
    assert (ticket.status, ticket.priority, ticket.assignee) == ("pending", "urgent", agent)
    assert sorted(ticket.tags.values_list("name", flat=True)) == ["refund", "vip"]
    assert {e.field for e in ticket.events.filter(actor=agent)} == {"status", "priority", "assignee", "tags"}
    assert response["ETag"] != etag and response.json()["status"] == "pending"


def test_patch_with_a_stale_etag_is_a_412_and_changes_nothing(api_as, ticket, agent):
    client = api_as("agent")
    etag = client.get(detail(ticket.pk))["ETag"]
    services.ticket_set_priority(ticket=ticket, priority="high", actor=agent)  # a colleague meanwhile
    response = client.patch(detail(ticket.pk), {"priority": "low"}, format="json", HTTP_IF_MATCH=etag)
    assert response.status_code == 412 and response.json()["error"]["code"] == "precondition_failed"
    ticket.refresh_from_db()
    assert ticket.priority == "high"


def test_patch_moves_queue_then_assigns_in_the_new_team(api_as, ticket, other_queue, agent, admin_user):
    other_queue.team.members.add(agent)
    response = api_as("agent").patch(detail(ticket.pk), {"queue": other_queue.pk, "assignee": None}, format="json")
    assert response.status_code == 200
    ticket.refresh_from_db()
    assert ticket.queue == other_queue and ticket.assignee is None


def test_patch_on_a_closed_ticket_is_a_409_with_the_reason(api_as, ticket, agent):
    services.ticket_set_status(ticket=ticket, status="closed", actor=agent)
    response = api_as("agent").patch(detail(ticket.pk), {"priority": "low"}, format="json")
    assert response.status_code == 409
    assert response.json()["error"] == {"code": "invalid_transition", "message": "A closed ticket cannot be changed.",
                                        "fields": {}}  # fmt: skip


def test_patch_refuses_a_status_agents_do_not_set_and_an_assignee_outside_the_team(api_as, ticket, other_agent):
    client = api_as("agent")
    assert client.patch(detail(ticket.pk), {"status": "closed"}, format="json").status_code == 400
    response = client.patch(detail(ticket.pk), {"assignee": other_agent.pk}, format="json")
    assert response.status_code == 400 and "assignee" in response.json()["error"]["fields"]
    ticket.refresh_from_db()
    assert ticket.assignee is None and ticket.status == "new"


def test_put_is_not_offered(api_as, ticket):
    response = api_as("agent").put(detail(ticket.pk), {"priority": "low"}, format="json")
    assert response.status_code == 405 and response.json()["error"]["code"] == "method_not_allowed"


# --- reply, note, merge, messages, attachments ------------------------------------------------------


def test_reply_is_a_public_message_emailed_after_commit_and_can_set_the_status(
    api_as, ticket, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api_as("agent").post(reverse("api:ticket-reply", args=[ticket.pk]),
                                        {"body": "**On its way**", "body_format": "markdown", "status": "pending"},
                                        format="json")  # fmt: skip
    assert response.status_code == 201, response.content
    assert response.json()["kind"] == "reply" and "<strong>On its way</strong>" in response.json()["body_html"]
    ticket.refresh_from_db()
    assert ticket.status == "pending" and ticket.first_response_at is not None
    assert len(callbacks) >= 1  # the email is sent by a task, after commit


def test_a_note_with_attachments_as_multipart(api_as, ticket):
    response = api_as("agent").post(
        reverse("api:ticket-notes", args=[ticket.pk]),
        {"body": "See the files", "attachments": [SimpleUploadedFile("a.txt", b"A"), SimpleUploadedFile("b.txt", b"B")]},
        format="multipart",
    )  # fmt: skip
    assert response.status_code == 201, response.content
    assert response.json()["kind"] == "note"
    assert [a["filename"] for a in response.json()["attachments"]] == ["a.txt", "b.txt"]


def test_an_empty_message_and_a_forbidden_file_are_400s(api_as, ticket):
    client = api_as("agent")
    empty = client.post(reverse("api:ticket-notes", args=[ticket.pk]), {"body": ""}, format="json")
    assert (
        empty.status_code == 400 and empty.json()["error"]["message"] == "A message needs some text or an attachment."
    )
    exe = client.post(reverse("api:ticket-notes", args=[ticket.pk]),
                      {"attachments": [SimpleUploadedFile("run.exe", b"MZ")]}, format="multipart")  # fmt: skip
    assert exe.status_code == 400
    assert ticket.messages.count() == 1


def test_reply_to_a_closed_ticket_is_a_409(api_as, ticket, agent):
    services.ticket_set_status(ticket=ticket, status="closed", actor=agent)
    response = api_as("agent").post(reverse("api:ticket-reply", args=[ticket.pk]), {"body": "Hi"}, format="json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "invalid_transition"


def test_merge_moves_the_messages_into_the_target(api_as, make_ticket):
    source, target = make_ticket(subject="Second mail"), make_ticket(subject="First mail")
    response = api_as("agent").post(reverse("api:ticket-merge", args=[source.pk]), {"into": target.pk},
                                    format="json")  # fmt: skip
    assert response.status_code == 200 and response.json()["id"] == target.pk
    source.refresh_from_db()
    assert source.merged_into == target and source.status == "closed"


def test_merge_into_a_ticket_the_agent_cannot_see_is_refused(api_as, make_ticket, other_queue):
    source, hidden = make_ticket(), make_ticket(queue=other_queue)
    response = api_as("agent").post(reverse("api:ticket-merge", args=[source.pk]), {"into": hidden.pk},
                                    format="json")  # fmt: skip
    assert response.status_code == 400 and response.json()["error"]["fields"] == {"into": ["No such ticket."]}
    source.refresh_from_db()
    assert source.merged_into is None


def test_merge_into_itself_is_a_400(api_as, ticket):
    response = api_as("agent").post(reverse("api:ticket-merge", args=[ticket.pk]), {"into": ticket.pk}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "A ticket cannot be merged into itself."


def test_messages_are_paginated_oldest_first(api_as, ticket, agent):
    for n in range(3):
        services.ticket_add_note(ticket=ticket, author=agent, body=f"Note {n}")
    client, bodies, url = api_as("agent"), [], reverse("api:ticket-messages", args=[ticket.pk]) + "?page_size=2"
    while url:
        page = client.get(url).json()
        bodies += [m["body_text"] for m in page["results"]]
        url = page["next"]
    assert bodies == ["Hello, my order has not arrived yet. Can you help?", "Note 0", "Note 1", "Note 2"]


def test_attachment_details_and_download(api_as, ticket, agent):
    message = services.ticket_add_note(ticket=ticket, author=agent, body="File",
                                       attachments=[SimpleUploadedFile("notes.txt", b"hello", "text/plain")])  # fmt: skip
    attachment = message.attachments.get()
    client = api_as("agent")
    assert client.get(reverse("api:attachment-detail", args=[attachment.pk])).json()["size"] == 5
    download = client.get(reverse("api:attachment-download", args=[attachment.pk]))
    assert download.status_code == 200 and b"".join(download.streaming_content) == b"hello"
    assert download["Content-Disposition"] == 'attachment; filename="notes.txt"'
    assert api_as("other_agent").get(reverse("api:attachment-download", args=[attachment.pk])).status_code == 404


def test_a_message_of_a_merged_away_ticket_is_refused(api_as, make_ticket, agent):
    source, target = make_ticket(), make_ticket()
    services.ticket_merge(source=source, target=target, actor=agent)
    response = api_as("agent").post(reverse("api:ticket-notes", args=[source.pk]), {"body": "x"}, format="json")
    assert response.status_code == 409 and target.reference in response.json()["error"]["message"]
    assert Message.objects.filter(ticket=source).count() == 0


def test_an_inactive_agents_token_stops_working(ticket, agent):
    client = client_with(token_for(agent))
    User.objects.filter(pk=agent.pk).update(is_active=False)
    assert client.get(LIST).status_code == 401


def test_the_beat_task_forgets_keys_older_than_a_day(api_as, queue, customer, time_machine, settings):
    from api.tasks import idempotency_keys_purge_task

    assert settings.CELERY_BEAT_SCHEDULE["idempotency-keys-purge"]["task"] == "api.tasks.idempotency_keys_purge_task"
    time_machine.move_to("2030-01-01 09:00Z")
    data = {"customer": customer.pk, "subject": "Hello", "body": "Hi", "queue": queue.pk}
    api_as("agent").post(LIST, data, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert idempotency_keys_purge_task() == 0
    time_machine.move_to("2030-01-02 09:01Z")
    assert idempotency_keys_purge_task() == 1 and not IdempotencyKey.objects.exists()
