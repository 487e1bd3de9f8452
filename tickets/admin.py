from django.contrib import admin

from .mail import admin as _mail_admin  # noqa: F401  (registers the email channel's admin screens)
from .models import Queue, Tag, Ticket, TicketEvent


@admin.register(Queue)
class QueueAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "team", "on_portal"]
    list_filter = ["on_portal"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    search_fields = ["name"]


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    """Read-only: tickets change through the agent workspace so every change is audited."""

    list_display = ["id", "subject", "status", "priority", "queue", "assignee", "channel", "created_at"]
    list_filter = ["status", "priority", "channel", "queue"]
    search_fields = ["subject", "customer__email"]
    list_select_related = ["queue", "assignee"]
    show_full_result_count = False

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False


@admin.register(TicketEvent)
class TicketEventAdmin(admin.ModelAdmin):
    list_display = ["ticket", "kind", "field", "old_value", "new_value", "actor", "created_at"]
    list_select_related = ["actor"]
    show_full_result_count = False

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


from .automations import admin as automations_admin  # noqa: E402, F401
from .rules import admin as rules_admin  # noqa: E402, F401
from .sla import admin as sla_admin  # noqa: E402, F401  (the SLA policies' admin lives with their code)
