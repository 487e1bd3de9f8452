"""Keeping the report facts equal to a recomputation from the raw tickets.

- ``facts_mark_stale``: the ticket services call it, in their transaction, for every change a fact depends
  on (one statement per call, whatever the batch size). The mark commits or rolls back with the change.
- ``facts_refresh``: compute the facts of some tickets again and store them; clears their stale marks
  unless marked again meanwhile. The beat sweep (``refresh_stale_facts_task``, every 30 seconds) refreshes
  whatever is marked, so the figures lag a change by half a minute at most and nothing is lost when Redis or
  the workers are down. ``refresh_facts_task`` refreshes given tickets now (idempotent).
- ``facts_rebuild`` / ``facts_verify``: every ticket, in batches (``manage.py reports_facts``).
- Every write to the fact tables, from here or anywhere, is recorded in the change feed (``FactChange``) by
  database triggers in the same transaction, for the in-memory engine (``reports.engine``);
  ``fact_changes_prune`` (the beat sweep) deletes what is older than a day.

Refreshes hold one transaction-level advisory lock while they write, so two of them never write the same
ticket's rows at once; each batch is short.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from tickets.models import Ticket

from .facts import FACT_FIELDS, SLA_FIELDS, SPAN_FIELDS, SURVEY_FIELDS, Calendars, Facts, facts_compute
from .models import FactChange, SLAFact, SpanFact, StaleFact, SurveyFact, TicketFact

BATCH = 2000
_LOCK_KEY = 0x5E_F0_8A_C7  # the advisory lock of fact writes


def facts_mark_stale(ticket_ids: Iterable[int] | QuerySet) -> None:
    """Mark tickets' facts out of date: one INSERT, also for a queryset of ticket ids
    (``Ticket.objects.filter(...).values("pk")``), which is read inside it. Call it inside the transaction
    that changes the tickets. The beat sweep (``refresh_stale_facts_task``, every 30 seconds) refreshes them:
    no task per change, so a busy desk does not queue one per reply, and nothing depends on Redis."""
    if isinstance(ticket_ids, QuerySet):
        select, params = ticket_ids.order_by().query.sql_with_params()
    else:
        ids = sorted({int(pk) for pk in ticket_ids if pk is not None})
        if not ids:
            return
        select, params = "SELECT unnest(%s::bigint[])", (ids,)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO reports_stalefact (ticket_id, version) SELECT DISTINCT ids.*, 1 FROM ({select}) ids "
            "ON CONFLICT (ticket_id) DO UPDATE SET version = reports_stalefact.version + 1",
            params,
        )


def _store(facts: Facts) -> None:
    ids = facts.ticket_ids
    kept = {fact.ticket_id for fact in facts.tickets}
    for model in (SpanFact, SLAFact, SurveyFact):
        model.objects.filter(ticket_id__in=ids).delete()
    TicketFact.objects.filter(ticket_id__in=[pk for pk in ids if pk not in kept]).delete()
    TicketFact.objects.bulk_create(
        facts.tickets, update_conflicts=True, unique_fields=["ticket"], update_fields=[f.removesuffix("_id") for f in
                                                                                     FACT_FIELDS]
    )  # fmt: skip
    SpanFact.objects.bulk_create(facts.spans, batch_size=BATCH)
    SLAFact.objects.bulk_create(facts.slas, batch_size=BATCH)
    SurveyFact.objects.bulk_create(facts.surveys, batch_size=BATCH)


def facts_refresh(ticket_ids: Iterable[int], *, calendars: Calendars | None = None) -> int:
    """Compute and store the facts of these tickets (merged-away or deleted ones: removed); their stale
    marks go unless they were marked again since they were read. Returns how many were refreshed."""
    ids = sorted(set(ticket_ids))
    if not ids:
        return 0
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
        versions = list(StaleFact.objects.filter(ticket_id__in=ids).values_list("ticket_id", "version"))
        _store(facts_compute(ids, calendars=calendars))
        if versions:
            with connection.cursor() as cursor:
                cursor.execute(
                    "DELETE FROM reports_stalefact s USING unnest(%s::bigint[], %s::int[]) AS v(id, version) "
                    "WHERE s.ticket_id = v.id AND s.version = v.version",
                    [[pk for pk, _v in versions], [v for _pk, v in versions]],
                )
    return len(ids)


def facts_refresh_stale(*, ticket_ids: Iterable[int] | None = None, limit: int = 100_000) -> int:
    """Refresh marked tickets: those of ``ticket_ids`` that are still marked (a task's), or all of them (the
    sweep), at most ``limit``. Idempotent."""
    done = 0
    wanted = None if ticket_ids is None else sorted(set(ticket_ids))
    after = 0
    while done < limit:
        rows = StaleFact.objects.filter(ticket_id__gt=after).order_by("ticket_id")
        if wanted is not None:
            rows = rows.filter(ticket_id__in=wanted)
        batch = list(rows.values_list("ticket_id", flat=True)[: min(BATCH, limit - done)])
        if not batch:
            break
        done += facts_refresh(batch)
        after = batch[-1]
    return done


def fact_changes_prune(*, keep: timedelta = timedelta(days=1)) -> int:
    """Delete the rows of the facts' change feed (``FactChange``) older than ``keep``; returns how many. The
    engine (``reports.engine``) reads the feed on every use and loads everything again after an hour unused,
    so a day is ample."""
    deleted, _by_model = FactChange.objects.filter(changed_at__lt=timezone.now() - keep).delete()
    return deleted


def _ticket_id_batches(batch: int) -> Iterable[list[int]]:
    after = 0
    while ids := list(Ticket.objects.filter(pk__gt=after).order_by("pk").values_list("pk", flat=True)[:batch]):
        yield ids
        after = ids[-1]


def _orphan() -> Exists:
    """Facts whose ticket is gone: an anti-join (``NOT IN`` a million ids degrades to a scan per row once
    the ids outgrow work_mem)."""
    return ~Exists(Ticket.objects.filter(pk=OuterRef("ticket_id")))


def facts_rebuild(*, batch: int = BATCH, progress: Callable[[int], None] | None = None) -> int:
    """Compute and store the facts of every ticket, in batches; returns the number of tickets."""
    calendars, done = Calendars(), 0
    for ids in _ticket_id_batches(batch):
        done += facts_refresh(ids, calendars=calendars)
        if progress:
            progress(done)
    # facts whose ticket is gone (deleted tickets cascade; this is belt and braces)
    TicketFact.objects.filter(_orphan()).delete()
    return done


@dataclass
class Verification:
    checked: int = 0
    stale: int = 0  # tickets marked for a refresh not run yet: not compared
    differences: list[str] = field(default_factory=list)


def _rows(objects, fields) -> dict[int, list[tuple]]:
    by_ticket = defaultdict(list)
    for obj in objects:
        by_ticket[obj.ticket_id].append(tuple(getattr(obj, name) for name in fields))
    return {pk: sorted(rows, key=repr) for pk, rows in by_ticket.items()}


def facts_verify(*, batch: int = BATCH, limit: int | None = None) -> Verification:
    """Compare the stored facts of every ticket with a recomputation from the raw tickets; every difference
    is listed (tickets marked stale are counted, not compared: their refresh is pending)."""
    result, calendars = Verification(), Calendars()
    for ids in _ticket_id_batches(batch):
        stale = set(StaleFact.objects.filter(ticket_id__in=ids).values_list("ticket_id", flat=True))
        result.stale += len(stale)
        ids = [pk for pk in ids if pk not in stale]
        fresh = facts_compute(ids, calendars=calendars)
        tables = [
            ("fact", fresh.tickets, TicketFact, FACT_FIELDS),
            ("span", fresh.spans, SpanFact, SPAN_FIELDS),
            ("sla", fresh.slas, SLAFact, SLA_FIELDS),
            ("survey", fresh.surveys, SurveyFact, SURVEY_FIELDS),
        ]
        for name, computed, model, fields in tables:
            expected = _rows(computed, fields)
            stored = _rows(model.objects.filter(ticket_id__in=ids), fields)
            for pk in sorted(set(expected) | set(stored)):
                want, have = expected.get(pk, []), stored.get(pk, [])
                if want == have:
                    continue
                if name == "fact" and want and have:
                    changed = [f"{f} stored {h!r}, recomputed {w!r}" for f, w, h in zip(fields, want[0], have[0],
                                                                                       strict=True) if w != h]  # fmt: skip
                    result.differences.append(f"ticket {pk}: " + "; ".join(changed))
                else:
                    result.differences.append(f"ticket {pk} {name} rows: stored {have!r}, recomputed {want!r}")
        result.checked += len(ids)
        if limit is not None and result.checked >= limit:
            break
    orphans = TicketFact.objects.filter(_orphan()).values_list("pk", flat=True)
    result.differences += [f"ticket {pk}: facts of a ticket that no longer exists" for pk in orphans]
    return result


# --- the weekly summary email -------------------------------------------------------------------


WEEKLY_SUMMARY_HOUR = 7  # Monday, local time of the default calendar


def weekly_summaries_send(*, now=None) -> int:
    """Send last week's headline figures (against the week before) to every active owner and admin who has
    not had them yet, each in their language; returns how many were sent. The week is Monday to Sunday in
    the default calendar's time zone, and nothing goes out before Monday 07:00 there (beat runs this every
    15 minutes; a desk whose workers were down on Monday morning gets it at their next run that week).
    Each email is recorded (``WeeklySummary``) in the transaction that sends it: a failed send leaves no
    record (a retry sends it), a second run finds the record and skips."""
    from django.conf import settings
    from django.db import IntegrityError
    from django.urls import reverse
    from django.utils import timezone, translation

    from helpdesk.calendars import Calendar
    from helpdesk.emails import send_email
    from helpdesk.models import User

    from .display import headline_rows, period_text
    from .models import WeeklySummary
    from .selectors import dashboard_figures_sql, last_week

    now = now or timezone.now()
    calendar = Calendar.default()
    time_zone = calendar.time_zone if calendar else settings.TIME_ZONE
    local = timezone.localtime(now, ZoneInfo(time_zone))
    if local.weekday() == 0 and local.hour < WEEKLY_SUMMARY_HOUR:
        return 0
    period = last_week(now=now, time_zone=time_zone)
    recipients = list(
        User.objects.filter(is_active=True, role__in=[User.Role.OWNER, User.Role.ADMIN])
        .exclude(pk__in=WeeklySummary.objects.filter(week_start=period.start).values("user_id"))
        .order_by("pk")
    )
    if not recipients:
        return 0
    # in SQL: once a week does not justify loading the facts into a worker's memory (reports.engine)
    figures = dashboard_figures_sql(period=period, now=now)
    url = f"{settings.SITE_URL}{reverse('reports:dashboard')}?period=custom&start={period.start}" \
          f"&end={period.end - timedelta(days=1)}&tz={period.time_zone}"  # fmt: skip
    sent = 0
    for user in recipients:
        language = user.language or settings.LANGUAGE_CODE
        try:
            with transaction.atomic():
                WeeklySummary.objects.create(user=user, week_start=period.start)
                with translation.override(language):
                    context = {"user": user, "rows": headline_rows(figures, business=True), "dashboard_url": url,
                               "week": period_text(period.start, period.end), "time_zone": period.time_zone}  # fmt: skip
                send_email(name="weekly_summary", to=[user.email], context=context, language=language)
        except IntegrityError:
            continue  # sent by another run meanwhile
        sent += 1
    return sent
