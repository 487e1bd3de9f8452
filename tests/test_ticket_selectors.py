from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.http import Http404

from tickets import selectors, services
from tickets.models import Attachment, Ticket

from .factories import UserFactory


@pytest.fixture
def tickets(make_ticket, queue, other_queue, agent):
    """One ticket in the agent's team queue, one in another team's queue, one there assigned to the agent."""
    ours = make_ticket(subject="Espresso machine leaking")
    theirs = make_ticket(subject="Invoice for March", queue=other_queue)
    assigned = make_ticket(subject="Refund for invoice 77", queue=other_queue)
    assigned.assignee = agent  # assigned across teams by an admin earlier
    assigned.save(update_fields=["assignee"])
    return ours, theirs, assigned


def test_agent_sees_team_queues_and_own_assignments(tickets, agent):
    ours, _theirs, assigned = tickets
    assert set(selectors.tickets_visible_to(agent)) == {ours, assigned}


def test_agent_of_another_team_sees_only_their_team(tickets, other_agent):
    _ours, theirs, assigned = tickets
    assert set(selectors.tickets_visible_to(other_agent)) == {theirs, assigned}


@pytest.mark.parametrize("role", ["admin", "owner"])
def test_admins_and_owners_see_everything(tickets, role):
    user = UserFactory(role=role)
    assert set(selectors.tickets_visible_to(user)) == set(tickets)


def test_inactive_or_anonymous_users_see_nothing(tickets, team):
    from django.contrib.auth.models import AnonymousUser

    gone = UserFactory(is_active=False, teams=[team])
    assert not selectors.tickets_visible_to(gone).exists()
    assert not selectors.tickets_visible_to(AnonymousUser()).exists()


def test_access_ticket_is_404_for_tickets_of_other_teams(tickets, agent, other_agent):
    ours, theirs, _ = tickets
    assert selectors.access_ticket(agent, ours.pk) == ours
    with pytest.raises(Http404):
        selectors.access_ticket(agent, theirs.pk)
    with pytest.raises(Http404):
        selectors.access_ticket(other_agent, ours.pk)
    for bad in ["abc", None, 999999999]:
        with pytest.raises(Http404):
            selectors.access_ticket(agent, bad)


def test_attachment_access_follows_ticket_access(make_ticket, agent, other_agent, admin_user):
    upload = SimpleUploadedFile("receipt.png", b"\x89PNG....", content_type="image/png")
    ticket = make_ticket(attachments=[upload])
    attachment = Attachment.objects.get(message__ticket=ticket)
    assert selectors.access_attachment(agent, attachment.pk) == attachment
    assert selectors.access_attachment(admin_user, attachment.pk) == attachment
    with pytest.raises(Http404):
        selectors.access_attachment(other_agent, attachment.pk)


def test_queues_visible_to(queue, other_queue, agent, admin_user):
    assert list(selectors.queues_visible_to(agent)) == [queue]
    assert set(selectors.queues_visible_to(admin_user)) == {queue, other_queue}


def test_list_views(make_ticket, agent):
    mine = make_ticket(subject="Mine", assignee=agent)
    unassigned = make_ticket(subject="Unassigned")
    pending = make_ticket(subject="Pending")
    services.ticket_set_status(ticket=pending, status="pending", actor=agent)
    solved = make_ticket(subject="Solved")
    services.ticket_set_status(ticket=solved, status="solved", actor=agent)

    def view(name):
        return set(selectors.ticket_list(user=agent, view=name))

    assert view("mine") == {mine}
    assert view("unassigned") == {unassigned, pending}
    assert view("open") == {mine, unassigned, pending}
    assert view("pending") == {pending}
    assert view("solved") == {solved}


def test_list_sorts_by_priority(make_ticket, agent):
    low = make_ticket(priority="low")
    urgent = make_ticket(priority="urgent")
    normal = make_ticket()
    assert list(selectors.ticket_list(user=agent, sort="priority")) == [urgent, normal, low]


def test_list_hides_merged_tickets(make_ticket, agent):
    a, b = make_ticket(), make_ticket()
    services.ticket_merge(source=a, target=b, actor=agent)
    assert list(selectors.ticket_list(user=agent, view="all")) == [b]


def test_search_is_accent_insensitive_and_stemmed(make_ticket, agent):
    ticket = make_ticket(subject="Crème brûlée was cold", body="The cafés were closing")
    assert list(selectors.ticket_search(user=agent, query="creme brulee")) == [ticket]
    assert list(selectors.ticket_search(user=agent, query="CAFE")) == [ticket]
    assert list(selectors.ticket_search(user=agent, query="close")) == [ticket]
    assert list(selectors.ticket_search(user=agent, query="tiramisu")) == []


def test_search_ranks_subject_matches_first_and_covers_replies(make_ticket, agent):
    in_body = make_ticket(subject="Question", body="Can I get a refund for the mug?")
    in_subject = make_ticket(subject="Refund please", body="The mug broke")
    assert list(selectors.ticket_search(user=agent, query="refund")) == [in_subject, in_body]
    services.ticket_reply(ticket=in_body, author=agent, body="We will send a replacement saucer")
    assert list(selectors.ticket_search(user=agent, query="saucer")) == [in_body]


def test_search_respects_visibility(make_ticket, other_queue, agent, other_agent):
    make_ticket(subject="Broken grinder")
    assert selectors.ticket_search(user=other_agent, query="grinder").count() == 0
    assert selectors.ticket_search(user=agent, query="grinder").count() == 1


def test_search_with_operators_and_garbage_does_not_fail(make_ticket, agent):
    make_ticket(subject="Oat milk latte")
    assert selectors.ticket_search(user=agent, query='"oat milk" -soy').count() == 1
    assert selectors.ticket_search(user=agent, query="(((:*&|!").count() == 0


def test_ticket_messages_hides_internal_notes_when_asked(ticket, agent):
    services.ticket_add_note(ticket=ticket, author=agent, body="internal")
    services.ticket_reply(ticket=ticket, author=agent, body="public")
    public = [m.body_text for m in selectors.ticket_messages(ticket=ticket, include_internal=False)]
    assert public == ["Hello, my order has not arrived yet. Can you help?", "public"]
    assert len(selectors.ticket_messages(ticket=ticket)) == 3


def test_ticket_messages_query_count(ticket, agent, django_assert_num_queries):
    for n in range(5):
        services.ticket_reply(ticket=ticket, author=agent, body=f"reply {n}")
    with django_assert_num_queries(2):  # messages with authors, then attachments
        messages = list(selectors.ticket_messages(ticket=ticket))
        assert all(m.author_user or m.author_customer for m in messages)
        assert [list(m.attachments.all()) for m in messages]


def test_ticket_model_reference_uses_the_setting(ticket, settings):
    settings.TICKET_REFERENCE_PREFIX = "CAFE"
    assert Ticket.objects.get(pk=ticket.pk).reference == f"CAFE-{ticket.pk}"


def test_search_within_a_queue(make_ticket, other_queue, admin_user, queue):
    here = make_ticket(subject="Broken grinder")
    make_ticket(subject="Grinder invoice", queue=other_queue)
    assert list(selectors.ticket_search(user=admin_user, query="grinder", queue_id=queue.pk)) == [here]


def test_search_ranks_the_most_recent_matches(make_ticket, agent, monkeypatch):
    monkeypatch.setattr(selectors, "SEARCH_CANDIDATES", 2)
    old = make_ticket(subject="Refund refund refund")
    newer = make_ticket(subject="Question", body="refund?")
    newest = make_ticket(subject="Refund", body="for the mug")
    Ticket.objects.filter(pk=old.pk).update(updated_at=old.updated_at.replace(year=2020))
    assert list(selectors.ticket_search(user=agent, query="refund")) == [newest, newer]


def test_open_ticket_indexes_cover_exactly_the_open_statuses():
    from tickets.models import OPEN_TICKETS

    assert dict(OPEN_TICKETS.children)["status__in"] == list(Ticket.OPEN_STATUSES)


def test_queue_open_counts(make_ticket, agent, queue, other_queue, admin_user):
    make_ticket()
    make_ticket()
    solved = make_ticket()
    services.ticket_set_status(ticket=solved, status="solved", actor=agent)
    make_ticket(queue=other_queue)
    counts = {q.name: q.open_count for q in selectors.queues_with_open_counts(user=admin_user)}
    assert counts == {queue.name: 2, other_queue.name: 1}


def test_the_sidebar_counts_are_the_views_and_queues_the_user_sees(make_ticket, agent, queue, other_queue,
                                                                      admin_user):  # fmt: skip
    """``ticket_list_counts``: one query; the views count the open tickets the user may see (their team's
    queue, plus what is assigned to them elsewhere), the queues all open tickets of the queues they see."""
    mine = make_ticket(assignee=agent)
    make_ticket()  # unassigned, new
    pending = make_ticket()
    services.ticket_set_status(ticket=pending, status="pending", actor=agent)
    on_hold = make_ticket(assignee=agent)
    services.ticket_set_status(ticket=on_hold, status="on_hold", actor=agent)
    solved = make_ticket()
    services.ticket_set_status(ticket=solved, status="solved", actor=agent)
    moved = make_ticket(assignee=agent)  # then moved to another team's queue, still assigned: in the views
    Ticket.objects.filter(pk=moved.pk).update(queue=other_queue)
    make_ticket(queue=other_queue)  # another team's, unassigned: not theirs to see
    assert mine.status != "solved"
    views, queues = selectors.ticket_list_counts(user=agent)
    assert views == {"mine": 3, "unassigned": 2, "open": 5, "pending": 1, "on_hold": 1}
    assert {q.name: q.open_count for q in selectors.queues_with_open_counts(user=agent, counts=queues)} == {
        queue.name: 4
    }
    admin_views, admin_queues = selectors.ticket_list_counts(user=admin_user)
    assert admin_views == {"mine": 0, "unassigned": 3, "open": 6, "pending": 1, "on_hold": 1}
    assert admin_queues == {queue.pk: 4, other_queue.pk: 2}


# --- filters -------------------------------------------------------------------------------------


@pytest.fixture
def varied(make_ticket, agent, time_machine):
    """Four tickets that differ in every filtered field."""
    time_machine.move_to("2026-03-01 23:30:00Z", tick=False)  # 1 March in UTC, 2 March in Vienna
    email_low = make_ticket(subject="A", channel="email", priority="low")
    time_machine.move_to("2026-03-05 10:00:00Z", tick=False)
    portal_urgent = make_ticket(subject="B", channel="portal", priority="urgent", assignee=agent)
    services.ticket_tag(ticket=portal_urgent, actor=agent, add=["VIP"])
    time_machine.move_to("2026-03-09 10:00:00Z", tick=False)
    chat_pending = make_ticket(subject="C", channel="chat")
    services.ticket_set_status(ticket=chat_pending, status="pending", actor=agent)
    time_machine.move_to("2026-03-12 10:00:00Z", tick=False)
    return email_low, portal_urgent, chat_pending


def subjects(qs):
    return sorted(t.subject for t in qs)


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, ["A", "B", "C"]),
        ({"statuses": ("pending",)}, ["C"]),
        ({"statuses": ("new", "pending")}, ["A", "B", "C"]),
        ({"priorities": ("low", "urgent")}, ["A", "B"]),
        ({"channels": ("chat",)}, ["C"]),
        ({"assignee": "me"}, ["B"]),
        ({"assignee": "none"}, ["A", "C"]),
        ({"tag": "vip"}, ["B"]),
        ({"tag": "VIP "}, ["B"]),
        ({"created_from": date(2026, 3, 5)}, ["B", "C"]),
        ({"created_to": date(2026, 3, 5)}, ["A", "B"]),
        ({"created_from": date(2026, 3, 2), "created_to": date(2026, 3, 8)}, ["B"]),
        ({"channels": ("email", "portal"), "assignee": "none"}, ["A"]),
        ({"statuses": ("solved",)}, []),
    ],
)
def test_filters_combine_freely(varied, agent, filters, expected):
    result = selectors.ticket_list(user=agent, view="all", filters=selectors.TicketFilters(**filters))
    assert subjects(result) == expected


def test_filter_by_assignee_id(varied, agent):
    result = selectors.ticket_list(user=agent, view="all", filters=selectors.TicketFilters(assignee=str(agent.pk)))
    assert subjects(result) == ["B"]


def test_date_filters_use_the_viewers_time_zone(varied, agent):
    from django.utils import timezone

    only_first = selectors.TicketFilters(created_from=date(2026, 3, 1), created_to=date(2026, 3, 1))
    assert subjects(selectors.ticket_list(user=agent, view="all", filters=only_first)) == ["A"]
    with timezone.override("Europe/Vienna"):  # 23:30 UTC on 1 March is 00:30 on 2 March there
        assert subjects(selectors.ticket_list(user=agent, view="all", filters=only_first)) == []


def test_filters_apply_to_search_before_the_candidate_cut(varied, agent):
    filters = selectors.TicketFilters(channels=("portal",))
    assert [t.subject for t in selectors.ticket_search(user=agent, query="order", filters=filters)] == ["B"]


def test_filters_keep_the_list_to_one_query(varied, agent, django_assert_num_queries):
    filters = selectors.TicketFilters(statuses=("new",), tag="vip", assignee="me", created_from=date(2026, 3, 1))
    with django_assert_num_queries(1):
        rows = list(selectors.ticket_list(user=agent, view="all", filters=filters))
        assert [r.customer.email for r in rows]


def test_active_filter_count():
    assert selectors.TicketFilters().active == 0
    both_dates = selectors.TicketFilters(created_from=date(2026, 1, 1), created_to=date(2026, 2, 1))
    assert both_dates.active == 1
    assert selectors.TicketFilters(statuses=("new",), tag="vip", assignee="me").active == 3


# --- how search finds its candidates (see WALK_ROW_COST and SEARCH_WALK_MS) ------------------------


@pytest.fixture
def refunds(make_ticket, other_queue, agent):
    """Five matches the agent sees (one assigned to them in another team's queue) and one they do not."""
    mine = [make_ticket(subject=f"Refund {n}") for n in range(4)]
    elsewhere = make_ticket(subject="Refund elsewhere", queue=other_queue)
    Ticket.objects.filter(pk=elsewhere.pk).update(assignee=agent)
    make_ticket(subject="Refund hidden", queue=other_queue)
    return [elsewhere, *reversed(mine)]  # newest first


def test_few_matches_come_from_the_index_alone(refunds, agent, django_assert_num_queries, monkeypatch):
    monkeypatch.setattr(selectors, "WALK_ROW_COST", 10**9)  # the table's size is unknown until ANALYZE
    # queue ids and tickets assigned elsewhere, the planner's estimate, the table's size, savepoint,
    # settings, matches, rollback of the savepoint, results
    with django_assert_num_queries(8):
        found = list(selectors.ticket_search(user=agent, query="refund"))
    assert sorted(t.pk for t in found) == sorted(t.pk for t in refunds)


def test_many_matches_are_found_by_walking_newest_first(refunds, agent, monkeypatch):
    monkeypatch.setattr(selectors, "WALK_ROW_COST", 0)  # walking costs nothing: always walk
    monkeypatch.setattr(selectors, "SEARCH_CANDIDATES", 3)
    found = selectors.ticket_search(user=agent, query="refund")
    assert {t.pk for t in found} == {t.pk for t in refunds[:3]}


def test_a_walk_that_takes_too_long_falls_back_to_the_index(refunds, agent, monkeypatch):
    monkeypatch.setattr(selectors, "WALK_ROW_COST", 0)  # walking costs nothing: always walk
    monkeypatch.setattr(selectors, "SEARCH_CANDIDATES", 3)
    monkeypatch.setattr(selectors, "SEARCH_WALK_MS", 50)
    walk = selectors._newest_ids
    calls = []

    def slow_walk(newest_first):
        calls.append(1)
        if len(calls) == 1:  # the walk: Postgres cancels it at SEARCH_WALK_MS
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_sleep(2)")
        return walk(newest_first)

    monkeypatch.setattr(selectors, "_newest_ids", slow_walk)
    found = selectors.ticket_search(user=agent, query="refund")
    assert {t.pk for t in found} == {t.pk for t in refunds[:3]}
    assert len(calls) == 2
    with connection.cursor() as cursor:  # the settings went with the search's savepoint
        cursor.execute("SELECT current_setting('statement_timeout'), current_setting('enable_seqscan')")
        assert cursor.fetchone() == ("0", "on")


def test_the_walk_is_chosen_for_words_common_enough(monkeypatch):
    monkeypatch.setattr(selectors, "_ticket_count_estimate", lambda: 1_000_000)
    # 0.25 × 500 candidates × 1M tickets: the two ways cost the same at about 11,180 matches.
    assert not selectors._walk_is_cheaper(10_000)
    assert selectors._walk_is_cheaper(12_000)
    monkeypatch.setattr(selectors, "_ticket_count_estimate", lambda: 10_000)  # a small desk walks sooner
    assert selectors._walk_is_cheaper(1_200)
