"""Routing rules in the admin: conditions and actions inline, the list in order, and a dry run that shows
which rules a ticket would match and what they would do, changing nothing; and the email templates that
the action "Send an email from a template" names."""

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template import engines
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from .engine import action_preview, rules_evaluate
from .models import EmailTemplate, Rule, RuleAction, RuleCondition

# One small page, kept here rather than as a template file of its own.
DRY_RUN_TEMPLATE = """{% extends "admin/base_site.html" %}{% load i18n %}
{% block breadcrumbs %}<div class="breadcrumbs"><a href="{% url 'admin:index' %}">{% translate 'Home' %}</a>
&rsaquo; <a href="{{ changelist_url }}">{{ opts.verbose_name_plural|capfirst }}</a> &rsaquo; {{ title }}</div>
{% endblock %}
{% block content %}
<form method="get">
  {{ form.as_p }}
  <input type="submit" value="{% translate 'Try' %}">
</form>
{% if ticket %}
  <h2>{{ ticket.reference }} {{ ticket.subject }}</h2>
  {% if matched %}
    <ol id="dry-run-matches">
    {% for rule, actions in matched %}
      <li><strong>{{ rule.name }}</strong>
        <ul>{% for action, preview in actions %}<li>{{ action }}{% if preview %}<br><span class="help">{{ preview }}</span>{% endif %}</li>{% empty %}<li>{{ no_actions }}</li>{% endfor %}
        </ul>{% if rule.stop %}<p>{{ stops }}</p>{% endif %}
      </li>
    {% endfor %}
    </ol>
  {% else %}
    <p id="dry-run-none">{{ none_matched }}</p>
  {% endif %}
{% endif %}
{% endblock %}
"""


# The list with a "Dry run" button beside "Add".
CHANGE_LIST_TEMPLATE = """{% extends "admin/change_list.html" %}{% load i18n %}
{% block object-tools-items %}<li><a href="{{ dry_run_url }}">{{ dry_run_label }}</a></li>{{ block.super }}
{% endblock %}
"""


class DryRunForm(forms.Form):
    ticket = forms.IntegerField(label=_("Ticket number"), min_value=1)
    event = forms.ChoiceField(
        label=_("When"), choices=[("create", _("the ticket is created")), ("customer_message", _("the customer writes"))],
        initial="create", required=False,
    )  # fmt: skip


class RuleConditionInline(admin.TabularInline):
    model = RuleCondition
    extra = 1


class RuleActionInline(admin.TabularInline):
    model = RuleAction
    extra = 1


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin):
    list_display = ["name", "position", "active", "match_all", "on_create", "on_customer_message", "stop"]
    list_editable = ["position", "active"]
    ordering = ["position", "pk"]
    inlines = [RuleConditionInline, RuleActionInline]

    @property
    def change_list_template(self):
        return engines["django"].from_string(CHANGE_LIST_TEMPLATE)

    def get_urls(self):
        dry_run = path("dry-run/", self.admin_site.admin_view(self.dry_run_view), name="tickets_rule_dry_run")
        return [dry_run, *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "dry_run_url": reverse("admin:tickets_rule_dry_run"),
            "dry_run_label": _("Dry run"),
        }
        return super().changelist_view(request, extra_context)

    def dry_run_view(self, request):
        """Which active rules would match a ticket, and what they would do; reads only."""
        from django.template.response import TemplateResponse

        from tickets.models import Ticket

        if not self.has_view_permission(request):
            raise PermissionDenied
        form = DryRunForm(request.GET or None)
        ticket = matched = None
        if form.is_valid():
            ticket = Ticket.objects.filter(pk=form.cleaned_data["ticket"]).first()
            if ticket is None:
                form.add_error("ticket", _("There is no ticket with this number."))
            else:
                matched = [(rule, [(action, action_preview(ticket, action)) for action in rule.action_list])
                           for rule in rules_evaluate(ticket, event=form.cleaned_data["event"] or "create")]  # fmt: skip
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Dry run of the routing rules"),
            "changelist_url": reverse("admin:tickets_rule_changelist"),
            "form": form,
            "ticket": ticket,
            "matched": matched,
            "none_matched": _("No rule matches this ticket."),
            "no_actions": _("(no actions)"),
            "stops": _("Stops processing further rules."),
        }
        template = engines["django"].from_string(DRY_RUN_TEMPLATE)
        return TemplateResponse(request, template, context)


@admin.register(EmailTemplate)
class EmailTemplateAdmin(admin.ModelAdmin):
    list_display = ["name", "language", "subject", "updated_at"]
    list_filter = ["language"]
    search_fields = ["name", "subject", "body"]
    fields = ["name", "language", "subject", "body"]
