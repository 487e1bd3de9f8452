from django.conf import settings


def helpdesk(request):
    """What every page shows of the help desk itself."""
    return {"helpdesk_name": settings.HELPDESK_NAME}
