"""Business time: the one place that knows how opening hours, holidays and time zones turn into seconds.

``business_seconds_between(schedule, start, end)`` counts the seconds of [start, end) inside business
hours; ``add_business_seconds(schedule, start, seconds)`` is the earliest instant by which that many
business seconds have passed since ``start`` (a due time). They agree: for any start and n >= 0,
``business_seconds_between(s, start, add_business_seconds(s, start, n)) == n``
(tests/test_business_time.py checks this and more with hypothesis).

Opening hours are wall-clock times in the calendar's time zone. An instant is in business time when it
falls in an opening interval of its local date's weekday and that date is not a holiday. Across a DST
change the real elapsed seconds count: an interval 00:00–06:00 lasts 5 hours on the spring day and 7 on
the autumn day (wall times that do not exist or occur twice are read with ``fold=0``, the earlier
offset). A closing time of 00:00 means the end of the day (24:00).
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MIDNIGHT = time(0, 0)
# ``add_business_seconds`` gives up when this many days in a row have no opening hours (a calendar whose
# hours all fall on holidays would otherwise look for ever).
GIVE_UP_AFTER_DAYS = 800


@dataclass(frozen=True)
class Schedule:
    """Opening hours and holidays of one calendar, ready for the two functions."""

    time_zone: ZoneInfo
    # weekday (Monday 0) -> sorted, non-overlapping (opens, closes) in local wall time; closes 00:00 = 24:00
    week: dict[int, tuple[tuple[time, time], ...]]
    holidays: frozenset[date] = field(default_factory=frozenset)
    yearly_holidays: frozenset[tuple[int, int]] = field(default_factory=frozenset)  # (month, day)

    @classmethod
    def build(cls, time_zone: str, intervals: Iterable[tuple[int, time, time]], holidays: Iterable[date] = (),
              yearly_holidays: Iterable[tuple[int, int]] = ()) -> "Schedule":  # fmt: skip
        """From (weekday, opens, closes) rows as people enter them: overlapping or touching intervals of a
        day are merged, empty ones dropped."""
        week: dict[int, list[tuple[time, time]]] = {}
        for weekday, opens, closes in sorted(intervals, key=lambda row: (row[0], row[1])):
            if closes != MIDNIGHT and closes <= opens:
                continue
            day = week.setdefault(weekday, [])
            if day and (day[-1][1] == MIDNIGHT or day[-1][1] >= opens):
                last_opens, last_closes = day[-1]
                day[-1] = (last_opens, MIDNIGHT if MIDNIGHT in (last_closes, closes) else max(last_closes, closes))
            else:
                day.append((opens, closes))
        return cls(ZoneInfo(time_zone), {d: tuple(v) for d, v in week.items()}, frozenset(holidays),
                   frozenset(yearly_holidays))  # fmt: skip

    def is_holiday(self, day: date) -> bool:
        return day in self.holidays or (day.month, day.day) in self.yearly_holidays

    def has_hours(self) -> bool:
        return any(self.week.values())

    def intervals_on(self, day: date) -> list[tuple[datetime, datetime]]:
        """The business intervals of one local date, as UTC instants."""
        if self.is_holiday(day):
            return []
        spans = []
        for opens, closes in self.week.get(day.weekday(), ()):
            start = datetime.combine(day, opens, tzinfo=self.time_zone).astimezone(UTC)
            end_day = day + timedelta(days=1) if closes == MIDNIGHT else day
            end = datetime.combine(end_day, closes, tzinfo=self.time_zone).astimezone(UTC)
            if end > start:
                spans.append((start, end))
        return spans

    def intervals_from(self, day: date) -> Iterator[tuple[datetime, datetime]]:
        """Business intervals from a local date on, in order, until ``GIVE_UP_AFTER_DAYS`` days without any."""
        idle = 0
        while idle < GIVE_UP_AFTER_DAYS:
            spans = self.intervals_on(day)
            idle = 0 if spans else idle + 1
            yield from spans
            day += timedelta(days=1)

    def local_date(self, instant: datetime) -> date:
        return instant.astimezone(self.time_zone).date()


def _utc(instant: datetime) -> datetime:
    if instant.tzinfo is None:
        raise ValueError("Business time needs aware datetimes.")
    return instant.astimezone(UTC)


def business_seconds_between(schedule: Schedule, start: datetime, end: datetime) -> int:
    """Whole seconds of [start, end) inside business hours (0 when end is not after start). Instants are
    truncated to the second, as every figure of METRICS.md is."""
    start, end = _utc(start).replace(microsecond=0), _utc(end).replace(microsecond=0)
    if end <= start:
        return 0
    total = 0
    day, last = schedule.local_date(start) - timedelta(days=1), schedule.local_date(end)
    while day <= last:
        for opens, closes in schedule.intervals_on(day):
            overlap = (min(closes, end) - max(opens, start)).total_seconds()
            if overlap > 0:
                total += int(overlap)
        day += timedelta(days=1)
    return total


def add_business_seconds(schedule: Schedule, start: datetime, seconds: int) -> datetime:
    """The instant at which ``seconds`` business seconds have passed since ``start``: the due time of a
    target. 0 gives ``start`` itself. Raises ValueError if the calendar has no opening hours (none in
    ``GIVE_UP_AFTER_DAYS`` days in a row)."""
    start = _utc(start).replace(microsecond=0)
    if seconds <= 0:
        return start
    remaining = timedelta(seconds=seconds)
    for opens, closes in schedule.intervals_from(schedule.local_date(start) - timedelta(days=1)):
        if closes <= start:
            continue
        begin = max(opens, start)
        available = closes - begin
        if available >= remaining:
            return begin + remaining
        remaining -= available
    raise ValueError("This calendar has no business hours.")


def add_business_minutes(schedule: Schedule, start: datetime, minutes: int) -> datetime:
    return add_business_seconds(schedule, start, minutes * 60)


def is_business_time(schedule: Schedule, instant: datetime) -> bool:
    """Whether the instant falls in opening hours (for rules such as "outside business hours")."""
    instant = _utc(instant)
    day = schedule.local_date(instant)
    return any(opens <= instant < closes for d in (day - timedelta(days=1), day) for opens, closes in
               schedule.intervals_on(d))  # fmt: skip
