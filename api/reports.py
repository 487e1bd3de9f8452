"""The dashboard's headline figures (issue 8) for programs: the same filters, the same permissions and the same
numbers as ``/reports/`` and its CSV export, because all three read ``reports.selectors.dashboard_figures``
through ``reports.forms.ReportFilterForm``."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from reports import selectors
from reports.forms import ReportFilterForm

FILTERS = [
    OpenApiParameter("period", OpenApiTypes.STR, description="A preset (default: the dashboard's), or `custom`."),
    OpenApiParameter("start", OpenApiTypes.DATE, description="First day of a custom period."),
    OpenApiParameter("end", OpenApiTypes.DATE, description="Last day of a custom period (included)."),
    *(
        OpenApiParameter(name, OpenApiTypes.INT, description=f"Only this {name} (id).")
        for name in ("queue", "team", "agent", "organization", "segment")
    ),
    OpenApiParameter("channel", OpenApiTypes.STR),
    OpenApiParameter("priority", OpenApiTypes.STR),
    OpenApiParameter("basis", OpenApiTypes.STR, description="`business` (default) or `calendar` time."),
    OpenApiParameter("tz", OpenApiTypes.STR, description="The time zone of the period's days (default: yours)."),
]


class PeriodSerializer(serializers.Serializer):
    start = serializers.DateField(help_text="First day.")
    end = serializers.DateField(help_text="The day after the last one: the period is [start, end).")
    time_zone = serializers.CharField()


class FiguresSerializer(serializers.Serializer):
    period = PeriodSerializer()
    previous_period = PeriodSerializer()
    current = serializers.DictField(child=serializers.FloatField(allow_null=True),
                                    help_text="Every headline figure of the period (durations in seconds).")  # fmt: skip
    previous = serializers.DictField(child=serializers.FloatField(allow_null=True),
                                     help_text="The same figures for the period before.")  # fmt: skip


def _period(period) -> dict:
    return {"start": period.start, "end": period.end, "time_zone": period.time_zone}


class ReportFiguresView(APIView):
    """Headline figures of the owners' dashboard for a period and the one before: tickets created and
    solved, first response and resolution times (count, mean, median, p90; calendar and business), reopen
    rate, CSAT, NPS, CES and response rates, SLA compliance per target, backlog. Owners and admins may ask for
    anything; an agent for their own figures (no team or queue given) or their teams'."""

    @extend_schema(summary="Dashboard figures", parameters=FILTERS, responses=FiguresSerializer)
    def get(self, request):
        form = ReportFilterForm(request.query_params, user=request.user)
        if not form.is_valid():
            raise ValidationError({name: [str(e) for e in errors] for name, errors in form.errors.items()})
        period = form.report_period
        figures = selectors.dashboard_figures(period=period, filters=form.filters)
        return Response({"period": _period(period), "previous_period": _period(period.previous()), **figures})
