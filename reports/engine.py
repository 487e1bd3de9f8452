"""The report facts in memory, as numpy columns, and the dashboard computed from them (issue 8): the headline
figures, the chart series, the heat map and the tables, each equal to its SQL namesake in ``reports.selectors``.

PostgreSQL computes every figure exactly (``reports.selectors.dashboard_figures_sql``, the reference), but a
dashboard over a million tickets makes it scan 500,000 to 900,000 fact rows per request and sort them for
the percentiles. Here each process holds the four fact tables as column arrays and computes the same dict
with the same definitions (../shared/METRICS.md), in milliseconds:

- Loading: one ``COPY (SELECT ...) TO STDOUT (FORMAT binary)`` per table on first use, every column sent as
  a fixed-width integer (instants as microseconds since the epoch, absent ones as ``NULL_TS``, after every
  instant; durations and scores -1 when absent; channel, priority and kinds as small codes; no agent: 0),
  so each COPY stream is parsed by numpy as one record array. Rows are sorted by ticket.
- Keeping current, on every use: the triggers of migration 0003 write a ``FactChange`` row (ticket, writing
  transaction ``xid8``) in the same transaction as any write to the fact tables. The engine remembers the
  snapshot (``pg_current_snapshot()``) its data came from; each use asks, in one statement, for the tickets
  changed by transactions that snapshot did not see (``NOT pg_visible_in_snapshot``), with the statement's
  own snapshot, which becomes the next one. A transaction that commits late is invisible to the snapshot
  taken while it ran, so it is picked up whenever it commits; nothing depends on the order of sequence
  values. The changed tickets' rows are read again (one COPY per table) and replace theirs: old rows are
  marked dead, new ones appended, and a table is compacted (and sorted again) once a fifth of it is dead.
  The figures are therefore never staler than the fact tables when the request starts.
- Changes made by the current transaction itself (in tests: the test's transaction) are visible to its
  snapshot, so they are always read again; if such a transaction later rolls back (``pg_xact_status``), or
  the tables were truncated, or the engine was unused for ``RELOAD_AFTER`` seconds (the feed keeps a day),
  or a change touches a large share of the tickets (a rebuild), the engine loads everything again.

Filters are those of ``ReportFilters``: the team's queues and the customers of an organization or segment are
read in SQL (one query each), then matched by lookup. Medians and p90s reproduce ``percentile_cont``'s
arithmetic (linear interpolation between the closest ranks, in float8); means reproduce PostgreSQL's
``avg(integer)``, a numeric division rounded to at least 16 significant digits, then read as a float.
"""

import hashlib
import math
import resource
import threading
import time
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise

import numpy as np
from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

from customers.models import Customer
from customers.segments import segment_condition
from tickets.models import Queue, SLATimer, Ticket
from tickets.surveys.models import Survey

NULL_TS = np.iinfo(np.int64).max  # an absent instant: after every instant
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Seconds without a use after which the engine loads again instead of reading the change feed: the feed keeps
# a day (``reports.services.fact_changes_prune``), so half a day leaves a wide margin. A gunicorn worker forked
# from the master (which loads at start, gunicorn.conf.py) within this time brings the master's copy up to
# date instead of loading its own.
RELOAD_AFTER = 12 * 3600
RELOAD_SHARE = 0.2  # changed tickets beyond this share of all: load again rather than patch
COMPACT_SHARE = 0.2  # dead rows beyond this share of a table: compact it

CHANNELS = list(Ticket.Channel.values)
PRIORITIES = list(Ticket.Priority.values)
SLA_KINDS = list(SLATimer.Kind.values)
SURVEY_KINDS = list(Survey.Kind.values)
MET_FALSE, MET_TRUE, MET_NONE = 0, 1, 2


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# An instant travels as PostgreSQL's binary timestamptz (microseconds since 2000-01-01; 'infinity' is the
# largest int64, which is NULL_TS): no arithmetic in the database. ``_copy`` moves it to the Unix epoch.
PG_EPOCH_MICROS = 946_684_800_000_000


def _ts(column: str) -> str:
    return f"coalesce({column}, 'infinity'::timestamptz)"


def _code(column: str, values: list[str]) -> str:
    """1 + the position of the value in ``values``; 0 for anything else."""
    cases = " ".join(f"WHEN {_quote(value)} THEN {n}" for n, value in enumerate(values, 1))
    return f"(CASE {column} {cases} ELSE 0 END)::smallint"


# (numpy name, SQL expression, wire type: int8/int4/int2, numpy type)
_DIMENSIONS = [
    ("ticket", "ticket_id::bigint", "i8", np.int64),
    ("queue", "queue_id::int", "i4", np.int32),
    ("channel", _code("channel", CHANNELS), "i2", np.int8),
    ("priority", _code("priority", PRIORITIES), "i2", np.int8),
    ("customer", "customer_id::bigint", "i8", np.int64),
    ("agent", "coalesce(agent_id, 0)::int", "i4", np.int32),
]
TABLES = {
    "ticket": ("reports_ticketfact", [
        *_DIMENSIONS,
        ("created", _ts("created_at"), "i8", np.int64),
        ("first_response", _ts("first_response_at"), "i8", np.int64),
        ("resolved", _ts("resolved_at"), "i8", np.int64),
        ("frt", "coalesce(frt_seconds, -1)", "i4", np.int32),
        ("frt_business", "coalesce(frt_business_seconds, -1)", "i4", np.int32),
        ("resolution", "coalesce(resolution_seconds, -1)", "i4", np.int32),
        ("resolution_business", "coalesce(resolution_business_seconds, -1)", "i4", np.int32),
        ("frt_agent", "coalesce(frt_agent_id, 0)::int", "i4", np.int32),
        ("opened_by_agent", "opened_by_agent", "i1", np.bool_),
        ("reopened", "reopened", "i1", np.bool_),
    ]),
    "span": ("reports_spanfact", [
        *_DIMENSIONS,
        ("opened", _ts("opened_at"), "i8", np.int64),
        ("resolved", _ts("resolved_at"), "i8", np.int64),
    ]),
    "sla": ("reports_slafact", [
        *_DIMENSIONS,
        ("kind", _code("kind", SLA_KINDS), "i2", np.int8),
        ("met", f"(CASE WHEN met THEN {MET_TRUE} WHEN NOT met THEN {MET_FALSE} ELSE {MET_NONE} END)::smallint",
         "i2", np.int8),
        ("at", _ts("at"), "i8", np.int64),
    ]),
    "survey": ("reports_surveyfact", [
        *_DIMENSIONS,
        ("kind", _code("kind", SURVEY_KINDS), "i2", np.int8),
        ("sent", _ts("sent_at"), "i8", np.int64),
        ("answered", _ts("answered_at"), "i8", np.int64),
        ("score", "coalesce(score, -1)::smallint", "i2", np.int16),
    ]),
}  # fmt: skip

_FEED = """
SELECT pg_current_snapshot()::text, pg_current_xact_id_if_assigned()::text,
       ARRAY(SELECT DISTINCT ticket_id FROM reports_factchange
             WHERE xid >= pg_snapshot_xmin(%(snapshot)s::pg_snapshot)
               AND (NOT pg_visible_in_snapshot(xid, %(snapshot)s::pg_snapshot)
                    OR xid = pg_current_xact_id_if_assigned())),
       ARRAY(SELECT coalesce(pg_xact_status(own), 'unknown') FROM unnest(%(own)s::text[]::xid8[]) own)
"""


# --- reading a table --------------------------------------------------------------------------------


def _wire_dtype(columns) -> np.dtype:
    """One row of a binary COPY whose columns are all non-null integers: the field count, then each
    field's length and big-endian value."""
    fields = [("_count", ">i2")]
    for name, _sql, wire, _type in columns:
        fields += [(f"_len_{name}", ">i4"), (name, f">{wire}")]
    return np.dtype(fields)


_HEADER = b"PGCOPY\n\xff\r\n\x00"
_HEADER_SIZE = len(_HEADER) + 8  # flags, header extension length (0)


def _copy(cursor, table: str, ticket_ids: list[int] | None = None) -> dict[str, np.ndarray]:
    """The rows of a fact table (of some tickets) as columns, sorted by ticket: one COPY."""
    sql_table, columns = TABLES[table]
    where = ""
    if ticket_ids is not None:
        where = " WHERE ticket_id = ANY('{" + ",".join(str(int(pk)) for pk in ticket_ids) + "}'::bigint[])"
    sql = (f"COPY (SELECT {', '.join(sql for _n, sql, _w, _t in columns)} FROM {sql_table}{where}) "
           f"TO STDOUT (FORMAT binary)")  # fmt: skip
    dtype = _wire_dtype(columns)
    parts, chunks, pending = [], [], 0
    debug = getattr(cursor, "debug_sql", None)  # count it as a query where queries are counted (tests)
    with debug(sql) if debug else nullcontext(), cursor.cursor.copy(sql) as copy:
        buffer = b""
        first = True
        for data in copy:
            chunks.append(bytes(data))
            pending += len(data)
            if pending < 8 << 20:
                continue
            buffer, first = _parse(b"".join([buffer, *chunks]), dtype, parts, first)
            chunks, pending = [], 0
        buffer = b"".join([buffer, *chunks])
        if buffer:
            buffer, first = _parse(buffer, dtype, parts, first)
        if buffer not in (b"", b"\xff\xff"):
            raise RuntimeError(f"{sql_table}: unexpected end of the COPY data")
    widths = {name: int(wire[1:]) for name, _sql, wire, _kind in columns}
    for part in parts:  # every field present and as wide as declared: no NULL slipped through
        if (part["_count"] != len(columns)).any() or any((part[f"_len_{n}"] != w).any() for n, w in widths.items()):
            raise RuntimeError(f"{sql_table}: a NULL or a field of another width in the COPY data")
    out = {}
    for name, sql, _wire, kind in columns:
        out[name] = (np.concatenate([part[name] for part in parts]) if parts else np.empty(0)).astype(kind)
        if sql.endswith("'infinity'::timestamptz)"):
            out[name][out[name] != NULL_TS] += PG_EPOCH_MICROS
    order = np.argsort(out["ticket"], kind="stable")
    if len(order) and not np.all(order[1:] > order[:-1]):
        out = {name: values[order] for name, values in out.items()}
    return out


def _parse(buffer: bytes, dtype: np.dtype, parts: list, first: bool) -> tuple[bytes, bool]:
    """Append the whole rows at the start of ``buffer`` to ``parts``; return the rest."""
    offset = 0
    if first:
        if len(buffer) < _HEADER_SIZE:
            return buffer, True
        if not buffer.startswith(_HEADER):
            raise RuntimeError("not a binary COPY")
        offset = _HEADER_SIZE
    rows = (len(buffer) - offset) // dtype.itemsize  # the 2-byte trailer is shorter than any row
    if rows:
        parts.append(np.frombuffer(buffer, dtype=dtype, count=rows, offset=offset).copy())
    return buffer[offset + rows * dtype.itemsize :], False


# --- a table in memory ------------------------------------------------------------------------------


class Table:
    """Column arrays with spare room; ``[0, sorted_n)`` is sorted by ticket, rows appended after it are not.
    ``dead`` marks replaced rows, left out of every figure until the next compaction."""

    def __init__(self, columns: dict[str, np.ndarray]):
        self._build(columns)

    def _build(self, columns: dict[str, np.ndarray]) -> None:
        n = len(columns["ticket"])
        capacity = n + n // 10 + 1024
        self.cols = {}
        for name, values in columns.items():
            grown = np.zeros(capacity, dtype=values.dtype)
            grown[:n] = values
            self.cols[name] = grown
        self.dead = np.zeros(capacity, dtype=bool)
        self.n = self.sorted_n = n
        self.ndead = 0

    def __getitem__(self, name: str) -> np.ndarray:
        return self.cols[name][: self.n]

    @property
    def live(self) -> np.ndarray:
        return ~self.dead[: self.n]

    @property
    def rows(self) -> int:
        return self.n - self.ndead

    @staticmethod
    def _read_all(connection):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_current_snapshot()::text, pg_current_xact_id_if_assigned()::text")
            snapshot, current = cursor.fetchone()
            return snapshot, current, {name: Table(_copy(cursor, name)) for name in TABLES}

    def nbytes(self) -> int:
        return sum(values.nbytes for values in self.cols.values()) + self.dead.nbytes

    def positions(self, ticket_ids: np.ndarray) -> np.ndarray:
        """The live rows of these tickets."""
        tickets = self.cols["ticket"]
        low = np.searchsorted(tickets[: self.sorted_n], ticket_ids, side="left")
        high = np.searchsorted(tickets[: self.sorted_n], ticket_ids, side="right")
        lengths = high - low
        found = np.repeat(low - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())
        tail = np.flatnonzero(np.isin(tickets[self.sorted_n : self.n], ticket_ids)) + self.sorted_n
        found = np.concatenate([found, tail]).astype(np.int64)
        return found[~self.dead[found]]

    def replace(self, ticket_ids: np.ndarray, fresh: dict[str, np.ndarray]) -> None:
        """The rows of these tickets are now ``fresh`` (all of them; none for tickets without facts)."""
        gone = self.positions(ticket_ids)
        self.dead[gone] = True
        self.ndead += len(gone)
        added = len(fresh["ticket"])
        capacity = len(self.dead)
        if self.n + added > capacity or self.ndead > COMPACT_SHARE * max(self.n, 1):
            self.compact(fresh)
            return
        for name, values in fresh.items():
            self.cols[name][self.n : self.n + added] = values
        self.n += added

    def compact(self, fresh: dict[str, np.ndarray] | None = None) -> None:
        """Drop the dead rows, append ``fresh`` and sort by ticket again."""
        live = self.live
        columns = {name: self[name][live] for name in self.cols}
        if fresh is not None:
            columns = {name: np.concatenate([values, fresh[name]]) for name, values in columns.items()}
        order = np.argsort(columns["ticket"], kind="stable")
        self._build({name: values[order] for name, values in columns.items()})


# --- exact aggregates as PostgreSQL computes them --------------------------------------------------


def _weight_and_first_digit(value: int) -> tuple[int, int]:
    """A non-negative integer as a PostgreSQL numeric: its weight in base-10000 digits, its first digit."""
    if value == 0:
        return 0, 0
    weight = 0
    while value >= 10000 ** (weight + 1):
        weight += 1
    return weight, value // 10000**weight


def pg_avg(total: int, count: int) -> float | None:
    """``avg()`` of integers as PostgreSQL computes it (``int8_avg``: ``numeric_div(sum, count)``, the scale
    by ``select_div_scale``: at least 16 significant digits, rounded half away from zero), read as a float
    (as Django's ``Avg`` does)."""
    if not count:
        return None
    weight1, first1 = _weight_and_first_digit(abs(total))
    weight2, first2 = _weight_and_first_digit(count)
    qweight = weight1 - weight2 - (1 if first1 <= first2 else 0)
    scale = min(max(16 - qweight * 4, 0), 1000)
    quotient, remainder = divmod(abs(total) * 10**scale, count)
    if 2 * remainder >= count:
        quotient += 1
    return float(Decimal(-quotient if total < 0 else quotient).scaleb(-scale))


def pg_percentiles(values: np.ndarray, fractions=(0.5, 0.9)) -> list[float | None]:
    """``percentile_cont(fractions) WITHIN GROUP (ORDER BY values)`` with PostgreSQL's arithmetic: over the
    sorted values as float8, ``lo + (f·(n−1) − floor) · (hi − lo)`` between the values at the floor and
    ceiling ranks. (``numpy.percentile(method="linear")`` interpolates as ``hi − (hi − lo)·(1 − t)`` when
    t ≥ 0.5, which can differ in the last bit.)"""
    n = len(values)
    if not n:
        return [None] * len(fractions)
    ranks = [fraction * (n - 1) for fraction in fractions]
    wanted = sorted({k for rank in ranks for k in (math.floor(rank), math.ceil(rank))})
    ordered = np.partition(values, wanted) if n > 1 else values
    out = []
    for rank in ranks:
        low, high = math.floor(rank), math.ceil(rank)
        low_value = float(ordered[low])
        if high > low:
            out.append(low_value + (rank - low) * (float(ordered[high]) - low_value))
        else:
            out.append(low_value)
    return out


def _pct(part: int, whole: int) -> float | None:
    return 100.0 * part / whole if whole else None


def _micros(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


# --- the engine -------------------------------------------------------------------------------------


class Engine:
    """The fact tables of one database, in this process."""

    def __init__(self, alias: str = "default"):
        self.alias = alias
        self.lock = threading.RLock()
        self.tables: dict[str, Table] | None = None
        self.snapshot: str | None = None
        self.own: set[str] = set()  # transactions whose uncommitted changes the data may hold
        self.used_at = 0.0
        self.stats = {"loads": 0, "load_seconds": 0.0, "patches": 0, "patched_tickets": 0}
        # Masks and sort orders shared by the figures of one request (``current()``), for its snapshot only.
        self._mask_cache: dict | None = None

    # keeping current

    def sync(self) -> None:
        """Bring the data up to the fact tables as they are now (call with ``lock`` held)."""
        connection = connections[self.alias]
        if self.tables is None or time.monotonic() - self.used_at > RELOAD_AFTER:
            self.load()
            return
        with connection.cursor() as cursor:
            cursor.execute(_FEED, {"snapshot": self.snapshot, "own": sorted(self.own)})
            snapshot, current, changed, statuses = cursor.fetchone()
            own = dict(zip(sorted(self.own), statuses, strict=True))
            if any(status not in ("committed", "in progress") for status in own.values()) or -1 in changed or \
                    len(changed) > RELOAD_SHARE * max(self.tables["ticket"].rows, 1000):  # fmt: skip
                self.load()
                return
            self.own = {xid for xid, status in own.items() if status == "in progress"}
            if current:
                self.own.add(current)
            if changed:
                ids = np.array(sorted(changed), dtype=np.int64)
                for name, table in self.tables.items():
                    table.replace(ids, _copy(cursor, name, ids.tolist()))
                self.stats["patches"] += 1
                self.stats["patched_tickets"] += len(ids)
        self.snapshot = snapshot
        self.used_at = time.monotonic()

    def load(self) -> None:
        """Read every fact table, all in one snapshot (a repeatable-read transaction of its own, unless one
        is open already)."""
        started = time.monotonic()
        connection = connections[self.alias]
        self.tables = None
        if connection.in_atomic_block:  # the open transaction's snapshot (tests)
            snapshot, current, tables = self._read_all(connection)
        else:
            with transaction.atomic(using=self.alias):
                with connection.cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                snapshot, current, tables = self._read_all(connection)
        self.tables, self.snapshot = tables, snapshot
        self.own = {current} if current else set()
        self.used_at = time.monotonic()
        self.stats["loads"] += 1
        self.stats["load_seconds"] = time.monotonic() - started

    @staticmethod
    def _read_all(connection):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_current_snapshot()::text, pg_current_xact_id_if_assigned()::text")
            snapshot, current = cursor.fetchone()
            return snapshot, current, {name: Table(_copy(cursor, name)) for name in TABLES}

    def nbytes(self) -> int:
        return sum(table.nbytes() for table in (self.tables or {}).values())

    # filters

    def _masks(self, filters) -> dict:
        """Per table, the rows that pass the filters other than the agent's (one query for a team's queues,
        one for the customers of an organization or segment)."""
        queues = customers = None
        if filters.team:
            queues = np.array(list(Queue.objects.filter(team_id=filters.team).values_list("pk", flat=True)),
                              dtype=np.int64)  # fmt: skip
        if filters.organization or filters.segment is not None:
            people = Customer.objects.all()
            if filters.organization:
                people = people.filter(organization_id=filters.organization)
            if filters.segment is not None:
                people = people.filter(segment_condition(filters.segment))
            customers = np.array(list(people.values_list("pk", flat=True)), dtype=np.int64)
        masks = {}
        for name, table in self.tables.items():
            mask = table.live
            if filters.queue:
                mask &= table["queue"] == filters.queue
            if queues is not None:
                mask &= np.isin(table["queue"], queues)
            if filters.channel:
                mask &= table["channel"] == _code_of(CHANNELS, filters.channel)
            if filters.priority:
                mask &= table["priority"] == _code_of(PRIORITIES, filters.priority)
            if customers is not None:
                mask &= _member(table["customer"], customers)
            masks[name] = mask
        return masks

    # the headline figures

    @contextmanager
    def current(self):
        """The engine, brought up to date once, for several figures of one request (held under the lock)."""
        with self.lock:
            self.sync()
            self._mask_cache = {}
            try:
                yield self
            finally:
                self._mask_cache = None

    def masks(self, filters) -> dict:
        key = repr(filters)
        cache = {} if self._mask_cache is None else self._mask_cache
        if key not in cache:
            cache[key] = self._masks(filters)
        return cache[key]

    def dashboard_figures(self, *, period, filters, now: datetime) -> dict:
        with self.current():
            return self.headline_figures(period=period, filters=filters, now=now)

    def headline_figures(self, *, period, filters, now: datetime) -> dict:
        """``dashboard_figures`` (call inside ``current()``)."""
        periods = {"current": period.bounds(), "previous": period.previous().bounds()}
        bounds = {name: (_micros(start), _micros(end)) for name, (start, end) in periods.items()}
        now_us = _micros(now)
        masks = self.masks(filters)
        agent = filters.agent
        out = {name: {} for name in periods}

        # 1. tickets: volume, FRT, resolution
        t = self.tables["ticket"]
        base = masks["ticket"]
        by_agent = base & (t["agent"] == agent) if agent else base
        by_frt_agent = base & (t["frt_agent"] == agent) if agent else base
        for name, (start, end) in bounds.items():
            figures = out[name]
            created = t["created"]
            resolved_at = t["resolved"]
            resolved = by_agent & (resolved_at >= start) & (resolved_at < end)
            figures["created"] = int(np.count_nonzero(by_agent & (created >= start) & (created < end)))
            figures["resolved"] = int(np.count_nonzero(resolved))
            figures["reopened"] = int(np.count_nonzero(resolved & t["reopened"]))
            first = t["first_response"]
            figures |= _durations("frt_", t, "frt", by_frt_agent & (first >= start) & (first < end))
            figures |= _durations("resolution_", t, "resolution", resolved)

        # 2. surveys
        s = self.tables["survey"]
        base = masks["survey"] & (s["agent"] == agent) if agent else masks["survey"]
        kinds = {kind: base & (s["kind"] == _code_of(SURVEY_KINDS, kind)) for kind in SURVEY_KINDS}
        score = s["score"]
        for name, (start, end) in bounds.items():
            figures = out[name]
            answered_at, sent_at = s["answered"], s["sent"]
            answered_in = (answered_at >= start) & (answered_at < end)
            sent_in = (sent_at >= start) & (sent_at < end)
            answered = {}
            for kind, of_kind in kinds.items():
                answered[kind] = of_kind & answered_in
                sent = of_kind & sent_in
                figures[f"{kind}_answers"] = int(np.count_nonzero(answered[kind]))
                figures[f"{kind}_sent"] = int(np.count_nonzero(sent))
                figures[f"{kind}_sent_answered"] = int(np.count_nonzero(sent & (answered_at != NULL_TS)))
            figures["csat_positive"] = int(np.count_nonzero(answered["csat"] & (score >= 4)))
            figures["nps_promoters"] = int(np.count_nonzero(answered["nps"] & (score >= 9)))
            figures["nps_detractors"] = int(np.count_nonzero(answered["nps"] & (score >= 0) & (score <= 6)))
            scores = score[answered["ces"]]
            scores = scores[scores >= 0]
            figures["ces"] = pg_avg(int(scores.sum(dtype=np.int64)), len(scores))
        for figures in out.values():
            for kind in SURVEY_KINDS:
                figures[f"{kind}_response_rate"] = _pct(figures[f"{kind}_sent_answered"], figures[f"{kind}_sent"])
            figures["csat"] = _pct(figures["csat_positive"], figures["csat_answers"])
            figures["nps"] = _nps(figures["nps_promoters"], figures["nps_detractors"], figures["nps_answers"])

        # 3. SLA
        sla = self.tables["sla"]
        base = masks["sla"] & (sla["agent"] == agent) if agent else masks["sla"]
        at, met = sla["at"], sla["met"]
        breached = (met == MET_FALSE) | ((met == MET_NONE) & (at <= now_us))
        met_true = met == MET_TRUE
        kinds = {kind: base & (sla["kind"] == _code_of(SLA_KINDS, kind)) for kind in _SLA_ORDER}
        for name, (start, end) in bounds.items():
            within_period = (at >= start) & (at < end)
            for kind, of_kind in kinds.items():
                within = of_kind & within_period
                out[name][f"sla_{kind}_met"] = int(np.count_nonzero(within & met_true))
                out[name][f"sla_{kind}_breached"] = int(np.count_nonzero(within & breached))
        for figures in out.values():
            for kind in _SLA_ORDER:
                done, missed = figures[f"sla_{kind}_met"], figures[f"sla_{kind}_breached"]
                figures[f"sla_{kind}_compliance"] = _pct(done, done + missed)

        # 4. backlog at the end of each period (now, if sooner)
        spans = self.tables["span"]
        base = masks["span"] & (spans["agent"] == agent) if agent else masks["span"]
        for name, (_start, end) in bounds.items():
            instant = min(end, now_us)
            out[name]["backlog"] = int(np.count_nonzero(base & (spans["opened"] < instant) &
                                                        (spans["resolved"] >= instant)))  # fmt: skip

        # 5. awaiting a first response, now
        awaiting = by_agent & (t["first_response"] == NULL_TS) & (t["resolved"] == NULL_TS) & ~t["opened_by_agent"]
        out["current"]["awaiting_first_response"] = int(np.count_nonzero(awaiting))
        out["previous"]["awaiting_first_response"] = None
        for figures in out.values():
            figures["reopen_rate"] = _pct(figures["reopened"], figures["resolved"])
        return {name: _ordered(figures) for name, figures in out.items()}

    # the series of the charts (as their SQL namesakes in ``reports.selectors``; call inside ``current()``)

    def _base(self, table: str, filters, agent_field: str | None = "agent") -> np.ndarray:
        mask = self.masks(filters)[table]
        if filters.agent and agent_field:
            mask = mask & (self.tables[table][agent_field] == filters.agent)
        return mask

    def volume_per_day(self, *, period, filters) -> list[dict]:
        t, base = self.tables["ticket"], self._base("ticket", filters)
        edges = _day_edges(period.days(), period.tz)
        counts = {key: _bin_counts(t[column][base], edges) for key, column in
                  (("created", "created"), ("resolved", "resolved"))}  # fmt: skip
        return [{"day": day, "created": int(counts["created"][n]), "resolved": int(counts["resolved"][n])}
                for n, day in enumerate(period.days())]  # fmt: skip

    def backlog_per_day(self, *, period, filters, now: datetime) -> list[dict]:
        spans, base = self.tables["span"], self._base("span", filters)
        days = period.days()
        edges = _day_edges(days, period.tz)
        start = edges[0]
        opened, resolved = spans["opened"][base], spans["resolved"][base]
        backlog = int(np.count_nonzero((opened < start) & (resolved >= start)))
        deltas = _bin_counts(opened, edges) - _bin_counts(resolved, edges)
        today = timezone.localtime(now, period.tz).date()
        series = []
        for n, day in enumerate(days):
            if day > today:
                break
            backlog += int(deltas[n])
            series.append({"day": day, "backlog": backlog})
        return series

    def times_per_week(self, *, period, filters) -> dict[str, list[dict]]:
        t = self.tables["ticket"]
        mondays = _mondays(period)
        edges = _day_edges(mondays, period.tz, 7)
        out = {}
        for name, at, agent_field in (("frt", "first_response", "frt_agent"), ("resolution", "resolved", "agent")):
            base = self._base("ticket", filters, agent_field)
            bounds = period.bounds()
            rows = base & (t[at] >= _micros(bounds[0])) & (t[at] < _micros(bounds[1]))
            week = np.searchsorted(edges, t[at][rows], side="right") - 1
            values = {basis: t[column][rows] for basis, column in (("", name), ("business_", f"{name}_business"))}
            out[name] = []
            for n in np.unique(week):
                in_week = week == n
                row = {"week": mondays[n], "count": int(np.count_nonzero(in_week))}
                for basis, column_values in values.items():
                    found = column_values[in_week]
                    found = found[found >= 0]
                    row[f"{basis}mean"] = pg_avg(int(found.sum(dtype=np.int64)), len(found))
                    row[f"{basis}median"], row[f"{basis}p90"] = pg_percentiles(found)
                out[name].append(row)
        return out

    def surveys_per_week(self, *, period, filters) -> list[dict]:
        s, base = self.tables["survey"], self._base("survey", filters)
        start, end = (_micros(bound) for bound in period.bounds())
        rows = base & (s["answered"] >= start) & (s["answered"] < end)
        kinds = {kind: s["kind"][rows] == _code_of(SURVEY_KINDS, kind) for kind in ("csat", "nps")}
        rows_kind = kinds["csat"] | kinds["nps"]
        mondays = _mondays(period)
        week = np.searchsorted(_day_edges(mondays, period.tz, 7), s["answered"][rows], side="right") - 1
        score = s["score"][rows]
        out = []
        for n in np.unique(week[rows_kind]):
            in_week = week == n
            csat, nps = in_week & kinds["csat"], in_week & kinds["nps"]
            csat_answers, nps_answers = int(np.count_nonzero(csat)), int(np.count_nonzero(nps))
            out.append({"week": mondays[n], "csat_answers": csat_answers,
                        "csat": _pct(int(np.count_nonzero(csat & (score >= 4))), csat_answers),
                        "nps_answers": nps_answers,
                        "nps": _nps(int(np.count_nonzero(nps & (score >= 9))),
                                    int(np.count_nonzero(nps & (score >= 0) & (score <= 6))), nps_answers)})  # fmt: skip
        return out

    def frt_distribution(self, *, period, filters, business: bool = False) -> list[dict]:
        from .selectors import FRT_BUCKETS

        t, base = self.tables["ticket"], self._base("ticket", filters, "frt_agent")
        start, end = (_micros(bound) for bound in period.bounds())
        values = t["frt_business" if business else "frt"][base & (t["first_response"] >= start) &
                                                           (t["first_response"] < end)]  # fmt: skip
        values = values[values >= 0]
        return [{"low": low, "high": high, "count": int(np.count_nonzero((values >= low) & (
            (values < high) if high is not None else True)))} for low, high in FRT_BUCKETS]  # fmt: skip

    # the tables (``selectors.breakdown``)

    def breakdown(self, *, dimension: str, period, filters, now: datetime) -> list[dict]:
        """One row per agent, queue, channel or organization, as ``selectors.breakdown`` (the organization
        of each customer read in SQL: one query)."""
        from .selectors import SLA_KINDS as SLA_ORDER

        start, end = (_micros(bound) for bound in period.bounds())
        now_us = _micros(now)
        organizations = _organizations() if dimension == "organization" else None
        rows: dict = {}

        def keys(table: Table, column: str) -> np.ndarray:
            if organizations is None:
                return table[column].astype(np.int64)
            customers = table["customer"]
            inside = customers < len(organizations)
            found = np.zeros(len(customers), dtype=np.int64)  # 0: no organization
            found[inside] = organizations[customers[inside]]
            return found

        def key_of(code: int):
            if dimension == "channel":
                return CHANNELS[code - 1] if code > 0 else None
            return None if code == 0 and dimension in ("agent", "organization") else code

        def row(code: int) -> dict:
            key = key_of(code)
            return rows.setdefault(key, {"key": key, "created": 0, "resolved": 0, "reopened": 0, "frt_count": 0,
                                         "resolution_count": 0, "csat_answers": 0, "csat_positive": 0, "backlog": 0,
                                         **{f"sla_{kind}_{outcome}": 0 for kind in SLA_ORDER
                                            for outcome in ("met", "breached")}})  # fmt: skip

        def groups(table: Table, column: str, mask: np.ndarray):
            """The rows kept, the keys found (ascending) and each kept row's index among them."""
            codes = keys(table, column)
            mask = mask & (codes >= 0)
            codes = codes[mask]
            present = np.bincount(codes) if len(codes) else np.zeros(0, dtype=np.int64)
            found = np.flatnonzero(present)
            index = np.cumsum(present > 0) - 1
            return mask, found, index[codes] if len(codes) else np.zeros(0, dtype=np.int64)

        column = {"agent": "agent", "queue": "queue", "channel": "channel", "organization": "customer"}[dimension]
        t = self.tables["ticket"]
        created = (t["created"] >= start) & (t["created"] < end)
        resolved = (t["resolved"] >= start) & (t["resolved"] < end)
        mask, found, inverse = groups(t, column, self._base("ticket", filters) & (created | resolved))
        tallies = {name: np.bincount(inverse, weights=None if flags is None else flags[mask], minlength=len(found))
                   for name, flags in (("created", created), ("resolved", resolved),
                                       ("reopened", resolved & t["reopened"]))}  # fmt: skip
        cache = self._mask_cache  # None outside ``current()``
        durations = _grouped_durations("resolution_", t, "resolution", mask & resolved, inverse[resolved[mask]],
                                       len(found), cache=cache)  # fmt: skip
        for n, code in enumerate(found):
            row(int(code)).update({name: int(values[n]) for name, values in tallies.items()} | durations[n])
        frt_column = "frt_agent" if dimension == "agent" else column
        at = t["first_response"]
        mask, found, inverse = groups(t, frt_column, self._base("ticket", filters, "frt_agent") & (at >= start) &
                                      (at < end))  # fmt: skip
        durations = _grouped_durations("frt_", t, "frt", mask, inverse, len(found), cache=cache)
        for n, code in enumerate(found):
            row(int(code)).update(durations[n])
        s = self.tables["survey"]
        mask, found, inverse = groups(s, column, self._base("survey", filters) & (s["answered"] >= start) &
                                      (s["answered"] < end) & (s["kind"] == _code_of(SURVEY_KINDS, "csat")))  # fmt: skip
        answers = np.bincount(inverse, minlength=len(found))
        positive = np.bincount(inverse, weights=s["score"][mask] >= 4, minlength=len(found))
        for n, code in enumerate(found):
            row(int(code)).update({"csat_answers": int(answers[n]), "csat_positive": int(positive[n])})
        sla = self.tables["sla"]
        mask, found, inverse = groups(sla, column, self._base("sla", filters) & (sla["at"] >= start) &
                                      (sla["at"] < end))  # fmt: skip
        met, at = sla["met"][mask], sla["at"][mask]
        kinds = sla["kind"][mask]
        outcomes = {"met": met == MET_TRUE, "breached": (met == MET_FALSE) | ((met == MET_NONE) & (at <= now_us))}
        counts = {f"sla_{kind}_{outcome}": np.bincount(inverse, weights=(kinds == _code_of(SLA_KINDS, kind)) & hit,
                                                        minlength=len(found))
                  for kind in SLA_ORDER for outcome, hit in outcomes.items()}  # fmt: skip
        for n, code in enumerate(found):
            row(int(code)).update({name: int(values[n]) for name, values in counts.items()})
        spans = self.tables["span"]
        instant = min(end, now_us)
        mask, found, inverse = groups(spans, column, self._base("span", filters) & (spans["opened"] < instant) &
                                      (spans["resolved"] >= instant))  # fmt: skip
        backlog = np.bincount(inverse, minlength=len(found))
        for n, code in enumerate(found):
            row(int(code))["backlog"] = int(backlog[n])
        for found_row in rows.values():
            found_row["reopen_rate"] = _pct(found_row["reopened"], found_row["resolved"])
            found_row["csat"] = _pct(found_row["csat_positive"], found_row["csat_answers"])
            for kind in SLA_ORDER:
                done, missed = found_row[f"sla_{kind}_met"], found_row[f"sla_{kind}_breached"]
                found_row[f"sla_{kind}_compliance"] = _pct(done, done + missed)
            found_row["sla_met"] = sum(found_row[f"sla_{kind}_met"] for kind in SLA_ORDER)
            found_row["sla_breached"] = sum(found_row[f"sla_{kind}_breached"] for kind in SLA_ORDER)
            found_row["sla_compliance"] = _pct(found_row["sla_met"], found_row["sla_met"] + found_row["sla_breached"])
        return sorted(rows.values(), key=lambda found_row: (found_row["key"] is None, str(found_row["key"])))

    def created_by_channel(self, *, period, filters) -> dict[str, int]:
        t, base = self.tables["ticket"], self._base("ticket", filters)
        start, end = (_micros(bound) for bound in period.bounds())
        codes = t["channel"][base & (t["created"] >= start) & (t["created"] < end)]
        counts = np.bincount(codes, minlength=len(CHANNELS) + 1)
        return dict(sorted((CHANNELS[code - 1], int(counts[code])) for code in range(1, len(CHANNELS) + 1)
                           if counts[code]))  # fmt: skip

    def created_heatmap(self, *, period, filters) -> list[list[int]]:
        t, base = self.tables["ticket"], self._base("ticket", filters)
        start, end = (_micros(bound) for bound in period.bounds())
        created = t["created"][base & (t["created"] >= start) & (t["created"] < end)]
        local = (created + _offsets(created, period.tz, start, end)) // 10**6  # local wall-clock seconds
        days = local // 86_400
        cells = ((days + 3) % 7) * 24 + (local % 86_400) // 3600  # 1970-01-01 was a Thursday
        grid = np.bincount(cells, minlength=7 * 24).reshape(7, 24)
        return [[int(n) for n in row] for row in grid]


def _organizations() -> np.ndarray:
    """Each customer's organization, indexed by customer id (0, and any id past the end: none), in one query
    that reads only the customers in an organization (most have none: on 1M tickets and 100,000 customers,
    reading them all took 70 ms of the dashboard's time). Every fact's customer exists (tickets protect their
    customer), so the SQL's join drops no row and "not read" means "no organization"."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT id, organization_id FROM customers_customer WHERE organization_id IS NOT NULL")
        pairs = np.array(cursor.fetchall(), dtype=np.int64).reshape(-1, 2)
    lookup = np.zeros(int(pairs[:, 0].max(initial=0)) + 1, dtype=np.int64)
    lookup[pairs[:, 0]] = pairs[:, 1]
    return lookup


def _grouped_durations(prefix: str, table: Table, column: str, mask: np.ndarray, inverse: np.ndarray,
                       groups: int, *, cache: dict | None = None) -> list[dict]:  # fmt: skip
    """Per group (``inverse``: the group of each row of ``mask``), the count, mean, median and p90 of a
    duration, calendar and business, as ``selectors._durations``.

    The values are sorted once, and kept in ``cache`` for the same rows: the four tables of a dashboard group
    the same rows by agent, queue, channel and organization. Then the group numbers, taken in that order and
    sorted stably (a radix sort: they are small), put each group's rows in ascending order of value, so the
    row of rank k within group n is at offset(n) + k. Only the few ranks the percentiles need are looked up.
    (Before, one sort of (group, value) pairs per table and basis: sixteen sorts of up to 1M pairs, half of a
    12-month dashboard's time.)"""
    out = [{f"{prefix}count": int(n)} for n in np.bincount(inverse, minlength=groups)]
    small = np.uint8 if groups <= 1 << 8 else np.uint16 if groups <= 1 << 16 else np.int64
    rows = None  # the digest of ``mask``, computed once, when a cache is given
    for basis, name in (("", column), ("business_", f"{column}_business")):
        key = None
        if cache is not None:
            if rows is None:
                rows = hashlib.blake2b(np.packbits(mask).tobytes(), digest_size=16).digest()
            key = ("durations", name, len(mask), rows)
        if key is None or key not in cache:
            values = table[name][mask]
            valid = values >= 0
            values = values[valid]
            order = _ascending_order(values)
            found = (valid, values, order, values[order])
            if key is not None:
                cache[key] = found
        valid, values, order, ascending = found if key is None else cache[key]
        group = inverse[valid]
        within = np.argsort(group.astype(small)[order], kind="stable")  # rows by group, each ascending by value
        sizes = np.bincount(group, minlength=groups)
        sums = np.bincount(group, weights=values, minlength=groups)  # exact: integers below 2**53
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        for n in range(groups):
            size = int(sizes[n])
            out[n][f"{prefix}{basis}mean"] = pg_avg(int(sums[n]), size)
            for label, fraction in (("median", 0.5), ("p90", 0.9)):
                if not size:
                    out[n][f"{prefix}{basis}{label}"] = None
                    continue
                rank = fraction * (size - 1)
                low, high = math.floor(rank), math.ceil(rank)
                low_value = float(ascending[within[offsets[n] + low]])
                high_value = float(ascending[within[offsets[n] + high]])
                out[n][f"{prefix}{basis}{label}"] = (
                    low_value + (rank - low) * (high_value - low_value) if high > low else low_value
                )
    return out


def _ascending_order(values: np.ndarray) -> np.ndarray:
    """``np.argsort(values)`` for non-negative integers, in two stable radix passes of 16 bits each when they
    fit in 32 bits (durations in seconds do): 29 ms instead of 71 ms for 1M values."""
    if not len(values) or int(values.max()) >= 1 << 32:
        return np.argsort(values)
    first = np.argsort((values & 0xFFFF).astype(np.uint16), kind="stable")
    second = np.argsort((values >> 16).astype(np.uint16)[first], kind="stable")
    return first[second]


def _offsets(instants: np.ndarray, tz, start: int, end: int) -> np.ndarray:
    """The UTC offset (microseconds) of ``tz`` at each instant of [start, end): sampled daily, each change
    found to the second by bisection (at most one a day)."""

    def offset(micros: int) -> int:
        return (EPOCH + timedelta(microseconds=micros)).astimezone(tz).utcoffset() // timedelta(microseconds=1)

    day = 86_400 * 10**6
    samples = list(range(start, end + day, day))
    changes, offsets = [start], [offset(start)]
    for low, high in pairwise(samples):
        if offset(high) == offsets[-1]:
            continue
        while high - low > 10**6:
            middle = low + (high - low) // 2
            if offset(middle) == offsets[-1]:
                low = middle
            else:
                high = middle
        changes.append(high)
        offsets.append(offset(high))
    index = np.searchsorted(np.array(changes, dtype=np.int64), instants, side="right") - 1
    return np.array(offsets, dtype=np.int64)[np.maximum(index, 0)]


def _day_edges(days: list, tz, step: int = 1) -> np.ndarray:
    """The instants (microseconds) at which these local days begin, and the day ``step`` days after the last."""
    from datetime import time as clock

    days = [*days, days[-1] + timedelta(days=step)] if days else []
    return np.array([_micros(datetime.combine(day, clock.min, tzinfo=tz)) for day in days], dtype=np.int64)


def _bin_counts(instants: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """How many instants fall in each [edges[n], edges[n + 1])."""
    if len(edges) < 2:
        return np.zeros(0, dtype=np.int64)
    inside = instants[(instants >= edges[0]) & (instants < edges[-1])]
    return np.bincount(np.searchsorted(edges, inside, side="right") - 1, minlength=len(edges) - 1)


def _mondays(period) -> list:
    """The Mondays of the local weeks the period touches."""
    monday = period.start - timedelta(days=period.start.weekday())
    mondays = []
    while monday < period.end:
        mondays.append(monday)
        monday += timedelta(days=7)
    return mondays


def _code_of(values: list[str], value: str) -> int:
    return values.index(value) + 1 if value in values else -1


def _member(values: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """``np.isin(values, allowed)`` by a lookup table when the ids are dense enough."""
    if not len(allowed):
        return np.zeros(len(values), dtype=bool)
    top = int(max(values.max(initial=0), allowed.max()))
    if top > 50_000_000:
        return np.isin(values, allowed)
    lookup = np.zeros(top + 1, dtype=bool)
    lookup[allowed[allowed >= 0]] = True
    return lookup[values]


def _durations(prefix: str, table: Table, column: str, mask: np.ndarray) -> dict:
    """Count, mean, median and p90 of a duration, calendar and business, as ``selectors._durations``."""
    out = {f"{prefix}count": int(np.count_nonzero(mask))}
    for basis, name in (("", column), ("business_", f"{column}_business")):
        values = table[name][mask]
        values = values[values >= 0]  # absent: like SQL's NULL, left out of the mean and percentiles
        out[f"{prefix}{basis}mean"] = pg_avg(int(values.sum(dtype=np.int64)), len(values))
        out[f"{prefix}{basis}median"], out[f"{prefix}{basis}p90"] = pg_percentiles(values)
    return out


def _nps(promoters: int, detractors: int, answers: int) -> int | None:
    from .selectors import _nps

    return _nps(promoters, detractors, answers)


_SLA_ORDER = [SLATimer.Kind.FIRST_RESPONSE, SLATimer.Kind.NEXT_RESPONSE, SLATimer.Kind.RESOLUTION]
_KEY_ORDER: list[str] = []


def _ordered(figures: dict) -> dict:
    """The keys in the order of ``selectors.dashboard_figures_sql``."""
    if not _KEY_ORDER:
        durations = [f"{prefix}{key}" for prefix in ("frt_", "resolution_") for key in
                     ("count", "mean", "median", "p90", "business_mean", "business_median", "business_p90")]  # fmt: skip
        _KEY_ORDER.extend([
            "created", "resolved", "reopened", *durations, "reopen_rate",
            *(f"{kind}_{key}" for kind in SURVEY_KINDS for key in ("answers", "sent", "sent_answered")),
            "csat_positive", "nps_promoters", "nps_detractors", "ces",
            *(f"{kind}_response_rate" for kind in SURVEY_KINDS), "csat", "nps",
            *(f"sla_{kind}_{key}" for kind in _SLA_ORDER for key in ("met", "breached")),
            *(f"sla_{kind}_compliance" for kind in _SLA_ORDER), "backlog", "awaiting_first_response",
        ])  # fmt: skip
    return {key: figures[key] for key in _KEY_ORDER}


# --- one engine per database, per process --------------------------------------------------------

_engines: dict[tuple, Engine] = {}
_engines_lock = threading.Lock()


def engine(alias: str = "default") -> Engine:
    database = settings.DATABASES[alias]
    key = (alias, database.get("HOST"), database.get("PORT"), connections[alias].settings_dict["NAME"])
    with _engines_lock:
        if key not in _engines:
            _engines[key] = Engine(alias)
        return _engines[key]


def warm_up(alias: str = "default") -> float | None:
    """Load the fact tables now (seconds taken), then close the database connections: for gunicorn's master
    with the app preloaded (gunicorn.conf.py), before it forks the workers. Each worker then starts with the
    tables, shared with the others until it changes them (copy-on-write), and brings them up to date from the
    change feed on first use, instead of spending seconds (12 s on 1M tickets) on the first dashboard it
    serves and holding its own copy. Nothing is loaded (None) when the database cannot be read: the first
    use loads, as without a warm-up; the server must start even so."""
    from django.db import DatabaseError

    started = time.monotonic()
    try:
        with engine(alias).lock:
            engine(alias).load()
    except DatabaseError:
        return None
    finally:
        connections.close_all()  # a forked worker must not share the master's connection
    return time.monotonic() - started


def dashboard_figures(*, period, filters, now: datetime | None = None) -> dict:
    """``selectors.dashboard_figures_sql``, computed in memory: the same keys, values and types."""
    return engine().dashboard_figures(period=period, filters=filters, now=now or timezone.now())


def memory_rss_bytes() -> int:
    """The peak resident memory of this process (Linux: ``ru_maxrss`` is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
