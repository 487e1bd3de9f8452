from django.contrib.auth.decorators import login_required
from django.http import FileResponse
from django.shortcuts import redirect, render

from . import selectors


@login_required
def ticket_list_view(request):
    tickets = selectors.ticket_list(user=request.user, view=request.GET.get("view", "open"))[:50]
    return render(request, "tickets/list.html", {"tickets": tickets})


@login_required
def ticket_detail_view(request, ticket_id):
    ticket = selectors.access_ticket(request.user, ticket_id)
    if ticket.merged_into_id:
        return redirect("tickets:detail", ticket.merged_into_id)
    messages = selectors.ticket_messages(ticket=ticket)
    return render(request, "tickets/detail.html", {"ticket": ticket, "messages": messages})


@login_required
def attachment_download_view(request, attachment_id):
    attachment = selectors.access_attachment(request.user, attachment_id)
    response = FileResponse(attachment.file.open("rb"), as_attachment=True, filename=attachment.filename,
                            content_type=attachment.content_type)  # fmt: skip
    response["X-Content-Type-Options"] = "nosniff"
    return response
