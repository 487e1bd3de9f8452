"""The email channel's tables: the mailboxes we receive on, every inbound email's exact bytes, and the
senders we refuse.

Imported by ``tickets.models``, so Django knows these models as part of the ``tickets`` app.
"""

import hashlib
import time

from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from helpdesk.models import TimeStampedModel


class Mailbox(TimeStampedModel):
    """An address customers write to (support@…), the queue its tickets go to, and how to fetch its mail."""

    class Security(models.TextChoices):
        SSL = "ssl", _("SSL/TLS (port 993)")
        STARTTLS = "starttls", _("STARTTLS (port 143)")
        NONE = "none", _("None (local servers only)")

    name = models.CharField(_("name"), max_length=100)
    email_address = models.EmailField(_("email address"), help_text=_("The address customers write to."))
    queue = models.ForeignKey("tickets.Queue", on_delete=models.PROTECT, related_name="mailboxes",
                              verbose_name=_("queue"))  # fmt: skip
    from_name = models.CharField(
        _("sender name"), max_length=100, blank=True, help_text=_("Shown to customers; empty: the help desk's name.")
    )
    is_active = models.BooleanField(_("active"), default=True)
    plus_addressing = models.BooleanField(
        _("per-ticket reply addresses"), default=False,
        help_text=_("Replies say Reply-To: support+<token>@…, which threads even when the subject is changed. "
                    "Only if your mail server delivers support+anything@ to this mailbox."),
    )  # fmt: skip

    imap_host = models.CharField(_("IMAP server"), max_length=255, blank=True, help_text=_("Empty: no fetching."))
    imap_port = models.PositiveIntegerField(_("IMAP port"), default=993)
    imap_security = models.CharField(_("IMAP security"), max_length=10, choices=Security.choices,
                                     default=Security.SSL)  # fmt: skip
    imap_username = models.CharField(_("IMAP user"), max_length=255, blank=True)
    imap_password = models.CharField(_("IMAP password"), max_length=255, blank=True)
    imap_folder = models.CharField(_("IMAP folder"), max_length=255, default="INBOX")
    # Fetch progress: messages up to this UID of this UIDVALIDITY are stored.
    imap_uidvalidity = models.BigIntegerField(null=True, blank=True, editable=False)
    imap_last_uid = models.BigIntegerField(default=0, editable=False)
    last_fetched_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_fetch_error = models.TextField(blank=True, editable=False)

    class Meta:
        verbose_name = _("mailbox")
        verbose_name_plural = _("mailboxes")
        ordering = ["email_address"]
        constraints = [models.UniqueConstraint(Lower("email_address"), name="mailbox_address_ci_unique")]

    def __str__(self):
        return f"{self.name} <{self.email_address}>"

    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)
        forget_cached()

    @property
    def fetches_imap(self) -> bool:
        return self.is_active and bool(self.imap_host)

    def reply_address(self, token: str) -> str:
        local, _at, domain = self.email_address.partition("@")
        return f"{local}+{token}@{domain}"


class InboundEmail(models.Model):
    """One email as it arrived, byte for byte, and what became of it. Stored before it is parsed, so a
    message that breaks the parser is never lost: it waits here, flagged, to be processed again."""

    class Source(models.TextChoices):
        IMAP = "imap", _("IMAP")
        PIPE = "pipe", _("Mail server pipe")
        HTTP = "http", _("HTTP")
        FILE = "file", _("File import")

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        DONE = "done", _("Processed")
        FAILED = "failed", _("Failed")

    class Outcome(models.TextChoices):
        NONE = "", _("—")
        NEW_TICKET = "new_ticket", _("New ticket")
        REPLY = "reply", _("Added to a ticket")
        FOLLOW_UP = "follow_up", _("Follow-up to a closed ticket")
        BOUNCE = "bounce", _("Bounce")
        BLOCKED = "blocked", _("Blocked sender")
        IGNORED = "ignored", _("Ignored")

    mailbox = models.ForeignKey(Mailbox, on_delete=models.PROTECT, null=True, blank=True, related_name="inbound")
    source = models.CharField(max_length=10, choices=Source.choices)
    raw = models.BinaryField()
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    header_message_id = models.CharField(max_length=255, blank=True)  # the Message-ID header, without <>
    sender = models.CharField(max_length=255, blank=True)
    subject = models.CharField(max_length=255, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    outcome = models.CharField(max_length=12, choices=Outcome.choices, blank=True)
    error = models.TextField(blank=True)
    defects = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    processed_at = models.DateTimeField(null=True, blank=True)
    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    message = models.ForeignKey("tickets.Message", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        verbose_name = _("inbound email")
        verbose_name_plural = _("inbound emails")
        ordering = ["-received_at", "-id"]
        constraints = [
            # The same message fetched twice: once per mailbox, by Message-ID, else by its exact bytes.
            models.UniqueConstraint(
                fields=["mailbox", "header_message_id"],
                condition=~Q(header_message_id=""),
                nulls_distinct=False,
                name="inbound_unique_message_id",
            ),
            models.UniqueConstraint(
                fields=["mailbox", "sha256"],
                condition=Q(header_message_id=""),
                nulls_distinct=False,
                name="inbound_unique_bytes",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "received_at"], name="inbound_status"),
        ]

    def __str__(self):
        return f"{self.sender or '?'}: {self.subject or '(no subject)'}"

    @staticmethod
    def digest(raw: bytes) -> str:
        return hashlib.sha256(raw).hexdigest()


class BlockedSender(models.Model):
    """Mail from these never becomes a ticket: a full address, or a whole domain written as ``@domain``."""

    pattern = models.CharField(
        _("address or @domain"), max_length=255, unique=True,
        help_text=_("spam@example.com blocks one address; @example.com blocks the whole domain."),
    )  # fmt: skip
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("blocked sender")
        verbose_name_plural = _("blocked senders")
        ordering = ["pattern"]

    def __str__(self):
        return self.pattern

    def save(self, *args, **kwargs):
        self.pattern = self.pattern.strip().lower()
        super().save(*args, **kwargs)
        forget_cached()

    @classmethod
    def blocks(cls, address: str) -> bool:
        """Whether mail from ``address`` is refused. The list is read at most every CACHE_SECONDS per process
        (it is short, and checked for every inbound email)."""
        address = address.strip().lower()
        return bool({address, "@" + address.rpartition("@")[2]} & _blocked_patterns())


CACHE_SECONDS = 30
_cache: dict[str, tuple[float, frozenset]] = {}


def _cached(key: str, load) -> frozenset:
    now = time.monotonic()
    hit = _cache.get(key)
    if hit is None or now - hit[0] > CACHE_SECONDS:
        hit = _cache[key] = (now, frozenset(load()))
    return hit[1]


def _blocked_patterns() -> frozenset:
    return _cached("blocked", lambda: BlockedSender.objects.values_list("pattern", flat=True))


def without_plus(address: str) -> str:
    """The address with any "+tag" of its local part removed, lower case: support+1042.ab@x is support@x."""
    local, _at, domain = address.strip().lower().partition("@")
    return f"{local.split('+', 1)[0]}@{domain}"


def is_our_address(address: str) -> bool:
    """One of our mailboxes, or a per-ticket reply address of one."""
    return without_plus(address) in mailbox_addresses()


def mailbox_addresses() -> frozenset:
    """Our mailboxes' addresses, lower case (cached like the block list)."""
    return _cached("mailboxes", lambda: (a.lower() for a in Mailbox.objects.values_list("email_address", flat=True)))


def forget_cached() -> None:
    """Drop the cached lists now (an admin changed one; tests)."""
    _cache.clear()
