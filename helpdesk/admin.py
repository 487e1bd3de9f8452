import contextlib
import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.sites import NotRegistered
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.shortcuts import redirect
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from . import two_factor, user_sessions
from .branding import LOGO_MAX_BYTES, Branding, logo_type
from .calendars import Calendar, Holiday, OpeningInterval, holidays_from_ical, holidays_import
from .models import AuditEntry, Team, User
from .two_factor import SecuritySettings

# django-otp's own admin pages would show the users' secret keys: turning two-factor sign-in off for a user
# (lost phone) is the users list's action instead.
for _device_model in (TOTPDevice, StaticDevice):
    with contextlib.suppress(NotRegistered):
        admin.site.unregister(_device_model)


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
    actions = ["turn_off_two_factor", "sign_out_everywhere"]

    def get_list_display(self, request):
        return [*super().get_list_display(request), "two_factor"]

    def get_queryset(self, request):
        return two_factor.with_two_factor(super().get_queryset(request))

    @admin.display(description=_("two-factor"), boolean=True, ordering="has_two_factor")
    def two_factor(self, obj):
        return getattr(obj, "has_two_factor", None)

    @admin.action(description=_("Turn off two-factor sign-in (lost phone) and sign out"))
    def turn_off_two_factor(self, request, queryset):
        for user in queryset:
            two_factor.two_factor_reset(user=user, actor=request.user)
        self.message_user(request, ngettext("Two-factor sign-in is off for %(count)d user.",
                                            "Two-factor sign-in is off for %(count)d users.", len(queryset))
                          % {"count": len(queryset)}, messages.SUCCESS)  # fmt: skip

    @admin.action(description=_("Sign out of every session"))
    def sign_out_everywhere(self, request, queryset):
        ended = sum(user_sessions.user_sessions_end(user=user, actor=request.user) for user in queryset)
        self.message_user(request, ngettext("%(count)d session signed out.", "%(count)d sessions signed out.", ended)
                          % {"count": ended}, messages.SUCCESS)  # fmt: skip


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


@admin.register(SecuritySettings)
class SecuritySettingsAdmin(admin.ModelAdmin):
    """One set of sign-in rules: the list leads straight to it."""

    fields = ["require_two_factor"]

    def has_add_permission(self, request):
        return False  # the list makes the one row (and every admin page is spared asking whether it exists)

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        security = SecuritySettings.current()
        if security._state.adding:
            security.save()
        return redirect("admin:helpdesk_securitysettings_change", security.pk)

    def save_model(self, request, obj, form, change):
        ended = two_factor.security_settings_save(actor=request.user, security=obj)
        if ended:
            self.message_user(request, ngettext("%(count)d session of users without two-factor sign-in ended.",
                                                "%(count)d sessions of users without two-factor sign-in ended.",
                                                ended) % {"count": ended})  # fmt: skip


class AuditAreaFilter(admin.SimpleListFilter):
    """Entries by what they are about (the part of the action before the dot)."""

    title = _("area")
    parameter_name = "area"
    AREAS = {
        "admin": _("Changes in the administration"),
        "export": _("Data exports"),
        "two_factor": _("Two-factor sign-in"),
        "session": _("Sign-outs"),
        "customer": _("Customers (erasure, merges, imports)"),
        "api_token": _("API tokens"),
        "password": _("Passwords"),
    }

    def lookups(self, request, model_admin):
        return list(self.AREAS.items())

    def queryset(self, request, queryset):
        area = self.value()
        if area == "export":
            return queryset.filter(action__endswith=".export")
        if area == "customer":
            return queryset.filter(action__regex=r"^customers?\.").exclude(action__endswith=".export")
        if area in self.AREAS:
            return queryset.filter(action__startswith=f"{area}.")
        return queryset


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only: the log is written by the actions it records, never by hand."""

    list_display = ["created_at", "actor", "action", "target", "ip"]
    list_filter = [AuditAreaFilter, "action", ("actor", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["actor"]
    search_fields = ["action", "target", "actor__email", "ip"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    fields = ["created_at", "actor", "action", "target", "ip", "details_text"]
    readonly_fields = fields

    @admin.display(description=_("details"))
    def details_text(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.details, indent=2, ensure_ascii=False, default=str))

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
