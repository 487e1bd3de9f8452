from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from .models import Customer, CustomerEmail, CustomerPreference, CustomField, Organization, Segment


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "domain_list", "shared_tickets", "created_at"]
    list_filter = ["shared_tickets"]
    search_fields = ["name", "domains"]

    @admin.display(description=_("email domains"))
    def domain_list(self, organization):
        return ", ".join(organization.domains)


class CustomerEmailInline(admin.TabularInline):
    model = CustomerEmail
    extra = 0


class CustomerPreferenceInline(admin.TabularInline):
    model = CustomerPreference
    extra = 0


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    """Agents edit customers on the customer page (with its audit trail); this is the admins' fallback."""

    list_display = ["email", "name", "organization", "created_at"]
    list_filter = ["organization", "language"]
    search_fields = ["email", "name", "organization__name"]
    autocomplete_fields = ["organization"]
    inlines = [CustomerEmailInline, CustomerPreferenceInline]


@admin.register(CustomField)
class CustomFieldAdmin(admin.ModelAdmin):
    """The fields admins add to every customer; agents fill them in on the customer page."""

    list_display = ["name", "key", "kind", "position"]
    list_editable = ["position"]
    prepopulated_fields = {"key": ["name"]}


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    """Saved customer filters; agents pick them on the customer list and see them on the customer page."""

    list_display = ["name", "description"]
    search_fields = ["name"]
    autocomplete_fields = ["organization"]
    fieldsets = [
        (None, {"fields": ["name", "description"]}),
        (_("Customers who…"), {"fields": ["tags", "organization", "language", ("custom_field", "custom_value")]}),
        (_("Ticket history"), {"fields": [("min_tickets", "tickets_within_days"), "last_csat_below"]}),
    ]
