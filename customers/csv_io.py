"""Customers to and from CSV files: a preview that checks every row and writes nothing, an import that
writes all rows or none, and an export in the same columns (an export imports back unchanged).

The columns (``CSV_COLUMNS``, then one per custom field):

- ``email`` (required): the customer's primary address. A row updates the customer with this address
  (in any case), or the customer who has it as another address; else it creates a customer.
- ``name``, ``phone``, ``organization`` (the name of an existing organization, in any case), ``language``
  (a code of ``settings.LANGUAGES``), ``time_zone`` (an IANA name such as ``Europe/Berlin``).
- ``tags``: separated by ``;`` or ``,``; stored as everywhere else (lower case, distinct, sorted).
- ``other_emails``: the customer's other addresses, separated by ``;``. The customer ends up with exactly
  these (plus the address the row was matched by, if it was one of them).
- ``field:<key>`` for each custom field (``CustomField.key``). The prefix keeps a field keyed ``phone``
  apart from the built-in column; a bare key is an unknown column (the error says to add the prefix).
  Numbers with ``.`` as decimal point (in ``;``-separated files, as European Excel writes them, a decimal
  comma too), dates as YYYY-MM-DD, choices one of the field's choices.

Only the columns a file has are written: a missing column leaves that value alone, an empty cell clears
it. A new customer without an organization joins the organization of its email domain, as a customer who
writes in does. Headers are case-insensitive; blank lines are skipped.

Files are UTF-8 with or without a byte order mark, separated by ``,`` or ``;`` (detected from the header
line; Excel's ``sep=;`` first line is understood), at most ``MAX_BYTES`` and ``MAX_ROWS`` rows.

Formula injection: the export puts an apostrophe before a cell that starts with ``= + - @``, a tab or a
carriage return (and before one that starts with an apostrophe and then one of those), so a spreadsheet
shows it as text; the import takes that one apostrophe off again.
"""

import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext as _

from helpdesk.audit import audit_record
from helpdesk.models import TIMEZONE_CHOICES
from helpdesk.tags import TAG_MAX_LENGTH

from .models import Customer, CustomerEmail, CustomerEvent, CustomField, Organization

CSV_COLUMNS = ["email", "name", "phone", "organization", "language", "time_zone", "tags", "other_emails"]
CUSTOM_FIELD_PREFIX = "field:"
MAX_ROWS = 10_000
MAX_BYTES = 5 * 1024 * 1024
BOM = "\ufeff"

# What makes a spreadsheet read a cell as a formula (OWASP's "CSV injection" list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

_TEXT_MAX = {"email": 254, "name": 200, "phone": 50}
_CUSTOM_TEXT_MAX = 500  # as the customer form (customers.forms.custom_form_field)
_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_LANGUAGES = {code.lower(): code for code, _name in settings.LANGUAGES}
_TIME_ZONES = {name.lower(): name for name, _label in TIMEZONE_CHOICES}
_EXPORT_CHUNK = 1000
_WRITE_BATCH = 1000


class Action:
    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"


@dataclass
class RowError:
    column: str  # the CSV column ("email", "field:plan"), "" for the row as a whole
    message: str


@dataclass
class ImportRow:
    """One line of the file: what importing it would do, or why it cannot."""

    line: int  # the line of the file where the row starts (the header is line 1)
    email: str
    action: str = ""  # Action.*; "" when the row's email is not usable
    errors: list[RowError] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)  # the columns an update changes
    customer: Customer | None = None  # the existing customer it updates
    values: dict = field(default_factory=dict, repr=False)  # column -> cleaned value
    old_emails: list[CustomerEmail] = field(default_factory=list, repr=False)  # other addresses to remove
    new_emails: list[str] = field(default_factory=list, repr=False)  # other addresses to add

    def error(self, column: str, message: str) -> None:
        self.errors.append(RowError(column, message))

    @property
    def error_columns(self) -> set[str]:
        return {error.column for error in self.errors}


@dataclass
class ImportPreview:
    """What importing a file would do. ``errors`` are about the file as a whole (encoding, columns, size);
    each row has its own."""

    text: str = ""
    columns: list[str] = field(default_factory=list)
    delimiter: str = ","
    rows: list[ImportRow] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def is_valid(self) -> bool:
        return not self.errors and bool(self.rows) and not any(row.errors for row in self.rows)

    @property
    def rows_with_errors(self) -> list[ImportRow]:
        return [row for row in self.rows if row.errors]

    def count(self, action: str) -> int:
        return sum(1 for row in self.rows if row.action == action)

    @property
    def to_create(self) -> int:
        return self.count(Action.CREATE)

    @property
    def to_update(self) -> int:
        return self.count(Action.UPDATE)

    @property
    def unchanged(self) -> int:
        return self.count(Action.UNCHANGED)


@dataclass(frozen=True)
class ImportResult:
    rows: int
    created: int
    updated: int
    unchanged: int


class CsvImportError(ValidationError):
    """The file has errors (``preview`` says which); nothing was written."""

    def __init__(self, preview: ImportPreview, message: str = ""):
        super().__init__(message or _("The file has errors, so nothing was imported. Correct them and try again."))
        self.preview = preview


# --- import ----------------------------------------------------------------------------------------


def customers_import_preview(*, file_bytes: bytes | None = None, text: str | None = None) -> ImportPreview:
    """Parse and check a CSV file of customers; write nothing. A handful of queries however long the file."""
    return _preview(file_bytes=file_bytes, text=text, lock=False)


def customers_import(
    *, actor, preview: ImportPreview | None = None, file_bytes: bytes | None = None, text: str | None = None
) -> ImportResult:
    """Import a file (or the text of an earlier ``preview``): every row, or nothing when any row has an
    error (``CsvImportError``, with the preview). The file is checked again in the transaction, against
    the customers as they are then (locked), so a preview that has gone stale cannot write bad rows.

    One CustomerEvent ("imported") per created or changed customer and one audit entry; a fixed number of
    queries (plus one per ``_WRITE_BATCH`` rows written)."""
    if preview is not None:
        if not preview.is_valid:
            raise CsvImportError(preview)
        text, file_bytes = preview.text, None
    try:
        with transaction.atomic():
            checked = _preview(file_bytes=file_bytes, text=text, lock=True)
            if not checked.is_valid:
                raise CsvImportError(checked)
            return _write(checked, actor=actor)
    except IntegrityError:  # someone added one of the addresses meanwhile; the transaction is rolled back
        message = _("Customers changed while the file was imported, so nothing was imported. Please try again.")
        raise CsvImportError(ImportPreview(text=text or "", errors=[message]), message) from None


def _preview(*, file_bytes: bytes | None, text: str | None, lock: bool) -> ImportPreview:
    preview = ImportPreview()
    text = _decode(preview, file_bytes=file_bytes, text=text)
    if text is None:
        return preview
    preview.text = text
    records = _read(preview, text)
    if records is None:
        return preview
    definitions = {definition.key.lower(): definition for definition in CustomField.objects.all()}
    _header_line, header = records[0]
    columns = _check_columns(preview, header, definitions)
    if columns is None:
        return preview
    rows = _parse_rows(preview, columns, records[1:], definitions)
    if preview.errors:
        return preview
    _match(rows, lock=lock)
    preview.rows = rows
    return preview


def _decode(preview: ImportPreview, *, file_bytes: bytes | None, text: str | None) -> str | None:
    if text is None:
        if file_bytes is None:
            preview.errors.append(_("Choose a file to import."))
            return None
        if len(file_bytes) > MAX_BYTES:
            preview.errors.append(_too_big())
            return None
        try:
            text = file_bytes.decode("utf-8")
        except UnicodeDecodeError:
            preview.errors.append(_("The file is not UTF-8 text. In Excel, save it as “CSV UTF-8 (comma delimited)”."))
            return None
    elif len(text) > MAX_BYTES and len(text.encode()) > MAX_BYTES:
        preview.errors.append(_too_big())
        return None
    return text.removeprefix(BOM)


def _too_big() -> str:
    return _("The file is larger than %(size)s MB. Split it into smaller files.") % {"size": MAX_BYTES // 2**20}


def _read(preview: ImportPreview, text: str) -> list[tuple[int, list[str]]] | None:
    """The header and the non-blank records, each with the line it starts on; None with an error."""
    offset = 0
    first_line = text.split("\n", 1)[0].rstrip("\r")
    if re.fullmatch(r"(?i)sep=[,;]", first_line.strip('"')):  # Excel's hint of the delimiter
        preview.delimiter = first_line.strip('"')[-1]
        text = text.split("\n", 1)[1] if "\n" in text else ""
        offset = 1
    else:
        preview.delimiter = _sniff_delimiter(first_line)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=preview.delimiter)
    records: list[tuple[int, list[str]]] = []
    line = 1
    try:
        for cells in reader:
            if any(cell.strip() for cell in cells):
                records.append((line + offset, cells))
                if len(records) > MAX_ROWS + 1:
                    preview.errors.append(
                        _("The file has more than %(max)s rows. Split it into smaller files.")
                        % {"max": f"{MAX_ROWS:,}"}
                    )
                    return None
            line = reader.line_num + 1
    except csv.Error as error:
        preview.errors.append(_("Line %(line)s cannot be read: %(error)s") % {"line": line + offset, "error": error})
        return None
    if not records:
        preview.errors.append(_("The file is empty."))
        return None
    if len(records) == 1:
        preview.errors.append(_("The file has a header line but no customers."))
        return None
    return records


def _sniff_delimiter(header_line: str) -> str:
    """``,`` or ``;``: the one that splits the header into cells with an "email" among them, else the one
    that makes more cells (a header is names, rarely quoted, so this beats ``csv.Sniffer``'s guesses)."""
    best, best_score = ",", (-1, -1)
    for delimiter in (",", ";"):
        cells = next(csv.reader([header_line], delimiter=delimiter), [])
        score = (int(any(_header_name(cell) == "email" for cell in cells)), len(cells))
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _header_name(cell: str) -> str:
    return _unescape(cell).strip().lower()


def _check_columns(preview: ImportPreview, header: list[str], definitions: dict[str, CustomField]) -> list[str] | None:
    """The header's column names (normalized; "" for an unnamed column), or None with errors."""
    columns = [_header_name(cell) for cell in header]
    known = {*CSV_COLUMNS, *(CUSTOM_FIELD_PREFIX + key for key in definitions)}
    unknown = [name for name in columns if name and name not in known]
    if unknown:
        message = _("Unknown columns: %(columns)s.") % {"columns": ", ".join(f"“{name}”" for name in unknown)}
        bare = [name for name in unknown if name in definitions]
        if bare:
            message += " " + _("Custom fields are columns named “field:” and the key, e.g. “%(example)s”.") % {
                "example": CUSTOM_FIELD_PREFIX + bare[0]
            }
        preview.errors.append(message + " " + _("Known columns: %(columns)s.") % {"columns": ", ".join(sorted(known))})
    seen = set()
    for name in columns:
        if name and name in seen:
            preview.errors.append(_("The column “%(column)s” appears more than once.") % {"column": name})
        seen.add(name)
    if "email" not in columns:
        preview.errors.append(_("The file has no “email” column. The first line must name the columns."))
    preview.columns = columns
    return None if preview.errors else columns


def _unescape(cell: str) -> str:
    """A cell as written, without the apostrophe the export puts before a formula-like value: one
    apostrophe off a cell whose apostrophes are followed by ``= + - @``, a tab or a carriage return."""
    if cell[:1] == "'" and cell.lstrip("'")[:1] in FORMULA_STARTS:
        return cell[1:]
    return cell


def _parse_rows(
    preview: ImportPreview, columns: list[str], records: list[tuple[int, list[str]]], definitions: dict
) -> list[ImportRow]:
    """Each record's cells, cleaned and checked on their own and against the other rows (duplicates)."""
    decimal_comma = preview.delimiter == ";"
    unnamed = [index for index, name in enumerate(columns) if not name]
    rows = []
    seen: dict[str, int] = {}  # lower-case address -> the line that has it
    for line, cells in records:
        cells = [_unescape(cell).strip() for cell in cells]
        raw = {name: cells[index] if index < len(cells) else "" for index, name in enumerate(columns) if name}
        row = ImportRow(line=line, email=raw["email"])
        if any(cells[index] for index in unnamed if index < len(cells)) or any(cells[len(columns) :]):
            row.error("", _("This row has a value in a column without a name."))
        for name, value in raw.items():
            _clean_cell(row, name, value, definitions, decimal_comma=decimal_comma)
        for column, address in [
            ("email", row.values.get("email")),
            *(("other_emails", a) for a in row.values.get("other_emails", [])),
        ]:
            if not address:
                continue
            earlier = seen.setdefault(address.lower(), line)
            if earlier != line:
                row.error(column, _("%(email)s is also on line %(line)s.") % {"email": address, "line": earlier})
            elif column == "other_emails" and address.lower() == row.values.get("email", "").lower():
                row.error(column, _("%(email)s is the primary address of this row.") % {"email": address})
        rows.append(row)
    return rows


def _clean_cell(row: ImportRow, column: str, value: str, definitions: dict, *, decimal_comma: bool) -> None:
    """Put the cell's value in ``row.values``, or an error in ``row.errors``."""
    if column == "email":
        if not value:
            row.error(column, _("An email address is required."))
        elif not _valid_email(value):
            row.error(column, _("“%(email)s” is not a valid email address.") % {"email": value})
        else:
            row.values[column] = value
    elif column in _TEXT_MAX:
        if len(value) > _TEXT_MAX[column]:
            row.error(column, _too_long(_TEXT_MAX[column]))
        else:
            row.values[column] = value
    elif column == "organization":
        row.values[column] = value  # checked against the database in _match
    elif column == "language":
        if value and value.lower() not in _LANGUAGES:
            row.error(column, _("“%(value)s” is not a language of the help desk; use one of: %(choices)s.")
                      % {"value": value, "choices": ", ".join(_LANGUAGES.values())})  # fmt: skip
        else:
            row.values[column] = _LANGUAGES.get(value.lower(), "")
    elif column == "time_zone":
        if value and value.lower() not in _TIME_ZONES:
            row.error(column, _("“%(value)s” is not a time zone; use a name such as Europe/Berlin.") % {"value": value})
        else:
            row.values[column] = _TIME_ZONES.get(value.lower(), "")
    elif column == "tags":
        tags = sorted({tag.strip().lower() for tag in re.split(r"[;,]", value) if tag.strip()})
        if any(len(tag) > TAG_MAX_LENGTH for tag in tags):
            row.error(column, _("A tag may be at most %(max)s characters long.") % {"max": TAG_MAX_LENGTH})
        else:
            row.values[column] = tags
    elif column == "other_emails":
        addresses = [address.strip() for address in re.split(r"[;,]", value) if address.strip()]
        bad = [address for address in addresses if not _valid_email(address)]
        for address in bad:
            row.error(column, _("“%(email)s” is not a valid email address.") % {"email": address})
        distinct: dict[str, str] = {}
        for address in addresses:
            distinct.setdefault(address.lower(), address)  # the first spelling wins
        row.values[column] = [] if bad else list(distinct.values())
    else:
        definition = definitions[column.removeprefix(CUSTOM_FIELD_PREFIX)]
        try:
            row.values[column] = _custom_value(definition, value, decimal_comma=decimal_comma)
        except ValidationError as error:
            row.error(column, error.messages[0])


def _valid_email(address: str) -> bool:
    if len(address) > _TEXT_MAX["email"]:
        return False
    try:
        validate_email(address)
    except ValidationError:
        return False
    return True


def _too_long(limit: int) -> str:
    return _("At most %(max)s characters.") % {"max": limit}


def _custom_value(definition: CustomField, value: str, *, decimal_comma: bool):
    """What ``Customer.custom_fields`` stores for this cell (None: the value is cleared)."""
    if not value:
        return None
    if definition.kind == CustomField.Kind.NUMBER:
        number = value.replace(",", ".") if decimal_comma and value.count(",") == 1 and "." not in value else value
        try:
            if not _NUMBER.fullmatch(number):
                raise InvalidOperation
            parsed = Decimal(number)
        except InvalidOperation:
            raise ValidationError(_("“%(value)s” is not a number.") % {"value": value}) from None
        if len(parsed.as_tuple().digits) > 18:
            raise ValidationError(_("“%(value)s” has too many digits.") % {"value": value})
        return int(parsed) if parsed == parsed.to_integral_value() and "." not in number else float(parsed)
    if definition.kind == CustomField.Kind.DATE:
        try:
            if not _DATE.fullmatch(value):
                raise ValueError
            return date.fromisoformat(value).isoformat()
        except ValueError:
            raise ValidationError(_("“%(value)s” is not a date written YYYY-MM-DD.") % {"value": value}) from None
    if definition.kind == CustomField.Kind.CHOICE:
        choices = {choice.lower(): choice for choice in definition.choices}
        if value.lower() not in choices:
            raise ValidationError(
                _("“%(value)s” is not one of the choices: %(choices)s.")
                % {"value": value, "choices": ", ".join(definition.choices)}
            )
        return choices[value.lower()]
    if len(value) > _CUSTOM_TEXT_MAX:
        raise ValidationError(_too_long(_CUSTOM_TEXT_MAX))
    return value


def _match(rows: list[ImportRow], *, lock: bool) -> None:
    """Find each row's customer (by primary or other address, in any case) and organization, check the
    addresses against other customers, and work out what the row would change. Four to six queries."""
    addresses = {a.lower() for row in rows for a in [row.values.get("email"), *row.values.get("other_emails", [])] if a}
    others = list(CustomerEmail.objects.alias(email_lower=Lower("email")).filter(email_lower__in=addresses))
    other_owner = {other.email.lower(): other.customer_id for other in others}
    customers = Customer.objects.alias(email_lower=Lower("email")).filter(
        Q(email_lower__in=addresses) | Q(pk__in=set(other_owner.values()))
    )
    if lock:
        customers = customers.select_for_update(of=("self",)).order_by("pk")
    customers = list(customers.select_related("organization").prefetch_related("other_emails"))
    by_id = {customer.pk: customer for customer in customers}
    by_email = {customer.email.lower(): customer for customer in customers}
    owner = {address: by_id[pk] for address, pk in other_owner.items() if pk in by_id} | by_email

    names = {row.values["organization"].lower() for row in rows if row.values.get("organization")}
    organizations = {}
    if names:
        for organization in (
            Organization.objects.alias(name_lower=Lower("name")).filter(name_lower__in=names).order_by("pk")
        ):
            organizations.setdefault(organization.name.lower(), organization)

    matched_on: dict[int, int] = {}  # customer id -> line
    for row in rows:
        email = row.values.get("email")
        if not email:
            continue
        customer = owner.get(email.lower())
        if customer is not None:
            earlier = matched_on.setdefault(customer.pk, row.line)
            if earlier != row.line:
                row.error(
                    "email", _("%(email)s is the same customer as line %(line)s.") % {"email": email, "line": earlier}
                )
        row.customer = customer
        for address in row.values.get("other_emails", []):
            if customer is not None and address.lower() == customer.email.lower():
                row.error("other_emails", _("%(email)s is this customer's primary address.") % {"email": address})
            elif owner.get(address.lower()) not in (None, customer):
                row.error("other_emails", _("%(email)s belongs to another customer (%(other)s). Merge the two customers instead.")
                          % {"email": address, "other": owner[address.lower()].email})  # fmt: skip
        name = row.values.get("organization")
        if name:
            if name.lower() in organizations:
                row.values["organization"] = organizations[name.lower()]
            else:
                row.error(
                    "organization", _("There is no organization named “%(name)s”. Add it first.") % {"name": name}
                )
        elif "organization" in row.values:
            row.values["organization"] = None
        _plan(row)
    _organizations_by_domain(
        [row for row in rows if row.action == Action.CREATE and not row.values.get("organization")]
    )


def _plan(row: ImportRow) -> None:
    """The row's action and, for an update, the columns it changes and the other addresses to add/remove."""
    values, customer = row.values, row.customer
    if customer is None:
        row.action = Action.CREATE
        row.new_emails = list(values.get("other_emails", []))
        return
    for column in ("name", "phone", "organization", "language", "time_zone", "tags"):
        if column in values and _current(customer, column) != values[column]:
            row.changes.append(column)
    if "other_emails" in values:
        wanted = {address.lower(): address for address in values["other_emails"]}
        wanted.setdefault(values["email"].lower(), values["email"])  # the address it was matched by stays
        wanted.pop(customer.email.lower(), None)
        current = {other.email.lower(): other for other in customer.other_emails.all()}
        row.old_emails = [other for key, other in current.items() if key not in wanted]
        row.new_emails = [address for key, address in wanted.items() if key not in current]
        if row.old_emails or row.new_emails:
            row.changes.append("other_emails")
    for column, value in values.items():
        if (
            column.startswith(CUSTOM_FIELD_PREFIX)
            and customer.custom_fields.get(column.removeprefix(CUSTOM_FIELD_PREFIX)) != value
        ):
            row.changes.append(column)
    row.action = Action.UPDATE if row.changes else Action.UNCHANGED


def _current(customer: Customer, column: str):
    return customer.organization if column == "organization" else getattr(customer, column)


def _organizations_by_domain(rows: list[ImportRow]) -> None:
    """New customers without an organization join the one that lists their email domain (one query)."""
    domains = {row.values["email"].rsplit("@", 1)[-1].lower() for row in rows}
    if not domains:
        return
    by_domain: dict[str, Organization] = {}
    for organization in Organization.objects.filter(domains__overlap=sorted(domains)).order_by("pk"):
        for domain in organization.domains:
            by_domain.setdefault(domain, organization)
    for row in rows:
        row.values["organization"] = by_domain.get(row.values["email"].rsplit("@", 1)[-1].lower())


def _write(preview: ImportPreview, *, actor) -> ImportResult:
    """Write the rows of a valid preview: a statement per kind of change, not per row."""
    now = timezone.now()
    created: list[tuple[ImportRow, Customer]] = []
    updated: list[Customer] = []
    events: list[CustomerEvent] = []
    update_fields = {"updated_at"}  # bulk_update does not touch auto_now fields itself
    for row in preview.rows:
        values = row.values
        if row.action == Action.CREATE:
            custom = {column.removeprefix(CUSTOM_FIELD_PREFIX): value for column, value in values.items()
                      if column.startswith(CUSTOM_FIELD_PREFIX) and value is not None}  # fmt: skip
            customer = Customer(
                email=values["email"], name=values.get("name", ""), phone=values.get("phone", ""),
                organization=values.get("organization"), language=values.get("language", ""),
                time_zone=values.get("time_zone", ""), tags=values.get("tags", []), custom_fields=custom,
                created_at=now, updated_at=now,
            )  # fmt: skip
            created.append((row, customer))
        elif row.action == Action.UPDATE:
            customer = row.customer
            old = _summary(customer, row.changes)
            for column in row.changes:
                if column.startswith(CUSTOM_FIELD_PREFIX):
                    update_fields.add("custom_fields")
                    key, value = column.removeprefix(CUSTOM_FIELD_PREFIX), values[column]
                    customer.custom_fields = {k: v for k, v in customer.custom_fields.items() if k != key}
                    if value is not None:
                        customer.custom_fields[key] = value
                elif column != "other_emails":
                    update_fields.add(column)
                    setattr(customer, column, values[column])
            customer.updated_at = now
            updated.append(customer)
            events.append(CustomerEvent(customer=customer, actor=actor, kind=CustomerEvent.Kind.IMPORTED, created_at=now,
                                        old_value=old, new_value=_summary(customer, row.changes, row=row)))  # fmt: skip

    Customer.objects.bulk_create([customer for _row, customer in created], batch_size=_WRITE_BATCH)
    if updated:
        Customer.objects.bulk_update(updated, sorted(update_fields), batch_size=_WRITE_BATCH)
    removed = [other.pk for row in preview.rows for other in row.old_emails]
    if removed:
        CustomerEmail.objects.filter(pk__in=removed).delete()
    added = [CustomerEmail(customer=row.customer, email=address) for row in preview.rows if row.customer
             for address in row.new_emails]  # fmt: skip
    for row, customer in created:
        added += [CustomerEmail(customer=customer, email=address) for address in row.new_emails]
        columns = [column for column, value in row.values.items() if column != "email" and value not in ("", None, [])]
        events.append(CustomerEvent(customer=customer, actor=actor, kind=CustomerEvent.Kind.IMPORTED, created_at=now,
                                    new_value=_summary(customer, columns, row=row)))  # fmt: skip
    CustomerEmail.objects.bulk_create(added, batch_size=_WRITE_BATCH)
    CustomerEvent.objects.bulk_create(events, batch_size=_WRITE_BATCH)

    result = ImportResult(rows=len(preview.rows), created=len(created), updated=len(updated),
                          unchanged=preview.unchanged)  # fmt: skip
    audit_record(actor=actor, action="customers.import", target="customers", rows=result.rows,
                 created=result.created, updated=result.updated, unchanged=result.unchanged)  # fmt: skip
    return result


def _summary(customer: Customer, columns: Iterable[str], *, row: ImportRow | None = None) -> str:
    """The columns' values as lines of "column: value", for the customer's timeline: the old values
    before an update, the new ones after it (``row`` gives the other addresses the row will leave)."""
    lines = []
    for column in columns:
        if column == "other_emails" and row is not None:
            addresses = list(row.new_emails)
            if row.customer is not None:  # an update: the addresses it keeps too
                addresses += [other.email for other in customer.other_emails.all() if other not in row.old_emails]
            value = "; ".join(sorted(addresses, key=str.lower))
        else:
            value = _cell(customer, column)
        lines.append(f"{column}: {value}")
    return "\n".join(lines)


# --- export ----------------------------------------------------------------------------------------


def customers_export_csv(*, customers, actor) -> Iterator[bytes]:
    """The customers as CSV (UTF-8 with a byte order mark, so Excel reads it as UTF-8) in the import's
    columns, as an iterator of chunks for a streaming response. Writes one audit entry now; the rows are
    read in chunks as the iterator is consumed (two queries a chunk)."""
    definitions = list(CustomField.objects.order_by("position", "name", "pk"))
    audit_record(actor=actor, action="customers.export", target="customers", count=customers.count())
    header = CSV_COLUMNS + [CUSTOM_FIELD_PREFIX + definition.key for definition in definitions]
    rows = customers.select_related("organization").prefetch_related("other_emails").iterator(chunk_size=_EXPORT_CHUNK)
    return _export_chunks(header, rows)


def _export_chunks(header: list[str], customers: Iterator[Customer]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    chunk = BOM + buffer.getvalue()
    for number, customer in enumerate(customers, start=1):
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([_escape(_cell(customer, column)) for column in header])
        chunk += buffer.getvalue()
        if number % 200 == 0:
            yield chunk.encode()
            chunk = ""
    yield chunk.encode()


def _cell(customer: Customer, column: str) -> str:
    if column == "organization":
        return customer.organization.name if customer.organization_id else ""
    if column == "tags":
        return "; ".join(customer.tags)
    if column == "other_emails":
        return "; ".join(sorted((other.email for other in customer.other_emails.all()), key=str.lower))
    if column.startswith(CUSTOM_FIELD_PREFIX):
        value = customer.custom_fields.get(column.removeprefix(CUSTOM_FIELD_PREFIX))
        return "" if value is None else str(value)
    return getattr(customer, column) or ""


def _escape(value: str) -> str:
    """Text a spreadsheet will not run as a formula (``_unescape`` undoes it)."""
    if value[:1] in FORMULA_STARTS or _unescape(value) != value:
        return "'" + value
    return value
