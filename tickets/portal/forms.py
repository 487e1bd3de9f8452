from django import forms
from django.utils.translation import gettext_lazy as _

from ..forms import MultipleFileField


class PortalReplyForm(forms.Form):
    """The customer's reply on their request's page. Whether it may be empty is the service's rule."""

    body = forms.CharField(label=_("Your message"), required=False, max_length=50_000,
                           widget=forms.Textarea(attrs={"rows": 6}))  # fmt: skip
    attachments = MultipleFileField(label=_("Attach files"), required=False)
