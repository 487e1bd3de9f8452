"""How the customers' side looks: the business's name, logo and colour, set in the admin."""

import re

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from .cached import cached

BRANDING_KEY = "branding"
LOGO_MAX_BYTES = 300_000
# What a logo may be, recognised by its first bytes (not by what the browser says): no SVG, which can
# carry script.
LOGO_TYPES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg", b"GIF87a": "image/gif",
              b"GIF89a": "image/gif"}  # fmt: skip
_HEX = re.compile(r"#[0-9a-fA-F]{6}")


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4


def luminance(colour: str) -> float:
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def contrast_with_white(colour: str) -> float:
    return 1.05 / (luminance(colour) + 0.05)


def mix(colour: str, other: str, share: float) -> str:
    """``colour`` with ``share`` of ``other`` mixed in (0 to 1)."""
    a = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    b = [int(other[i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(x + (y - x) * share):02x}" for x, y in zip(a, b, strict=True))


def validate_colour(value: str) -> None:
    if not _HEX.fullmatch(value or ""):
        raise ValidationError(_("Write the colour as # and six hexadecimal digits, like #1f5fbf."))
    if contrast_with_white(value) < 4.5:
        raise ValidationError(
            _("White text on this colour is hard to read (contrast %(ratio).1f:1; at least 4.5:1 is needed). "
              "Choose a darker shade."), params={"ratio": contrast_with_white(value)},
        )  # fmt: skip


def logo_type(data: bytes) -> str:
    """The logo's content type, or ValidationError when it is not a PNG, JPEG or GIF of a sensible size."""
    if len(data) > LOGO_MAX_BYTES:
        raise ValidationError(_("The logo may be at most 300 KB."))
    for magic, content_type in LOGO_TYPES.items():
        if data.startswith(magic):
            return content_type
    raise ValidationError(_("The logo must be a PNG, JPEG or GIF image."))


class Branding(models.Model):
    """One row (pk 1): what the portal and the help center show of the business."""

    name = models.CharField(_("name shown to customers"), max_length=100, blank=True,
                            help_text=_("Empty: the HELPDESK_NAME setting."))  # fmt: skip
    logo = models.BinaryField(null=True, blank=True, editable=False)
    logo_content_type = models.CharField(max_length=20, blank=True, editable=False)
    primary_colour = models.CharField(_("main colour"), max_length=7, default="#1f5fbf", validators=[validate_colour],
                                      help_text=_("Buttons and links, with white text on it: #rrggbb."))  # fmt: skip
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("branding")
        verbose_name_plural = _("branding")

    def __str__(self):
        return str(_("Branding of the customer portal"))

    @classmethod
    def current(cls) -> "Branding":
        """The branding, without the logo's bytes (up to 300 KB, read on every portal page before): pages only
        show whether there is one (``logo_content_type``); ``/help/logo`` serves it. From the cache
        (helpdesk.cached): every portal page reads it."""
        return cached(BRANDING_KEY, lambda: cls.objects.defer("logo").filter(pk=1).first() or cls(pk=1))

    @property
    def css_variables(self) -> str:
        """The stylesheet's colour tokens for this colour (hover darker, soft background lighter)."""
        colour = self.primary_colour.lower()
        return (f"--color-primary: {colour}; --color-primary-hover: {mix(colour, '#000000', 0.2)}; "
                f"--color-primary-soft: {mix(colour, '#ffffff', 0.9)}; --color-focus: {colour};")  # fmt: skip
