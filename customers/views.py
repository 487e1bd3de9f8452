"""The agents' customer screens: the list, one customer's page (record, notes, preferences, timeline)
and the small forms on it. Who may see whom: ``selectors.customers_visible_to``."""

from datetime import datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from helpdesk.htmx import vary_on_htmx, wants_partial

from . import selectors, services
from .forms import CustomerEmailForm, CustomerFilterForm, CustomerForm, CustomerNoteForm, CustomerPreferenceForm
from .models import CustomerEmail, CustomerNote, CustomerPreference, CustomField, Organization, Segment
from .segments import segments_of


def _customer_or_404(request, customer_id):
    customer = selectors.access_customer(request.user, customer_id)
    if customer is None:
        raise Http404(_("No such customer."))
    return customer


@login_required
@require_GET
def customer_list_view(request):
    filters = CustomerFilterForm(request.GET).values()
    page = filters.pop("page")
    customers, has_next = selectors.customer_list_page(user=request.user, page=page, **filters)
    first = (page - 1) * selectors.LIST_PAGE + 1
    context = {"customers": customers, "page_number": page, "has_next": has_next, "first_row": first,
               "last_row": first + len(customers) - 1, **filters,
               "organizations": Organization.objects.order_by("name").only("id", "name"),
               "segments": Segment.objects.only("id", "name")}  # fmt: skip
    template = "customers/list.html#results" if wants_partial(request) else "customers/list.html"
    return vary_on_htmx(render(request, template, context))


@login_required
@require_GET
def customer_detail_view(request, customer_id):
    customer = selectors.customer_profile(user=request.user, customer_id=customer_id)
    if customer is None:
        raise Http404(_("No such customer."))
    before = _parse_before(request.GET.get("before"))
    timeline = selectors.customer_timeline(user=request.user, customer=customer, before=before,
                                           limit=selectors.TIMELINE_PAGE)  # fmt: skip
    context = {"customer": customer, "timeline": timeline, "segments": segments_of(customer), "more": len(timeline) == selectors.TIMELINE_PAGE,
               "note_form": CustomerNoteForm(), "preference_form": CustomerPreferenceForm(),
               "email_form": CustomerEmailForm(), "custom_fields": _custom_values(customer)}  # fmt: skip
    template = "customers/detail.html#timeline" if wants_partial(request) else "customers/detail.html"
    return vary_on_htmx(render(request, template, context))


def _parse_before(value: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


def _custom_values(customer) -> list[tuple[str, object]]:
    return [
        (f.name, customer.custom_fields[f.key]) for f in CustomField.objects.all() if f.key in customer.custom_fields
    ]


@login_required
@require_http_methods(["GET", "POST"])
def customer_edit_view(request, customer_id):
    customer = _customer_or_404(request, customer_id)
    form = CustomerForm(request.POST or None, instance=customer)
    if request.method == "POST" and form.is_valid():
        changes = form.changes()
        customer.refresh_from_db()  # the form wrote into the instance; the service compares with the stored one
        services.customer_update(customer=customer, actor=request.user, **changes)
        messages.success(request, _("Saved."))
        return redirect("customers:detail", customer.pk)
    return render(request, "customers/edit.html", {"customer": customer, "form": form},
                  status=400 if form.errors else 200)  # fmt: skip


@login_required
@require_POST
def note_add_view(request, customer_id):
    customer = _customer_or_404(request, customer_id)
    form = CustomerNoteForm(request.POST)
    if form.is_valid():
        services.customer_note_add(customer=customer, author=request.user, **form.cleaned_data)
    else:
        messages.error(request, _("The note is empty."))
    return redirect("customers:detail", customer.pk)


@login_required
@require_POST
def note_pin_view(request, customer_id, note_id):
    customer = _customer_or_404(request, customer_id)
    note = get_object_or_404(CustomerNote, pk=note_id, customer=customer)
    services.customer_note_pin(note=note, pinned=request.POST.get("pinned") == "1")
    return redirect("customers:detail", customer.pk)


@login_required
@require_POST
def note_delete_view(request, customer_id, note_id):
    customer = _customer_or_404(request, customer_id)
    note = get_object_or_404(CustomerNote, pk=note_id, customer=customer)
    if note.author_id != request.user.pk and not request.user.is_admin:
        messages.error(request, _("Only its author or an admin can delete a note."))
    else:
        services.customer_note_delete(note=note)
    return redirect("customers:detail", customer.pk)


@login_required
@require_POST
def preference_set_view(request, customer_id):
    customer = _customer_or_404(request, customer_id)
    form = CustomerPreferenceForm(request.POST)
    if form.is_valid():
        services.customer_preference_set(customer=customer, actor=request.user, **form.cleaned_data)
    else:
        messages.error(request, _("A preference needs a name and a value."))
    return redirect("customers:detail", customer.pk)


@login_required
@require_POST
def preference_delete_view(request, customer_id, preference_id):
    customer = _customer_or_404(request, customer_id)
    preference = get_object_or_404(CustomerPreference, pk=preference_id, customer=customer)
    services.customer_preference_delete(customer=customer, preference=preference, actor=request.user)
    return redirect("customers:detail", customer.pk)


@login_required
@require_POST
def email_add_view(request, customer_id):
    customer = _customer_or_404(request, customer_id)
    form = CustomerEmailForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationError(form.errors["email"])
        services.customer_email_add(customer=customer, email=form.cleaned_data["email"], actor=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    return redirect("customers:detail", customer.pk)


@login_required
@require_POST
def email_remove_view(request, customer_id, email_id):
    customer = _customer_or_404(request, customer_id)
    other = get_object_or_404(CustomerEmail, pk=email_id, customer=customer)
    services.customer_email_remove(customer=customer, other=other, actor=request.user)
    return redirect("customers:detail", customer.pk)


@login_required
@require_POST
def email_make_primary_view(request, customer_id, email_id):
    customer = _customer_or_404(request, customer_id)
    other = get_object_or_404(CustomerEmail, pk=email_id, customer=customer)
    services.customer_email_make_primary(customer=customer, other=other, actor=request.user)
    messages.success(request, _("Emails now go to %(email)s.") % {"email": customer.email})
    return redirect("customers:detail", customer.pk)
