import pytest
from django.http import Http404

from helpdesk.errors import ValidationError
from tickets import saved_views

from .factories import UserFactory


def test_create_keeps_only_list_parameters(agent):
    view = saved_views.saved_view_create(
        user=agent, name="  My   urgent  ", query="view=all&priority=urgent&priority=high&page=3&evil=1&tag="
    )
    assert view.name == "My urgent"
    assert view.query == "view=all&priority=urgent&priority=high"
    assert view.get_absolute_url() == "/tickets/?view=all&priority=urgent&priority=high"


def test_names_are_unique_per_agent(agent, team):
    saved_views.saved_view_create(user=agent, name="VIP", query="tag=vip")
    with pytest.raises(ValidationError, match="already have a view"):
        saved_views.saved_view_create(user=agent, name="VIP", query="tag=vip")
    other = UserFactory(teams=[team])
    saved_views.saved_view_create(user=other, name="VIP", query="tag=vip")  # another agent may


def test_a_name_is_required(agent):
    with pytest.raises(ValidationError, match="name"):
        saved_views.saved_view_create(user=agent, name="  ", query="")


def test_pinned_views_are_the_agents_own(agent, other_agent):
    mine = saved_views.saved_view_create(user=agent, name="B", query="")
    first = saved_views.saved_view_create(user=agent, name="A", query="")
    saved_views.saved_view_create(user=agent, name="C", query="", pinned=False)
    saved_views.saved_view_create(user=other_agent, name="D", query="")
    assert saved_views.saved_views_pinned(user=agent) == [first, mine]


def test_only_the_owner_can_delete(agent, other_agent):
    view = saved_views.saved_view_create(user=agent, name="A", query="")
    with pytest.raises(Http404):
        saved_views.saved_view_delete(user=other_agent, view_id=view.pk)
    saved_views.saved_view_delete(user=agent, view_id=view.pk)
    assert saved_views.saved_views_pinned(user=agent) == []


# --- on the list screen ----------------------------------------------------------------------------

from django.urls import reverse  # noqa: E402

LIST_URL = reverse("tickets:list")


def test_save_the_current_filters_and_find_them_in_the_sidebar(client, agent, ticket):
    client.force_login(agent)
    response = client.post(reverse("tickets:saved_view_create"),
                           {"name": "Urgent email", "query": "view=all&channel=email&priority=urgent&page=2"})  # fmt: skip
    assert response.status_code == 302
    assert response["Location"] == f"{LIST_URL}?view=all&priority=urgent&channel=email"
    html = client.get(response["Location"]).content.decode()
    assert "My views" in html
    saved_nav = html.split('id="saved-heading"')[1].split("</nav>")[0]
    assert "Urgent email" in saved_nav and 'aria-current="page"' in saved_nav  # it is the current view


def test_saving_twice_under_one_name_shows_an_error_and_keeps_the_filters(client, agent):
    client.force_login(agent)
    saved_views.saved_view_create(user=agent, name="Mine", query="view=mine")
    response = client.post(reverse("tickets:saved_view_create"), {"name": "Mine", "query": "view=pending"}, follow=True)
    assert "You already have a view called" in response.content.decode()
    assert response.redirect_chain[-1][0] == f"{LIST_URL}?view=pending"


def test_remove_a_view(client, agent):
    view = saved_views.saved_view_create(user=agent, name="Mine", query="view=mine")
    client.force_login(agent)
    assert client.post(reverse("tickets:saved_view_delete", args=[view.pk])).status_code == 302
    assert saved_views.saved_views_pinned(user=agent) == []


def test_someone_elses_view_cannot_be_removed(client, agent, other_agent):
    view = saved_views.saved_view_create(user=agent, name="Mine", query="view=mine")
    client.force_login(other_agent)
    assert client.post(reverse("tickets:saved_view_delete", args=[view.pk])).status_code == 404
    assert saved_views.saved_views_pinned(user=agent) == [view]


@pytest.mark.parametrize("url", [reverse("tickets:saved_view_create"), reverse("tickets:saved_view_delete", args=[1])])
def test_anonymous_is_sent_to_sign_in_and_get_is_refused(client, agent, url):
    assert client.post(url)["Location"].startswith(reverse("login"))
    client.force_login(agent)
    assert client.get(url).status_code == 405
