"""The dashboard's filters (a GET form, so a view of the figures can be bookmarked and shared).

The choices are the viewer's: owners and admins may cut by anything; an agent by their own teams and their
teams' queues, and as an agent only by themselves (``selectors.report_*``). A value outside the choices (an
unknown id, another team's queue, another agent) is refused with a form error, never a 500 and never data.
An agent who picks neither a team nor a queue sees their own figures.
"""

from datetime import timedelta
from zoneinfo import ZoneInfo

from django import forms
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from customers.models import Organization, Segment
from helpdesk.time_zones import TIMEZONE_CHOICES, TimeZoneSelect
from tickets.models import Ticket

from . import selectors
from .selectors import MAX_PERIOD_DAYS, Period, ReportFilters

PERIODS = [
    ("7d", _("Last 7 days")),
    ("30d", _("Last 30 days")),
    ("90d", _("Last 90 days")),
    ("this_month", _("This month")),
    ("last_month", _("Last month")),
    ("12m", _("Last 12 months")),
    ("custom", _("Custom dates")),
]
BASES = [("business", _("Business hours")), ("calendar", _("Calendar time"))]
DEFAULT_PERIOD = "30d"
# The parameters that make a view of the figures (the tickets page and the CSV export take the same).
FILTER_FIELDS = ["period", "start", "end", "queue", "team", "agent", "channel", "priority", "organization",
                 "segment", "basis", "tz"]  # fmt: skip


class ReportFilterForm(forms.Form):
    period = forms.ChoiceField(label=_("Period"), choices=PERIODS, required=False)
    start = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("To (included)"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    queue = forms.ModelChoiceField(label=_("Queue"), queryset=None, required=False, empty_label=_("All queues"))
    team = forms.ModelChoiceField(label=_("Team"), queryset=None, required=False, empty_label=_("All teams"))
    agent = forms.ModelChoiceField(label=_("Agent"), queryset=None, required=False, empty_label=_("All agents"))
    channel = forms.ChoiceField(label=_("Channel"), required=False,
                                choices=[("", _("All channels")), *Ticket.Channel.choices])  # fmt: skip
    priority = forms.ChoiceField(label=_("Priority"), required=False,
                                 choices=[("", _("All priorities")), *Ticket.Priority.choices])  # fmt: skip
    organization = forms.ModelChoiceField(label=_("Organization"), required=False, empty_label=_("All organizations"),
                                          queryset=Organization.objects.order_by("name"))  # fmt: skip
    segment = forms.ModelChoiceField(label=_("Customer segment"), required=False, empty_label=_("All customers"),
                                     queryset=Segment.objects.select_related("custom_field").order_by("name"))  # fmt: skip
    basis = forms.ChoiceField(label=_("Durations in"), choices=BASES, required=False)
    tz = forms.ChoiceField(label=_("Time zone"), choices=TIMEZONE_CHOICES, required=False, widget=TimeZoneSelect)

    error_messages = {
        "invalid_choice": _("Choose one of the list: you may not see the figures of this one, or it does not exist.")
    }

    def __init__(self, data, *, user):
        self.user = user
        data = data.copy()
        for name, default in (("period", DEFAULT_PERIOD), ("basis", "business"), ("tz", user.time_zone)):
            if not data.get(name):
                data[name] = default
        super().__init__(data)
        self.fields["queue"].queryset = selectors.report_queues(user).order_by("name")
        self.fields["team"].queryset = selectors.report_teams(user).order_by("name")
        self.fields["agent"].queryset = selectors.report_agents(user).filter(is_active=True).order_by("full_name",
                                                                                                    "email")  # fmt: skip
        if not user.is_admin:
            self.fields["agent"].empty_label = _("Everyone in the team or queue")
        for name in ("queue", "team", "agent", "organization", "segment"):
            self.fields[name].error_messages["invalid_choice"] = self.error_messages["invalid_choice"]

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        if data["period"] == "custom":
            start, end = data.get("start"), data.get("end")
            if not start or not end:
                raise forms.ValidationError(_("Choose both dates of a custom period."), code="dates")
            if end < start:
                self.add_error("end", _("The end date is before the start date."))
            elif (end - start).days + 1 > MAX_PERIOD_DAYS:
                self.add_error("end", _("Choose a period of at most three years."))
        return data

    # --- what the figures are computed for (valid forms only) ---

    @cached_property
    def own_only(self) -> bool:
        """An agent who chose no team and no queue: their own figures."""
        data = self.cleaned_data
        return not self.user.is_admin and not (data["team"] or data["queue"])

    @cached_property
    def report_period(self) -> Period:
        data = self.cleaned_data
        if data["period"] == "custom":
            return Period(data["start"], data["end"] + timedelta(days=1), data["tz"])
        today = timezone.localtime(timezone.now(), ZoneInfo(data["tz"])).date()
        return selectors.period_preset(data["period"], today=today, time_zone=data["tz"])

    @cached_property
    def filters(self) -> ReportFilters:
        data = self.cleaned_data
        agent = self.user if self.own_only else data["agent"]
        return ReportFilters(queue=_pk(data["queue"]), team=_pk(data["team"]), agent=_pk(agent),
                             channel=data["channel"] or None, priority=data["priority"] or None,
                             organization=_pk(data["organization"]), segment=data["segment"])  # fmt: skip

    @property
    def business(self) -> bool:
        return self.cleaned_data["basis"] == "business"

    def query(self, **changes) -> dict:
        """The GET parameters of this view of the figures (for links to the tickets and the CSV), with
        ``changes`` (None removes one)."""
        params = {}
        for name in FILTER_FIELDS:
            value = self.cleaned_data.get(name)
            if name in ("start", "end") and self.cleaned_data.get("period") != "custom":
                value = None
            if hasattr(value, "pk"):
                value = value.pk
            elif hasattr(value, "isoformat"):
                value = value.isoformat()
            if value not in (None, ""):
                params[name] = value
        for name, value in changes.items():
            if value is None:
                params.pop(name, None)
            else:
                params[name] = value
        return params

    def summary(self) -> list[tuple[str, str]]:
        """What the figures are for, as (label, value) pairs, for people."""
        data, period = self.cleaned_data, self.report_period
        last_day = period.end - timedelta(days=1)
        dates = (date_format(period.start, "DATE_FORMAT") if period.start == last_day else
                 f"{date_format(period.start, 'DATE_FORMAT')} – {date_format(last_day, 'DATE_FORMAT')}")  # fmt: skip
        out = [(str(_("Period")), dates)]
        if self.own_only:
            out.append((str(_("Agent")), str(_("Only you"))))
        for name in ("team", "queue", "agent", "organization", "segment", "channel", "priority"):
            value = data.get(name)
            if value and not (name == "agent" and self.own_only):
                shown = dict(self.fields[name].choices)[value] if isinstance(value, str) else str(value)
                out.append((str(self.fields[name].label), str(shown)))
        out.append((str(_("Time zone")), data["tz"]))
        return out


def _pk(value):
    return value.pk if value is not None else None
