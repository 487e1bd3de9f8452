from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from .forms import AccountForm


@login_required
def account_view(request):
    """The signed-in agent's own settings."""
    form = AccountForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Your settings are saved."))
        return redirect("account")
    return render(request, "account.html", {"form": form}, status=400 if form.errors else 200)
