"""/api/v1/: the resources (a DRF router), the OpenAPI schema and its interactive docs."""

from django.contrib.auth.decorators import login_required
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from . import customers, reports, resources, views
from .exceptions import not_found_view

app_name = "api"

# The Swagger UI page, its start-up script served from the same URL (?script): no inline script (CSP).
docs_view = SpectacularSwaggerSplitView.as_view(url_name="api:schema", template_name="api/docs.html")


class Router(DefaultRouter):
    # No format suffixes (tickets/1.json): the API speaks JSON only, and the views take no `format` argument (a
    # suffixed address of a detail or an action was a 500).
    include_format_suffixes = False


router = Router()
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
router.register("customers", customers.CustomerViewSet, basename="customer")
router.register(rf"customers/(?P<customer_id>{views.ID_REGEX})/notes", customers.CustomerNoteViewSet,
                basename="customer-note")  # fmt: skip
router.register(rf"customers/(?P<customer_id>{views.ID_REGEX})/emails", customers.CustomerEmailViewSet,
                basename="customer-email")  # fmt: skip
router.register("organizations", customers.OrganizationViewSet, basename="organization")

urlpatterns = [
    path("v1/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The docs page (Swagger UI, served from our static files) is for agents signed in to the screens.
    path("v1/docs/", login_required(docs_view), name="docs"),
    path("v1/reports/figures/", reports.ReportFiguresView.as_view(), name="report-figures"),
    path("v1/", include(router.urls)),
    re_path(r"^", not_found_view),  # any other /api/ address: a JSON 404 like every API error
]
