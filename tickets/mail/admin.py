"""Admin screens of the email channel: mailboxes, blocked senders, and every inbound email with what
became of it (failed ones show their error and can be processed again; the raw message downloads)."""

from django.contrib import admin, messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .inbound import inbound_reprocess
from .models import BlockedSender, InboundEmail, Mailbox


@admin.register(Mailbox)
class MailboxAdmin(admin.ModelAdmin):
    list_display = ["email_address", "name", "queue", "is_active", "imap_host", "last_fetched_at", "fetch_error"]
    list_filter = ["is_active", "queue"]
    readonly_fields = ["imap_uidvalidity", "imap_last_uid", "last_fetched_at", "last_fetch_error"]
    fieldsets = [
        (None, {"fields": ["name", "email_address", "from_name", "queue", "is_active", "plus_addressing"]}),
        (
            _("Fetching by IMAP"),
            {"fields": ["imap_host", "imap_port", "imap_security", "imap_username", "imap_password", "imap_folder"]},
        ),
        (_("Fetch progress"), {"fields": ["imap_uidvalidity", "imap_last_uid", "last_fetched_at", "last_fetch_error"]}),
    ]

    @admin.display(description=_("last error"), boolean=False)
    def fetch_error(self, mailbox):
        return mailbox.last_fetch_error[:80]

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if "imap_password" in form.base_fields:  # typed, never shown back
            from django import forms

            form.base_fields["imap_password"].widget = forms.PasswordInput(render_value=True)
        return form


@admin.register(BlockedSender)
class BlockedSenderAdmin(admin.ModelAdmin):
    list_display = ["pattern", "reason", "created_at"]
    search_fields = ["pattern", "reason"]


@admin.register(InboundEmail)
class InboundEmailAdmin(admin.ModelAdmin):
    list_display = ["received_at", "mailbox", "sender", "subject", "status", "outcome", "ticket_link", "source"]
    list_filter = ["status", "outcome", "source", "mailbox"]
    search_fields = ["sender", "subject", "header_message_id"]
    list_select_related = ["mailbox"]
    actions = ["process_again"]
    show_full_result_count = False
    exclude = ["raw"]
    readonly_fields = ["mailbox", "source", "received_at", "sender", "subject", "header_message_id", "size",
                       "sha256", "status", "outcome", "error", "defects", "attempts", "processed_at", "ticket_link",
                       "raw_link"]  # fmt: skip

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return request.method in ("GET", "HEAD") and super().has_view_permission(request, obj)

    @admin.display(description=_("ticket"))
    def ticket_link(self, inbound):
        if inbound.ticket_id is None:
            return "—"
        return format_html('<a href="{}">HD-{}</a>', reverse("tickets:detail", args=[inbound.ticket_id]),
                           inbound.ticket_id)  # fmt: skip

    @admin.display(description=_("raw message"))
    def raw_link(self, inbound):
        url = reverse("admin:tickets_inboundemail_raw", args=[inbound.pk])
        return format_html('<a href="{}">{}</a> ({} bytes)', url, _("Download .eml"), inbound.size)

    @admin.action(description=_("Process again"))
    def process_again(self, request, queryset):
        done = failed = 0
        for inbound in queryset.exclude(status=InboundEmail.Status.DONE):
            result = inbound_reprocess(inbound=inbound)
            done, failed = (done + 1, failed) if result.status == InboundEmail.Status.DONE else (done, failed + 1)
        if done:
            self.message_user(request, ngettext("%d message processed.", "%d messages processed.", done) % done,
                              messages.SUCCESS)  # fmt: skip
        if failed:
            self.message_user(request, ngettext("%d message failed again; see its error.",
                                                "%d messages failed again; see their errors.", failed) % failed,
                              messages.ERROR)  # fmt: skip
        if not done and not failed:
            self.message_user(request, _("Only failed or waiting messages are processed again."), messages.INFO)

    def get_urls(self):
        raw = path("<int:inbound_id>/raw/", self.admin_site.admin_view(self.raw_view),
                   name="tickets_inboundemail_raw")  # fmt: skip
        return [raw, *super().get_urls()]

    def raw_view(self, request, inbound_id):
        if not self.has_view_permission(request):
            return HttpResponse(status=403)
        inbound = get_object_or_404(InboundEmail, pk=inbound_id)
        response = HttpResponse(bytes(inbound.raw), content_type="message/rfc822")
        response["Content-Disposition"] = f'attachment; filename="inbound-{inbound.pk}.eml"'
        response["X-Content-Type-Options"] = "nosniff"
        return response
