from django.urls import path

from . import views

app_name = "portal"

urlpatterns = [
    path("requests/new/", views.request_new_view, name="request_new"),
    path("requests/<str:token>/", views.request_view, name="request"),
    path("requests/<str:token>/files/<int:attachment_id>/", views.request_attachment_view, name="attachment"),
    path("requests/<str:token>/new-link/", views.request_new_link_view, name="new_link"),
    path("requests/<str:token>/rate/", views.rate_view, name="rate"),
    path("sign-in/", views.sign_in_view, name="sign_in"),
    path("sign-in/<str:token>/", views.sign_in_link_view, name="sign_in_link"),
    path("sign-out/", views.sign_out_view, name="sign_out"),
    path("my-requests/", views.my_requests_view, name="my_requests"),
]
