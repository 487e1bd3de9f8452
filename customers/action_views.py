"""Actions on a whole customer record: merge another customer into it, export it as JSON, erase it.

Thin adapters: they check who may do it and call ``customers.merge`` or ``customers.privacy``. A customer
the user may not see does not exist for them (404); export and erasure are for owners and admins (403).
"""

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from .merge import customer_merge
from .privacy import customer_erase, customer_export
from .selectors import access_customer, customer_search


def _customer_or_404(user, customer_id):
    customer = access_customer(user, customer_id)
    if customer is None:
        raise Http404(_("No such customer."))
    return customer


def _admin_customer(request, customer_id):
    """The customer for an admins-only action: 404 if not visible (before anything else), 403 if not admin."""
    customer = _customer_or_404(request.user, customer_id)
    if not request.user.is_admin:
        raise PermissionDenied(_("Only owners and admins can do this."))
    return customer


def _detail(customer_id) -> str:
    return reverse("customers:detail", args=[customer_id])


@login_required
@require_http_methods(["GET", "POST"])
def customer_merge_view(request, customer_id):
    """GET: find the other customer (``q``: email, name or number) and choose it (``source``) to see what the
    merge does. POST ``source``: merge it into this customer. Both must be visible to the user."""
    target = _customer_or_404(request.user, customer_id)
    if request.method == "POST":
        source = _customer_or_404(request.user, request.POST.get("source"))
        try:
            customer_merge(source=source, target=target, actor=request.user)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            return redirect(reverse("customers:merge", args=[target.pk]))
        messages.success(request, _("Merged %(source)s into this customer.") % {"source": source})
        return redirect(_detail(target.pk))

    query = " ".join(request.GET.get("q", "").split())[:200]
    source = None
    if request.GET.get("source"):
        source = _customer_or_404(request.user, request.GET["source"])
        if source.pk == target.pk:
            source = None
            messages.error(request, _("A customer cannot be merged into itself."))
    candidates = _candidates(request.user, query, exclude=target.pk)
    context = {"customer": target, "query": query, "candidates": candidates, "source": source}
    if source is not None:
        context["source_tickets"] = source.tickets.count()
    return render(request, "customers/actions/merge.html", context)


def _candidates(user, query: str, *, exclude: int) -> list:
    """Customers matching ``query`` by email or name, and the one with that number ("42" or "#42")."""
    if not query:
        return []
    found = customer_search(user=user, query=query)
    number = query.lstrip("#")
    if number.isdigit() and not any(c.pk == int(number) for c in found):
        by_id = access_customer(user, number)
        found = [by_id, *found] if by_id is not None else found
    return [c for c in found if c.pk != exclude]


@login_required
@require_POST
@never_cache
def customer_export_view(request, customer_id):
    """Everything about the customer as a JSON download (owners and admins)."""
    customer = _admin_customer(request, customer_id)
    data = customer_export(customer=customer, actor=request.user)
    response = HttpResponse(json.dumps(data, ensure_ascii=False, indent=2), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="customer-{customer.pk}.json"'
    return response


@login_required
@require_http_methods(["GET", "POST"])
def customer_erase_view(request, customer_id):
    """GET: what erasing does, and a field to type the customer's email address into. POST: erase, if the
    address typed matches (owners and admins)."""
    customer = _admin_customer(request, customer_id)
    error = ""
    if request.method == "POST":
        typed = request.POST.get("confirm", "").strip().lower()
        if typed and typed == customer.email.lower():
            customer_erase(customer=customer, actor=request.user)
            messages.success(request, _("The customer's personal data was erased."))
            return redirect(_detail(customer.pk))
        error = _("Type the customer's email address exactly to confirm.")
    context = {"customer": customer, "error": error, "ticket_count": customer.tickets.count()}
    return render(request, "customers/actions/erase.html", context, status=400 if error else 200)
