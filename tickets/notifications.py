"""Telling agents about their tickets: assigned to them, @mentioned in an internal note, or the customer
wrote back.

Each such event becomes an entry in the agent's in-app list (the bell in the header), written in the
same transaction as the change, and, if the agent wants it, an email sent by a Celery task after commit.
"""

import re

from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone

from helpdesk.emails import send_email
from helpdesk.models import User

from .mail.quotes import without_quoted_html
from .models import Message, Notification, Ticket

# "@sam" or "@sam.lee" mentions the agent whose email address starts with "sam@" or "sam.lee@".
MENTION = re.compile(r"(?<![\w@.])@([a-z0-9][a-z0-9._+-]{0,63})", re.IGNORECASE)


def mentioned_agents(*, ticket: Ticket, text: str, author: User) -> list[User]:
    """The active agents mentioned in ``text`` who may see ``ticket`` (never the author)."""
    handles = {handle.lower().rstrip(".") for handle in MENTION.findall(text or "")}
    if not handles:
        return []
    by_handle = Q()
    for handle in handles:
        by_handle |= Q(email__istartswith=f"{handle}@")
    may_see = Q(teams=ticket.queue.team_id) | Q(role__in=[User.Role.OWNER, User.Role.ADMIN])
    candidates = User.objects.filter(by_handle, may_see, is_active=True).exclude(pk=author.pk).distinct()
    return [user for user in candidates if user.email.split("@")[0].lower() in handles]


# --- in-app list ---------------------------------------------------------------------------------


def notification_add(*, recipient_id: int, kind: str, ticket: Ticket, message: Message | None = None,
                     actor: User | None = None) -> Notification:  # fmt: skip
    """Record one event for the recipient's list; call inside the service's transaction."""
    return Notification.objects.create(
        recipient_id=recipient_id, kind=kind, ticket=ticket, message=message, actor=actor
    )


def notifications_for(user: User) -> QuerySet[Notification]:
    """The user's notifications, newest first, about tickets they may still see."""
    from .selectors import tickets_visible_to

    visible = Q(recipient=user)
    if not user.is_admin:
        visible &= Q(ticket__in=tickets_visible_to(user).values("id"))
    return Notification.objects.filter(visible)


def notification_unread_count(user: User) -> int:
    return notifications_for(user).filter(read_at__isnull=True).count()


def access_notification(user: User, notification_id) -> Notification:
    try:
        notification_id = int(notification_id)
    except (TypeError, ValueError):
        raise Http404("No such notification.") from None
    notification = notifications_for(user).filter(pk=notification_id).first()
    if notification is None:
        raise Http404("No such notification.")
    return notification


def notifications_mark_read(*, user: User, ticket_id: int | None = None, notification_id: int | None = None) -> int:
    """Mark the user's unread notifications read: all of them, one ticket's, or one. Returns how many."""
    unread = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if ticket_id is not None:
        unread = unread.filter(ticket_id=ticket_id)
    if notification_id is not None:
        unread = unread.filter(pk=notification_id)
    return unread.update(read_at=timezone.now())


# --- emails ----------------------------------------------------------------------------------------


def notify_assigned(*, ticket_id: int, assignee_id: int) -> bool:
    """Email the assignee, if they still hold the ticket and want such emails."""
    ticket = Ticket.objects.select_related("assignee", "customer").filter(pk=ticket_id).first()
    if ticket is None or ticket.assignee_id != assignee_id or not ticket.assignee.notify_on_assign:
        return False
    send_email(name="agent_assigned", to=[ticket.assignee.email], context={"ticket": ticket, "agent": ticket.assignee},
               headers={"Auto-Submitted": "auto-generated"}, language=ticket.assignee.language)  # fmt: skip
    return True


def notify_mentioned(*, message_id: int, user_id: int) -> bool:
    """Email an agent @mentioned in an internal note, if they want such emails."""
    message = Message.objects.select_related("ticket", "author_user").filter(pk=message_id).first()
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if message is None or user is None or not user.notify_on_mention:
        return False
    send_email(name="agent_mentioned", to=[user.email],
               context={"ticket": message.ticket, "message": message, "agent": user, "author": message.author_user},
               headers={"Auto-Submitted": "auto-generated"}, language=user.language)  # fmt: skip
    return True


def notify_customer_replied(*, message_id: int) -> bool:
    """Email the assignee that the customer wrote on their ticket, if they want such emails."""
    message = Message.objects.select_related("ticket__assignee", "ticket__customer").filter(pk=message_id).first()
    if message is None or message.kind != Message.Kind.CUSTOMER:
        return False
    agent = message.ticket.assignee
    if agent is None or not agent.is_active or not agent.notify_on_customer_reply:
        return False
    send_email(name="agent_customer_replied", to=[agent.email],
               context={"ticket": message.ticket, "message": message, "agent": agent,
                        "message_html": without_quoted_html(message.body_html)},
               headers={"Auto-Submitted": "auto-generated"}, language=agent.language)  # fmt: skip
    return True
