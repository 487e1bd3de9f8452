"""Set-based SQL for batches, in the form psycopg handles best.

A multi-row ``VALUES`` list has a placeholder per value, and psycopg parses a statement with more than 50
parameters again on every execution (milliseconds for a batch of 25 rows). ``unnest`` of one array per
column keeps a batch at one parameter per column, whatever its size (Django's own ``bulk_create`` does
the same on PostgreSQL where it can).
"""

from collections.abc import Sequence

import psycopg
from django.db import transaction
from django.db.models import Field, Model


def unnest(
    fields: Sequence[Field], rows: Sequence[Model], connection, *, add: bool = False, binary: bool = False
) -> tuple[str, list]:
    """``unnest(%s::type[], ...)`` over the values of ``fields`` in ``rows``, and its parameters: one list
    per field, as the database gets them (``add``: values as for an INSERT, defaults filled in).
    ``binary``: placeholders for psycopg's binary format (``%b``), for a plain psycopg cursor: bytes then
    travel as they are, where the text format writes every byte out as escaped hex."""
    # Without the type's parameters: a cast to varchar(10) would cut a longer value short without a word.
    placeholder = "%b" if binary else "%s"
    casts = ", ".join(f"{placeholder}::{field.db_type(connection).split('(')[0]}[]" for field in fields)
    params = [
        [field.get_db_prep_save(field.pre_save(row, add) if add else getattr(row, field.attname), connection)
         for row in rows]
        for field in fields
    ]  # fmt: skip
    return f"unnest({casts})", params


def server_cursor(connection):
    """A cursor that binds its parameters on the server (psycopg's own ``Cursor``, where Django's writes every
    value into the SQL text first), wrapped as Django wraps its cursors: query logging, counting in tests and
    execute wrappers see its statements. Accepts ``%b`` placeholders (binary format)."""
    connection.ensure_connection()
    cursor = psycopg.Cursor(connection.connection)
    return connection.make_debug_cursor(cursor) if connection.queries_logged else connection.make_cursor(cursor)


def insert_rows(model: type[Model], rows: Sequence[Model]) -> None:
    """``bulk_create`` for new rows of a plain model (no expressions, arrays or JSON among its values): one
    ``INSERT … SELECT FROM unnest`` bound on the server, in binary, which sets the rows' primary keys. For
    hot paths (a batch of inbound email): it skips the ORM's compiling and the client-side quoting of every
    value, which together cost more than the statement."""
    if not rows:
        return
    connection = transaction.get_connection()
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    values, params = unnest(fields, rows, connection, add=True, binary=True)
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    with server_cursor(connection) as cursor:
        cursor.execute(f"INSERT INTO {model._meta.db_table} ({columns}) SELECT * FROM {values} RETURNING id", params)
        ids = cursor.fetchall()
    for row, (pk,) in zip(rows, ids, strict=True):  # RETURNING gives the rows in unnest's order
        row.pk = pk
        row._state.adding = False
        row._state.db = connection.alias
