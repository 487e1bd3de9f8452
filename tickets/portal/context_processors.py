from django.utils.functional import SimpleLazyObject

from .sign_in import signed_in_customer


def portal(request):
    """The customer signed in to the portal, if any: read only when a page asks (the portal's header)."""
    return {"portal_customer": SimpleLazyObject(lambda: signed_in_customer(request))}
