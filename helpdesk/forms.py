from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from .models import User


class AccountForm(forms.ModelForm):
    """What an agent sets for themselves: where they are, their language, which emails they get."""

    class Meta:
        model = User
        fields = [
            "full_name",
            "time_zone",
            "language",
            "available",
            "notify_on_assign",
            "notify_on_mention",
            "notify_on_customer_reply",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["language"].choices = [("", _("The browser's language")), *settings.LANGUAGES]
        self.fields["language"].help_text = ""
