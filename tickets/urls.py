from django.urls import path

from . import views

app_name = "tickets"

urlpatterns = [
    path("", views.ticket_list_view, name="list"),
    path("<int:ticket_id>/", views.ticket_detail_view, name="detail"),
    path("attachments/<int:attachment_id>/", views.attachment_download_view, name="attachment"),
]
