"""Routing rules: an ordered list of rules, each with conditions (all or any must hold) and actions.

``tickets.rules.engine`` evaluates and runs them; the admin edits them and offers a dry run. The action
"send an email" names an ``EmailTemplate``, which admins write in the admin, one version per language.
"""

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower, Now
from django.template import Engine, TemplateSyntaxError
from django.utils.translation import gettext_lazy as _


class Rule(models.Model):
    name = models.CharField(_("name"), max_length=100)
    position = models.PositiveIntegerField(_("position"), default=0, help_text=_("Rules run lowest first."))
    active = models.BooleanField(_("active"), default=True)
    match_all = models.BooleanField(
        _("all conditions must hold"), default=True,
        help_text=_("Off: any one condition is enough. A rule without conditions matches every ticket."),
    )  # fmt: skip
    on_create = models.BooleanField(_("run when a ticket is created"), default=True)
    on_customer_message = models.BooleanField(_("run when the customer writes"), default=False)
    stop = models.BooleanField(_("stop processing further rules"), default=False,
                               help_text=_("When this rule matches, the rules after it do not run."))  # fmt: skip

    # Any change moves it: rules_load keeps the rules in memory until one of these changes (see engine).
    updated_at = models.DateTimeField(auto_now=True, db_default=Now())

    class Meta:
        ordering = ["position", "pk"]
        verbose_name = _("routing rule")
        verbose_name_plural = _("routing rules")

    def __str__(self):
        return self.name


class RuleCondition(models.Model):
    class Field(models.TextChoices):
        CHANNEL = "channel", _("Channel")
        QUEUE = "queue", _("Queue (slug, name or id)")
        SUBJECT = "subject", _("Subject")
        BODY = "body", _("Message text")
        SUBJECT_OR_BODY = "subject_or_body", _("Subject or message text")
        CUSTOMER_EMAIL = "customer_email", _("Customer email address")
        CUSTOMER_DOMAIN = "customer_domain", _("Customer email domain")
        ORGANIZATION = "organization", _("Organization (name or id)")
        CUSTOMER_TAG = "customer_tag", _("Customer tag")
        SEGMENT = "segment", _("Customer segment (name or id)")
        LANGUAGE = "language", _("Customer language")
        PRIORITY = "priority", _("Priority")
        BUSINESS_HOURS = "business_hours", _("In business hours (yes/no)")

    class Operator(models.TextChoices):
        IS = "is", _("is")
        IS_NOT = "is_not", _("is not")
        CONTAINS = "contains", _("contains")
        NOT_CONTAINS = "not_contains", _("does not contain")
        MATCHES_WORD = "matches_word", _("contains the word")
        REGEX = "regex", _("matches the regular expression")

    # Fields that are a yes/no or membership: only "is" and "is not" make sense.
    EQUALITY_ONLY = {Field.SEGMENT, Field.BUSINESS_HOURS}

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="conditions")
    field = models.CharField(_("field"), max_length=20, choices=Field.choices)
    operator = models.CharField(_("operator"), max_length=15, choices=Operator.choices, default=Operator.IS)
    value = models.CharField(_("value"), max_length=500, blank=True)

    # Any change moves it: rules_load keeps the rules in memory until one of these changes (see engine).
    updated_at = models.DateTimeField(auto_now=True, db_default=Now())

    class Meta:
        ordering = ["pk"]
        verbose_name = _("condition")
        verbose_name_plural = _("conditions")

    def __str__(self):
        return f"{self.get_field_display()} {self.get_operator_display()} “{self.value}”"

    def clean(self):
        if self.operator == self.Operator.REGEX:
            try:
                re.compile(self.value)
            except re.error as error:
                message = _("This is not a valid regular expression: %(error)s.")
                raise ValidationError({"value": ValidationError(message, params={"error": error})}) from error
        if self.field in self.EQUALITY_ONLY and self.operator not in (self.Operator.IS, self.Operator.IS_NOT):
            raise ValidationError({"operator": _("This field can only be compared with “is” or “is not”.")})
        if self.field == self.Field.BUSINESS_HOURS and self.value.strip().lower() not in ("yes", "no"):
            raise ValidationError({"value": _("Write “yes” or “no”.")})


class EmailTemplate(models.Model):
    """An email to the customer that routing rules send ("Send an email from a template: Welcome").

    Written like the queues' acknowledgement: Django template syntax with placeholders. A name may have a
    version per language; the customer gets the one in their language, else the one for every language
    (empty language), else the one in the help desk's default language.
    """

    name = models.CharField(_("name"), max_length=100,
                            help_text=_("What the rule's action “Send an email from a template” names."))  # fmt: skip
    language = models.CharField(
        _("language"), max_length=10, blank=True, choices=settings.LANGUAGES,
        help_text=_("Empty: for customers whose language has no version of its own."),
    )  # fmt: skip
    subject = models.CharField(_("subject"), max_length=200,
                               help_text=_("The ticket's reference is added when it is not in it."))  # fmt: skip
    body = models.TextField(
        _("text"),
        help_text=_("Placeholders: {{ customer.first_name }}, {{ customer.name }}, {{ ticket.reference }}, "
                    "{{ ticket.subject }}, {{ follow_url }} (the link to the request; added below the text when "
                    "the text does not use it)."),
    )  # fmt: skip
    updated_at = models.DateTimeField(auto_now=True, db_default=Now())

    class Meta:
        ordering = [Lower("name"), "language"]
        verbose_name = _("email template")
        verbose_name_plural = _("email templates")
        constraints = [
            models.UniqueConstraint(
                Lower("name"), "language", name="email_template_name_language",
                violation_error_message=_("There is already a template with this name for this language."),
            ),
        ]  # fmt: skip

    def __str__(self):
        return f"{self.name} ({self.language})" if self.language else self.name

    def clean(self):
        errors = {}
        for field in ("subject", "body"):
            try:
                Engine(autoescape=False).from_string(getattr(self, field))
            except TemplateSyntaxError as error:
                message = _("A placeholder or tag is not written correctly: %(error)s")
                errors[field] = ValidationError(message, params={"error": error})
        if errors:
            raise ValidationError(errors)

    @classmethod
    def for_language(cls, name: str, language: str) -> "EmailTemplate | None":
        """The version of the template ``name`` (any case) for a customer of ``language`` (one query)."""
        versions = {template.language: template for template in cls.objects.filter(name__iexact=name.strip())}
        for wanted in (language, "", settings.LANGUAGE_CODE):
            if wanted in versions:
                return versions[wanted]
        return min(versions.values(), key=lambda template: template.pk, default=None)


class RuleAction(models.Model):
    class Action(models.TextChoices):
        SET_QUEUE = "set_queue", _("Move to queue (slug or id)")
        SET_PRIORITY = "set_priority", _("Set priority")
        ADD_TAGS = "add_tags", _("Add tags (separated by commas)")
        ASSIGN_AGENT = "assign_agent", _("Assign to agent (email address)")
        ASSIGN_BY_STRATEGY = "assign_by_strategy", _("Assign by the team's strategy")
        ADD_NOTE = "add_note", _("Add an internal note")
        SEND_EMAIL = "send_email", _("Send an email from a template (template name)")
        STOP = "stop", _("Stop processing further rules")

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="actions")
    action = models.CharField(_("action"), max_length=20, choices=Action.choices)
    value = models.TextField(_("value"), blank=True)
    position = models.PositiveIntegerField(_("position"), default=0)

    # Any change moves it: rules_load keeps the rules in memory until one of these changes (see engine).
    updated_at = models.DateTimeField(auto_now=True, db_default=Now())

    class Meta:
        ordering = ["position", "pk"]
        verbose_name = _("action")
        verbose_name_plural = _("actions")

    def __str__(self):
        return f"{self.get_action_display()}: {self.value}" if self.value else self.get_action_display()

    def clean(self):
        from tickets.models import Ticket

        needs_value = {self.Action.SET_QUEUE, self.Action.SET_PRIORITY, self.Action.ADD_TAGS,
                       self.Action.ASSIGN_AGENT, self.Action.ADD_NOTE, self.Action.SEND_EMAIL}  # fmt: skip
        if self.action in needs_value and not self.value.strip():
            raise ValidationError({"value": _("This action needs a value.")})
        if (
            self.action == self.Action.SEND_EMAIL
            and not EmailTemplate.objects.filter(name__iexact=self.value.strip()).exists()
        ):
            message = _("There is no email template “%(name)s”. Write it under “Email templates” first.")
            raise ValidationError({"value": ValidationError(message, params={"name": self.value.strip()})})
        if self.action == self.Action.SET_PRIORITY and self.value.strip() not in Ticket.Priority.values:
            message = ValidationError(_("One of: %(choices)s."), params={"choices": ", ".join(Ticket.Priority.values)})
            raise ValidationError({"value": message})
