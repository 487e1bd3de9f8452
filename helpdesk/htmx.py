"""htmx and full pages from the same view: which one a request wants, and the Vary header that keeps caches
from mixing them up."""

from django.utils.cache import patch_vary_headers

HTMX_VARY = ["HX-Request", "HX-Request-Type", "HX-History-Restore-Request"]


def wants_partial(request) -> bool:
    """An htmx request for one region (a history restore or a body swap wants the whole page)."""
    return bool(request.htmx) and not request.htmx.history_restore_request and request.htmx.request_type != "full"


def vary_on_htmx(response):
    patch_vary_headers(response, HTMX_VARY)
    return response
