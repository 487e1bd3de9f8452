"""The owners' dashboard (issue 8): the figures of ``reports.selectors`` for the filters of a GET form, the
tickets behind each figure, and the CSV export of every table.

Who sees what is decided by the form's choices (``reports.forms``): owners and admins everything, an agent
their own figures and their teams'. Signed-out visitors go to the sign-in page, as everywhere on the agent
side. An invalid filter is a 400 with the form's error, never a 500.
"""

import csv
import io
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from customers.csv_io import FORMULA_STARTS
from helpdesk.audit import audit_record
from tickets.display import ticket_rows
from tickets.selectors import tickets_visible_to

from . import display, selectors
from .forms import ReportFilterForm

PAGE_SIZE = 50
EXPORTS = ["figures", *selectors.DIMENSIONS]


def _linker(form: ReportFilterForm, user):
    """``link(figure, **changes)``: the URL of the tickets behind a figure of this view of the figures."""
    base = form.query()
    if form.own_only:
        base["agent"] = user.pk  # keeps "your own figures" when a link adds a queue
    url = reverse("reports:tickets")

    def link(figure, **changes):
        if figure is None:
            return None
        return f"{url}?{urlencode({**base, **changes, 'figure': figure})}"

    return link


def _linkable(user):
    """Whether the viewer may open the tickets of one row of a table (an agent: not another agent's)."""
    if user.is_admin:
        return lambda dimension, key: True
    queues = set(selectors.report_queues(user).values_list("pk", flat=True))

    def linkable(dimension, key):
        if dimension == "agent":
            return key == user.pk
        return dimension != "queue" or key in queues

    return linkable


@login_required
@require_GET
def dashboard_view(request):
    user = request.user
    form = ReportFilterForm(request.GET, user=user)
    context = {"form": form}
    if not form.is_valid():
        return render(request, "reports/dashboard.html", context, status=400)
    data = selectors.dashboard(
        period=form.report_period, filters=form.filters, business=form.business, now=timezone.now()
    )
    link, linkable = _linker(form, user), _linkable(user)
    charts = display.charts(data, business=form.business)
    context |= {
        "summary": form.summary(),
        "empty": display.is_empty(data["figures"]),
        "groups": display.headline_groups(data["figures"], business=form.business, link=link),
        "charts": charts,
        "chart_data": display.chart_json(charts),
        "heatmap": display.heatmap(data["heatmap"]),
        "hours": range(24),
        "columns": [str(header) for _column, header, _kind, _figure in display.TABLE_COLUMNS],
        "tables": [
            {
                "dimension": dimension,
                "title": str(display.TABLE_TITLES[dimension]),
                "label": str(display.DIMENSION_LABELS[dimension]),
                "csv_url": f"{reverse('reports:export', args=[dimension])}?{urlencode(form.query())}",
                "rows": display.table_rows(
                    dimension,
                    data["tables"][dimension],
                    names=data["names"],
                    business=form.business,
                    link=link,
                    linkable=linkable,
                ),
            }
            for dimension in selectors.DIMENSIONS
        ],
        "figures_csv_url": f"{reverse('reports:export', args=['figures'])}?{urlencode(form.query())}",
    }
    return render(request, "reports/dashboard.html", context)


@login_required
@require_GET
def figure_tickets_view(request):
    """The tickets a figure counts (``selectors.figure_ticket_ids``) for the same filters, newest first."""
    user = request.user
    form = ReportFilterForm(request.GET, user=user)
    figure = request.GET.get("figure", "")
    label = display.figure_label(figure)
    context = {"form": form, "figure_label": label}
    if not label or not form.is_valid():
        context["unknown_figure"] = not label
        return render(request, "reports/tickets.html", context, status=400)
    ids = selectors.figure_ticket_ids(figure=figure, period=form.report_period, filters=form.filters)
    tickets = (tickets_visible_to(user).filter(pk__in=ids).select_related("queue", "customer", "assignee")
               .defer("search_vector").order_by("-pk"))  # fmt: skip
    page = Paginator(tickets, PAGE_SIZE).get_page(request.GET.get("page"))
    dashboard_query = form.query()
    context |= {
        "summary": form.summary(),
        "page": page,
        "tickets": ticket_rows(list(page.object_list)),
        "dashboard_url": f"{reverse('reports:dashboard')}?{urlencode(dashboard_query)}",
    }
    return render(request, "reports/tickets.html", context)


def _escape(value):
    """Text a spreadsheet will not run as a formula (as ``customers.csv_io``); numbers stay numbers."""
    if isinstance(value, str) and value[:1] in FORMULA_STARTS:
        return "'" + value
    return "" if value is None else value


@login_required
@require_GET
def export_view(request, table):
    """One table of the dashboard (or its headline figures) as CSV, for the same filters."""
    if table not in EXPORTS:
        raise Http404("No such table.")
    form = ReportFilterForm(request.GET, user=request.user)
    if not form.is_valid():
        errors = " ".join(str(error) for errors in form.errors.values() for error in errors)
        return HttpResponse(errors, status=400, content_type="text/plain; charset=utf-8")
    period, filters = form.report_period, form.filters
    if table == "figures":
        figures = selectors.dashboard_figures(period=period, filters=filters)
        rows = [[_("figure"), _("label"), _("this period"), _("previous period")]]
        rows += [
            [row["key"], row["label"], row["current"], row["previous"]]
            for row in display.headline_rows(figures, business=form.business)
        ]
    else:
        found = selectors.breakdown(dimension=table, period=period, filters=filters)
        names = selectors.key_names({table: found})
        rows = display.table_csv(table, found, names=names, business=form.business)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow([_escape(value) for value in row])
    response = HttpResponse("\ufeff" + buffer.getvalue(), content_type="text/csv; charset=utf-8")
    name = f"report-{table}-{period.start.isoformat()}-{period.end.isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    audit_record(actor=request.user, action="reports.export", target=f"report {table}", rows=len(rows) - 1,
                 filters=form.query())  # fmt: skip
    return response
