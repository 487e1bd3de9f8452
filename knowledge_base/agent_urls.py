from django.urls import path

from . import agent_views

app_name = "articles"
urlpatterns = [
    path("", agent_views.article_list_view, name="list"),
    path("<int:article_id>/", agent_views.article_detail_view, name="detail"),
]
