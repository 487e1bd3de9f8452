"""Merging two customer records that are one person (two addresses, a typo, an import).

Everything of the source moves to the target: tickets, survey answers, messages and ticket events it
wrote, notes, preferences, other addresses and its record's history; its primary address becomes one of
the target's other addresses, so mail from it keeps joining the same customer. Then the source is deleted.
Nothing is ever cascade-deleted with it: every foreign key to ``Customer`` is moved, including ones added
after this module was written (``_move_the_rest``).
"""

from django.db import transaction
from django.db.models import F, Func, Value
from django.utils.translation import gettext as _

from helpdesk.audit import audit_record
from helpdesk.errors import ValidationError

from .models import Customer, CustomerEmail, CustomerEvent, CustomerPreference

# The profile fields an empty value of the target's takes from the source.
FILLED_FIELDS = ["name", "phone", "language", "time_zone"]


def _shown(value) -> str:
    if isinstance(value, list):
        return ", ".join(value)
    return "" if value is None else str(value)


def _empty(value) -> bool:
    return value is None or value == "" or value == []


@transaction.atomic
def customer_merge(*, source: Customer, target: Customer, actor) -> Customer:
    """Merge ``source`` into ``target`` and delete ``source``; returns the target as saved.

    The target's values win: its profile fields, custom field values and preferences (keys compared
    case-insensitively) are kept, and only its empty ones are filled from the source; tags are the union.
    On the target's timeline: one ``merged`` event (``old_value`` the source's id, ``new_value`` its name
    and address) and a ``changed`` event per field filled in. In the audit log: ids and counts only, no
    address (the audit log is never erased; the customer's timeline is).
    """
    if source.pk == target.pk:
        raise ValidationError(_("A customer cannot be merged into itself."))
    # Lock both rows in id order, so that two merges of the same pair cannot deadlock.
    locked = {
        c.pk: c for c in Customer.objects.select_for_update().filter(pk__in=[source.pk, target.pk]).order_by("pk")
    }
    if len(locked) < 2:
        raise ValidationError(_("One of the two customers no longer exists (merged or deleted meanwhile)."))
    source, target = locked[source.pk], locked[target.pk]

    moved = _move_tickets(source, target)
    moved |= _move_preferences(source, target)
    moved |= _move_the_rest(source, target)
    # The source's primary address becomes another address of the target (mail from it joins the target).
    # customers.services keeps any other row from holding this address; should bad data have one anyway,
    # that row stays as it is (ON CONFLICT DO NOTHING) rather than failing the merge.
    CustomerEmail.objects.bulk_create([CustomerEmail(customer=target, email=source.email)], ignore_conflicts=True)

    events = [CustomerEvent(customer=target, actor=actor, kind=CustomerEvent.Kind.MERGED, field="merged_from",
                            old_value=str(source.pk), new_value=str(source))]  # fmt: skip
    events += _fill_in(source, target, actor)
    target.save()
    CustomerEvent.objects.bulk_create(events)
    audit_record(actor=actor, action="customer.merge", target=f"customer {target.pk}", source_id=source.pk,
                 target_id=target.pk, moved=moved)  # fmt: skip
    source.delete()
    return target


def _move_tickets(source: Customer, target: Customer) -> dict[str, int]:
    """The source's tickets join the target; the target's own address is no longer copied in on them
    (replies go to it anyway)."""
    from reports.services import facts_mark_stale
    from tickets.models import Ticket

    without_target = Func(F("email_cc"), Value(target.email.lower()), function="array_remove")
    facts_mark_stale(Ticket.objects.filter(customer=source).values("pk"))
    count = Ticket.objects.filter(customer=source).update(customer=target, email_cc=without_target)
    return {"tickets": count}


def _move_preferences(source: Customer, target: Customer) -> dict[str, int]:
    """Preferences move, except those whose key the target has too (in any case): the target's value wins."""
    preferences = list(CustomerPreference.objects.filter(customer__in=[source.pk, target.pk]).only("customer", "key"))
    taken = {p.key.lower() for p in preferences if p.customer_id == target.pk}
    theirs = [p for p in preferences if p.customer_id == source.pk]
    duplicates = [p.pk for p in theirs if p.key.lower() in taken]
    if duplicates:
        CustomerPreference.objects.filter(pk__in=duplicates).delete()
    count = len(theirs) - len(duplicates)
    if count:
        CustomerPreference.objects.filter(customer=source).update(customer=target)
    return {"preferences": count, "preferences_dropped": len(duplicates)}


def _move_the_rest(source: Customer, target: Customer) -> dict[str, int]:
    """Every other foreign key to Customer, found from the model's relations (not a list kept by hand, which
    would fall behind): notes, other addresses, events, surveys, messages' and ticket events' authors…"""
    from tickets.models import Ticket

    done = {Ticket, CustomerPreference}
    moved = {}
    for relation in Customer._meta.related_objects:
        model = relation.related_model
        if model in done:
            continue
        if relation.many_to_many:  # none today; their rows would vanish with the source
            raise NotImplementedError(f"customer_merge does not move {model._meta.label} yet.")
        field = relation.field.name
        moved[f"{model._meta.label_lower}.{field}"] = (
            model._base_manager.filter(**{field: source}).update(**{field: target})
        )  # fmt: skip
    return moved


def _fill_in(source: Customer, target: Customer, actor) -> list[CustomerEvent]:
    """Fill the target's empty fields from the source and union the tags; a ``changed`` event per change."""
    events = []

    def changed(field, old, new):
        events.append(CustomerEvent(customer=target, actor=actor, kind=CustomerEvent.Kind.CHANGED, field=field,
                                    old_value=_shown(old), new_value=_shown(new)))  # fmt: skip

    for field in FILLED_FIELDS:
        old, new = getattr(target, field), getattr(source, field)
        if _empty(old) and not _empty(new):
            setattr(target, field, new)
            changed(field, old, new)
    if target.organization_id is None and source.organization_id is not None:
        target.organization = source.organization  # a query only in this case
        changed("organization", None, target.organization)
    tags = sorted(set(target.tags) | set(source.tags))
    if tags != sorted(target.tags):
        changed("tags", target.tags, tags)
        target.tags = tags
    values = dict(target.custom_fields)
    for key, value in sorted(source.custom_fields.items()):
        if _empty(values.get(key)) and not _empty(value):
            changed(f"custom:{key}", values.get(key), value)
            values[key] = value
    target.custom_fields = values
    return events
