"""Keyset ("cursor") pagination: each page continues after the last row of the one before, in the list's
own order, so page 10 000 costs what page 1 costs, and rows added meanwhile neither repeat nor go missing.

The cursor is opaque to clients (base64 of the last row's sort values); lists have no total count, which
would cost more than the page. ``page_size`` is 1..MAX_PAGE_SIZE (default DEFAULT_PAGE_SIZE).
"""

import base64
import json
import math
from datetime import datetime

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import F, OrderBy, Q
from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100


def _keys(queryset) -> list[tuple[str, bool, bool]]:
    """(field, descending, nulls last) of each ordering term of ``queryset``."""
    keys = []
    for term in queryset.query.order_by:
        if isinstance(term, str):
            keys.append((term.lstrip("-"), term.startswith("-"), term.startswith("-") is False))
        elif isinstance(term, OrderBy) and isinstance(term.expression, F):
            # Postgres puts NULLs last ascending and first descending unless told otherwise
            nulls_last = bool(term.nulls_last) or (not term.descending and not term.nulls_first)
            keys.append((term.expression.name, term.descending, nulls_last))
        else:  # pragma: no cover - a list ordered in a way this pagination does not know
            raise TypeError(f"Cannot paginate by {term!r}")
    if not keys or keys[-1][0] not in ("id", "pk"):
        raise TypeError("Keyset pagination needs the id as the last ordering term.")
    return keys


def _after(keys, values) -> Q:
    """Rows after the row with ``values``, in the order of ``keys`` (ties broken by the later keys)."""
    condition = Q(pk__in=[])
    equal = Q()
    for (name, descending, nulls_last), value in zip(keys, values, strict=True):
        if value is None:
            # after a NULL: only later NULLs when NULLs come last, every non-NULL when they come first
            later = Q(pk__in=[]) if nulls_last else Q(**{f"{name}__isnull": False})
            same = Q(**{f"{name}__isnull": True})
        else:
            later = Q(**{f"{name}__{'lt' if descending else 'gt'}": value})
            if nulls_last:
                later |= Q(**{f"{name}__isnull": True})
            same = Q(**{name: value})
        condition |= equal & later
        equal &= same
    return condition


def _encode(values) -> str:
    plain = [value.isoformat() if isinstance(value, datetime) else value for value in values]
    return base64.urlsafe_b64encode(json.dumps(plain, separators=(",", ":")).encode()).decode().rstrip("=")


def _plain(value) -> bool:
    """A value a cursor may hold: what ``_encode`` writes, within what Postgres takes."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return True
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    return isinstance(value, float) and math.isfinite(value)


def _decode(cursor: str, count: int) -> list:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError):
        values = None
    if not isinstance(values, list) or len(values) != count or isinstance(values[-1], bool) \
            or not isinstance(values[-1], int) or not all(map(_plain, values)):  # fmt: skip
        raise ValidationError({"cursor": [_("This cursor is not valid; start again from the first page.")]})
    return values


class KeysetPagination(BasePagination):
    cursor_query_param = "cursor"
    page_size_query_param = "page_size"

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.page_size = self._page_size(request)
        keys = _keys(queryset)
        cursor = request.query_params.get(self.cursor_query_param)
        if cursor:
            values = _decode(cursor, len(keys))
            try:
                queryset = queryset.filter(_after(keys, values))
                rows = list(queryset[: self.page_size + 1])
            except (ValueError, TypeError, ArithmeticError, DjangoValidationError) as error:
                raise ValidationError({"cursor": [_("This cursor is not valid; start again from the first page.")]}) \
                    from error  # fmt: skip
        else:
            rows = list(queryset[: self.page_size + 1])
        self.has_next = len(rows) > self.page_size
        rows = rows[: self.page_size]
        self.next_cursor = _encode([getattr(rows[-1], name) for name, _d, _n in keys]) if self.has_next else None
        return rows

    def _page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw in (None, ""):
            return DEFAULT_PAGE_SIZE
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE_SIZE:
            raise ValidationError({self.page_size_query_param: [
                _("Ask for 1 to %(max)d rows per page.") % {"max": MAX_PAGE_SIZE}]})  # fmt: skip
        return int(raw)

    def get_next_link(self):
        if not self.next_cursor:
            return None
        return replace_query_param(self.request.build_absolute_uri(), self.cursor_query_param, self.next_cursor)

    def get_paginated_response(self, data):
        return Response({"next": self.get_next_link(), "results": data})

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["next", "results"],
            "properties": {
                "next": {"type": "string", "format": "uri", "nullable": True,
                         "description": "The next page, or null on the last one."},
                "results": schema,
            },
        }  # fmt: skip

    def get_schema_operation_parameters(self, view):
        return [
            {"name": self.cursor_query_param, "required": False, "in": "query",
             "description": "Where the page starts: the `next` link of the page before.",
             "schema": {"type": "string"}},
            {"name": self.page_size_query_param, "required": False, "in": "query",
             "description": f"Rows per page, 1 to {MAX_PAGE_SIZE} (default {DEFAULT_PAGE_SIZE}).",
             "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE}},
        ]  # fmt: skip
