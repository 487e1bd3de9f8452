"""Shared core models: staff users (agents, admins, owners) and teams.

Customers are not users: they live in ``customers.Customer`` and never sign in to the agent side.
"""

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .time_zones import TIMEZONE_CHOICES


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        abstract = True


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create(self, email, password, **fields):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **fields):
        fields.setdefault("role", User.Role.AGENT)
        return self._create(email, password, **fields)

    def create_superuser(self, email, password=None, **fields):
        fields.update(role=User.Role.OWNER, is_superuser=True)
        return self._create(email, password, **fields)

    def get_by_natural_key(self, username):
        return self.get(email__iexact=username)


class User(AbstractBaseUser, PermissionsMixin):
    """A staff member who signs in by email."""

    class Role(models.TextChoices):
        OWNER = "owner", _("Owner")
        ADMIN = "admin", _("Admin")
        AGENT = "agent", _("Agent")

    email = models.EmailField(_("email address"), unique=True)
    full_name = models.CharField(_("full name"), max_length=150, blank=True)
    role = models.CharField(_("role"), max_length=10, choices=Role.choices, default=Role.AGENT)
    time_zone = models.CharField(_("time zone"), max_length=64, choices=TIMEZONE_CHOICES, default="UTC")
    language = models.CharField(
        _("language"), max_length=10, blank=True, choices=settings.LANGUAGES, help_text=_("Empty: the browser's.")
    )
    is_active = models.BooleanField(_("active"), default=True)
    # Away agents get no tickets from automatic assignment (they set it themselves in "Your settings").
    available = models.BooleanField(
        _("available for new tickets"), default=True, db_default=True,
        help_text=_("Off while you are away: automatic assignment skips you."),
    )  # fmt: skip
    # The agent's working hours: automatic assignment skips them while this calendar is closed.
    shift_calendar = models.ForeignKey(
        "helpdesk.Calendar", on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("shift"),
        help_text=_("Automatic assignment gives this agent tickets only while this calendar is open. "
                    "Empty: at any time."),
    )  # fmt: skip
    notify_on_assign = models.BooleanField(_("email me when a ticket is assigned to me"), default=True)
    notify_on_mention = models.BooleanField(_("email me when someone @mentions me in a note"), default=True)
    notify_on_customer_reply = models.BooleanField(_("email me when the customer writes on my ticket"), default=True)
    date_joined = models.DateTimeField(_("date joined"), default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = []

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [models.UniqueConstraint(Lower("email"), name="user_email_ci_unique")]

    def __str__(self):
        return self.full_name or self.email

    @property
    def is_admin(self) -> bool:
        """Owners and admins see and manage everything."""
        return self.role in (self.Role.OWNER, self.Role.ADMIN)

    @property
    def is_staff(self) -> bool:
        # The Django admin is open to owners and admins only.
        return self.is_active and self.is_admin

    def has_perm(self, perm, obj=None):
        if self.is_active and self.is_admin:
            return True
        return super().has_perm(perm, obj)

    def has_module_perms(self, app_label):
        if self.is_active and self.is_admin:
            return True
        return super().has_module_perms(app_label)

    def get_full_name(self):
        return self.full_name or self.email

    def is_on_shift(self, now=None) -> bool:
        """Whether the agent's shift calendar is open now (always, without one): one query with a shift."""
        if self.shift_calendar_id is None:
            return True
        from .calendars import calendars_open

        return self.shift_calendar_id in calendars_open([self.shift_calendar_id], now or timezone.now())

    def get_short_name(self):
        """The first name: "Mr. Chris Sanford" is "Chris", a user without a name their email's local part."""
        words = [w for w in self.full_name.split() if not w.endswith(".")]
        return words[0] if words else self.email.split("@")[0]


class Team(TimeStampedModel):
    class Assignment(models.TextChoices):
        MANUAL = "manual", _("By hand")
        ROUND_ROBIN = "round_robin", _("Round robin")
        LEAST_OPEN = "least_open", _("Fewest open tickets")

    name = models.CharField(_("name"), max_length=100, unique=True)
    members = models.ManyToManyField(User, related_name="teams", blank=True, verbose_name=_("members"))
    # How new tickets of the team's queues get an agent (tickets.routing).
    assignment = models.CharField(_("assign new tickets"), max_length=12, choices=Assignment.choices,
                                  default=Assignment.MANUAL, db_default=Assignment.MANUAL)  # fmt: skip
    max_open_per_agent = models.PositiveIntegerField(
        _("at most this many open tickets per agent"), null=True, blank=True,
        help_text=_("Empty: no limit. An agent at the limit gets no more until one is solved."),
    )  # fmt: skip
    # Escalations tell the team lead when an SLA policy says so (tickets.sla); any active user, a member
    # of the team or not (a manager who leads the team without taking its tickets).
    lead = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="led_teams",
        limit_choices_to={"is_active": True}, verbose_name=_("team lead"),
        help_text=_("Told about SLA breaches of the team's tickets when the SLA policy says so."),
    )  # fmt: skip
    # The round robin's place: the agent who got the last ticket.
    last_assigned = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                                      editable=False)  # fmt: skip

    class Meta:
        ordering = ["name"]
        verbose_name = _("team")
        verbose_name_plural = _("teams")

    def __str__(self):
        return self.name

    def clean(self):
        if self.lead_id is not None and not User.objects.filter(pk=self.lead_id, is_active=True).exists():
            raise ValidationError({"lead": _("The team lead must be an active user.")})


from .audit import AuditEntry  # noqa: E402, F401  (models of this app, in files of their own)
from .branding import Branding  # noqa: E402, F401
from .calendars import Calendar, Holiday, OpeningInterval  # noqa: E402, F401
from .two_factor import SecuritySettings  # noqa: E402, F401
from .user_sessions import UserSession  # noqa: E402, F401
