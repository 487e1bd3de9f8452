import pytest
from django.urls import reverse

URL = reverse("account")


def test_agent_sets_time_zone_language_and_notifications(client, agent):
    client.force_login(agent)
    assert client.get(URL).status_code == 200
    response = client.post(URL, {"full_name": "Jo Baker", "time_zone": "Europe/Vienna", "language": "de",
                                 "notify_on_assign": "on"})  # fmt: skip
    assert response.status_code == 302
    agent.refresh_from_db()
    assert (agent.full_name, agent.time_zone, agent.language) == ("Jo Baker", "Europe/Vienna", "de")
    assert agent.notify_on_assign is True and agent.notify_on_mention is False


def test_bad_time_zone_is_refused_with_the_form_kept(client, agent):
    client.force_login(agent)
    response = client.post(URL, {"full_name": "Jo Baker", "time_zone": "Mars/Olympus", "language": ""})
    assert response.status_code == 400
    assert "Jo Baker" in response.content.decode()
    agent.refresh_from_db()
    assert agent.time_zone == "UTC"


def test_agents_cannot_change_their_role_here(client, agent):
    client.force_login(agent)
    client.post(URL, {"full_name": "x", "time_zone": "UTC", "language": "", "role": "owner"})
    agent.refresh_from_db()
    assert agent.role == "agent"


@pytest.mark.parametrize("method", ["get", "post"])
def test_anonymous_is_sent_to_sign_in(client, db, method):
    assert getattr(client, method)(URL)["Location"].startswith(reverse("login"))
