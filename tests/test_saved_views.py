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
