"""Business-hours calendars: a time zone, opening hours per weekday (several intervals a day) and holidays.

One calendar is the default (SLA clocks and business-time figures use it unless a policy names another);
others can serve teams and queues. ``Calendar.schedule()`` hands the hours to ``helpdesk.business_time``,
which does all the arithmetic.
"""

from collections.abc import Iterable
from datetime import date, datetime, time

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .business_time import MIDNIGHT, Schedule, is_business_time
from .time_zones import TIMEZONE_CHOICES

WEEKDAYS = [(0, _("Monday")), (1, _("Tuesday")), (2, _("Wednesday")), (3, _("Thursday")), (4, _("Friday")),
            (5, _("Saturday")), (6, _("Sunday"))]  # fmt: skip


class Calendar(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    time_zone = models.CharField(_("time zone"), max_length=64, default="UTC", choices=TIMEZONE_CHOICES)
    is_default = models.BooleanField(
        _("default calendar"), default=False,
        help_text=_("Used for SLA clocks and business-time reports unless an SLA policy names another."),
    )  # fmt: skip

    class Meta:
        verbose_name = _("business hours calendar")
        verbose_name_plural = _("business hours calendars")
        ordering = ["-is_default", "name"]
        constraints = [models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True),
                                               name="one_default_calendar")]  # fmt: skip

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        with transaction.atomic():
            if self.is_default:  # the new default takes over
                Calendar.objects.filter(is_default=True).exclude(pk=self.pk).update(is_default=False)
            super().save(*args, **kwargs)

    def schedule(self) -> Schedule:
        """The calendar's hours and holidays for ``helpdesk.business_time`` (two queries)."""
        holidays = list(self.holidays.all())
        return Schedule.build(
            self.time_zone,
            self.intervals.values_list("weekday", "opens", "closes"),
            holidays=[h.date for h in holidays if not h.repeats_yearly],
            yearly_holidays=[(h.date.month, h.date.day) for h in holidays if h.repeats_yearly],
        )

    @classmethod
    def default(cls) -> "Calendar | None":
        return cls.objects.filter(is_default=True).first()


class OpeningInterval(models.Model):
    calendar = models.ForeignKey(Calendar, on_delete=models.CASCADE, related_name="intervals")
    weekday = models.PositiveSmallIntegerField(_("day"), choices=WEEKDAYS)
    opens = models.TimeField(_("opens"))
    closes = models.TimeField(_("closes"), help_text=_("00:00 means midnight at the end of the day."))

    class Meta:
        verbose_name = _("opening hours")
        verbose_name_plural = _("opening hours")
        ordering = ["weekday", "opens"]

    def __str__(self):
        return f"{self.get_weekday_display()} {self.opens:%H:%M}–{self.closes:%H:%M}"

    def clean(self):
        if self.closes != MIDNIGHT and self.opens is not None and self.closes <= self.opens:
            raise ValidationError({"closes": _("Closing must come after opening (00:00 for midnight).")})


class Holiday(models.Model):
    calendar = models.ForeignKey(Calendar, on_delete=models.CASCADE, related_name="holidays")
    name = models.CharField(_("name"), max_length=100)
    date = models.DateField(_("date"))
    repeats_yearly = models.BooleanField(_("every year"), default=False, help_text=_("Same day and month each year."))

    class Meta:
        verbose_name = _("holiday")
        verbose_name_plural = _("holidays")
        ordering = ["date"]
        constraints = [models.UniqueConstraint(fields=["calendar", "date"], name="one_holiday_a_day")]

    def __str__(self):
        return f"{self.name} ({self.date})"


def calendar_schedules(calendar_ids: Iterable[int]) -> dict[int, Schedule]:
    """The schedules of several calendars, hours and holidays, in one query (``Calendar.schedule`` takes two
    per calendar)."""
    from django.contrib.postgres.expressions import ArraySubquery
    from django.db.models import OuterRef
    from django.db.models.functions import JSONObject

    ids = set(calendar_ids)
    if not ids:
        return {}
    intervals = OpeningInterval.objects.filter(calendar=OuterRef("pk")).order_by().values(
        row=JSONObject(weekday="weekday", opens="opens", closes="closes"))  # fmt: skip
    holidays = Holiday.objects.filter(calendar=OuterRef("pk")).order_by().values(
        row=JSONObject(date="date", yearly="repeats_yearly"))  # fmt: skip
    rows = (Calendar.objects.filter(pk__in=ids).order_by()
            .annotate(interval_rows=ArraySubquery(intervals), holiday_rows=ArraySubquery(holidays))
            .values_list("pk", "time_zone", "interval_rows", "holiday_rows"))  # fmt: skip
    schedules = {}
    for pk, time_zone, interval_rows, holiday_rows in rows:
        days = [(date.fromisoformat(row["date"]), row["yearly"]) for row in holiday_rows]
        schedules[pk] = Schedule.build(
            time_zone,
            [(row["weekday"], time.fromisoformat(row["opens"]), time.fromisoformat(row["closes"]))
             for row in interval_rows],
            holidays=[day for day, yearly in days if not yearly],
            yearly_holidays=[(day.month, day.day) for day, yearly in days if yearly],
        )  # fmt: skip
    return schedules


def calendars_open(calendar_ids: Iterable[int], instant: datetime) -> set[int]:
    """Which of the calendars are open at ``instant`` (one query). A calendar without opening hours
    restricts nothing: it counts as open, as the business-hours rule condition treats it."""
    return {pk for pk, schedule in calendar_schedules(calendar_ids).items()
            if not schedule.has_hours() or is_business_time(schedule, instant)}  # fmt: skip


def holidays_from_ical(data: bytes) -> list[tuple[str, date, bool]]:
    """(name, date, repeats yearly) of every all-day event in an iCalendar file; a yearly RRULE makes a
    repeating holiday. Raises ValueError with a reason when the file is not iCalendar."""
    import icalendar

    try:
        calendar = icalendar.Calendar.from_ical(data)
    except Exception as error:  # the library raises several types for broken files
        raise ValueError(_("This is not an iCalendar (.ics) file: %(error)s") % {"error": error}) from None
    found = []
    for event in calendar.walk("VEVENT"):
        start = event.decoded("DTSTART", None)
        if start is None:
            continue
        day = start if isinstance(start, date) and not hasattr(start, "hour") else start.date()
        rule = event.get("RRULE") or {}
        yearly = [str(value).upper() for value in rule.get("FREQ", [])] == ["YEARLY"]
        found.append((str(event.get("SUMMARY", "")).strip()[:100] or str(_("Holiday")), day, yearly))
    return found


@transaction.atomic
def holidays_import(calendar: Calendar, data: bytes) -> tuple[int, int]:
    """Add the file's holidays to the calendar; a date it already has is kept. Returns (added, skipped)."""
    rows = holidays_from_ical(data)
    existing = set(calendar.holidays.values_list("date", flat=True))
    new = {day: (name, yearly) for name, day, yearly in rows if day not in existing}
    Holiday.objects.bulk_create([Holiday(calendar=calendar, name=name, date=day, repeats_yearly=yearly)
                                 for day, (name, yearly) in sorted(new.items())])  # fmt: skip
    return len(new), len(rows) - len(new)
