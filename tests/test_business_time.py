"""Business time (issue 7): worked examples, DST, holidays, and properties that must hold for any calendar."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpdesk.business_time import (
    Schedule,
    add_business_minutes,
    add_business_seconds,
    business_seconds_between,
    is_business_time,
)
from helpdesk.calendars import Calendar, Holiday, OpeningInterval, holidays_from_ical, holidays_import

OFFICE = [(day, time(9), time(17)) for day in range(5)]  # Monday to Friday, 09:00–17:00
LONDON = ZoneInfo("Europe/London")
BERLIN = ZoneInfo("Europe/Berlin")


def at(tz, *args) -> datetime:
    return datetime(*args, tzinfo=tz)


# --- worked examples ----------------------------------------------------------------------------


def test_the_example_of_metrics_md():
    """Created 17:55 on Friday, answered 09:10 on Monday: 10 business minutes."""
    office = Schedule.build("Europe/London", OFFICE)
    created, answered = at(LONDON, 2026, 11, 20, 17, 55), at(LONDON, 2026, 11, 23, 9, 10)
    assert business_seconds_between(office, created, answered) == 10 * 60
    assert add_business_minutes(office, created, 10) == answered


def test_a_due_time_runs_over_the_weekend_and_a_lunch_break():
    hours = [(day, time(9), time(12)) for day in range(5)] + [(day, time(13), time(17)) for day in range(5)]
    shop = Schedule.build("Europe/London", hours)
    assert add_business_minutes(shop, at(LONDON, 2026, 11, 20, 16, 50), 30) == at(LONDON, 2026, 11, 23, 9, 20)
    assert add_business_minutes(shop, at(LONDON, 2026, 11, 23, 11, 30), 60) == at(LONDON, 2026, 11, 23, 13, 30)
    assert business_seconds_between(shop, at(LONDON, 2026, 11, 23, 8), at(LONDON, 2026, 11, 24, 8)) == 7 * 3600


def test_daylight_saving_days_count_the_real_hours():
    night = Schedule.build("Europe/Berlin", [(6, time(0), time(6))])  # Sundays 00:00–06:00
    spring, autumn, plain = date(2026, 3, 29), date(2026, 10, 25), date(2026, 11, 1)
    for day, hours in [(spring, 5), (autumn, 7), (plain, 6)]:
        start = at(BERLIN, day.year, day.month, day.day)
        assert business_seconds_between(night, start, start + timedelta(days=1)) == hours * 3600
    start = at(BERLIN, 2026, 3, 29)
    assert add_business_minutes(night, start, 5 * 60) == at(BERLIN, 2026, 3, 29, 6)  # 06:00 CEST


def test_holidays_one_off_and_yearly():
    office = Schedule.build("Europe/London", OFFICE, holidays=[date(2026, 12, 28)], yearly_holidays=[(12, 25)])
    christmas_eve = at(LONDON, 2026, 12, 24, 16)  # Thursday; 25th (Fri) yearly, 28th (Mon) one-off
    assert add_business_minutes(office, christmas_eve, 120) == at(LONDON, 2026, 12, 29, 10)
    assert is_business_time(office, at(LONDON, 2027, 12, 24, 10))  # a Friday, not a holiday
    assert not is_business_time(office, at(LONDON, 2030, 12, 25, 10))


def test_closing_at_midnight_and_a_night_shift_across_it():
    shift = Schedule.build("UTC", [(0, time(22), time(0)), (1, time(0), time(6))])  # Mon 22:00 – Tue 06:00
    monday = datetime(2026, 11, 23, 21, tzinfo=UTC)
    assert business_seconds_between(shift, monday, monday + timedelta(hours=12)) == 8 * 3600
    assert add_business_minutes(shift, monday, 120) == datetime(2026, 11, 24, 0, tzinfo=UTC)
    assert is_business_time(shift, datetime(2026, 11, 23, 23, 59, tzinfo=UTC))


def test_overlapping_intervals_are_merged_and_a_calendar_without_hours_has_no_due_time():
    merged = Schedule.build("UTC", [(0, time(9), time(12)), (0, time(11), time(14)), (0, time(14), time(15))])
    assert merged.week == {0: ((time(9), time(15)),)}
    with pytest.raises(ValueError):
        add_business_minutes(Schedule.build("UTC", []), datetime(2026, 1, 1, tzinfo=UTC), 1)
    with pytest.raises(ValueError):
        business_seconds_between(merged, datetime(2026, 1, 1), datetime(2026, 1, 2))  # naive


# --- properties ---------------------------------------------------------------------------------

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "America/Sao_Paulo", "Asia/Kolkata"]
quarter_hours = st.integers(min_value=0, max_value=95).map(lambda q: time(q // 4, q % 4 * 15))


@st.composite
def schedules(draw) -> Schedule:
    intervals = draw(st.lists(st.tuples(st.integers(0, 6), quarter_hours, quarter_hours), min_size=1, max_size=10))
    holidays = draw(st.lists(st.dates(date(2026, 1, 1), date(2026, 12, 31)), max_size=5))
    schedule = Schedule.build(draw(st.sampled_from(ZONES)), intervals, holidays=holidays)
    if not schedule.has_hours():  # every interval was empty (opens == closes): give it one
        schedule = Schedule.build(schedule.time_zone.key, [(1, time(10), time(11))], holidays=holidays)
    return schedule


# Around the DST changes of 2026 as much as anywhere else.
instants = st.datetimes(datetime(2026, 1, 1), datetime(2026, 12, 31), timezones=st.just(UTC)).map(
    lambda instant: instant.replace(microsecond=0)
)
property_settings = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@property_settings
@given(schedules(), instants, st.integers(min_value=0, max_value=14 * 24 * 3600))
def test_the_due_time_is_exactly_n_business_seconds_later_and_the_earliest(schedule, start, seconds):
    due = add_business_seconds(schedule, start, seconds)
    assert due >= start
    assert business_seconds_between(schedule, start, due) == seconds
    if seconds:
        assert business_seconds_between(schedule, start, due - timedelta(seconds=1)) == seconds - 1


@property_settings
@given(schedules(), instants, instants, instants)
def test_business_time_adds_up_and_never_exceeds_calendar_time(schedule, a, b, c):
    a, b, c = sorted([a, b, c])
    ab, bc, ac = (business_seconds_between(schedule, x, y) for x, y in ((a, b), (b, c), (a, c)))
    assert ab + bc == ac
    assert 0 <= ac <= (c - a).total_seconds()
    assert add_business_seconds(schedule, a, ac) <= c


# --- calendars in the database ------------------------------------------------------------------

ICS = b"""BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//holidays//EN
BEGIN:VEVENT
UID:1
SUMMARY:Christmas Day
DTSTART;VALUE=DATE:20261225
RRULE:FREQ=YEARLY
END:VEVENT
BEGIN:VEVENT
UID:2
SUMMARY:Company away day
DTSTART;VALUE=DATE:20261201
END:VEVENT
END:VCALENDAR
"""


def test_a_calendar_gives_its_schedule_and_imports_holidays(db):
    office = Calendar.objects.create(name="Office", time_zone="Europe/London", is_default=True)
    OpeningInterval.objects.bulk_create([OpeningInterval(calendar=office, weekday=d, opens=o, closes=c)
                                         for d, o, c in OFFICE])  # fmt: skip
    Holiday.objects.create(calendar=office, name="Away", date=date(2026, 12, 1))
    assert holidays_import(office, ICS) == (1, 1)  # the 1 December is there already
    schedule = office.schedule()
    assert schedule.yearly_holidays == {(12, 25)} and schedule.holidays == {date(2026, 12, 1)}
    assert not is_business_time(schedule, at(LONDON, 2031, 12, 25, 10))
    second = Calendar.objects.create(name="Support", is_default=True)
    assert Calendar.default() == second and not Calendar.objects.get(pk=office.pk).is_default


def test_a_broken_ics_file_is_refused_with_a_reason():
    with pytest.raises(ValueError, match="not an iCalendar"):
        holidays_from_ical(b"this is not a calendar")
    assert holidays_from_ical(ICS) == [("Christmas Day", date(2026, 12, 25), True),
                                       ("Company away day", date(2026, 12, 1), False)]  # fmt: skip


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def test_calendar_admin_imports_an_ics_file_and_refuses_a_broken_one(admin_client):
    from django.core.files.uploadedfile import SimpleUploadedFile

    form = {"name": "Office", "time_zone": "Europe/London", "is_default": "on",
            "intervals-TOTAL_FORMS": "1", "intervals-INITIAL_FORMS": "0",
            "intervals-0-weekday": "0", "intervals-0-opens": "09:00", "intervals-0-closes": "17:00",
            "holidays-TOTAL_FORMS": "0", "holidays-INITIAL_FORMS": "0"}  # fmt: skip
    broken = admin_client.post("/admin/helpdesk/calendar/add/",
                               {**form, "holidays_file": SimpleUploadedFile("h.ics", b"nonsense")})  # fmt: skip
    assert broken.status_code == 200 and "not an iCalendar" in broken.content.decode()
    assert not Calendar.objects.exists()
    response = admin_client.post("/admin/helpdesk/calendar/add/",
                                 {**form, "holidays_file": SimpleUploadedFile("h.ics", ICS)})  # fmt: skip
    assert response.status_code == 302
    calendar = Calendar.objects.get()
    assert calendar.intervals.count() == 1 and calendar.holidays.count() == 2
