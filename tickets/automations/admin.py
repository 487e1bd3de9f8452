from django.contrib import admin

from .models import Automation


@admin.register(Automation)
class AutomationAdmin(admin.ModelAdmin):
    list_display = ["name", "status", "hours", "action", "active"]
    list_editable = ["active"]
