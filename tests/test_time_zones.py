"""The time zone menu's fast widget writes the same HTML as Django's select."""

import re

import pytest
from django import forms

from helpdesk.time_zones import TIMEZONE_CHOICES, TimeZoneSelect


def _tags(html: str) -> str:
    return re.sub(r">\s+<", "><", html).strip()


@pytest.mark.parametrize("value", ["Europe/Paris", "UTC", None, "", "Not/AZone"])
def test_the_time_zone_select_is_djangos_select(value):
    attrs = {"id": "id_tz", "required": True, "class": "input"}
    expected = forms.Select(choices=TIMEZONE_CHOICES).render("tz", value, attrs=attrs)
    assert _tags(TimeZoneSelect(choices=TIMEZONE_CHOICES).render("tz", value, attrs=attrs)) == _tags(expected)
    if value == "Europe/Paris":
        assert '<option value="Europe/Paris" selected>' in expected
