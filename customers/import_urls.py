"""CSV import and export of customers (``customers.import_views``); included by ``customers.urls``."""

from django.urls import path

from . import import_views

urlpatterns = [
    path("import/", import_views.customer_import_view, name="import"),
    path("export.csv", import_views.customer_export_csv_view, name="export_csv"),
]
