"""CSV import and export of customers, for owners and admins.

Import is two steps: the upload shows a preview (``csv_io.customers_import_preview``); when no row has an
error, the confirmation imports it. Between the two, the checked file waits in the cache (Redis) for an
hour under a random token and the user's id, so the confirmation needs no second upload, another user
cannot confirm it, and nothing grows in the session; the import checks the file again before writing.
"""

import secrets
from dataclasses import asdict
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from . import csv_io, selectors
from .forms import CustomerFilterForm
from .models import CustomField

PENDING_SECONDS = 60 * 60
PREVIEW_ROWS_SHOWN = 500


def _admins_only(view):
    """Owners and admins; others get 403 (after ``login_required`` has sent anonymous visitors away)."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_admin:
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapped


def _pending_key(user, token: str) -> str:
    return f"customers:import:{user.pk}:{token}"


@login_required
@_admins_only
@require_http_methods(["GET", "POST"])
def customer_import_view(request):
    """GET: the upload form. POST with a file: the preview. POST with a token: the import."""
    if request.method == "GET":
        return _upload_page(request)
    if "token" in request.POST:
        return _confirm(request)
    upload = request.FILES.get("file")
    if upload is None:
        return _upload_page(request, error=_("Choose a CSV file to import."), status=400)
    preview = csv_io.customers_import_preview(file_bytes=upload.read(csv_io.MAX_BYTES + 1))
    token = ""
    if preview.is_valid:
        token = secrets.token_urlsafe(24)
        cache.set(_pending_key(request.user, token), preview.text, PENDING_SECONDS)
    return _preview_page(request, preview, file_name=upload.name, token=token)


def _confirm(request):
    token = request.POST.get("token", "")
    key = _pending_key(request.user, token)
    text = cache.get(key) if 0 < len(token) <= 64 else None
    # Deleting claims the upload: of two confirmations (a double click), one imports, the other is told.
    if text is None or not cache.delete(key):
        messages.error(request, _("That upload was already imported or has expired. Upload the file again if needed."))
        return redirect("customers:import")
    try:
        result = csv_io.customers_import(text=text, actor=request.user)
    except csv_io.CsvImportError as error:
        messages.error(request, error.messages[0])
        return _preview_page(request, error.preview, file_name=request.POST.get("file_name", ""), status=400)
    messages.success(request, _("Import done: %(created)s new, %(updated)s updated, %(unchanged)s unchanged.")
                     % asdict(result))  # fmt: skip
    return redirect("customers:list")


def _upload_page(request, *, error: str = "", status: int = 200):
    context = {
        "columns": csv_io.CSV_COLUMNS,
        "custom_columns": [(csv_io.CUSTOM_FIELD_PREFIX + d.key, d) for d in CustomField.objects.all()],
        "max_rows": csv_io.MAX_ROWS,
        "max_megabytes": csv_io.MAX_BYTES // 2**20,
        "error": error,
    }
    return render(request, "customers/import/upload.html", context, status=status)


def _preview_page(request, preview, *, file_name: str, token: str = "", status: int = 200):
    shown = preview.rows_with_errors or preview.rows
    context = {
        "preview": preview,
        "rows": shown[:PREVIEW_ROWS_SHOWN],
        "rows_not_shown": max(0, len(shown) - PREVIEW_ROWS_SHOWN),
        "file_name": file_name,
        "token": token,
    }
    return render(request, "customers/import/preview.html", context, status=status)


@login_required
@_admins_only
@require_GET
@never_cache
def customer_export_csv_view(request):
    """All customers as CSV (or those the list's ``q``, ``organization`` and ``tag`` filters select),
    streamed: the rows are read in chunks as they are sent."""
    filters = CustomerFilterForm(request.GET).values()
    filters.pop("page", None)
    customers = selectors.customers_filtered(user=request.user, **filters)
    response = StreamingHttpResponse(
        csv_io.customers_export_csv(customers=customers, actor=request.user), content_type="text/csv; charset=utf-8"
    )
    file_name = f"customers-{timezone.localdate().isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{file_name}"'
    return response
