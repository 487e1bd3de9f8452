"""Which customers a segment holds: one queryset condition per segment, so the customer list filters by a
segment in one query, the customer page shows every segment a customer is in with one query, and routing
rules ask "is this customer in that segment?" (``customer_in_segment``)."""

from datetime import timedelta

from django.db.models import Count, Exists, OuterRef, Q, Subquery
from django.db.models.lookups import LessThan
from django.utils import timezone

from .models import Customer, CustomField, Segment


def segment_condition(segment: Segment) -> Q:
    """The condition on ``Customer`` rows that holds for the segment's members (now)."""
    from tickets.models import Ticket
    from tickets.surveys.models import Survey

    condition = Q()
    if segment.tags:
        condition &= Q(tags__overlap=segment.tags)
    if segment.organization_id:
        condition &= Q(organization_id=segment.organization_id)
    if segment.language:
        condition &= Q(language=segment.language)
    if segment.custom_field_id:
        condition &= Q(custom_fields__contains={segment.custom_field.key: _typed(segment)})
    if segment.min_tickets:
        tickets = Ticket.objects.filter(customer_id=OuterRef("pk"))
        if segment.tickets_within_days:
            tickets = tickets.filter(created_at__gte=timezone.now() - timedelta(days=segment.tickets_within_days))
        counted = tickets.order_by().values("customer_id").annotate(n=Count("pk")).values("n")
        condition &= Q(Exists(counted.filter(n__gte=segment.min_tickets)))
    if segment.last_csat_below:
        latest = (Survey.objects.filter(customer_id=OuterRef("pk"), kind=Survey.Kind.CSAT, answered_at__isnull=False)
                  .order_by("-answered_at", "-pk").values("score")[:1])  # fmt: skip
        condition &= Q(LessThan(Subquery(latest), segment.last_csat_below))
    return condition


def _typed(segment: Segment):
    """The wanted custom field value as stored (numbers as numbers)."""
    if segment.custom_field.kind == CustomField.Kind.NUMBER:
        try:
            number = float(segment.custom_value)
        except ValueError:
            return segment.custom_value
        return int(number) if number.is_integer() else number
    return segment.custom_value


def segment_members(segment: Segment):
    return Customer.objects.filter(segment_condition(segment))


def customer_in_segment(customer: Customer, segment: Segment) -> bool:
    return segment_members(segment).filter(pk=customer.pk).exists()


def segments_of(customer: Customer) -> list[Segment]:
    """Every segment the customer is in: two queries however many segments there are."""
    segments = list(Segment.objects.select_related("custom_field"))
    if not segments:
        return []
    flags = {f"in_{segment.pk}": Exists(segment_members(segment).filter(pk=OuterRef("pk"))) for segment in segments}
    row = Customer.objects.filter(pk=customer.pk).annotate(**flags).values(*flags).first() or {}
    return [segment for segment in segments if row.get(f"in_{segment.pk}")]
