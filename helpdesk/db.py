"""Set-based SQL for batches, in the form psycopg handles best.

A multi-row ``VALUES`` list has a placeholder per value, and psycopg parses a statement with more than 50
parameters again on every execution (milliseconds for a batch of 25 rows). ``unnest`` of one array per
column keeps a batch at one parameter per column, whatever its size (Django's own ``bulk_create`` does
the same on PostgreSQL where it can).
"""

from collections.abc import Sequence

from django.db.models import Field, Model


def unnest(fields: Sequence[Field], rows: Sequence[Model], connection, *, add: bool = False) -> tuple[str, list]:
    """``unnest(%s::type[], ...)`` over the values of ``fields`` in ``rows``, and its parameters: one list
    per field, as the database gets them (``add``: values as for an INSERT, defaults filled in)."""
    # Without the type's parameters: a cast to varchar(10) would cut a longer value short without a word.
    casts = ", ".join(f"%s::{field.db_type(connection).split('(')[0]}[]" for field in fields)
    params = [
        [field.get_db_prep_save(field.pre_save(row, add) if add else getattr(row, field.attname), connection)
         for row in rows]
        for field in fields
    ]  # fmt: skip
    return f"unnest({casts})", params
