"""Tags as people type them: one comma-separated field, lower case, each at most 50 characters."""

from django import forms
from django.utils.translation import gettext_lazy as _

TAG_MAX_LENGTH = 50


def parse_tags(text: str) -> list[str]:
    """The distinct tags in ``text``, sorted; ValidationError if one is too long."""
    names = {name.strip().lower() for name in (text or "").split(",") if name.strip()}
    if any(len(name) > TAG_MAX_LENGTH for name in names):
        raise forms.ValidationError(_("A tag may be at most 50 characters long."))
    return sorted(names)
