from django.urls import path

from . import account_views

urlpatterns = [
    path("", account_views.api_token_create_view, name="api_token_create"),
    path("<int:token_id>/revoke/", account_views.api_token_revoke_view, name="api_token_revoke"),
]
