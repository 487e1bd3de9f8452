from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from .models import SLAPolicy


@admin.register(SLAPolicy)
class SLAPolicyAdmin(admin.ModelAdmin):
    list_display = ["name", "position", "active", "first_response_minutes", "next_response_minutes",
                    "resolution_minutes", "business_hours"]  # fmt: skip
    list_editable = ["position", "active"]
    filter_horizontal = ["queues", "organizations", "segments"]
    fieldsets = [
        (None, {"fields": ["name", "position", "active"]}),
        (_("Tickets it applies to (empty: all)"), {"fields": ["priorities", "queues", "organizations", "segments"]}),
        (_("Targets"), {"fields": ["first_response_minutes", "next_response_minutes", "resolution_minutes",
                                   "business_hours", "calendar", "warn_minutes"]}),
        (_("When a target is breached"), {"fields": ["notify_assignee", "notify_team_lead", "notify_admins", "raise_priority",
                                                             "reassign_to"]}),
    ]  # fmt: skip
