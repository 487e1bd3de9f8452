from django.urls import path

from . import views

app_name = "tickets"

urlpatterns = [
    path("", views.ticket_list_view, name="list"),
    path("bulk/", views.ticket_bulk_view, name="bulk"),
    path("<int:ticket_id>/", views.ticket_detail_view, name="detail"),
    path("<int:ticket_id>/messages/", views.ticket_message_view, name="message"),
    path("<int:ticket_id>/messages/<int:message_id>/resend/", views.message_resend_view, name="resend"),
    path("<int:ticket_id>/status/", views.ticket_status_view, name="status"),
    path("<int:ticket_id>/priority/", views.ticket_priority_view, name="priority"),
    path("<int:ticket_id>/assignee/", views.ticket_assign_view, name="assign"),
    path("<int:ticket_id>/queue/", views.ticket_queue_view, name="queue"),
    path("<int:ticket_id>/canned/", views.ticket_canned_view, name="canned_search"),
    path("<int:ticket_id>/articles/", views.ticket_articles_view, name="suggested_articles"),
    path("<int:ticket_id>/presence/", views.ticket_presence_view, name="presence"),
    path("canned/", views.canned_list_view, name="canned"),
    path("canned/<int:response_id>/delete/", views.canned_delete_view, name="canned_delete"),
    path("<int:ticket_id>/tags/", views.ticket_tags_view, name="tags"),
    path("attachments/<int:attachment_id>/", views.attachment_download_view, name="attachment"),
    path("new/", views.ticket_new_view, name="new"),
    path("new/customers/", views.ticket_new_customers_view, name="new_customers"),
    path("notifications/", views.notification_list_view, name="notifications"),
    path("notifications/badge/", views.notification_badge_view, name="notifications_badge"),
    path("notifications/read/", views.notification_read_all_view, name="notifications_read"),
    path("notifications/<int:notification_id>/", views.notification_open_view, name="notification"),
    path("views/", views.saved_view_create_view, name="saved_view_create"),
    path("views/<int:view_id>/delete/", views.saved_view_delete_view, name="saved_view_delete"),
]
