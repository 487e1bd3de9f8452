"""ETags of tickets (and of other rows with an ``updated_at``) and ``If-Match``: an update based on stale data
is refused with 412."""

from .exceptions import PreconditionFailed


def ticket_etag(ticket) -> str:
    """Changes with every change of the ticket (every service moves ``updated_at``)."""
    when = ticket.updated_at
    return f'"{ticket.pk}-{int(when.timestamp()) * 1_000_000 + when.microsecond}"'


def record_etag(row) -> str:
    """The same for any row whose services move ``updated_at`` on every change (customers, organizations)."""
    return ticket_etag(row)


def check_if_match(request, current: str) -> None:
    """412 unless ``If-Match`` is absent, ``*`` or lists ``current`` (weak tags compare as strong ones)."""
    header = request.headers.get("If-Match")
    if header is None:
        return
    tags = [tag.strip().removeprefix("W/") for tag in header.split(",")]
    if "*" not in tags and current not in tags:
        raise PreconditionFailed()
