"""The organizations API: every agent reads them; owners and admins add and change them (as in the admin,
where the screens edit them), through ``customers.organizations`` with an audit entry and ETags."""

import pytest
from django.urls import reverse

from customers.models import Organization
from helpdesk.audit import AuditEntry

LIST = reverse("api:organization-list")


def detail(organization_id) -> str:
    return reverse("api:organization-detail", args=[organization_id])


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


@pytest.fixture
def shop(db):
    return Organization.objects.create(name="Corner Shop", domains=["shop.example"], notes="Pays late.")


# --- read --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["agent", "other_agent", "admin_user"])
def test_every_agent_lists_the_organizations_by_name(api_as, shop, role):
    cafe = Organization.objects.create(name="Café Lumière", domains=["lumiere.example"], shared_tickets=True)
    response = api_as(role).get(LIST)
    assert ids(response) == [cafe.pk, shop.pk]
    row = response.json()["results"][1]
    assert {key: row[key] for key in ("id", "name", "domains", "notes", "shared_tickets")} == {
        "id": shop.pk, "name": "Corner Shop", "domains": ["shop.example"], "notes": "Pays late.",
        "shared_tickets": False}  # fmt: skip
    assert row["created_at"] and row["updated_at"]


def test_the_list_finds_by_name_or_domain(api_as, shop):
    Organization.objects.create(name="Café Lumière", domains=["lumiere.example"])
    client = api_as("agent")
    assert ids(client.get(LIST, {"q": "corner"})) == [shop.pk]
    assert ids(client.get(LIST, {"q": "@SHOP.example"})) == [shop.pk]
    assert ids(client.get(LIST, {"q": "example"})) == []  # a domain counts whole
    assert client.get(LIST, {"q": "x" * 201}).status_code == 400


def test_pages_follow_the_cursor(api_as, db):
    made = [Organization.objects.create(name=f"Org {n}").pk for n in range(5)]
    client, seen, url = api_as("agent"), [], LIST + "?page_size=2"
    while url:
        page = client.get(url).json()
        seen += [row["id"] for row in page["results"]]
        url = page["next"]
    assert seen == made


@pytest.mark.parametrize("count", [1, 20])
def test_the_list_takes_the_same_queries_for_1_or_20(client, agent, count, django_assert_num_queries):
    for n in range(count):
        Organization.objects.create(name=f"Org {n:02}", domains=[f"org{n}.example"])
    client.force_login(agent)
    with django_assert_num_queries(3):  # session, user, organizations
        assert len(client.get(LIST).json()["results"]) == count


def test_an_organization_comes_with_an_etag(api_as, shop):
    response = api_as("agent").get(detail(shop.pk))
    assert response.status_code == 200 and response.json()["name"] == "Corner Shop"
    stamp = int(shop.updated_at.timestamp()) * 10**6 + shop.updated_at.microsecond
    assert response["ETag"] == f'"{shop.pk}-{stamp}"'
    assert api_as("agent").get(detail(999_999)).status_code == 404


# --- write -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin_user", "owner"])
def test_an_admin_adds_an_organization_that_new_customers_join(api_as, role, request):
    response = api_as(role).post(LIST, {"name": " Café   Lumière ", "domains": ["@Lumiere.example", "lumiere.fr",
                                                                                  "lumiere.fr"],
                                        "shared_tickets": True}, format="json")  # fmt: skip
    assert response.status_code == 201, response.content
    organization = Organization.objects.get()
    assert (organization.name, organization.domains, organization.shared_tickets) == (
        "Café Lumière", ["lumiere.example", "lumiere.fr"], True)  # fmt: skip
    assert response["Location"] == f"http://testserver{detail(organization.pk)}" and response["ETag"]
    entry = AuditEntry.objects.get(action="organization.create")
    assert entry.actor == request.getfixturevalue(role) and entry.target == f"organization {organization.pk}"

    customer = api_as("agent").post(reverse("api:customer-list"), {"email": "marie@lumiere.fr"}, format="json")
    assert customer.json()["organization"] == {"id": organization.pk, "name": "Café Lumière"}


def test_agents_and_read_only_tokens_may_not_write(api_as, shop):
    for client in (api_as("agent"), api_as("admin_user", scope="read")):
        assert client.post(LIST, {"name": "New"}, format="json").status_code == 403
        assert client.patch(detail(shop.pk), {"name": "Renamed"}, format="json").status_code == 403
    response = api_as("agent").post(LIST, {"name": "New"}, format="json")
    assert response.json()["error"] == {"code": "permission_denied", "message": "Only owners and admins can do this.",
                                        "fields": {}}  # fmt: skip
    assert api_as("anonymous").post(LIST, {"name": "New"}, format="json").status_code == 401
    assert list(Organization.objects.values_list("name", flat=True)) == ["Corner Shop"]
    assert not AuditEntry.objects.filter(action__startswith="organization.").exists()


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"name": "Corner Shop"}, "name", "Organization with this Name already exists."),
    ({"name": ""}, "name", "This field may not be blank."),
    ({}, "name", "This field is required."),
    ({"name": "x" * 201}, "name", "Ensure this field has no more than 200 characters."),
    ({"name": "New", "domains": ["not a domain"]}, "domains", "“not a domain” is not an email domain (like "
                                                              "example.com)."),
    ({"name": "New", "domains": "shop.example"}, "domains", 'Expected a list of items but got type "str".'),
    ({"name": "New", "shared_tickets": "sometimes"}, "shared_tickets", "Must be a valid boolean."),
])  # fmt: skip
def test_create_refuses_bad_input_with_the_reason(api_as, shop, data, field, message):
    response = api_as("admin_user").post(LIST, data, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {field: [message]}
    assert Organization.objects.count() == 1


def test_the_same_idempotency_key_twice_makes_one_organization(api_as, db):
    client = api_as("admin_user")
    first = client.post(LIST, {"name": "Once"}, format="json", HTTP_IDEMPOTENCY_KEY="org-1")
    again = client.post(LIST, {"name": "Once"}, format="json", HTTP_IDEMPOTENCY_KEY="org-1")
    assert first.status_code == again.status_code == 201 and again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true" and Organization.objects.count() == 1


def test_an_admin_changes_an_organization_with_if_match(api_as, shop, admin_user):
    client = api_as("admin_user")
    etag = client.get(detail(shop.pk))["ETag"]
    response = client.patch(detail(shop.pk), {"domains": ["SHOP.example", "shop.co.uk"], "shared_tickets": True},
                            format="json", HTTP_IF_MATCH=etag)  # fmt: skip
    assert response.status_code == 200, response.content
    shop.refresh_from_db()
    assert (shop.name, shop.domains, shop.shared_tickets, shop.notes) == (
        "Corner Shop", ["shop.co.uk", "shop.example"], True, "Pays late.")  # fmt: skip
    assert response["ETag"] != etag
    entry = AuditEntry.objects.get(action="organization.update")
    assert entry.actor == admin_user and entry.details == {
        "domains": [["shop.example"], ["shop.co.uk", "shop.example"]], "shared_tickets": [False, True]}  # fmt: skip

    stale = client.patch(detail(shop.pk), {"name": "Too late"}, format="json", HTTP_IF_MATCH=etag)
    assert stale.status_code == 412 and stale.json()["error"]["code"] == "precondition_failed"
    shop.refresh_from_db()
    assert shop.name == "Corner Shop"


def test_a_change_to_nothing_new_keeps_the_etag_and_writes_no_audit_entry(api_as, shop):
    client = api_as("admin_user")
    etag = client.get(detail(shop.pk))["ETag"]
    response = client.patch(detail(shop.pk), {"name": "Corner Shop", "domains": ["Shop.Example"]}, format="json")
    assert response.status_code == 200 and response["ETag"] == etag
    assert not AuditEntry.objects.filter(action__startswith="organization.").exists()


def test_renaming_to_a_taken_name_is_a_400(api_as, shop):
    other = Organization.objects.create(name="Café Lumière")
    response = api_as("admin_user").patch(detail(other.pk), {"name": "Corner Shop"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"name": ["Organization with this Name already exists."]}
    other.refresh_from_db()
    assert other.name == "Café Lumière"


def test_put_and_delete_are_not_offered(api_as, shop):
    assert api_as("admin_user").put(detail(shop.pk), {"name": "X"}, format="json").status_code == 405
    assert api_as("admin_user").delete(detail(shop.pk)).status_code == 405
