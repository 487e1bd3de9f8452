"""The customers' side: the request form, and the request page they reach from the link in our emails (the
public conversation and a reply box). No account: the signed link is the key (``tickets.portal.links``)."""

from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_http_methods, require_POST

from customers.models import Customer
from helpdesk.client_ip import client_ip
from helpdesk.emails import send_email
from helpdesk.errors import ValidationError
from helpdesk.ratelimit import allow
from knowledge_base.services import deflection_asked_anyway

from .. import selectors, services
from ..display import conversation_display
from ..models import Attachment, Message, Survey, Ticket
from ..surveys.services import survey_answer
from . import sign_in as portal_sign_in
from .forms import PortalReplyForm, PortalRequestForm, SignInForm
from .links import LinkExpired, follow_token, follow_url, ticket_for_token
from .services import portal_request_create

PUBLIC_KINDS = (Message.Kind.CUSTOMER, Message.Kind.REPLY)
REQUESTS_PER_HOUR_PER_IP = settings.PORTAL_REQUESTS_PER_HOUR_PER_IP
REQUESTS_PER_HOUR_PER_EMAIL = settings.PORTAL_REQUESTS_PER_HOUR_PER_EMAIL
SIGN_IN_LINKS_PER_HOUR_PER_IP = 10
SIGN_IN_LINKS_PER_HOUR_PER_EMAIL = 3
REPLIES_PER_HOUR = 30  # per address: enough for a conversation, not for a flood
NEW_LINK_EVERY_SECONDS = 600


def _hourly_limits(request, action: str, email: str, *, per_ip: int, per_email: int) -> bool:
    """Whether one more ``action`` is allowed this hour from this client address and for this email."""
    return allow(f"portal-{action}-ip:{client_ip(request)}", limit=per_ip, seconds=3600) and allow(
        f"portal-{action}-email:{email.lower()}", limit=per_email, seconds=3600
    )


def _private(response):
    """The link is the key: keep the page out of caches and search engines. (The site's Referrer-Policy,
    same-origin, keeps the link out of other sites' logs; "no-referrer" would also blank the Origin header of
    the page's own form, which the CSRF check needs.)"""
    response["Cache-Control"] = "private, no-store"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _ticket_or_expired(request, token):
    """(ticket, None) for a good link, (None, response) for an expired one; 404 for anything else."""
    try:
        return ticket_for_token(token), None
    except LinkExpired as expired:
        context = {"reference": expired.ticket.reference, "token": token}
        return None, _private(render(request, "portal/link_expired.html", context, status=410))
    except Ticket.DoesNotExist:
        raise Http404(_("This link is not valid.")) from None


@require_http_methods(["GET", "POST"])
def request_view(request, token):
    ticket, expired = _ticket_or_expired(request, token)
    if expired:
        return expired
    if ticket.merged_into_id is not None:
        target = Ticket.objects.filter(pk=ticket.merged_into_id, customer_id=ticket.customer_id).first()
        if target is not None:
            return redirect("portal:request", token=follow_token(target))
    form = PortalReplyForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        if not allow(f"portal-reply:{ticket.customer_id}:{client_ip(request)}", limit=REPLIES_PER_HOUR, seconds=3600):
            form.add_error(None, _("You sent many messages in a short time. Please wait a little and try again."))
        else:
            try:
                landed, message = services.ticket_add_customer_message(
                    ticket=ticket, body=form.cleaned_data["body"], channel=Ticket.Channel.PORTAL,
                    attachments=form.cleaned_data["attachments"])  # fmt: skip
            except ValidationError as error:
                form.add_error(None, error)
            else:
                if landed.pk != ticket.pk:
                    messages.success(request, _("This request was closed, so your message opened a new one: "
                                                "%(reference)s.") % {"reference": landed.reference})  # fmt: skip
                else:
                    messages.success(request, _("Thank you, your message was added."))
                return redirect(reverse("portal:request", args=[follow_token(landed)]) + f"#message-{message.pk}")
    conversation = list(ticket.messages.filter(kind__in=PUBLIC_KINDS).select_related("author_customer", "author_user")
                        .prefetch_related("attachments").order_by("created_at", "pk"))  # fmt: skip
    attachment_url = reverse("portal:attachment", args=[token, 0]).replace("/0/", "/{}/")
    conversation_display(conversation, [], attachment_url=attachment_url)
    for message in conversation:  # an agent signs with their name only; the help desk's is in the header
        if message.author_user is not None:
            message.author_label = message.author_user.full_name
    surveys = Survey.of_ticket(ticket)
    context = {"ticket": ticket, "token": token, "conversation": conversation, "form": form,
               "status": _customer_status(ticket), "surveys": surveys,
               "surveys_answered": any(s.answered_at for s in surveys)}  # fmt: skip
    return _private(render(request, "portal/request.html", context, status=400 if form.errors else 200))


def _customer_status(ticket: Ticket) -> dict[str, str]:
    """The status in the customer's words: ``label``, ``explanation``, and ``badge`` (the colour: calm blue
    while we work on it, amber when it waits for them)."""
    Status = Ticket.Status
    if ticket.merged_into_id is not None:
        label, explanation, badge = (_("Merged"), _("This request was joined with another one; our team continues "
                                                    "there."), "closed")  # fmt: skip
    elif ticket.status in (Status.NEW, Status.OPEN, Status.ON_HOLD):
        label, explanation, badge = _("Open"), _("Our team is working on your request."), "pending"
    elif ticket.status == Status.PENDING:
        label, explanation, badge = _("Waiting for you"), _("We asked you something: please reply below."), "new"
    elif ticket.status == Status.SOLVED:
        label, explanation, badge = (_("Solved"), _("We think this is solved. If not, just reply and it opens "
                                                    "again."), "solved")  # fmt: skip
    else:
        label, explanation, badge = (
            _("Closed"),
            _("This request is closed. A new message opens a new request."),
            "closed",
        )
    return {"label": label, "explanation": explanation, "badge": badge}


@require_http_methods(["GET", "HEAD"])
def request_attachment_view(request, token, attachment_id):
    ticket, expired = _ticket_or_expired(request, token)
    if expired:
        return expired
    attachment = Attachment.objects.filter(pk=attachment_id, message__ticket=ticket,
                                           message__kind__in=PUBLIC_KINDS).first()  # fmt: skip
    if attachment is None:
        raise Http404(_("No such file in this request."))
    response = FileResponse(attachment.file.open("rb"), as_attachment=True, filename=attachment.filename,
                            content_type=attachment.content_type)  # fmt: skip
    response["X-Content-Type-Options"] = "nosniff"
    return _private(response)


@require_POST
def request_new_link_view(request, token):
    """An expired link: send a fresh one to the request's own address (never to one given here)."""
    try:
        ticket_for_token(token)
    except LinkExpired as expired:
        ticket = expired.ticket
    except Ticket.DoesNotExist:
        raise Http404(_("This link is not valid.")) from None
    else:
        return redirect("portal:request", token=token)  # still good
    if allow(f"portal-new-link:{ticket.pk}", limit=1, seconds=NEW_LINK_EVERY_SECONDS):
        send_email(name="portal_link", to=[ticket.customer.email],
                   context={"ticket": ticket, "customer": ticket.customer, "follow_url": follow_url(ticket)})  # fmt: skip
    context = {"reference": ticket.reference, "sent": True}
    return _private(render(request, "portal/link_expired.html", context))


@require_http_methods(["GET", "POST"])
def request_new_view(request):
    """Ask for help without an account: the request becomes a ticket, and its page opens."""
    queues = selectors.portal_queues()
    if not queues:
        return render(request, "portal/unavailable.html", status=503)
    form = PortalRequestForm(request.POST or None, request.FILES or None, queues=queues)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if form.is_bot:
            return render(request, "portal/request_sent.html")  # looks like success; nothing is kept
        sent = selectors.portal_submission_ticket(submission=data["submission"], email=data["email"])
        if sent is not None:  # the same form again (a reload after an error page or a lost answer): not counted
            return _request_sent(request, sent)
        if not _hourly_limits(request, "request", data["email"], per_ip=REQUESTS_PER_HOUR_PER_IP,
                              per_email=REQUESTS_PER_HOUR_PER_EMAIL):  # fmt: skip
            form.add_error(None, _("We received many requests from you in a short time. Please wait a little and "
                                   "send this one again."))  # fmt: skip
        else:
            try:
                ticket = portal_request_create(
                    email=data["email"], name=data["name"], language=translation.get_language(),
                    subject=data["subject"], body=data["body"], queue=form.chosen_queue,
                    attachments=data["attachments"], submission=data["submission"],
                )  # fmt: skip
            except ValidationError as error:
                form.add_error(None, error)
            else:
                deflection_asked_anyway(request=request)
                return _request_sent(request, ticket)
    return render(request, "portal/request_new.html", {"form": form}, status=400 if form.errors else 200)


def _request_sent(request, ticket: Ticket):
    messages.success(request, _("Thank you! We got your request %(reference)s and sent a confirmation to "
                                "%(email)s.") % {"reference": ticket.reference, "email": ticket.customer.email})  # fmt: skip
    return redirect("portal:request", token=follow_token(ticket))


# --- signing in (optional) ---------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def sign_in_view(request):
    """Ask for a sign-in link. The answer is the same whether we know the address or not."""
    form = SignInForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        email = form.cleaned_data["email"]
        if not _hourly_limits(request, "sign-in", email, per_ip=SIGN_IN_LINKS_PER_HOUR_PER_IP,
                              per_email=SIGN_IN_LINKS_PER_HOUR_PER_EMAIL):  # fmt: skip
            form.add_error(None, _("We sent several links in a short time. Please use the last one, or try again "
                                   "in an hour."))  # fmt: skip
        else:
            customer = Customer.objects.with_email(email).first()
            if customer is not None:
                send_email(name="portal_sign_in", to=[customer.email],
                           context={"customer": customer, "sign_in_url": portal_sign_in.sign_in_url(customer),
                                    "minutes": portal_sign_in.SIGN_IN_LINK_MINUTES})  # fmt: skip
            return render(request, "portal/sign_in_sent.html", {"email": email})
    return render(request, "portal/sign_in.html", {"form": form}, status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
def sign_in_link_view(request, token):
    """The link from the email: a button to press (a GET changes nothing, for mail scanners' sake)."""
    customer = portal_sign_in.customer_for_link(token)
    if customer is None:
        return _private(render(request, "portal/sign_in_link_used.html", status=410))
    if request.method == "POST":
        portal_sign_in.sign_in(request, customer)
        return redirect("portal:my_requests")
    return _private(render(request, "portal/sign_in_confirm.html", {"customer": customer}))


@require_POST
def sign_out_view(request):
    portal_sign_in.sign_out(request)
    messages.success(request, _("You are signed out."))
    return redirect("portal:sign_in")


@require_http_methods(["GET", "HEAD"])
def my_requests_view(request):
    customer = portal_sign_in.signed_in_customer(request)
    if customer is None:
        return redirect("portal:sign_in")
    tickets = list(selectors.portal_tickets_of(customer).order_by("-updated_at")[:200])
    for ticket in tickets:
        ticket.portal_url = reverse("portal:request", args=[follow_token(ticket)])
        ticket.portal_status = _customer_status(ticket)
    return _private(render(request, "portal/my_requests.html", {"customer": customer, "tickets": tickets}))


# --- satisfaction surveys ----------------------------------------------------------------------

SURVEY_QUESTIONS = {
    "csat": (_lazy("How satisfied are you with the help you got?"), _lazy("Not at all"), _lazy("Very satisfied")),
    "nps": (_lazy("How likely are you to recommend us to a friend?"), _lazy("Not at all likely"), _lazy("Very likely")),
    "ces": (_lazy("How easy was it to get your issue resolved?"), _lazy("Very hard"), _lazy("Very easy")),
}


@require_http_methods(["GET", "POST"])
def rate_view(request, token):
    """The survey page the email's score links open, with that score chosen; only sending the form records
    it (mail scanners follow links, and must not answer for the customer)."""
    ticket, expired = _ticket_or_expired(request, token)
    if expired:
        return expired
    surveys = Survey.of_ticket(ticket)
    if not surveys:
        return redirect("portal:request", token=token)
    source = request.POST if request.method == "POST" else request.GET
    error = ""
    if request.method == "POST":
        given = {s.kind: source.get(s.kind, "").strip() for s in surveys}
        if not any(given.values()):
            error = _("Choose a score first.")
        else:
            try:
                with transaction.atomic():
                    for survey in surveys:
                        if given[survey.kind]:
                            comment = source.get("comment", "") if survey.kind == "csat" else ""
                            survey_answer(survey=survey, score=_int(given[survey.kind]), comment=comment)
            except ValidationError as problem:
                error = " ".join(problem.messages)
            else:
                messages.success(request, _("Thank you for your feedback!"))
                return redirect("portal:request", token=token)
    questions = []
    for survey in surveys:
        text, low_label, high_label = SURVEY_QUESTIONS[survey.kind]
        chosen = source.get(survey.kind) or (str(survey.score) if survey.score is not None else "")
        questions.append({"kind": survey.kind, "text": text, "low": low_label, "high": high_label,
                          "scores": [str(score) for score in survey.scale], "chosen": chosen})  # fmt: skip
    comment = source.get("comment", next((s.comment for s in surveys if s.kind == "csat"), ""))
    context = {"ticket": ticket, "token": token, "questions": questions, "error": error, "comment": comment,
               "asks_csat": any(s.kind == "csat" for s in surveys)}  # fmt: skip
    return _private(render(request, "portal/rate.html", context, status=400 if error else 200))


def _int(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None
