"""Actions on a whole customer record: merge, privacy export, erasure (``customers.action_views``)."""

from django.urls import path

from . import action_views

urlpatterns = [
    path("<int:customer_id>/merge/", action_views.customer_merge_view, name="merge"),
    path("<int:customer_id>/export/", action_views.customer_export_view, name="export"),
    path("<int:customer_id>/erase/", action_views.customer_erase_view, name="erase"),
]
