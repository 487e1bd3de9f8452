"""Check that every file the database refers to is in the media storage: after restoring a backup (docs/operations.md),
or when attachments fail to download.

    python manage.py check_media            # counts per kind of file; exits 1 when any file is missing
"""

from django.apps import apps
from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandError
from django.db import models

SHOWN = 20  # missing files listed by name; the rest are counted


class Command(BaseCommand):
    help = "Check that every file referred to in the database (attachments, article files) is in the media storage."

    def handle(self, *args, **options):
        missing: list[str] = []
        for model in apps.get_models():
            for field in model._meta.concrete_fields:
                if not isinstance(field, models.FileField):
                    continue
                names = model._default_manager.exclude(**{field.name: ""}).values_list(field.name, flat=True)
                total = 0
                for name in names.iterator(chunk_size=2000):
                    total += 1
                    if not default_storage.exists(name):
                        missing.append(f"{model._meta.label}.{field.name}: {name}")
                self.stdout.write(f"{model._meta.label}.{field.name}: {total} files")
        for line in missing[:SHOWN]:
            self.stderr.write(f"missing {line}")
        if missing:
            more = f" ({len(missing) - SHOWN} more not listed)" if len(missing) > SHOWN else ""
            raise CommandError(f"{len(missing)} files are missing from the media storage{more}.")
        self.stdout.write(self.style.SUCCESS("Every file is there."))
