"""CSV import (preview, per-row errors, all or nothing) and export of customers: ``customers.csv_io`` and
its two screens."""

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from customers import csv_io
from customers.csv_io import CsvImportError, customers_export_csv, customers_import, customers_import_preview
from customers.models import Customer, CustomerEmail, CustomerEvent, CustomField, Organization
from helpdesk.audit import AuditEntry

from .factories import CustomerFactory

HEADER = "email,name,phone,organization,language,time_zone,tags,other_emails,field:plan,field:birthday,field:orders"


@pytest.fixture
def fields(db):
    return [
        CustomField.objects.create(name="Plan", key="plan", kind=CustomField.Kind.CHOICE, choices=["Basic", "Pro"]),
        CustomField.objects.create(name="Birthday", key="birthday", kind=CustomField.Kind.DATE, position=1),
        CustomField.objects.create(name="Orders", key="orders", kind=CustomField.Kind.NUMBER, position=2),
    ]


@pytest.fixture
def acme(db):
    return Organization.objects.create(name="Acme", domains=["acme.example"])


def csv_text(*lines: str, header: str = HEADER) -> str:
    return "\n".join([header, *lines]) + "\n"


def export(actor, customers=None) -> bytes:
    return b"".join(
        customers_export_csv(customers=Customer.objects.order_by("pk") if customers is None else customers, actor=actor)
    )


def snapshot():
    """Everything the import may change, to compare before and after."""
    return [
        (c.email, c.name, c.phone, c.organization_id, c.language, c.time_zone, c.tags, c.custom_fields,
         sorted(e.email for e in c.other_emails.all()), c.updated_at)
        for c in Customer.objects.order_by("pk").prefetch_related("other_emails")
    ]  # fmt: skip


def errors_of(preview) -> dict[int, list[tuple[str, str]]]:
    return {row.line: [(e.column, e.message) for e in row.errors] for row in preview.rows if row.errors}


# --- round trip --------------------------------------------------------------------------------------


def test_export_then_import_changes_nothing(admin_user, fields, acme, customer, other_customer):
    customer.phone, customer.organization, customer.language, customer.time_zone = (
        "+49 30 1234",
        acme,
        "de",
        "Europe/Berlin",
    )
    customer.tags = ["vip", "wholesale"]
    customer.custom_fields = {"plan": "Pro", "birthday": "1990-02-28", "orders": 12, "retired_field": "kept"}
    customer.name = '=HYPERLINK("http://evil.example")'
    customer.save()
    CustomerEmail.objects.create(customer=customer, email="ann@work.example")
    CustomerEmail.objects.create(customer=customer, email="ann.smith@home.example")
    other_customer.custom_fields = {"orders": -2.5}
    other_customer.save()
    before, events = snapshot(), CustomerEvent.objects.count()

    result = customers_import(file_bytes=export(admin_user), actor=admin_user)

    assert (result.rows, result.created, result.updated, result.unchanged) == (2, 0, 0, 2)
    assert snapshot() == before
    assert CustomerEvent.objects.count() == events


def test_export_columns_and_excel_details(admin_user, fields, customer):
    CustomerEmail.objects.create(customer=customer, email="ann@work.example")
    customer.tags, customer.custom_fields = ["a", "b"], {"orders": 3}
    customer.save()

    data = export(admin_user)

    assert data.startswith(b"\xef\xbb\xbf")  # UTF-8 byte order mark: Excel reads it as UTF-8
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == HEADER.split(",")
    assert rows[1] == ["ann@customer.example", "Ann Smith", "", "", "", "", "a; b", "ann@work.example", "", "", "3"]
    entry = AuditEntry.objects.get(action="customers.export")
    assert entry.actor == admin_user and entry.details == {"count": 1}


@pytest.mark.parametrize(
    ("stored", "written"),
    [
        ("=1+2", "'=1+2"),
        ("+49 30 1234", "'+49 30 1234"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("'=already quoted", "''=already quoted"),
        ("'tis fine", "'tis fine"),
        ("plain", "plain"),
    ],
)
def test_formula_injection_is_escaped_on_export_and_unescaped_on_import(admin_user, customer, stored, written):
    customer.name = stored
    customer.save()

    data = export(admin_user)

    assert list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))[1][1] == written
    assert customers_import_preview(file_bytes=data).rows[0].action == csv_io.Action.UNCHANGED


def test_import_strips_the_apostrophe_before_a_formula_only(db, admin_user):
    customers_import(text=csv_text("'=cmd@x.example,'=1+2,'+1 555", header="email,name,phone"), actor=admin_user)
    assert customers_import_preview(text="email,name\nx@y.example,'=x\n").rows[0].values["name"] == "=x"
    created = Customer.objects.get()
    assert (created.email, created.name, created.phone) == ("=cmd@x.example", "=1+2", "+1 555")


# --- create and update ------------------------------------------------------------------------------


def test_import_creates_and_updates(admin_user, fields, acme, customer, other_customer):
    CustomerEmail.objects.create(customer=other_customer, email="bob@old.example")
    text = csv_text(
        "new@acme.example,New Person,+1 555,,en,America/New_York,\"VIP; vip, b\",x@new.example;y@new.example,basic,2001-12-31,7",
        "ANN@customer.example,Ann Smith-Jones,,acme,DE,europe/berlin,,,Pro,,1.5",
        "bob@old.example,Robert Jones,,,,,,,,,",  # matched by another address
    )  # fmt: skip

    preview = customers_import_preview(text=text)

    assert preview.is_valid, errors_of(preview)
    assert [(r.line, r.action) for r in preview.rows] == [(2, "create"), (3, "update"), (4, "update")]
    assert preview.rows[1].changes == ["name", "organization", "language", "time_zone", "field:plan", "field:orders"]
    assert preview.rows[2].changes == ["name"]

    result = customers_import(preview=preview, actor=admin_user)

    assert (result.created, result.updated, result.unchanged) == (1, 2, 0)
    new = Customer.objects.get(email="new@acme.example")
    assert (new.name, new.phone, new.organization, new.language, new.time_zone) == (
        "New Person",
        "+1 555",
        acme,
        "en",
        "America/New_York",
    )  # fmt: skip  (joined Acme by domain)
    assert new.tags == ["b", "vip"]
    assert new.custom_fields == {"plan": "Basic", "birthday": "2001-12-31", "orders": 7}
    assert sorted(new.other_emails.values_list("email", flat=True)) == ["x@new.example", "y@new.example"]
    customer.refresh_from_db()
    assert (customer.email, customer.name, customer.organization, customer.language, customer.time_zone) == (
        "ann@customer.example", "Ann Smith-Jones", acme, "de", "Europe/Berlin")  # fmt: skip
    assert customer.custom_fields == {"plan": "Pro", "orders": 1.5}
    other_customer.refresh_from_db()
    assert other_customer.email == "bob@customer.example"  # the primary address stays
    assert list(other_customer.other_emails.values_list("email", flat=True)) == ["bob@old.example"]

    events = CustomerEvent.objects.filter(kind=CustomerEvent.Kind.IMPORTED)
    assert sorted(e.customer_id for e in events) == sorted([new.pk, customer.pk, other_customer.pk])
    ann = events.get(customer=customer)
    assert ann.actor == admin_user and "name: Ann Smith\n" in ann.old_value and "name: Ann Smith-Jones" in ann.new_value
    entry = AuditEntry.objects.get(action="customers.import")
    assert entry.actor == admin_user
    assert entry.details == {"rows": 3, "created": 1, "updated": 2, "unchanged": 0}


def test_missing_columns_are_left_alone_and_empty_cells_clear(admin_user, fields, customer):
    customer.phone, customer.tags, customer.custom_fields = "123", ["vip"], {"plan": "Pro", "orders": 2}
    customer.save()

    customers_import(text=csv_text("ann@customer.example,,", header="email,phone,field:plan"), actor=admin_user)

    customer.refresh_from_db()
    assert (customer.name, customer.phone, customer.tags) == ("Ann Smith", "", ["vip"])
    assert customer.custom_fields == {"orders": 2}


def test_other_emails_become_exactly_the_listed_ones(admin_user, customer):
    CustomerEmail.objects.create(customer=customer, email="old@customer.example")
    CustomerEmail.objects.create(customer=customer, email="Kept@customer.example")

    customers_import(text=csv_text("ann@customer.example,kept@customer.example; new@customer.example",
                                   header="email,other_emails"), actor=admin_user)  # fmt: skip

    assert sorted(customer.other_emails.values_list("email", flat=True)) == [
        "Kept@customer.example",
        "new@customer.example",
    ]


# --- errors -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "column", "message"),
    [
        ("not-an-email,Someone,,,,,,,,,", "email", "is not a valid email address"),
        (",Someone,,,,,,,,,", "email", "An email address is required"),
        ("ok@x.example,,,,,,,not-an-email,,,", "other_emails", "is not a valid email address"),
        ("ok@x.example,,,,xx,,,,,,", "language", "is not a language"),
        ("ok@x.example,,,,,Mars/Olympus,,,,,", "time_zone", "is not a time zone"),
        ("ok@x.example,,,,,,,,,31.12.2001,", "field:birthday", "is not a date written YYYY-MM-DD"),
        ("ok@x.example,,,,,,,,,2001-02-30,", "field:birthday", "is not a date written YYYY-MM-DD"),
        ("ok@x.example,,,,,,,,Gold,,", "field:plan", "is not one of the choices: Basic, Pro"),
        ("ok@x.example,,,,,,,,,,twelve", "field:orders", "is not a number"),
        ("ok@x.example,,,Nobody Inc,,,,,,,", "organization", "There is no organization named “Nobody Inc”"),
        ("ok@x.example,,,,,,,bob@customer.example,,,", "other_emails", "belongs to another customer"),
        ("ok@x.example,,,,,,,ok@x.example,,,", "other_emails", "is the primary address of this row"),
        ("ok@x.example,,,,,," + "t" * 51 + ",,,,", "tags", "at most 50 characters"),
        ("ok@x.example,,,,,,," + "," * 3 + ",extra", "", "a column without a name"),
        ("ok@x.example," + "n" * 201 + ",,,,,,,,,", "name", "At most 200 characters"),
    ],
)
def test_a_row_error_names_its_column(db, fields, other_customer, line, column, message):
    preview = customers_import_preview(text=csv_text(line))

    assert not preview.is_valid and not preview.errors
    [(found_column, found_message)] = errors_of(preview)[2]
    assert found_column == column and message in found_message


def test_duplicates_in_the_file(db, customer):
    CustomerEmail.objects.create(customer=customer, email="ann@work.example")
    preview = customers_import_preview(text=csv_text(
        "one@x.example,", "ONE@x.example,", "two@x.example,one@x.example",
        "ann@customer.example,", "ann@work.example,", header="email,other_emails"))  # fmt: skip

    assert errors_of(preview) == {
        3: [("email", "ONE@x.example is also on line 2.")],
        4: [("other_emails", "one@x.example is also on line 2.")],
        6: [("email", "ann@work.example is the same customer as line 5.")],
    }


def test_unknown_columns_are_named(db, fields):
    preview = customers_import_preview(text="email,nickname,plan,Email Address\nx@y.example,x,Pro,\n")

    assert not preview.is_valid and not preview.rows
    [error] = preview.errors
    assert "“nickname”, “plan”, “email address”" in error
    assert "“field:plan”" in error  # the hint for a custom field without its prefix


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty."),
        (b"email\n", "no customers"),
        (b"name\nAnn\n", "no “email” column"),
        (b"email,name,Name\nx@y.example,a,b\n", "appears more than once"),
        ("email,name\nx@y.example,Jürgen\n".encode("latin-1"), "not UTF-8"),
        ("email,name\nx@y.example,Jürgen\n".encode("utf-16"), "not UTF-8"),
    ],
)
def test_file_errors(db, data, message):
    preview = customers_import_preview(file_bytes=data)
    assert not preview.is_valid and message in " ".join(preview.errors)


def test_limits_on_rows_and_size(db, monkeypatch):
    monkeypatch.setattr(csv_io, "MAX_ROWS", 3)
    lines = [f"p{n}@x.example" for n in range(4)]
    assert customers_import_preview(text=csv_text(*lines[:3], header="email")).is_valid
    assert "more than 3 rows" in customers_import_preview(text=csv_text(*lines, header="email")).errors[0]

    monkeypatch.setattr(csv_io, "MAX_BYTES", 20)
    assert "larger than" in customers_import_preview(file_bytes=csv_text(*lines[:3], header="email").encode()).errors[0]


def test_one_bad_row_imports_nothing(admin_user, fields, customer):
    before = snapshot()
    text = csv_text("good@x.example,Good", "ann@customer.example,Ann Changed", "bad@x.example,Bad,,,,,,,Gold,,")

    with pytest.raises(CsvImportError) as raised:
        customers_import(text=text, actor=admin_user)

    assert errors_of(raised.value.preview) == {4: [("field:plan", "“Gold” is not one of the choices: Basic, Pro.")]}
    assert snapshot() == before
    assert not CustomerEvent.objects.exists() and not AuditEntry.objects.filter(action="customers.import").exists()


def test_a_stale_preview_is_checked_again(admin_user, customer, other_customer):
    preview = customers_import_preview(
        text=csv_text("ann@customer.example,extra@x.example", header="email,other_emails")
    )
    assert preview.is_valid
    CustomerEmail.objects.create(customer=other_customer, email="extra@x.example")  # meanwhile

    with pytest.raises(CsvImportError) as raised:
        customers_import(preview=preview, actor=admin_user)

    assert "belongs to another customer" in errors_of(raised.value.preview)[2][0][1]
    assert not customer.other_emails.exists()


# --- Excel's dialects -------------------------------------------------------------------------------


def test_semicolon_separated_file_with_bom_as_european_excel_writes_it(admin_user, fields, customer):
    text = "\ufeffEmail;Name;Tags;field:orders\r\nann@customer.example;Smith, Ann;vip,new;2,5\r\nz@x.example;Zoë;;\r\n"

    preview = customers_import_preview(file_bytes=text.encode("utf-8"))

    assert preview.is_valid, (preview.errors, errors_of(preview))
    assert preview.delimiter == ";"
    customers_import(preview=preview, actor=admin_user)
    customer.refresh_from_db()
    assert (customer.name, customer.tags, customer.custom_fields) == ("Smith, Ann", ["new", "vip"], {"orders": 2.5})
    assert Customer.objects.get(email="z@x.example").name == "Zoë"


def test_comma_separated_file_with_bom_and_excels_sep_line(admin_user):
    assert customers_import_preview(file_bytes="\ufeffemail,name\nx@y.example,X\n".encode()).is_valid
    preview = customers_import_preview(file_bytes=b"sep=;\nemail;name\nx@y.example;Y, X\n")
    assert preview.is_valid and preview.rows[0].line == 3 and preview.rows[0].values["name"] == "Y, X"


def test_line_numbers_count_quoted_line_breaks_and_skip_blank_lines(db):
    preview = customers_import_preview(text='email,name\n"a@x.example","two\nlines"\n\nbad,\n')
    assert errors_of(preview) == {5: [("email", "“bad” is not a valid email address.")]}


# --- queries ----------------------------------------------------------------------------------------


def _import_queries(admin_user, rows: int) -> int:
    existing = CustomerFactory.create_batch(rows)
    for customer in existing:
        CustomerEmail.objects.create(customer=customer, email=f"other-{customer.email}")
    Organization.objects.create(name=f"Org {rows}", domains=[f"d{rows}.example"])
    lines = [f"{c.email},Renamed,Org {rows},vip,x-{c.email}" for c in existing]
    lines += [f"new{n}@d{rows}.example,New,,,n{n}-{rows}@x.example" for n in range(rows)]
    text = csv_text(*lines, header="email,name,organization,tags,other_emails")
    with CaptureQueriesContext(connection) as queries:
        result = customers_import(text=text, actor=admin_user)
    assert (result.created, result.updated) == (rows, rows)
    return len(queries)


def test_import_queries_do_not_grow_with_rows(admin_user, fields):
    # Custom fields, other addresses, customers (+ their other addresses), organizations by name and by
    # domain; then the inserts, updates, the removed and added addresses, the events and the audit entry;
    # and the savepoint around it all.
    assert _import_queries(admin_user, 3) == _import_queries(admin_user, 40) == 14


def test_export_queries_do_not_grow_with_rows(admin_user, fields, django_assert_num_queries):
    for customer in CustomerFactory.create_batch(30):
        CustomerEmail.objects.create(customer=customer, email=f"other-{customer.email}")
    # Custom fields, the audit entry, the count; then the customers with their organizations, their
    # other addresses (a chunked server-side cursor).
    with django_assert_num_queries(5):
        assert export(admin_user).count(b"\r\n") == 31


# --- screens ----------------------------------------------------------------------------------------

ROUTES = [("customers:import", "get"), ("customers:import", "post"), ("customers:export_csv", "get")]


@pytest.mark.parametrize(("route", "method"), ROUTES)
def test_anonymous_visitors_are_sent_to_sign_in(client, db, route, method):
    response = getattr(client, method)(reverse(route))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


@pytest.mark.parametrize(("route", "method"), ROUTES)
def test_agents_may_not_import_or_export(as_role, route, method):
    data = {"file": io.BytesIO(b"email\nx@y.example\n")} if method == "post" else {}
    response = getattr(as_role("agent"), method)(reverse(route), data)
    assert response.status_code == 403
    assert not Customer.objects.exists() and not AuditEntry.objects.exists()


@pytest.mark.parametrize("role", ["admin_user", "owner"])
@pytest.mark.parametrize("route", ["customers:import", "customers:export_csv"])
def test_owners_and_admins_may_import_and_export(as_role, role, route):
    assert as_role(role).get(reverse(route)).status_code == 200


def upload(client, text: str, name: str = "customers.csv"):
    file = io.BytesIO(text.encode())
    file.name = name
    return client.post(reverse("customers:import"), {"file": file})


def test_upload_page_lists_the_columns(as_role, fields):
    page = as_role("admin_user").get(reverse("customers:import")).content.decode()
    assert "other_emails" in page and "field:birthday" in page and 'enctype="multipart/form-data"' in page


def test_upload_previews_then_confirm_imports_without_a_second_upload(as_role, admin_user, customer):
    client = as_role("admin_user")

    response = upload(client, csv_text("ann@customer.example,Ann S.", "new@x.example,New", header="email,name"))

    page = response.content.decode()
    assert response.status_code == 200 and "Import 2 customers" in page and "customers.csv" in page
    assert not Customer.objects.filter(email="new@x.example").exists()  # nothing written yet
    token = response.context["token"]

    response = client.post(reverse("customers:import"), {"token": token})

    assert response.status_code == 302 and response.url == reverse("customers:list")
    assert Customer.objects.get(email="new@x.example").name == "New"
    customer.refresh_from_db()
    assert customer.name == "Ann S."
    # The token is used up: confirming again imports nothing more.
    response = client.post(reverse("customers:import"), {"token": token}, follow=True)
    assert "expired" in response.content.decode()
    assert AuditEntry.objects.filter(action="customers.import").count() == 1


def test_preview_with_errors_shows_them_and_offers_no_import(as_role, customer):
    response = upload(as_role("admin_user"), csv_text("ann@customer.example,xx", "bad,en", header="email,language"))

    page = response.content.decode()
    assert response.status_code == 200 and not response.context["token"]
    assert "“xx” is not a language" in page and "“bad” is not a valid email address" in page
    assert 'name="token"' not in page and "badge--open" in page
    assert not CustomerEvent.objects.exists()


def test_a_file_error_is_shown(as_role):
    response = upload(as_role("owner"), "name\nAnn\n")
    assert "no “email” column" in response.content.decode()


def test_no_file_is_a_form_error(as_role):
    assert as_role("admin_user").post(reverse("customers:import")).status_code == 400


def test_another_users_token_does_not_import(client, admin_user, owner):
    client.force_login(admin_user)
    token = upload(client, csv_text("new@x.example", header="email")).context["token"]
    client.force_login(owner)

    response = client.post(reverse("customers:import"), {"token": token}, follow=True)

    assert "expired" in response.content.decode() and not Customer.objects.exists()


def test_confirm_checks_the_file_again(as_role, customer, other_customer):
    client = as_role("admin_user")
    token = upload(client, csv_text("ann@customer.example,x@x.example", header="email,other_emails")).context["token"]
    CustomerEmail.objects.create(customer=other_customer, email="x@x.example")  # meanwhile

    response = client.post(reverse("customers:import"), {"token": token})

    assert response.status_code == 400 and "belongs to another customer" in response.content.decode()
    assert not customer.other_emails.exists()


def test_export_view_streams_the_filtered_customers(as_role, customer, other_customer):
    customer.tags = ["vip"]
    customer.save()
    client = as_role("admin_user")

    response = client.get(reverse("customers:export_csv"))
    everyone = b"".join(response.streaming_content).decode("utf-8-sig")
    filtered = b"".join(client.get(reverse("customers:export_csv"), {"q": "ann", "tag": "VIP"}).streaming_content)
    nobody = b"".join(client.get(reverse("customers:export_csv"), {"q": "bob", "tag": "vip"}).streaming_content)

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="customers-')
    assert "ann@customer.example" in everyone and "bob@customer.example" in everyone
    assert b"ann@customer.example" in filtered and b"bob@customer.example" not in filtered
    assert nobody.decode("utf-8-sig").count("\r\n") == 1  # the header only
    assert [e.details["count"] for e in AuditEntry.objects.filter(action="customers.export").order_by("pk")] == [
        2,
        1,
        0,
    ]
