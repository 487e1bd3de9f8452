from django.urls import path

from . import views

app_name = "portal"

urlpatterns = [
    path("requests/<str:token>/", views.request_view, name="request"),
    path("requests/<str:token>/files/<int:attachment_id>/", views.request_attachment_view, name="attachment"),
    path("requests/<str:token>/new-link/", views.request_new_link_view, name="new_link"),
]
