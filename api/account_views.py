"""Personal API tokens on the agent's "Your settings" page: create one (shown exactly once) and revoke."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from helpdesk.errors import ValidationError

from . import services
from .forms import ApiTokenForm

# The new token waits in the session for the one page view that shows it.
NEW_TOKEN_SESSION_KEY = "api_new_token"


@login_required
@require_POST
def api_token_create_view(request):
    form = ApiTokenForm(request.POST)
    if form.is_valid():
        try:
            token, raw = services.api_token_create(user=request.user, name=form.cleaned_data["name"],
                                                   scope=form.cleaned_data["scope"],
                                                   expires_at=form.expires_at())  # fmt: skip
        except ValidationError as error:
            form.add_error(None, error)
        else:
            request.session[NEW_TOKEN_SESSION_KEY] = {"id": token.pk, "token": raw}
            messages.success(request, _("Token “%(name)s” created.") % {"name": token.name})
            return redirect("account")
    messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
    return redirect("account")


@login_required
@require_POST
def api_token_revoke_view(request, token_id):
    token = services.api_token_revoke(user=request.user, token_id=token_id)
    if token is None:
        raise Http404("No such token.")
    messages.success(request, _("Token “%(name)s” revoked.") % {"name": token.name})
    return redirect("account")
