"""Writes of the customers' side: a request sent with the portal form."""

import uuid
from collections.abc import Sequence

from django.db import IntegrityError, transaction

from customers.services import customer_get_or_create

from .. import selectors, services
from ..models import Queue, Ticket


def portal_request_create(*, email: str, name: str, language: str, subject: str, body: str, queue: Queue,
                          attachments: Sequence = (), submission: uuid.UUID | None = None) -> Ticket:  # fmt: skip
    """The request of the portal form: its customer (found, or added) and its ticket, all or nothing (a
    refused file leaves no customer behind either).

    ``submission`` is the form's one-time id (a hidden field). The same form sent again (the customer
    reloads after an error page or a lost answer, or clicks twice) opens no second ticket: the view finds
    the first one with ``selectors.portal_submission_ticket`` before it counts the request against the rate
    limits, and when both sends arrive at once the unique id lets one of them store its ticket and the other
    gets that ticket here. An id already used for another address opens a ticket without it."""
    try:
        with transaction.atomic():
            customer = customer_get_or_create(email=email, name=name, language=language)
            return services.ticket_create(customer=customer, subject=subject, body=body, queue=queue,
                                          channel=Ticket.Channel.PORTAL, attachments=attachments,
                                          portal_submission=submission)  # fmt: skip
    except IntegrityError:
        if submission is None:
            raise
        first = selectors.portal_submission_ticket(submission=submission, email=email)
        if first is not None:
            return first
        if not Ticket.objects.filter(portal_submission=submission).exists():
            raise  # some other conflict
    return portal_request_create(email=email, name=name, language=language, subject=subject, body=body,
                                 queue=queue, attachments=attachments)  # fmt: skip
