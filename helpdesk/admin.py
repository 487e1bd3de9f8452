from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.shortcuts import redirect
from django.utils.translation import gettext_lazy as _

from .branding import LOGO_MAX_BYTES, Branding, logo_type
from .calendars import Calendar, Holiday, OpeningInterval, holidays_from_ical, holidays_import
from .models import AuditEntry, Team, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "full_name", "role", "is_active", "last_login"]
    list_filter = ["role", "is_active", "teams"]
    search_fields = ["email", "full_name"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        (_("Profile"), {"fields": ["full_name", "time_zone", "language"]}),
        (_("Notifications"), {"fields": ["notify_on_assign", "notify_on_mention", "notify_on_customer_reply"]}),
        (_("Automatic assignment"), {"fields": ["available", "shift_calendar"]}),
        (_("Access"), {"fields": ["role", "is_active", "is_superuser"]}),
        (_("Dates"), {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "full_name", "role", "password1", "password2"]})]
    filter_horizontal = []


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "lead", "assignment", "max_open_per_agent"]
    list_select_related = ["lead"]
    filter_horizontal = ["members"]
    search_fields = ["name"]
    fields = ["name", "lead", "members", "assignment", "max_open_per_agent"]


class BrandingForm(forms.ModelForm):
    logo_file = forms.FileField(label=_("logo"), required=False,
                                help_text=_("PNG, JPEG or GIF, at most 300 KB; shown at 32 px high."))  # fmt: skip
    remove_logo = forms.BooleanField(label=_("remove the logo"), required=False)

    class Meta:
        model = Branding
        fields = ["name", "primary_colour"]

    def clean_logo_file(self):
        upload = self.cleaned_data.get("logo_file")
        if upload is None:
            return None
        data = upload.read(LOGO_MAX_BYTES + 1)
        return data, logo_type(data)

    def save(self, commit=True):
        branding = super().save(commit=False)
        if self.cleaned_data.get("remove_logo"):
            branding.logo, branding.logo_content_type = None, ""
        elif self.cleaned_data.get("logo_file"):
            branding.logo, branding.logo_content_type = self.cleaned_data["logo_file"]
        if commit:
            branding.save()
        return branding


@admin.register(Branding)
class BrandingAdmin(admin.ModelAdmin):
    """One set of branding: the list leads straight to it."""

    form = BrandingForm

    def has_add_permission(self, request):
        return not Branding.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        branding = Branding.current()
        if branding._state.adding:
            branding.save()
        return redirect("admin:helpdesk_branding_change", branding.pk)


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only: the log is written by the actions it records, never by hand."""

    list_display = ["created_at", "actor", "action", "target"]
    list_filter = ["action"]
    search_fields = ["action", "target", "actor__email"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class OpeningIntervalInline(admin.TabularInline):
    model = OpeningInterval
    extra = 0


class HolidayInline(admin.TabularInline):
    model = Holiday
    extra = 0


class CalendarForm(forms.ModelForm):
    holidays_file = forms.FileField(
        label=_("Import holidays"), required=False,
        help_text=_("An iCalendar (.ics) file, such as a public holidays calendar: its all-day events become "
                    "holidays (yearly ones repeat)."),
    )  # fmt: skip

    class Meta:
        model = Calendar
        fields = ["name", "time_zone", "is_default"]

    def clean_holidays_file(self):
        upload = self.cleaned_data.get("holidays_file")
        if upload is None:
            return None
        if upload.size > 2 * 1024 * 1024:
            raise forms.ValidationError(_("The file is larger than 2 MB."))
        data = upload.read()
        try:
            holidays_from_ical(data)
        except ValueError as error:
            raise forms.ValidationError(str(error)) from None
        return data


@admin.register(Calendar)
class CalendarAdmin(admin.ModelAdmin):
    form = CalendarForm
    list_display = ["name", "time_zone", "is_default"]
    inlines = [OpeningIntervalInline, HolidayInline]

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        data = form.cleaned_data.get("holidays_file")
        if data:
            added, skipped = holidays_import(form.instance, data)
            self.message_user(request, _("%(added)d holidays imported, %(skipped)d already there.")
                              % {"added": added, "skipped": skipped})  # fmt: skip
