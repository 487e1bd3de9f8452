"""Attachment checks and storage: size and type limits, random stored names."""

import mimetypes
import os
from collections.abc import Iterable

from django.conf import settings
from django.core.files.base import ContentFile, File
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _

from helpdesk.db import insert_rows
from helpdesk.errors import ValidationError

from .models import Attachment, Message


def _extension(name: str) -> str:
    return os.path.splitext(name or "")[1].lower().lstrip(".")


def _content_type(upload) -> str:
    declared = getattr(upload, "content_type", None)
    return (declared or mimetypes.guess_type(upload.name or "")[0] or "application/octet-stream").lower()


def attachment_validate(upload) -> None:
    """Refuse a file that is too big or of a dangerous type, with a message that says which."""
    name = os.path.basename(upload.name or "") or "attachment"
    if upload.size > settings.ATTACHMENT_MAX_BYTES:
        raise ValidationError(
            _("“%(name)s” is %(size)s; attachments may be at most %(limit)s."),
            params={
                "name": name,
                "size": filesizeformat(upload.size),
                "limit": filesizeformat(settings.ATTACHMENT_MAX_BYTES),
            },
        )
    if _extension(name) in settings.ATTACHMENT_FORBIDDEN_EXTENSIONS or (
        _content_type(upload) in settings.ATTACHMENT_FORBIDDEN_CONTENT_TYPES
    ):
        raise ValidationError(
            _("“%(name)s” cannot be attached: files of this type (.%(ext)s) are not allowed."),
            params={"name": name, "ext": _extension(name) or _content_type(upload)},
        )


def attachment_validate_all(uploads) -> None:
    errors = []
    for upload in uploads:
        try:
            attachment_validate(upload)
        except ValidationError as error:
            errors.extend(error.error_list)
    if errors:
        raise ValidationError(errors)


def attachments_store_many(items: Iterable[tuple[Message, Iterable]]) -> list[Attachment]:
    """Save already validated uploads under random names beside their messages: the files, then their rows
    in one INSERT."""
    stored = []
    for message, uploads in items:
        for upload in uploads:
            name = os.path.basename(upload.name or "") or "attachment"
            if not isinstance(upload, File):
                upload = ContentFile(upload.read(), name=name)
            attachment = Attachment(message=message, filename=name[:255], content_type=_content_type(upload)[:150],
                                    size=upload.size)  # fmt: skip
            attachment.file.save(name, upload, save=False)
            stored.append(attachment)
    insert_rows(Attachment, stored)
    return stored
