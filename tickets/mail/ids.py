"""Our own Message-IDs and per-ticket reply addresses, signed so that only we can make them.

Every email we send about a ticket carries ``<hd.1042.k3j9x2.5f1c0a7e9b2d4c61@helpdesk.example>``: the
ticket number, a nonce, and an HMAC of both. A reply quotes it in In-Reply-To/References, and the
signature proves it is ours, so threading needs no lookup and cannot be forged to reach another ticket.
The reply address ``support+1042.5f1c0a7e@…`` works the same way.
"""

import hmac
import re
import secrets
from hashlib import sha256

from django.conf import settings

# The ticket reference in a subject line, as our emails write it: "Re: Where is my order? [HD-1042]".
SUBJECT_REFERENCE = re.compile(r"\[HD-(\d{1,18})\]", re.IGNORECASE)
_OURS = re.compile(r"^hd\.(\d{1,18})\.([a-z0-9]{1,16})\.([0-9a-f]{16})@", re.IGNORECASE)
_TOKEN = re.compile(r"^(\d{1,18})\.([0-9a-f]{8})$", re.IGNORECASE)


def _signature(*parts: str, length: int) -> str:
    key = f"helpdesk.mail.ids:{settings.SECRET_KEY}".encode()
    return hmac.new(key, ".".join(parts).encode(), sha256).hexdigest()[:length]


def make_message_id(ticket_id: int, domain: str) -> str:
    """A new Message-ID (without <>) for an email about this ticket."""
    nonce = secrets.token_hex(4)
    return f"hd.{ticket_id}.{nonce}.{_signature(str(ticket_id), nonce, length=16)}@{domain}"


def ticket_id_from_message_id(message_id: str) -> int | None:
    """The ticket a Message-ID of ours is about; None for anyone else's, or a forged one."""
    match = _OURS.match(message_id.strip().strip("<>"))
    if match is None:
        return None
    ticket_id, nonce, signature = match.groups()
    if not hmac.compare_digest(signature.lower(), _signature(ticket_id, nonce.lower(), length=16)):
        return None
    return int(ticket_id)


def reply_token(ticket_id: int) -> str:
    """The part after "+" in the ticket's reply address."""
    return f"{ticket_id}.{_signature('reply', str(ticket_id), length=8)}"


def ticket_id_from_reply_token(token: str) -> int | None:
    match = _TOKEN.match(token.strip())
    if match is None:
        return None
    ticket_id, signature = match.groups()
    if not hmac.compare_digest(signature.lower(), _signature("reply", ticket_id, length=8)):
        return None
    return int(ticket_id)
