import contextlib
import zoneinfo

from django.utils import timezone, translation


class UserPreferencesMiddleware:
    """Show every time in the signed-in user's time zone and the page in their language.

    Times are stored in UTC; only their display changes. Runs after authentication, so it
    overrides the language LocaleMiddleware picked from the browser when the user chose one.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        timezone.deactivate()
        if user is not None and user.is_authenticated:
            with contextlib.suppress(zoneinfo.ZoneInfoNotFoundError, ValueError):
                timezone.activate(zoneinfo.ZoneInfo(user.time_zone))
            if user.language and translation.check_for_language(user.language):
                translation.activate(user.language)
                request.LANGUAGE_CODE = translation.get_language()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
