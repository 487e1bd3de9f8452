"""/api/v1/: the resources (a DRF router), the OpenAPI schema and its interactive docs."""

from django.contrib.auth.decorators import login_required
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from . import reports, resources, views
from .exceptions import not_found_view

app_name = "api"

router = DefaultRouter()
router.register("tickets", views.TicketViewSet, basename="ticket")
router.register("attachments", views.AttachmentViewSet, basename="attachment")
router.register("queues", resources.QueueViewSet, basename="queue")
router.register("agents", resources.AgentViewSet, basename="agent")
router.register("teams", resources.TeamViewSet, basename="team")
router.register("canned-responses", resources.CannedResponseViewSet, basename="canned-response")
router.register("sla-policies", resources.SLAPolicyViewSet, basename="sla-policy")
router.register("article-categories", resources.ArticleCategoryViewSet, basename="article-category")
router.register("articles", resources.ArticleViewSet, basename="article")
router.register("survey-answers", resources.SurveyAnswerViewSet, basename="survey-answer")

urlpatterns = [
    path("v1/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The docs page (Swagger UI, served from our static files) is for agents signed in to the screens.
    path("v1/docs/", login_required(SpectacularSwaggerView.as_view(url_name="api:schema")), name="docs"),
    path("v1/reports/figures/", reports.ReportFiguresView.as_view(), name="report-figures"),
    path("v1/", include(router.urls)),
    re_path(r"^", not_found_view),  # any other /api/ address: a JSON 404 like every API error
]
