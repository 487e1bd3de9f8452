"""The in-app notifications list (the bell): written with the change, counted unread, read on opening."""

import pytest
from django.urls import reverse

from tickets import notifications, services
from tickets.models import Notification

from .factories import UserFactory


@pytest.fixture
def mate(team):
    return UserFactory(email="sam@staff.example", full_name="Sam Lee", teams=[team])


def test_each_event_is_recorded_for_the_agent_it_concerns(ticket, agent, mate, customer):
    services.ticket_assign(ticket=ticket, assignee=mate, actor=agent)
    services.ticket_add_note(ticket=ticket, author=agent, body="@sam please look at the refund")
    services.ticket_add_customer_message(ticket=ticket, customer=customer, body="Any news?", channel="email")

    kinds = list(Notification.objects.filter(recipient=mate).order_by("id").values_list("kind", "actor"))
    assert kinds == [("assigned", agent.pk), ("mentioned", agent.pk), ("customer_replied", None)]
    assert notifications.notification_unread_count(mate) == 3
    assert not Notification.objects.filter(recipient=agent).exists()


def test_no_notification_for_what_you_did_yourself(ticket, agent):
    services.ticket_assign(ticket=ticket, assignee=agent, actor=agent)
    services.ticket_add_note(ticket=ticket, author=agent, body="@agent reminder to self")
    assert not Notification.objects.exists()


def test_a_ticket_opened_for_someone_else_notifies_them(agent, mate, customer, queue):
    ticket = services.ticket_create(customer=customer, subject="Call back", body="Phoned.", channel="phone",
                                    queue=queue, created_by=agent, assignee=mate)  # fmt: skip
    assert Notification.objects.get(recipient=mate).ticket == ticket


def test_opening_the_ticket_reads_its_notifications(client, ticket, make_ticket, agent, mate):
    other = make_ticket(subject="Another one")
    services.ticket_assign(ticket=ticket, assignee=mate, actor=agent)
    services.ticket_assign(ticket=other, assignee=mate, actor=agent)
    client.force_login(mate)

    client.get(reverse("tickets:detail", args=[ticket.pk]))

    assert notifications.notification_unread_count(mate) == 1
    assert Notification.objects.get(ticket=other).read_at is None


def test_list_page_shows_unread_first_class_and_marks_all_read(client, ticket, agent, mate):
    services.ticket_assign(ticket=ticket, assignee=mate, actor=agent)
    client.force_login(mate)

    page = client.get(reverse("tickets:notifications")).content.decode()
    assert "notification--unread" in page and f"{agent.get_short_name()} assigned you" in page
    assert ticket.subject in page and "Mark all as read" in page

    response = client.post(reverse("tickets:notifications_read"), follow=True)
    assert "1 notification marked as read." in response.content.decode()
    assert notifications.notification_unread_count(mate) == 0


def test_empty_list_explains_what_will_appear(client, agent):
    client.force_login(agent)
    page = client.get(reverse("tickets:notifications")).content.decode()
    assert "Nothing yet" in page and "Mark all as read" not in page


def test_badge_shows_the_unread_count(client, ticket, agent, mate):
    client.force_login(mate)
    assert "bell__count" not in client.get(reverse("tickets:notifications_badge")).content.decode()
    services.ticket_assign(ticket=ticket, assignee=mate, actor=agent)
    badge = client.get(reverse("tickets:notifications_badge")).content.decode()
    assert '<span class="bell__count">1</span>' in badge and "1 unread notification" in badge


def test_following_a_notification_reads_it_and_lands_on_the_message(client, ticket, agent, mate):
    note = services.ticket_add_note(ticket=ticket, author=agent, body="@sam see this")
    notification = Notification.objects.get(recipient=mate)
    client.force_login(mate)

    response = client.get(reverse("tickets:notification", args=[notification.pk]))

    assert response["Location"] == f"{ticket.get_absolute_url()}#message-{note.pk}"
    notification.refresh_from_db()
    assert notification.read_at is not None


def test_a_ticket_moved_out_of_sight_drops_out_of_the_list(ticket, agent, mate, other_queue, admin_user):
    services.ticket_add_note(ticket=ticket, author=agent, body="@sam fyi")
    services.ticket_set_queue(ticket=ticket, queue=other_queue, actor=admin_user)  # another team's queue
    assert notifications.notification_unread_count(mate) == 0
    assert list(notifications.notifications_for(mate)) == []


@pytest.mark.parametrize("role", ["anonymous", "other_agent", "mate_of_recipient"])
def test_someone_elses_notification_is_not_there(client, ticket, agent, mate, other_agent, team, role):
    services.ticket_assign(ticket=ticket, assignee=mate, actor=agent)
    notification = Notification.objects.get()
    url = reverse("tickets:notification", args=[notification.pk])
    if role == "other_agent":
        client.force_login(other_agent)
    elif role == "mate_of_recipient":
        client.force_login(agent)  # same team, sees the ticket, but it is not their notification

    response = client.get(url)

    if role == "anonymous":
        assert response["Location"] == f"{reverse('login')}?next={url}"
    else:
        assert response.status_code == 404
    notification.refresh_from_db()
    assert notification.read_at is None


@pytest.mark.parametrize("name", ["tickets:notifications", "tickets:notifications_badge"])
def test_list_and_badge_need_sign_in(client, name):
    url = reverse(name)
    assert client.get(url)["Location"] == f"{reverse('login')}?next={url}"


def test_mark_all_read_is_post_only_and_touches_only_your_own(client, ticket, agent, mate, other_agent):
    services.ticket_assign(ticket=ticket, assignee=mate, actor=agent)
    client.force_login(other_agent)
    assert client.get(reverse("tickets:notifications_read")).status_code == 405
    client.post(reverse("tickets:notifications_read"))
    assert notifications.notification_unread_count(mate) == 1


def test_list_page_query_count_does_not_grow_with_rows(client, make_ticket, agent, mate, django_assert_num_queries):
    for n in range(12):
        services.ticket_assign(ticket=make_ticket(subject=f"T{n}"), assignee=mate, actor=agent)
    client.force_login(mate)
    with django_assert_num_queries(5):  # session, user, count for the pager, the page, unread count
        assert client.get(reverse("tickets:notifications")).status_code == 200
