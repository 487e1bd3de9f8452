from django.urls import path

from . import views

app_name = "kb"

urlpatterns = [
    path("", views.home_view, name="home"),
    path("search/", views.search_view, name="search"),
    path("suggest/", views.suggest_view, name="suggest"),
    path("categories/<slug:slug>/", views.category_view, name="category"),
    path("articles/<slug:slug>/", views.article_view, name="article"),
    path("articles/<slug:slug>/vote/", views.article_vote_view, name="vote"),
    path("files/<int:file_id>/<str:name>", views.file_view, name="file"),
]
