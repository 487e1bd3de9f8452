"""Webhooks in the admin: the subscriptions (URL, events, active; the signing secret shown on each one's
page and rolled by an action) and the delivery log, every attempt with its response code, the start of
the answer, duration and error, and a "Redeliver" button (and action). Owners and admins only, as the
whole admin."""

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from helpdesk.errors import ValidationError

from . import selectors, services
from .models import Event, WebhookAttempt, WebhookDelivery, WebhookSubscription


class WebhookSubscriptionForm(forms.ModelForm):
    url = forms.URLField(label=_("URL"), max_length=500, assume_scheme="https",
                         widget=forms.URLInput(attrs={"class": "vURLField"}),
                         help_text=_("Where the events are sent, by POST: an http:// or https:// address."))  # fmt: skip
    events = forms.MultipleChoiceField(label=_("Events"), choices=Event.choices, widget=forms.CheckboxSelectMultiple,
                                       help_text=_("What the URL is told about."))  # fmt: skip

    class Meta:
        model = WebhookSubscription
        fields = ["url", "description", "events", "is_active"]


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    form = WebhookSubscriptionForm
    audited_by_services = True  # webhooks.services records every save, deletion and new secret
    list_display = ["url", "description", "event_list", "is_active", "health", "delivery_log"]
    list_filter = ["is_active"]
    search_fields = ["url", "description"]
    actions = ["roll_secret"]
    readonly_fields = ["signing_secret", "created_by", "created_at", "failing_since", "last_success_at",
                       "disabled_at", "disabled_reason", "delivery_log"]  # fmt: skip

    def get_fieldsets(self, request, obj=None):
        main = (None, {"fields": ["url", "description", "events", "is_active"]})
        if obj is None:
            return [(None, {**main[1], "description": _("A signing secret is made when you save; it is shown "
                                                        "on the webhook's page then.")})]  # fmt: skip
        return [
            main,
            (_("Signing"), {"fields": ["signing_secret"],
                            "description": _("Receivers check each delivery's X-Helpdesk-Signature with this "
                                             "secret (see the API documentation, “Webhooks”).")}),
            (_("Health"), {"fields": ["failing_since", "last_success_at", "disabled_at", "disabled_reason",
                                      "delivery_log"]}),
            (_("Created"), {"fields": ["created_by", "created_at"]}),
        ]  # fmt: skip

    @admin.display(description=_("events"))
    def event_list(self, subscription):
        return ", ".join(subscription.events)

    @admin.display(description=_("health"))
    def health(self, subscription):
        if not subscription.is_active and subscription.disabled_reason:
            return subscription.disabled_reason
        if subscription.failing_since:
            return _("Failing since %(when)s") % {"when": subscription.failing_since.strftime("%Y-%m-%d %H:%M")}
        return _("OK") if subscription.last_success_at else "—"

    @admin.display(description=_("signing secret"))
    def signing_secret(self, subscription):
        return format_html("<code>{}</code>", subscription.secret)

    @admin.display(description=_("deliveries"))
    def delivery_log(self, subscription):
        url = reverse("admin:webhooks_webhookdelivery_changelist") + f"?subscription__id__exact={subscription.pk}"
        return format_html('<a href="{}">{}</a>', url, _("Delivery log"))

    def save_model(self, request, obj, form, change):
        services.webhook_subscription_save(subscription=obj, actor=request.user)

    def get_deleted_objects(self, objs, request):
        """The webhooks and how many deliveries go with them: their log is deleted too (it is read only, so
        the admin's own check would refuse, and listing every delivery would make a very long page)."""
        objs = list(objs)
        counts = {WebhookSubscription._meta.verbose_name_plural: len(objs)}
        deliveries = WebhookDelivery.objects.filter(subscription__in=objs).count()
        if deliveries:
            counts[WebhookDelivery._meta.verbose_name_plural] = deliveries
        return [str(subscription) for subscription in objs], counts, set(), []

    def delete_model(self, request, obj):
        services.webhook_subscription_delete(subscription=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for subscription in queryset:
            services.webhook_subscription_delete(subscription=subscription, actor=request.user)

    @admin.action(description=_("Make a new signing secret"), permissions=["change"])
    def roll_secret(self, request, queryset):
        for subscription in queryset:
            services.webhook_subscription_roll_secret(subscription=subscription, actor=request.user)
        count = len(queryset)
        self.message_user(request, ngettext("A new secret for %d webhook: update its receiver.",
                                            "New secrets for %d webhooks: update their receivers.", count) % count,
                          messages.SUCCESS)  # fmt: skip


class EventFilter(admin.SimpleListFilter):
    """By event name, from the list of events (no query)."""

    title = _("event")
    parameter_name = "event"

    def lookups(self, request, model_admin):
        return Event.choices

    def queryset(self, request, queryset):
        return queryset.filter(event__name=self.value()) if self.value() in Event.values else queryset


def breakable(text: str, every: int = 40):
    """``text`` as HTML that may break every ``every`` characters (<wbr>): an answer of one long word must
    not widen the page (the admin's Content-Security-Policy allows no style attributes to wrap it)."""
    return format_html_join(mark_safe("<wbr>"), "{}", ((text[i : i + every],) for i in range(0, len(text), every)))


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    fields = ["number", "started_at", "status_code", "duration_ms", "error", "response_start"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    @admin.display(description=_("response (start)"))
    def response_start(self, attempt):
        return breakable(attempt.response_excerpt) if attempt.response_excerpt else "—"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    """The delivery log: read only; "Redeliver" sends a delivery again."""

    audited_by_services = True  # webhooks.services records each redelivery

    list_display = ["created_at", "event_name", "status", "attempt_count", "last_status_code", "next_attempt_at",
                    "subscription_url"]  # fmt: skip
    list_filter = ["status", EventFilter, "subscription"]
    search_fields = ["=uid", "=event__uid"]
    show_full_result_count = False
    actions = ["redeliver"]
    inlines = [WebhookAttemptInline]
    fields = ["uid", "subscription", "event_name", "event_uid", "status", "attempt_count", "next_attempt_at",
              "last_attempt_at", "delivered_at", "last_status_code", "last_duration_ms", "last_error", "created_at",
              "body"]  # fmt: skip
    readonly_fields = fields

    def get_queryset(self, request):
        return selectors.delivery_log()

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("event"), ordering="event__name")
    def event_name(self, delivery):
        return delivery.event.name

    @admin.display(description=_("event id"))
    def event_uid(self, delivery):
        return delivery.event.uid

    @admin.display(description=_("URL"))
    def subscription_url(self, delivery):
        return delivery.subscription.url

    @admin.display(description=_("body"))
    def body(self, delivery):
        text = json.dumps(json.loads(delivery.event.body), indent=2, ensure_ascii=False)
        return format_html('<pre class="literal-block">{}</pre>', text)

    @admin.action(description=_("Redeliver"))
    def redeliver(self, request, queryset):
        done = refused = 0
        for delivery in queryset:
            try:
                services.webhook_delivery_redeliver(delivery=delivery, actor=request.user)
                done += 1
            except ValidationError:
                refused += 1
        if done:
            self.message_user(request, ngettext("%d delivery is sent again.", "%d deliveries are sent again.", done)
                              % done, messages.SUCCESS)  # fmt: skip
        if refused:
            self.message_user(request, ngettext("%d delivery belongs to a disabled webhook: enable it first.",
                                                "%d deliveries belong to a disabled webhook: enable it first.",
                                                refused) % refused, messages.ERROR)  # fmt: skip

    def get_urls(self):
        # "object_id", as the admin's own pages of one object name it.
        redeliver = path("<int:object_id>/redeliver/", self.admin_site.admin_view(self.redeliver_view),
                         name="webhooks_webhookdelivery_redeliver")  # fmt: skip
        return [redeliver, *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {})}
        if str(object_id).isdigit():
            extra_context["redeliver_url"] = reverse("admin:webhooks_webhookdelivery_redeliver", args=[object_id])
        return super().change_view(request, object_id, form_url, extra_context)

    def redeliver_view(self, request, object_id):
        """POST: send the delivery again now, then back to its page."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_view_permission(request):
            raise PermissionDenied
        delivery = get_object_or_404(WebhookDelivery, pk=object_id)
        try:
            services.webhook_delivery_redeliver(delivery=delivery, actor=request.user)
        except ValidationError as error:
            self.message_user(request, " ".join(error.messages), messages.ERROR)
        else:
            self.message_user(request, _("The delivery is sent again; its new attempt appears below."),
                              messages.SUCCESS)  # fmt: skip
        return HttpResponseRedirect(reverse("admin:webhooks_webhookdelivery_change", args=[delivery.pk]))
