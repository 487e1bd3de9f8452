"""The email channel in the admin: failed messages are visible with their error, download as .eml, and
can be processed again; only staff get there."""

import pytest
from django.urls import reverse

from tickets.mail.inbound import inbound_store
from tickets.mail.models import InboundEmail, Mailbox

from .mail_factory import raw_email


@pytest.fixture
def failed(queue):
    Mailbox.objects.create(name="Shop", email_address="support@shop.example", queue=queue)
    row, _ = inbound_store(raw=raw_email(subject="Broken one"), source="pipe")
    InboundEmail.objects.filter(pk=row.pk).update(status="failed", error="RuntimeError: the parser fell over")
    return row


@pytest.fixture
def staff_client(client, owner):
    client.force_login(owner)  # owners are superusers; admins get the admin by their permissions
    return client


def test_failed_messages_are_listed_with_their_error(staff_client, failed):
    listing = staff_client.get(reverse("admin:tickets_inboundemail_changelist") + "?status__exact=failed")
    assert listing.status_code == 200 and "Broken one" in listing.content.decode()
    page = staff_client.get(reverse("admin:tickets_inboundemail_change", args=[failed.pk])).content.decode()
    assert "RuntimeError: the parser fell over" in page and "Download .eml" in page


def test_the_raw_message_downloads(staff_client, failed):
    response = staff_client.get(reverse("admin:tickets_inboundemail_raw", args=[failed.pk]))
    assert response.content == bytes(failed.raw)
    assert response["Content-Disposition"] == f'attachment; filename="inbound-{failed.pk}.eml"'


def test_process_again_makes_the_ticket(staff_client, failed):
    response = staff_client.post(reverse("admin:tickets_inboundemail_changelist"),
                                 {"action": "process_again", "_selected_action": [failed.pk]}, follow=True)  # fmt: skip
    assert "1 message processed." in response.content.decode()
    failed.refresh_from_db()
    assert (failed.status, failed.outcome) == ("done", "new_ticket") and failed.ticket.subject == "Broken one"


@pytest.mark.parametrize("who", ["anonymous", "agent"])
def test_only_staff_see_inbound_mail(client, agent, failed, who):
    if who == "agent":
        client.force_login(agent)
    for url in (reverse("admin:tickets_inboundemail_changelist"),
                reverse("admin:tickets_inboundemail_raw", args=[failed.pk])):  # fmt: skip
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
