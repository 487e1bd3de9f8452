"""Where uploaded files are stored: under random names, never under what the uploader called the file.

The name a person gave the file is kept in the model's own ``filename`` field (shown, and sent back in
Content-Disposition on download); the stored name keeps only a short, plain extension of it.
"""

import os
import re
import secrets

from django.utils import timezone

_SAFE_EXTENSION = re.compile(r"\.[a-z0-9]{1,10}")


def safe_extension(filename: str) -> str:
    """The file's extension, lower-case, if it is a dot and 1-10 letters or digits; otherwise none."""
    extension = os.path.splitext(os.path.basename(filename or ""))[1].lower()
    return extension if _SAFE_EXTENSION.fullmatch(extension) else ""


def random_upload_name(folder: str, filename: str) -> str:
    """``folder/YYYY/MM/<32 random characters><.ext>``."""
    return f"{folder}/{timezone.now():%Y/%m}/{secrets.token_urlsafe(24)}{safe_extension(filename)}"
