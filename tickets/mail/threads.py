"""Which ticket an inbound email answers, for a batch of emails at once (a few queries for the batch).

The rules, in this order:
1. a Message-ID of ours in In-Reply-To/References;
2. the Message-ID of an earlier email on a ticket (the newest one referenced), an email earlier in the
   same batch counting as newest;
3. the reference "[HD-1042]" in the subject, if the sender is the ticket's customer or was copied in;
4. the per-ticket reply address support+<token>@, if the mailbox allows plus addressing.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from customers.models import Customer

from ..models import Message, Ticket
from .ids import SUBJECT_REFERENCE, ticket_id_from_message_id, ticket_id_from_reply_token
from .models import Mailbox
from .parse import ParsedEmail


@dataclass(frozen=True)
class SameAs:
    """The email answers an earlier email of the same batch: it goes where that one goes."""

    index: int


def find_tickets(emails: Sequence[tuple[ParsedEmail, Mailbox | None, Customer]]) -> list[Ticket | SameAs | None]:
    """For each (email, its mailbox, its sender): the ticket it answers, ``SameAs`` an earlier email of the
    batch, or None (it opens a ticket)."""
    references = [[*reversed(parsed.in_reply_to), *reversed(parsed.references)] for parsed, _m, _c in emails]
    ours = [[tid for mid in ids if (tid := ticket_id_from_message_id(mid)) is not None] for ids in references]
    numbers = [[int(n) for n in SUBJECT_REFERENCE.findall(parsed.subject)] for parsed, _m, _c in emails]
    tokens = [_reply_token_ticket_ids(parsed, mailbox) for parsed, mailbox, _c in emails]
    foreign = {mid for ids in references for mid in ids[:100]}
    earlier = {}  # Message-ID -> (message pk, ticket id) of the newest message with it
    if foreign:
        for message_id, pk, ticket_id in (Message.objects.filter(email_message_id__in=foreign)
                                          .values_list("email_message_id", "pk", "ticket_id")):  # fmt: skip
            if pk > earlier.get(message_id, (0, 0))[0]:
                earlier[message_id] = (pk, ticket_id)
    wanted = {tid for lists in (ours, numbers, tokens) for ids in lists for tid in ids}
    wanted |= {ticket_id for _pk, ticket_id in earlier.values()}
    tickets = Ticket.objects.in_bulk(wanted) if wanted else {}

    found: list[Ticket | SameAs | None] = []
    in_batch: dict[str, int] = {}
    for index, (parsed, _mailbox, customer) in enumerate(emails):
        found.append(_first_rule(references[index][:100], ours[index], numbers[index], tokens[index], customer,
                                 tickets, earlier, in_batch))  # fmt: skip
        if parsed.message_id:
            in_batch[parsed.message_id] = index
    return found


def _first_rule(ids, ours, numbers, tokens, customer, tickets, earlier, in_batch) -> Ticket | SameAs | None:
    for ticket_id in ours:
        if ticket_id in tickets:
            return tickets[ticket_id]
    same_batch = [in_batch[mid] for mid in ids if mid in in_batch]
    if same_batch:
        return SameAs(max(same_batch))
    newest = max((earlier[mid] for mid in ids if mid in earlier), default=None)
    if newest is not None and newest[1] in tickets:
        return tickets[newest[1]]
    for number in numbers:
        ticket = tickets.get(number)
        if ticket is not None and (
            ticket.customer_id == customer.pk or customer.email.lower() in (ticket.email_cc or [])
        ):
            return ticket
    for ticket_id in tokens:
        if ticket_id in tickets:
            return tickets[ticket_id]
    return None


def _reply_token_ticket_ids(parsed: ParsedEmail, mailbox: Mailbox | None) -> list[int]:
    if mailbox is None or not mailbox.plus_addressing:
        return []
    found = []
    for address in (*parsed.delivered_to, *(a.email for a in (*parsed.to, *parsed.cc))):
        local, _at, _domain = address.partition("@")
        if "+" in local and (ticket_id := ticket_id_from_reply_token(local.split("+", 1)[1])):
            found.append(ticket_id)
    return found
