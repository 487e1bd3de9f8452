from django.conf import settings


def helpdesk(request):
    """What every page shows of the help desk itself."""
    return {"helpdesk_name": settings.HELPDESK_NAME}


def branding(request):
    """The customer portal's name, logo and colour (read only when a page uses them: the portal's)."""
    from django.utils.functional import SimpleLazyObject

    from .branding import Branding

    return {"branding": SimpleLazyObject(Branding.current)}
