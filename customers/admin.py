from django.contrib import admin

from .models import Customer, Organization


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "domain_list", "created_at"]
    search_fields = ["name", "domains"]

    @admin.display(description="email domains")
    def domain_list(self, organization):
        return ", ".join(organization.domains)


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["email", "name", "organization", "created_at"]
    list_filter = ["organization"]
    search_fields = ["email", "name", "organization__name"]
    autocomplete_fields = ["organization"]
