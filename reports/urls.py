from django.urls import path

from . import views

app_name = "reports"

urlpatterns = [
    path("", views.dashboard_view, name="dashboard"),
    path("tickets/", views.figure_tickets_view, name="tickets"),
    path("export/<slug:table>.csv", views.export_view, name="export"),
]
