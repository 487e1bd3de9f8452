import uuid

from django import forms
from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _

from ..forms import MultipleFileField


class PortalReplyForm(forms.Form):
    """The customer's reply on their request's page. Whether it may be empty is the service's rule."""

    body = forms.CharField(label=_("Your message"), required=False, max_length=50_000,
                           widget=forms.Textarea(attrs={"rows": 6}))  # fmt: skip
    attachments = MultipleFileField(label=_("Attach files"), required=False)


class PortalRequestForm(forms.Form):
    """A new request from the portal, by someone without an account. ``queues``: the topics to offer (the
    field is left out when there is at most one)."""

    email = forms.EmailField(label=_("Your email address"), max_length=254,
                             help_text=_("We send our answers here."))  # fmt: skip
    name = forms.CharField(label=_("Your name"), max_length=200, required=False)
    # Its choices are the ``queues`` given (already fetched), not a queryset: the form costs no query.
    queue = forms.TypedChoiceField(label=_("Topic"), coerce=int,
                                   error_messages={"invalid_choice": _("Choose one of the topics.")})  # fmt: skip
    # While the customer types it, articles that may answer already appear below (knowledge_base suggest).
    subject = forms.CharField(label=_("Subject"), max_length=255, widget=forms.TextInput(attrs={
        "hx-get": reverse_lazy("kb:suggest"), "hx-trigger": "input changed delay:400ms",
        "hx-target": "#kb-suggestions", "autocomplete": "off"}))  # fmt: skip
    body = forms.CharField(label=_("Your question or problem"), max_length=50_000,
                           widget=forms.Textarea(attrs={"rows": 8}))  # fmt: skip
    attachments = MultipleFileField(label=_("Attach files"), required=False,
                                    help_text=_("Screenshots, photos or receipts help us help you."))  # fmt: skip
    # A honeypot: hidden from people (and screen readers), filled in by bots that fill in every field.
    website = forms.CharField(required=False, max_length=200)
    # The form's one-time id, new each time the form opens: the same form sent again (a reload after an error
    # page or a lost answer, a double click) lands on the request it opened first (tickets.portal.services).
    submission = forms.CharField(required=False, widget=forms.HiddenInput, initial=uuid.uuid4)

    def __init__(self, *args, queues, **kwargs):
        super().__init__(*args, **kwargs)
        self.queues = list(queues)
        if len(self.queues) > 1:
            self.fields["queue"].choices = [
                (queue.pk, queue.name) for queue in sorted(self.queues, key=lambda q: q.name)
            ]
        else:
            del self.fields["queue"]

    def clean_submission(self) -> uuid.UUID | None:
        try:
            return uuid.UUID(self.cleaned_data["submission"])
        except ValueError:  # missing or mangled: the request is still sent, only without the guard
            return None

    @property
    def is_bot(self) -> bool:
        return bool(self.cleaned_data.get("website"))

    @property
    def chosen_queue(self):
        if "queue" not in self.fields:
            return self.queues[0]
        return next(queue for queue in self.queues if queue.pk == self.cleaned_data["queue"])


class SignInForm(forms.Form):
    email = forms.EmailField(label=_("Your email address"), max_length=254)
