from django.urls import include, path

from . import views

app_name = "customers"

urlpatterns = [
    path("", views.customer_list_view, name="list"),
    path("<int:customer_id>/", views.customer_detail_view, name="detail"),
    path("<int:customer_id>/edit/", views.customer_edit_view, name="edit"),
    path("<int:customer_id>/notes/", views.note_add_view, name="note_add"),
    path("<int:customer_id>/notes/<int:note_id>/pin/", views.note_pin_view, name="note_pin"),
    path("<int:customer_id>/notes/<int:note_id>/delete/", views.note_delete_view, name="note_delete"),
    path("<int:customer_id>/preferences/", views.preference_set_view, name="preference_set"),
    path(
        "<int:customer_id>/preferences/<int:preference_id>/delete/",
        views.preference_delete_view,
        name="preference_delete",
    ),
    path("<int:customer_id>/emails/", views.email_add_view, name="email_add"),
    path("<int:customer_id>/emails/<int:email_id>/delete/", views.email_remove_view, name="email_remove"),
    path("<int:customer_id>/emails/<int:email_id>/primary/", views.email_make_primary_view, name="email_primary"),
    path("", include("customers.action_urls")),  # merge, privacy export, erase
    path("", include("customers.import_urls")),  # CSV import and export
]
