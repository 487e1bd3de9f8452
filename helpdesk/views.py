from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from .account_views import security_context
from .forms import AccountForm


@login_required
def account_view(request):
    """The signed-in agent's own settings."""
    form = AccountForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Your settings are saved."))
        return redirect("account")
    # Away by their own choice, or outside the shift an admin gave them (automatic assignment skips both).
    outside_shift = request.user.available and not request.user.is_on_shift()
    context = {"form": form, "outside_shift": outside_shift, **_api_tokens_context(request),
               **security_context(request)}  # fmt: skip
    return render(request, "account.html", context, status=400 if form.errors else 200)


def _api_tokens_context(request) -> dict:
    """The agent's personal API tokens, the form for a new one, and a token just created (shown this once)."""
    from api.account_views import NEW_TOKEN_SESSION_KEY
    from api.forms import ApiTokenForm
    from api.selectors import api_tokens_of

    return {"api_tokens": api_tokens_of(request.user), "api_token_form": ApiTokenForm(),
            "new_api_token": request.session.pop(NEW_TOKEN_SESSION_KEY, None)}  # fmt: skip


@require_GET
def logo_view(request):
    """The portal's logo (set in the admin); 404 when there is none."""
    from .branding import Branding

    branding = Branding.objects.filter(pk=1).only("logo", "logo_content_type").first()
    if branding is None or not branding.logo:
        raise Http404("No logo.")
    response = HttpResponse(bytes(branding.logo), content_type=branding.logo_content_type)
    response["Cache-Control"] = "public, max-age=86400"  # the page asks with ?v=<last change>
    response["X-Content-Type-Options"] = "nosniff"
    return response
