# Uploaded article files are stored under random names (helpdesk.uploads), not under the uploader's file name.

from django.db import migrations, models

import knowledge_base.models


class Migration(migrations.Migration):

    dependencies = [
        ('knowledge_base', '0003_article_files'),
    ]

    operations = [
        migrations.AlterField(
            model_name='articlefile',
            name='file',
            field=models.FileField(upload_to=knowledge_base.models.article_file_upload_to),
        ),
    ]
