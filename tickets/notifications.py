"""Telling agents about their tickets: assigned to them, or @mentioned in an internal note.

Emails go out from Celery tasks after the change commits; each agent chooses which they get.
"""

import re

from django.db.models import Q

from helpdesk.emails import send_email
from helpdesk.models import User

from .models import Message, Ticket

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


def notify_assigned(*, ticket_id: int, assignee_id: int) -> bool:
    """Email the assignee, if they still hold the ticket and want such emails."""
    ticket = Ticket.objects.select_related("assignee", "customer").filter(pk=ticket_id).first()
    if ticket is None or ticket.assignee_id != assignee_id or not ticket.assignee.notify_on_assign:
        return False
    send_email(name="agent_assigned", to=[ticket.assignee.email], context={"ticket": ticket, "agent": ticket.assignee},
               headers={"Auto-Submitted": "auto-generated"})  # fmt: skip
    return True


def notify_mentioned(*, message_id: int, user_id: int) -> bool:
    """Email an agent @mentioned in an internal note, if they want such emails."""
    message = Message.objects.select_related("ticket", "author_user").filter(pk=message_id).first()
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if message is None or user is None or not user.notify_on_mention:
        return False
    send_email(name="agent_mentioned", to=[user.email],
               context={"ticket": message.ticket, "message": message, "agent": user, "author": message.author_user},
               headers={"Auto-Submitted": "auto-generated"})  # fmt: skip
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
               context={"ticket": message.ticket, "message": message, "agent": agent},
               headers={"Auto-Submitted": "auto-generated"})  # fmt: skip
    return True
