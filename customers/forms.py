"""Forms of the agents' customer screens: they parse and check input; ``customers.services`` does the work."""

from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from helpdesk.tags import parse_tags

from .models import Customer, CustomerNote, CustomerPreference, CustomField, Organization


def custom_form_field(definition: CustomField) -> forms.Field:
    """The form field for one admin-defined field; its cleaned value is what ``Customer.custom_fields``
    stores (text, a number, an ISO date, one of the choices) or None when empty."""
    common = {"label": definition.name, "required": False}
    if definition.kind == CustomField.Kind.NUMBER:
        return forms.DecimalField(max_digits=18, decimal_places=6, **common)
    if definition.kind == CustomField.Kind.DATE:
        return forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), **common)
    if definition.kind == CustomField.Kind.CHOICE:
        return forms.ChoiceField(choices=[("", "—"), *((c, c) for c in definition.choices)], **common)
    return forms.CharField(max_length=500, **common)


def stored_value(value):
    """A cleaned custom field value as JSON: dates as YYYY-MM-DD, whole numbers as int."""
    if value in (None, ""):
        return None
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


class CustomerForm(forms.ModelForm):
    """The customer's record as agents edit it, with the admins' custom fields after the built-in ones."""

    tags = forms.CharField(label=_("Tags"), required=False, max_length=1000,
                           help_text=_("Separated by commas, e.g. vip, wholesale"))  # fmt: skip

    class Meta:
        model = Customer
        fields = ["name", "phone", "organization", "language", "time_zone"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organization"].queryset = Organization.objects.order_by("name")
        self.initial["tags"] = ", ".join(self.instance.tags)
        self.definitions = list(CustomField.objects.all())
        for definition in self.definitions:
            self.fields[f"custom_{definition.key}"] = custom_form_field(definition)
            self.initial[f"custom_{definition.key}"] = self.instance.custom_fields.get(definition.key)

    @property
    def custom_field_names(self) -> list[str]:
        return [f"custom_{definition.key}" for definition in self.definitions]

    def clean_tags(self) -> list[str]:
        return parse_tags(self.cleaned_data["tags"])

    def changes(self) -> dict:
        """What ``customer_update`` takes: the built-in fields and the whole custom field dict (values of
        fields no longer defined are kept)."""
        custom = dict(self.instance.custom_fields)
        for definition in self.definitions:
            value = stored_value(self.cleaned_data.get(f"custom_{definition.key}"))
            if value is None:
                custom.pop(definition.key, None)
            else:
                custom[definition.key] = value
        return {**{name: self.cleaned_data[name] for name in [*self.Meta.fields, "tags"]}, "custom_fields": custom}


class CustomerNoteForm(forms.ModelForm):
    class Meta:
        model = CustomerNote
        fields = ["body", "pinned"]
        labels = {"body": _("Note"), "pinned": _("Pin: show it on every ticket of this customer")}
        widgets = {"body": forms.Textarea(attrs={"rows": 3, "maxlength": 5000,
                                                 "placeholder": _("What to remember about them")})}  # fmt: skip


class CustomerPreferenceForm(forms.ModelForm):
    class Meta:
        model = CustomerPreference
        fields = ["key", "value"]
        labels = {"key": _("Preference"), "value": _("Value")}
        widgets = {"key": forms.TextInput(attrs={"placeholder": _("Usual order")}),
                   "value": forms.TextInput(attrs={"placeholder": _("Iced caramel macchiato, oat milk")})}  # fmt: skip


class CustomerEmailForm(forms.Form):
    email = forms.EmailField(label=_("Other email address"))


class CustomerFilterForm(forms.Form):
    """The list's GET parameters; what does not parse is ignored."""

    q = forms.CharField(required=False, max_length=200)
    organization = forms.IntegerField(required=False, min_value=1)
    tag = forms.CharField(required=False, max_length=50)
    segment = forms.IntegerField(required=False, min_value=1)
    page = forms.IntegerField(required=False, min_value=1, max_value=100_000)

    def values(self) -> dict:
        self.is_valid()  # each field that parses counts; one that does not is left out
        data = self.cleaned_data
        return {"query": data.get("q") or "", "organization_id": data.get("organization"),
                "tag": (data.get("tag") or "").strip().lower(), "segment_id": data.get("segment"),
                "page": data.get("page") or 1}  # fmt: skip
