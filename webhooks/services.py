"""Webhooks: subscriptions (saved, disabled, their secret rolled), the dispatcher that turns the tickets'
audit trail and the survey answers into deliveries, and the delivery attempts with their retry schedule.

Nothing in the ticket services knows about webhooks beyond ``webhooks_kick``: every change already writes
a ``TicketEvent`` in its transaction, and the dispatcher (a beat task every few seconds, and a task queued
on commit by the kick) reads those rows. The retry schedule lives in the database (``next_attempt_at``),
so deliveries survive a restart of Redis or the workers; the beat's sweep queues what is due.
"""

import http.client
import logging
import random
import socket
import ssl
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from helpdesk.audit import audit_record
from helpdesk.emails import send_email
from helpdesk.errors import ValidationError
from helpdesk.models import User
from tickets.models import TicketEvent
from tickets.surveys.models import Survey

from . import payloads
from .addresses import BlockedAddress, resolve
from .models import Event, WebhookAttempt, WebhookCursor, WebhookDelivery, WebhookEvent, WebhookSubscription
from .signing import SIGNATURE_HEADER, signature_header

log = logging.getLogger(__name__)

TICKET_EVENTS, SURVEYS = "ticket_events", "surveys"  # the dispatcher's cursors
BATCH = 500  # rows read per transaction of the dispatcher
MAX_BATCHES = 20  # per run; the next run goes on
MAX_PENDING_IDS = 5000  # missing ticket-event ids looked for again (in-flight transactions); the newest kept
SURVEY_OVERLAP = timedelta(minutes=10)  # survey answers read again on each run (committed late)
QUEUED_STALE = timedelta(minutes=2)  # a delivery queued this long ago and not attempted is queued again
DUE_BATCH = 500
RETRY_BASE_SECONDS, RETRY_FACTOR, RETRY_JITTER = 60, 3, 0.1
EXCERPT_CHARS = 500
USER_AGENT = "HelpDesk-Webhooks/1.0"
ACTIVE_FLAG, ACTIVE_FLAG_SECONDS, ACTIVE_MEMO_SECONDS = "webhooks:active", 60, 2.0
KEPT_ON_SAVE = ["secret", "failing_since", "last_success_at", "disabled_at", "disabled_reason", "admins_told_at"]


# --- subscriptions -------------------------------------------------------------------------------


@transaction.atomic
def webhook_subscription_save(*, subscription: WebhookSubscription, actor: User | None) -> WebhookSubscription:
    """Create or change a subscription (from the admin). Turning it off gives up its pending deliveries;
    turning it on again clears its failure record. Written to the audit log."""
    creating = subscription._state.adding
    was_active = subscription.is_active
    if not creating:  # what the workers keep (health) and the secret are the row's, not the form's copy
        current = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
        was_active = current.is_active
        for name in KEPT_ON_SAVE:
            setattr(subscription, name, getattr(current, name))
    subscription.events = [name for name in Event.values if name in set(subscription.events or ())]
    subscription.full_clean()
    now = timezone.now()
    if creating:
        subscription.created_by = actor
    if subscription.is_active and not was_active:
        subscription.failing_since = subscription.disabled_at = subscription.admins_told_at = None
        subscription.disabled_reason = ""
    elif not subscription.is_active and was_active:
        subscription.disabled_at = now
        subscription.disabled_reason = _("Disabled by %(name)s.") % {"name": actor or _("the system")}
    subscription.save()
    if not subscription.is_active and was_active:
        _give_up_pending(subscription, reason=_("The webhook was disabled."))
    if creating:
        _cursors_start(now)
    audit_record(actor=actor, action="webhook.create" if creating else "webhook.update",
                 target=f"webhook {subscription.pk}", url=subscription.url, events=subscription.events,
                 active=subscription.is_active)  # fmt: skip
    transaction.on_commit(_active_flag_refresh, robust=True)
    return subscription


@transaction.atomic
def webhook_subscription_delete(*, subscription: WebhookSubscription, actor: User | None) -> None:
    """Delete a subscription with its delivery log."""
    audit_record(actor=actor, action="webhook.delete", target=f"webhook {subscription.pk}", url=subscription.url)
    subscription.delete()
    transaction.on_commit(_active_flag_refresh, robust=True)


@transaction.atomic
def webhook_subscription_roll_secret(*, subscription: WebhookSubscription, actor: User | None) -> str:
    """A new signing secret, used from the next attempt on; returns it."""
    from .models import new_secret

    subscription.secret = new_secret()
    subscription.save(update_fields=["secret"])
    audit_record(actor=actor, action="webhook.roll_secret", target=f"webhook {subscription.pk}", url=subscription.url)
    return subscription.secret


@transaction.atomic
def webhook_subscription_disable(*, subscription_id: int, reason: str, now: datetime | None = None) -> bool:
    """Disable a subscription that kept failing, give up its pending deliveries and tell the admins (by
    email, after commit). False if it was not active."""
    subscription = WebhookSubscription.objects.select_for_update().filter(pk=subscription_id, is_active=True).first()
    if subscription is None:
        return False
    subscription.is_active, subscription.disabled_at = False, now or timezone.now()
    subscription.disabled_reason, subscription.admins_told_at = reason[:255], None
    subscription.save(update_fields=["is_active", "disabled_at", "disabled_reason", "admins_told_at"])
    _give_up_pending(subscription, reason=_("The webhook was disabled."))
    audit_record(actor=None, action="webhook.disable", target=f"webhook {subscription.pk}", url=subscription.url,
                 reason=reason)  # fmt: skip
    from .tasks import webhook_disabled_notify_task

    webhook_disabled_notify_task.delay_on_commit(subscription.pk)
    transaction.on_commit(_active_flag_refresh, robust=True)
    return True


def webhook_subscription_tell_admins(*, subscription_id: int) -> int:
    """Email every active owner and admin (each in their language) that a subscription was disabled
    automatically; returns how many were told. Once per disabling: a task run twice tells them once."""
    with transaction.atomic():
        subscription = WebhookSubscription.objects.select_for_update().filter(pk=subscription_id).first()
        if subscription is None:  # deleted by an admin since it was disabled
            return 0
        if subscription.is_active or subscription.disabled_at is None or subscription.admins_told_at is not None:
            return 0
        admins = list(User.objects.filter(is_active=True, role__in=[User.Role.OWNER, User.Role.ADMIN]).order_by("pk"))
        url = settings.SITE_URL.rstrip("/") + reverse("admin:webhooks_webhooksubscription_change",
                                                      args=[subscription.pk])  # fmt: skip
        for user in admins:
            send_email(name="webhook_disabled", to=[user.email], language=user.language or settings.LANGUAGE_CODE,
                       context={"user": user, "subscription": subscription, "url": url,
                                "days": settings.WEBHOOK_DISABLE_AFTER_DAYS})  # fmt: skip
        subscription.admins_told_at = timezone.now()
        subscription.save(update_fields=["admins_told_at"])
    return len(admins)


def _give_up_pending(subscription: WebhookSubscription, *, reason: str) -> int:
    return subscription.deliveries.filter(status=WebhookDelivery.Status.PENDING).update(
        status=WebhookDelivery.Status.FAILED, next_attempt_at=None, queued_at=None, last_error=reason[:500]
    )


# --- the kick and the "any webhook active?" flag ----------------------------------------------------

_active_memo = {"value": False, "until": 0.0}  # this process's copy of the flag, for a couple of seconds


def webhooks_kick() -> None:
    """Ask for a dispatch right after the current transaction commits (once per transaction), when any
    webhook is active. Called where ticket events and survey answers are written. Costs no query and never
    fails the caller; without it the beat's dispatch finds the rows a few seconds later."""
    connection = transaction.get_connection()
    if any(func is _dispatch_soon for _ids, func, _robust in connection.run_on_commit):
        return
    if _any_active():
        transaction.on_commit(_dispatch_soon, robust=True)


def _dispatch_soon() -> None:
    from .tasks import webhooks_dispatch_task

    webhooks_dispatch_task.delay()


def _any_active() -> bool:
    if _active_memo["until"] > time.monotonic():
        return _active_memo["value"]
    try:
        value = bool(cache.get(ACTIVE_FLAG))
    except Exception:  # Redis down: the beat dispatches once it is back
        value = False
    _active_memo.update(value=value, until=time.monotonic() + ACTIVE_MEMO_SECONDS)
    return value


def _active_flag_set(value: bool) -> None:
    _active_memo.update(value=value, until=time.monotonic() + ACTIVE_MEMO_SECONDS)
    try:
        cache.set(ACTIVE_FLAG, value, ACTIVE_FLAG_SECONDS)
    except Exception:
        log.warning("webhooks: could not store the active flag in the cache", exc_info=True)


def _active_flag_refresh() -> None:
    _active_flag_set(WebhookSubscription.objects.filter(is_active=True).exists())


# --- the dispatcher: ticket events and survey answers -> deliveries ---------------------------------


@dataclass
class _Item:
    """One event to make: its name, what it comes from (unique), and what its ``data`` is built from."""

    name: str
    source: str
    occurred_at: datetime
    ticket_id: int
    message_id: int | None = None
    survey: Survey | None = None
    extra: dict = field(default_factory=dict)


def webhooks_dispatch(*, now: datetime | None = None) -> int:
    """Turn the ticket events and survey answers written since the last run into deliveries (one per event
    and subscription that wants it), and queue them after commit; returns how many were made. Safe to run
    concurrently (one run at a time reads each source; the others skip it) and again (nothing twice)."""
    made = 0
    for _batch in range(MAX_BATCHES):
        count, more = _dispatch_ticket_events(now or timezone.now())
        made += count
        if not more:
            break
    return made + _dispatch_survey_answers(now or timezone.now())


def _active_subscriptions() -> list[WebhookSubscription]:
    subscriptions = list(WebhookSubscription.objects.filter(is_active=True).order_by("pk"))
    _active_flag_set(bool(subscriptions))
    return subscriptions


def _cursor(source: str, now: datetime) -> WebhookCursor | None:
    """The source's cursor, locked; None while another run holds it (or on the very first run, which only
    starts the cursors at the present)."""
    cursor = WebhookCursor.objects.select_for_update(skip_locked=True).filter(source=source).first()
    if cursor is None and not WebhookCursor.objects.filter(source=source).exists():
        _cursors_start(now)
    return cursor


def _cursors_start(now: datetime) -> None:
    """Start the cursors at the present, if they are not there yet: no webhook gets the past."""
    WebhookCursor.objects.bulk_create([WebhookCursor(source=TICKET_EVENTS, last_id=_last_ticket_event_id()),
                                       WebhookCursor(source=SURVEYS, last_time=now)], ignore_conflicts=True)  # fmt: skip


def _last_ticket_event_id() -> int:
    """The last id the ticket events' sequence handed out (rows of it may still be uncommitted)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_sequence_last_value(pg_get_serial_sequence(%s, 'id'))", [TicketEvent._meta.db_table])
        return cursor.fetchone()[0] or 0


@transaction.atomic
def _dispatch_ticket_events(now: datetime) -> tuple[int, bool]:
    """One batch of ticket events: (deliveries made, whether there may be more)."""
    cursor = _cursor(TICKET_EVENTS, now)
    if cursor is None:
        return 0, False
    subscriptions = _active_subscriptions()
    if not subscriptions:  # nobody listens: move on to the present
        cursor.last_id = max(cursor.last_id, _last_ticket_event_id())
        cursor.pending = {}
        cursor.save()
        return 0, False
    cutoff = now.timestamp() - settings.WEBHOOK_DISPATCH_GAP_SECONDS
    pending = {int(pk): seen for pk, seen in cursor.pending.items() if seen > cutoff}
    rows = list(TicketEvent.objects.filter(Q(pk__gt=cursor.last_id) | Q(pk__in=list(pending)))
                .select_related("actor", "actor_customer").order_by("pk")[:BATCH])  # fmt: skip
    seen = {row.pk for row in rows}
    for pk in seen:
        pending.pop(pk, None)
    newest = max((pk for pk in seen if pk > cursor.last_id), default=cursor.last_id)
    missing = (pk for pk in range(newest - 1, cursor.last_id, -1) if pk not in seen)  # newest first
    for pk in missing:
        if len(pending) >= MAX_PENDING_IDS:
            break
        pending[pk] = now.timestamp()
    cursor.last_id = newest
    cursor.pending = {str(pk): seen_at for pk, seen_at in sorted(pending.items())[-MAX_PENDING_IDS:]}
    made = _deliveries_make(_ticket_event_items(rows), subscriptions, now)
    cursor.save()
    return made, len(rows) == BATCH


def _ticket_event_items(rows: Sequence[TicketEvent]) -> list[_Item]:
    """The events of audit rows: a ticket's field changes written together are one ticket.updated; a status
    change to solved is a ticket.solved too; rule and automation rows only describe changes recorded by
    rows of their own."""
    Kind = TicketEvent.Kind
    items, updates = [], {}
    for row in rows:
        actor = payloads.actor_data(row.actor, row.actor_customer)
        source = f"ticket_event:{row.pk}"
        if row.kind == Kind.CREATED:
            items.append(_Item(Event.TICKET_CREATED, source, row.created_at, row.ticket_id, extra={"actor": actor}))
        elif row.kind == Kind.MESSAGE and row.message_id is not None:
            items.append(_Item(Event.MESSAGE_CREATED, source, row.created_at, row.ticket_id, message_id=row.message_id))
        elif row.kind == Kind.SLA and row.new_value == "breached":
            items.append(_Item(Event.SLA_BREACHED, source, row.created_at, row.ticket_id, extra={"target": row.field}))
        elif row.kind in (Kind.FIELD, Kind.MERGED, Kind.LINKED):
            update = updates.get((row.ticket_id, row.created_at))
            if update is None:
                update = updates[row.ticket_id, row.created_at] = _Item(
                    Event.TICKET_UPDATED, source, row.created_at, row.ticket_id, extra={"changes": [], "actor": actor}
                )
                items.append(update)
            update.extra["changes"].append({"field": row.field, "old": row.old_value, "new": row.new_value})
            if row.field == "status" and row.new_value == "solved":
                items.append(_Item(Event.TICKET_SOLVED, f"{source}:solved", row.created_at, row.ticket_id,
                                   extra={"actor": actor}))  # fmt: skip
    return items


@transaction.atomic
def _dispatch_survey_answers(now: datetime) -> int:
    cursor = _cursor(SURVEYS, now)
    if cursor is None:
        return 0
    subscriptions = [s for s in _active_subscriptions() if Event.SURVEY_ANSWERED in s.events]
    made, last_time = 0, now
    if subscriptions:
        since = (cursor.last_time or now) - SURVEY_OVERLAP
        surveys = list(Survey.objects.filter(answered_at__gt=since, answered_at__lte=now)
                       .order_by("answered_at", "pk")[:BATCH])  # fmt: skip
        if len(surveys) == BATCH:
            last_time = surveys[-1].answered_at
        items = [_Item(Event.SURVEY_ANSWERED, f"survey:{s.pk}:{int(s.answered_at.timestamp() * 1_000_000)}",
                       s.answered_at, s.ticket_id, survey=s) for s in surveys]  # fmt: skip
        made = _deliveries_make(items, subscriptions, now)
    cursor.last_time = max(last_time, cursor.last_time or last_time)
    cursor.save()
    return made


def _deliveries_make(items: Sequence[_Item], subscriptions: Sequence[WebhookSubscription], now: datetime) -> int:
    """The events of ``items`` that someone wants (and that were not made before), with one delivery per
    subscription that wants each, queued after commit. A subscription gets only what happened after it was
    created. A fixed number of queries for any number of items."""
    wanted = [(item, [s for s in subscriptions if s.wants(item.name) and s.created_at <= item.occurred_at])
              for item in items]  # fmt: skip
    wanted = [(item, subs) for item, subs in wanted if subs]
    if not wanted:
        return 0
    made_before = set(WebhookEvent.objects.filter(source__in=[item.source for item, _subs in wanted])
                      .values_list("source", flat=True))  # fmt: skip
    wanted = [(item, subs) for item, subs in wanted if item.source not in made_before]
    if not wanted:
        return 0
    tickets = payloads.tickets_data(item.ticket_id for item, _subs in wanted)
    message_ids = [item.message_id for item, _subs in wanted if item.message_id is not None]
    messages = payloads.messages_data(message_ids) if message_ids else {}
    events, targets = [], []
    for item, subs in wanted:
        data = _data(item, tickets, messages)
        if data is None:  # the ticket or message is gone (erased) since
            continue
        uid = uuid.uuid4()
        body = payloads.body(uid=uid, name=item.name, occurred_at=item.occurred_at, data=data)
        events.append(WebhookEvent(uid=uid, name=item.name, source=item.source, body=body,
                                   occurred_at=item.occurred_at, created_at=now))  # fmt: skip
        targets.append(subs)
    WebhookEvent.objects.bulk_create(events)
    deliveries = WebhookDelivery.objects.bulk_create([
        WebhookDelivery(subscription=subscription, event=event, next_attempt_at=now, queued_at=now, created_at=now)
        for event, subs in zip(events, targets, strict=True) for subscription in subs
    ])  # fmt: skip
    transaction.on_commit(partial(_queue, [delivery.pk for delivery in deliveries]), robust=True)
    return len(deliveries)


def _data(item: _Item, tickets: dict, messages: dict) -> dict | None:
    ticket = tickets.get(item.ticket_id)
    if ticket is None:
        return None
    if item.name == Event.MESSAGE_CREATED:
        message = messages.get(item.message_id)
        return None if message is None else {"ticket": ticket, "message": message}
    if item.name == Event.SURVEY_ANSWERED:
        return {"ticket": ticket, "survey": payloads.survey_data(item.survey)}
    return {"ticket": ticket, **item.extra}


def _queue(delivery_ids: Iterable[int]) -> None:
    from .tasks import webhook_deliver_task

    for delivery_id in delivery_ids:
        webhook_deliver_task.delay(delivery_id)


# --- deliveries: attempts, retries, redelivery ----------------------------------------------------


def webhook_retry_delay(attempt: int, *, jitter: float | None = None) -> timedelta:
    """How long after its ``attempt``-th failed attempt a delivery is tried again: 1, 3, 9, 27 and 81
    minutes, 4 h 3 min, 12 h 9 min (each plus up to 10 %, so that deliveries that failed together do not
    all come back in the same second). With 8 attempts the last is about 18 to 20 hours after the first."""
    jitter = random.random() if jitter is None else jitter
    return timedelta(seconds=RETRY_BASE_SECONDS * RETRY_FACTOR ** (attempt - 1) * (1 + RETRY_JITTER * jitter))


def webhook_deliveries_queue_due(*, now: datetime | None = None) -> int:
    """Queue a task for each pending delivery that is due and not queued lately (retries, and deliveries
    whose task was lost with Redis or a worker); returns how many."""
    now = now or timezone.now()
    with transaction.atomic():
        ids = list(WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now,
                                                  subscription__is_active=True)
                   .filter(Q(queued_at__isnull=True) | Q(queued_at__lt=now - QUEUED_STALE))
                   .order_by("next_attempt_at").values_list("pk", flat=True)[:DUE_BATCH])  # fmt: skip
        if ids:
            WebhookDelivery.objects.filter(pk__in=ids).update(queued_at=now)
            transaction.on_commit(partial(_queue, ids), robust=True)
    return len(ids)


@dataclass(frozen=True)
class _Response:
    started_at: datetime
    duration_ms: int
    status_code: int | None = None
    excerpt: str = ""
    error: str = ""

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def webhook_delivery_attempt(*, delivery_id: int) -> WebhookDelivery | None:
    """Make the next attempt of a delivery, if it is due and its webhook is active (None otherwise: a task
    run twice sends once). The delivery is claimed first (its next attempt moved past the request's
    timeout), so two workers never send it at the same time, and a worker lost mid-request leaves it to
    be tried again. The outcome is logged and the next attempt scheduled."""
    now = timezone.now()
    lease = now + timedelta(seconds=2 * settings.WEBHOOK_TIMEOUT_SECONDS + 60)
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now, subscription__is_active=True
    ).update(next_attempt_at=lease, queued_at=None, attempt_count=F("attempt_count") + 1, last_attempt_at=now)
    if not claimed:
        return None
    delivery = WebhookDelivery.objects.select_related("subscription", "event").get(pk=delivery_id)
    response = _post(delivery)
    return _attempt_record(delivery, response)


def _post(delivery: WebhookDelivery) -> _Response:
    """POST the event's body to the subscription's URL: only to a public address (``webhooks.addresses``,
    the very address checked), no redirects followed, no proxy, an explicit timeout; at most EXCERPT_CHARS
    of the answer are read."""
    subscription, body = delivery.subscription, delivery.event.body.encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Helpdesk-Event": delivery.event.name,
        "X-Helpdesk-Delivery": str(delivery.uid),
        SIGNATURE_HEADER: signature_header(subscription.secret, body),
    }
    url = urlsplit(subscription.url)
    path = (url.path or "/") + (f"?{url.query}" if url.query else "")
    timeout = settings.WEBHOOK_TIMEOUT_SECONDS
    started_at, start = timezone.now(), time.monotonic()
    status_code, excerpt, error = None, "", ""
    try:
        address = resolve(url.hostname, url.port or (443 if url.scheme == "https" else 80))
        if url.scheme == "https":  # the certificate is checked against the host name, as always
            connection = http.client.HTTPSConnection(url.hostname, url.port, timeout=timeout,
                                                     context=ssl.create_default_context())  # fmt: skip
        else:
            connection = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
        connection._create_connection = partial(_connect, address)
        try:
            connection.request("POST", path, body=body, headers=headers)
            answer = connection.getresponse()
            status_code = answer.status
            excerpt = answer.read(EXCERPT_CHARS * 4).decode("utf-8", "replace")[:EXCERPT_CHARS]
        finally:
            connection.close()
    except BlockedAddress as refusal:
        error = str(refusal)
    except (OSError, http.client.HTTPException, ValueError) as exc:  # refused, timed out, TLS, bad answer
        error = f"{type(exc).__name__}: {exc}"[:500]
    except Exception as exc:  # a failed attempt all the same (logged): never a delivery claimed for ever
        log.exception("webhooks: delivery %s to %s failed unexpectedly", delivery.uid, url.hostname)
        error = f"{type(exc).__name__}: {exc}"[:500]
    duration_ms = int((time.monotonic() - start) * 1000)
    if status_code is not None and not 200 <= status_code < 300:
        error = _("The receiver answered %(code)s.") % {"code": status_code}
    return _Response(started_at, duration_ms, status_code, excerpt, error)


def _connect(address: tuple, _requested: tuple, timeout: float, source_address=None) -> socket.socket:
    """http.client's connect, to the address ``resolve`` checked rather than to the name resolved again."""
    return socket.create_connection(address[:2], timeout, source_address)


@transaction.atomic
def _attempt_record(delivery: WebhookDelivery, response: _Response) -> WebhookDelivery:
    now = timezone.now()
    delivery = (WebhookDelivery.objects.select_for_update(of=("self",)).select_related("subscription", "event")
                .get(pk=delivery.pk))  # fmt: skip
    WebhookAttempt.objects.create(delivery=delivery, number=delivery.attempt_count, started_at=response.started_at,
                                  duration_ms=response.duration_ms, status_code=response.status_code,
                                  response_excerpt=response.excerpt, error=response.error,
                                  succeeded=response.succeeded)  # fmt: skip
    delivery.last_status_code, delivery.last_error = response.status_code, response.error
    delivery.last_duration_ms = response.duration_ms
    if response.succeeded:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = WebhookDelivery.Status.SUCCEEDED, now, None
    elif delivery.status != WebhookDelivery.Status.PENDING:
        pass  # given up meanwhile (its webhook was disabled)
    elif delivery.attempt_count >= settings.WEBHOOK_MAX_ATTEMPTS:
        delivery.status, delivery.next_attempt_at = WebhookDelivery.Status.FAILED, None
    else:
        delivery.next_attempt_at = now + webhook_retry_delay(delivery.attempt_count)
    delivery.save(update_fields=["status", "delivered_at", "next_attempt_at", "last_status_code", "last_error",
                                 "last_duration_ms"])  # fmt: skip
    _health_record(delivery.subscription_id, succeeded=response.succeeded, at=response.started_at, now=now)
    return delivery


def _health_record(subscription_id: int, *, succeeded: bool, at: datetime, now: datetime) -> None:
    """A success clears the subscription's failure record; a failure starts it, and disables the subscription
    once it is WEBHOOK_DISABLE_AFTER_DAYS old."""
    subscriptions = WebhookSubscription.objects.filter(pk=subscription_id)
    if succeeded:
        subscriptions.update(failing_since=None, last_success_at=now)
        return
    subscriptions.filter(failing_since__isnull=True).update(failing_since=at)
    days = settings.WEBHOOK_DISABLE_AFTER_DAYS
    failing_since = (subscriptions.filter(is_active=True, failing_since__lte=now - timedelta(days=days))
                     .values_list("failing_since", flat=True).first())  # fmt: skip
    if failing_since is not None:
        reason = _("Every attempt failed for %(days)s days (since %(since)s UTC).") % {
            "days": days, "since": f"{failing_since:%Y-%m-%d %H:%M}"}  # fmt: skip
        webhook_subscription_disable(subscription_id=subscription_id, reason=reason, now=now)


@transaction.atomic
def webhook_delivery_redeliver(*, delivery: WebhookDelivery, actor: User | None) -> WebhookDelivery:
    """Send a delivery again now (the admin's "Redeliver"), with the same body and delivery id, and the
    whole retry schedule again if it fails."""
    delivery = (WebhookDelivery.objects.select_for_update(of=("self",)).select_related("subscription", "event")
                .get(pk=delivery.pk))  # fmt: skip
    if not delivery.subscription.is_active:
        raise ValidationError(_("The webhook is disabled: enable it first."))
    now = timezone.now()
    delivery.status, delivery.attempt_count = WebhookDelivery.Status.PENDING, 0
    delivery.next_attempt_at = delivery.queued_at = now
    delivery.save(update_fields=["status", "attempt_count", "next_attempt_at", "queued_at"])
    audit_record(actor=actor, action="webhook.redeliver", target=f"webhook delivery {delivery.uid}",
                 webhook=delivery.subscription_id, event=delivery.event.name)  # fmt: skip
    transaction.on_commit(partial(_queue, [delivery.pk]), robust=True)
    return delivery


def webhook_events_purge(*, now: datetime | None = None) -> int:
    """Delete the events (with their deliveries and attempts) older than WEBHOOK_LOG_DAYS that are no longer
    being delivered; returns how many events."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.WEBHOOK_LOG_DAYS)
    deleted = 0
    while True:
        ids = list(WebhookEvent.objects.filter(created_at__lt=cutoff)
                   .exclude(deliveries__status=WebhookDelivery.Status.PENDING)
                   .values_list("pk", flat=True)[:1000])  # fmt: skip
        if not ids:
            return deleted
        with transaction.atomic():
            WebhookEvent.objects.filter(pk__in=ids).delete()
        deleted += len(ids)
