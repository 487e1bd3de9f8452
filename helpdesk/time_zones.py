"""Every IANA time zone name, for the fields where people choose one."""

import zoneinfo

from django import forms
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

TIMEZONE_CHOICES = [(name, name) for name in sorted(zoneinfo.available_timezones())]


class TimeZoneSelect(forms.Select):
    """A select of the time zones (about 600 options) written out directly: Django renders each option
    through a template, about 0.3 ms apiece, which made the time zone menu a third of the reports page.
    The same HTML as ``forms.Select`` (a test compares them); no option groups."""

    def render(self, name, value, attrs=None, renderer=None):
        selected = "" if value is None else str(value)
        options = format_html_join(
            "\n", '<option value="{}"{}>{}</option>',
            ((choice, mark_safe(" selected") if str(choice) == selected else "", label) for choice, label in self.choices),
        )  # fmt: skip
        attributes = format_html_join("", "{}", (
            (format_html(" {}", key) if value is True else format_html(' {}="{}"', key, value),)
            for key, value in self.build_attrs(self.attrs, attrs).items() if value is not False and value is not None
        ))  # fmt: skip
        return format_html('<select name="{}"{}>\n{}\n</select>', name, attributes, options)
