"""The agent screens: the ticket list, the ticket page and the small POST views behind its forms.

Each view parses its input, checks access (``selectors.access_ticket`` first), calls one service and
renders. htmx requests get the named partial of the page (``tickets/list.html#results``).
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import transaction
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect
from redis import RedisError

from customers.selectors import access_customer, customer_panel, customer_search
from customers.services import customer_get_or_create
from helpdesk.errors import ValidationError
from helpdesk.htmx import vary_on_htmx, wants_partial
from knowledge_base import selectors as kb_selectors

from . import canned, notifications, presence, saved_views, selectors, services
from .display import ROW_FIELDS, conversation_display, relative_time, ticket_rows
from .forms import (
    AGENT_STATUSES,
    SORTS,
    VIEWS,
    AssignForm,
    BulkForm,
    ComposerForm,
    CustomerSearchForm,
    NewTicketForm,
    PriorityForm,
    QueueForm,
    StatusForm,
    TagsForm,
    TicketListForm,
)
from .mail.outbound import reply_retry
from .models import Message, Survey, Ticket
from .sla.selectors import ticket_sla

PAGE_SIZE = 50
RECENT_TICKETS = 5
# --- list --------------------------------------------------------------------------------------


def _bulk_actions(user) -> dict[str, list[tuple[str, str]]]:
    """The bulk bar's options (value, label) past the fixed ones, labelled here: a translation tag per option
    cost the list page a few ms."""
    people = selectors.bulk_assignees(user=user).exclude(pk=user.pk).only("pk", "full_name", "email")
    return {
        "assign": [(f"assign:{person.pk}", _("Assign to %(name)s") % {"name": person}) for person in people],
        "status": [(f"status:{value}", _("Set status: %(label)s") % {"label": Ticket.Status(value).label})
                   for value in AGENT_STATUSES],
        "priority": [(f"priority:{value}", _("Set priority: %(label)s") % {"label": label})
                     for value, label in Ticket.Priority.choices],
    }  # fmt: skip


@login_required
@require_GET
def ticket_list_view(request):
    form = TicketListForm(request.GET)
    params = form.params()
    partial = wants_partial(request)
    user = request.user
    # The sidebar's counts only for a whole page; an htmx request (search, paging) needs the queues alone.
    counts, queue_counts = selectors.ticket_list_counts(user=user) if not partial else (None, {})
    queues = selectors.queues_with_open_counts(user=user, counts=queue_counts)
    queue = next((q for q in queues if q.pk == params.queue_id), None)
    if params.queue_id and queue is None:
        raise Http404("No such queue.")
    if params.q:
        tickets = selectors.ticket_search(user=user, query=params.q, queue_id=params.queue_id, filters=params.filters)
    else:
        tickets = selectors.ticket_list(
            user=user, view=params.view, queue_id=params.queue_id, filters=params.filters, sort=params.sort
        )
    offset = (params.page - 1) * PAGE_SIZE
    rows = list(tickets.only(*ROW_FIELDS)[offset : offset + PAGE_SIZE + 1])  # one more: is there a next page?
    context = {
        "params": params,
        "current_query": saved_views.clean_query(request.GET.urlencode()),
        "filter_form": form,
        "queue": queue,
        "view_label": dict(VIEWS)[params.view],
        "tickets": ticket_rows(rows[:PAGE_SIZE]),
        "has_next": len(rows) > PAGE_SIZE,
        "has_previous": params.page > 1,
        "first_row": offset + 1,
        "last_row": offset + min(len(rows), PAGE_SIZE),
    }
    if partial:
        response = render(request, "tickets/list.html#results", context)
    else:
        context |= {
            "views": [(key, label, counts.get(key)) for key, label in VIEWS],
            "queues": queues,
            "sorts": SORTS,
            "bulk_actions": _bulk_actions(user),
            "saved_views": saved_views.saved_views_pinned(user=user),
        }
        response = render(request, "tickets/list.html", context)
    return vary_on_htmx(response)


@login_required
@require_POST
def ticket_bulk_view(request):
    """Apply one action to the tickets ticked in the list, then go back to the same list."""
    user = request.user
    form = BulkForm(request.POST, assignees=selectors.bulk_assignees(user=user))
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}) or not back.startswith("/"):
        back = reverse("tickets:list")
    if not form.is_valid():
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
        return _back_to(request, back)
    data = form.cleaned_data
    tickets = list(selectors.tickets_visible_to(user).filter(pk__in=data["ticket_ids"]).select_related("queue"))
    if not tickets:
        raise Http404("No such tickets.")
    kind, _sep, value = data["action"].partition(":")
    if kind == "merge":
        try:
            target, result = services.tickets_bulk_merge(tickets=tickets, actor=user)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            return _back_to(request, back)
        if result.changed:
            messages.success(request, ngettext("Merged %(count)d ticket into %(target)s.",
                                               "Merged %(count)d tickets into %(target)s.", result.changed)
                             % {"count": result.changed, "target": target.reference})  # fmt: skip
    else:
        change = {}
        if kind == "assign":
            change["assignee"] = user if value == "me" else None if value == "none" else form.assignees[value]
        elif kind == "status":
            change["status"] = value
        elif kind == "priority":
            change["priority"] = value
        else:
            change["add_tags" if kind == "tag_add" else "remove_tags"] = [data["tag"]]
        result = services.tickets_bulk_update(tickets=tickets, actor=user, **change)
        if result.changed:
            messages.success(request, ngettext("Updated %(count)d ticket.", "Updated %(count)d tickets.",
                                               result.changed) % {"count": result.changed})  # fmt: skip
    for error in result.errors:
        messages.error(request, error)
    return _back_to(request, back)


@login_required
@require_POST
def saved_view_create_view(request):
    """Save the list's current filters as one of the agent's own views, then show it."""
    try:
        view = saved_views.saved_view_create(user=request.user, name=request.POST.get("name", ""),
                                             query=request.POST.get("query", ""))  # fmt: skip
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        query = saved_views.clean_query(request.POST.get("query", ""))
        return _back_to(request, f"{reverse('tickets:list')}?{query}" if query else reverse("tickets:list"))
    messages.success(request, _("Saved “%(name)s” in your views.") % {"name": view.name})
    return _back_to(request, view.get_absolute_url())


@login_required
@require_POST
def saved_view_delete_view(request, view_id):
    saved_views.saved_view_delete(user=request.user, view_id=view_id)
    messages.success(request, _("View removed."))
    return _back_to(request, reverse("tickets:list"))


# --- ticket page -------------------------------------------------------------------------------


def _presence(ticket: Ticket, user, *, replying: bool = False) -> list:
    """Record ``user`` on the ticket and return who else is on it; Redis being down hides the list."""
    try:
        presence.presence_touch(ticket_id=ticket.pk, user=user, replying=replying)
        return presence.presence_others(ticket_id=ticket.pk, user=user)
    except RedisError:
        return []


def _detail_context(request, ticket: Ticket, *, composer: ComposerForm) -> dict:
    user = request.user
    conversation = list(selectors.ticket_messages(ticket=ticket))
    events = selectors.ticket_events(ticket=ticket, limit=51)
    conversation_display(conversation, events)
    return {
        "ticket": ticket,
        "conversation": conversation,
        "last_message_id": max((m.pk for m in conversation), default=0),
        "others": _presence(ticket, user),
        "composer": composer,
        "status_form": StatusForm(ticket=ticket),
        "priority_form": PriorityForm(ticket=ticket),
        "assign_form": AssignForm(ticket=ticket),
        "queue_form": QueueForm(ticket=ticket, user=user),
        "canned_responses": canned.canned_visible_to(user)[:20],
        "tag_names": ", ".join(tag.name for tag in ticket.tags.all()),
        "recent_tickets": selectors.customer_recent_tickets(
            user=user, customer_id=ticket.customer_id, exclude_id=ticket.pk, limit=RECENT_TICKETS
        ),
        **customer_panel(customer_id=ticket.customer_id),
        "sla_timers": ticket_sla(ticket),
        "surveys": Survey.of_ticket(ticket),
        "events": events[:50],
        "events_truncated": len(events) > 50,
        "is_closed": ticket.status == Ticket.Status.CLOSED,
        "updated_ago": relative_time(ticket.updated_at, timezone.now()),
    }


@login_required
@require_GET
def ticket_detail_view(request, ticket_id):
    ticket = selectors.access_ticket(request.user, ticket_id)
    if ticket.merged_into_id:
        target = Ticket(pk=ticket.merged_into_id)
        messages.info(request, _("%(source)s was merged into %(target)s.")
                      % {"source": ticket.reference, "target": target.reference})  # fmt: skip
        return redirect(target)
    initial = {}
    if request.GET.get("canned"):  # "insert a canned response": the composer starts with its text
        response = canned.access_canned(request.user, request.GET["canned"])
        initial["body"] = canned.canned_render(response=response, ticket=ticket, agent=request.user)
    if request.GET.get("article"):  # "insert an article": its link (public ones) or its text
        initial["body"] = _article_insert(request.GET["article"], as_link=request.GET.get("insert") == "link")
    composer = ComposerForm(ticket=ticket, initial=initial)
    notifications.notifications_mark_read(user=request.user, ticket_id=ticket.pk)  # seen now
    return render(request, "tickets/detail.html", _detail_context(request, ticket, composer=composer))


def _article_insert(article_id: str, *, as_link: bool) -> str:
    article = kb_selectors.agent_articles().filter(pk=int(article_id) if article_id.isdigit() else 0).first()
    if article is None:
        return ""
    if as_link and article.on_portal:
        return f"[{article.title}]({settings.SITE_URL.rstrip('/')}{article.get_absolute_url()})"
    return article.body


@login_required
@require_GET
def ticket_articles_view(request, ticket_id):
    """Articles to insert into a reply: those an agent searches for (``q``), or else the ones suggested for
    the ticket (its subject and first message), loaded after the page."""
    ticket = selectors.access_ticket(request.user, ticket_id)
    query = " ".join(request.GET.get("q", "").split())[:200]
    if query:
        articles = kb_selectors.article_search(query=query, limit=8, articles=kb_selectors.agent_articles())
    else:
        first = ticket.messages.filter(kind=Message.Kind.CUSTOMER).order_by("created_at", "pk").first()
        text = f"{ticket.subject} {first.body_text[:2000] if first else ''}"
        articles = kb_selectors.suggested_articles(text=text)
    context = {"ticket": ticket, "articles": articles, "query": query}
    return render(request, "tickets/detail.html#suggested-articles", context)


def _arrived_meanwhile(ticket: Ticket, user, seen_up_to: int | None) -> bool:
    if seen_up_to is None:
        return False
    public = [Message.Kind.CUSTOMER, Message.Kind.REPLY]
    return ticket.messages.filter(pk__gt=seen_up_to, kind__in=public).exclude(author_user=user).exists()


@login_required
@require_POST
def ticket_presence_view(request, ticket_id):
    """The ticket page reports every few seconds (and while the agent types) and gets who else is on it."""
    ticket = selectors.access_ticket(request.user, ticket_id)
    others = _presence(ticket, request.user, replying=request.POST.get("state") == "replying")
    return render(request, "tickets/detail.html#presence", {"ticket": ticket, "others": others})


@login_required
@require_GET
def ticket_canned_view(request, ticket_id):
    """The canned responses matching what the agent types (the ticket page's ``canned-list`` partial)."""
    ticket = selectors.access_ticket(request.user, ticket_id)
    responses = canned.canned_visible_to(request.user, query=request.GET.get("canned_q", "")[:100])[:20]
    return render(request, "tickets/detail.html#canned-list", {"ticket": ticket, "canned_responses": responses})


@login_required
def canned_list_view(request):
    """The agent's canned responses and the shared ones; a form to add one."""
    if request.method == "POST":
        try:
            response = canned.canned_create(user=request.user, title=request.POST.get("title", ""),
                                            body=request.POST.get("body", ""),
                                            shared=request.POST.get("shared") == "on")  # fmt: skip
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            context = {"responses": canned.canned_visible_to(request.user), "typed": request.POST}
            return render(request, "tickets/canned.html", context, status=400)
        messages.success(request, _("Saved “%(title)s”.") % {"title": response.title})
        return redirect("tickets:canned")
    return render(request, "tickets/canned.html", {"responses": canned.canned_visible_to(request.user)})


@login_required
@require_POST
def canned_delete_view(request, response_id):
    try:
        canned.canned_delete(user=request.user, response_id=response_id)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Canned response deleted."))
    return redirect("tickets:canned")


def _back_to(request, url: str):
    """After a successful POST: a plain redirect, or a client-side one for htmx."""
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)


@login_required
@require_POST
def ticket_message_view(request, ticket_id):
    """The composer: a public reply (optionally setting the status) or an internal note."""
    ticket = selectors.access_ticket(request.user, ticket_id)
    form = ComposerForm(request.POST, request.FILES, ticket=ticket)
    if form.is_valid() and _arrived_meanwhile(ticket, request.user, form.cleaned_data["seen_up_to"]):
        # Collision safety: show what the customer or a colleague wrote since the page was loaded
        # instead of sending blind. The page now counts those as seen, so sending again goes through.
        form.add_error(None, _("New messages arrived while you were writing. Read them above, then send again."))
    elif form.is_valid():
        data = form.cleaned_data
        try:
            if form.is_note:
                message = services.ticket_add_note(ticket=ticket, author=request.user, body=data["body"],
                                                   body_is_markdown=True, attachments=data["attachments"])  # fmt: skip
            else:
                message = services.ticket_reply(ticket=ticket, author=request.user, body=data["body"],
                                                body_is_markdown=True, status=data["status"] or None,
                                                attachments=data["attachments"])  # fmt: skip
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("Internal note added.") if form.is_note else _("Reply added."))
            return _back_to(request, f"{ticket.get_absolute_url()}#message-{message.pk}")
    if wants_partial(request):
        return render(request, "tickets/detail.html#composer", {"ticket": ticket, "composer": form})
    return render(request, "tickets/detail.html", _detail_context(request, ticket, composer=form))


def _field_change(request, ticket: Ticket, form, change, success):
    """Run one field service with a valid form (``success(data)`` is the confirmation); any problem
    becomes an error message."""
    if form.is_valid():
        try:
            change(form.cleaned_data)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, success(form.cleaned_data))
    else:
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
    return _back_to(request, ticket.get_absolute_url())


@login_required
@require_POST
def message_resend_view(request, ticket_id, message_id):
    """Try again to email a reply whose sending failed."""
    ticket = selectors.access_ticket(request.user, ticket_id)
    message = get_object_or_404(Message, pk=message_id, ticket=ticket, kind=Message.Kind.REPLY)
    reply_retry(message=message)
    messages.info(request, _("Sending the reply again."))
    return redirect(f"{ticket.get_absolute_url()}#message-{message.pk}")


@login_required
@require_POST
def ticket_status_view(request, ticket_id):
    ticket = selectors.access_ticket(request.user, ticket_id)
    form = StatusForm(request.POST, ticket=ticket)
    return _field_change(
        request, ticket, form,
        lambda data: services.ticket_set_status(ticket=ticket, status=data["status"], actor=request.user),
        lambda data: _("Status set to “%(status)s”.") % {"status": Ticket.Status(data["status"]).label},
    )  # fmt: skip


@login_required
@require_POST
def ticket_priority_view(request, ticket_id):
    ticket = selectors.access_ticket(request.user, ticket_id)
    form = PriorityForm(request.POST, ticket=ticket)
    return _field_change(
        request, ticket, form,
        lambda data: services.ticket_set_priority(ticket=ticket, priority=data["priority"], actor=request.user),
        lambda data: _("Priority set to “%(priority)s”.") % {"priority": Ticket.Priority(data["priority"]).label},
    )  # fmt: skip


@login_required
@require_POST
def ticket_assign_view(request, ticket_id):
    ticket = selectors.access_ticket(request.user, ticket_id)
    form = AssignForm(request.POST, ticket=ticket)
    return _field_change(
        request, ticket, form,
        lambda data: services.ticket_assign(ticket=ticket, assignee=data["assignee"], actor=request.user),
        lambda data: (_("Assigned to %(name)s.") % {"name": data["assignee"]}) if data["assignee"] else _("Unassigned."),
    )  # fmt: skip


@login_required
@require_POST
def ticket_queue_view(request, ticket_id):
    ticket = selectors.access_ticket(request.user, ticket_id)
    form = QueueForm(request.POST, ticket=ticket, user=request.user)
    return _field_change(
        request, ticket, form,
        lambda data: services.ticket_set_queue(ticket=ticket, queue=data["queue"], actor=request.user),
        lambda data: _("Moved to %(queue)s.") % {"queue": data["queue"]},
    )  # fmt: skip


@login_required
@require_POST
def ticket_tags_view(request, ticket_id):
    """Set the tags to exactly those typed: the missing ones are added, the others removed."""
    ticket = selectors.access_ticket(request.user, ticket_id)
    form = TagsForm(request.POST)
    current = set(ticket.tags.values_list("name", flat=True))
    return _field_change(
        request, ticket, form,
        lambda data: services.ticket_tag(ticket=ticket, actor=request.user, add=set(data["tags"]) - current,
                                         remove=current - set(data["tags"])),
        lambda data: _("Tags saved."),
    )  # fmt: skip


@login_required
@require_GET
def attachment_download_view(request, attachment_id):
    attachment = selectors.access_attachment(request.user, attachment_id)
    response = FileResponse(attachment.file.open("rb"), as_attachment=True, filename=attachment.filename,
                            content_type=attachment.content_type)  # fmt: skip
    response["X-Content-Type-Options"] = "nosniff"
    return response


# --- new ticket --------------------------------------------------------------------------------

CUSTOMER_RESULTS = 8


def _customer_choices(user, *, query: str, chosen) -> list:
    """The customers to offer: the one already chosen first (so a new search does not lose it), then
    the matches for ``query``."""
    found = customer_search(user=user, query=query, limit=CUSTOMER_RESULTS) if query else []
    if chosen is None:
        return found
    return [chosen, *(c for c in found if c.pk != chosen.pk)]


@login_required
@require_http_methods(["GET", "POST"])
def ticket_new_view(request):
    """An agent opens a ticket on a customer's behalf: a phone call or walk-in, or an email the
    agent writes first. Without JavaScript, the customer search is a GET of this page (``?q=``)."""
    user = request.user
    query = CustomerSearchForm(request.GET).query()
    if request.method == "POST":
        form = NewTicketForm(request.POST, user=user)
        if form.is_valid():
            data = form.cleaned_data
            try:
                with transaction.atomic():  # a ticket that cannot be created leaves no new customer behind
                    customer = form.customer or customer_get_or_create(email=data["email"], name=data["name"])
                    ticket = services.ticket_create(
                        customer=customer, subject=data["subject"], body=data["body"], channel=data["channel"],
                        queue=data["queue"], priority=data["priority"], created_by=user,
                        assignee=user if data["assign_to_me"] else None,
                    )  # fmt: skip
            except ValidationError as error:
                form.add_error(None, error)
            else:
                messages.success(request, _("Ticket %(reference)s created.") % {"reference": ticket.reference})
                return redirect(ticket)
        chosen = form.cleaned_data.get("customer_id")
    else:
        form = NewTicketForm(user=user)
        chosen = None
    context = {
        "form": form,
        "query": query,
        "customers": _customer_choices(user, query=query, chosen=chosen),
        "chosen_id": chosen.pk if chosen else None,
    }
    return render(request, "tickets/new.html", context)


@login_required
@require_GET
def ticket_new_customers_view(request):
    """The customer matches of the new-ticket page (its ``customer-results`` partial), as the agent types."""
    query = CustomerSearchForm(request.GET).query()
    chosen = access_customer(request.user, request.GET["customer_id"]) if request.GET.get("customer_id") else None
    context = {"query": query, "customers": _customer_choices(request.user, query=query, chosen=chosen),
               "chosen_id": chosen.pk if chosen else None}  # fmt: skip
    return render(request, "tickets/new.html#customer-results", context)


# --- notifications -----------------------------------------------------------------------------

NOTIFICATIONS_PER_PAGE = 30


@login_required
@require_GET
def notification_list_view(request):
    page = Paginator(
        notifications.notifications_for(request.user).select_related("ticket", "actor"), NOTIFICATIONS_PER_PAGE
    ).get_page(request.GET.get("page"))
    now = timezone.now()
    for notification in page:
        notification.ago = relative_time(notification.created_at, now)
    unread = notifications.notification_unread_count(request.user)
    return render(request, "tickets/notifications.html", {"page": page, "unread": unread})


@login_required
@require_GET
def notification_badge_view(request):
    """The unread count in the header, polled by htmx."""
    unread = notifications.notification_unread_count(request.user)
    return render(request, "tickets/notifications.html#badge", {"unread": unread})


@login_required
@require_GET
def notification_open_view(request, notification_id):
    """Follow a notification: it is read now, and the ticket opens at the message it is about."""
    notification = notifications.access_notification(request.user, notification_id)
    notifications.notifications_mark_read(user=request.user, notification_id=notification.pk)
    url = notification.ticket.get_absolute_url()
    return redirect(f"{url}#message-{notification.message_id}" if notification.message_id else url)


@login_required
@require_POST
def notification_read_all_view(request):
    count = notifications.notifications_mark_read(user=request.user)
    messages.success(request, ngettext("%(count)d notification marked as read.",
                                       "%(count)d notifications marked as read.", count) % {"count": count})  # fmt: skip
    return redirect("tickets:notifications")
