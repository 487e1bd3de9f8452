"""Recovery codes stored before they were hashed (8 characters) get their keyed hash instead
(``helpdesk.two_factor.recovery_code_digests``). There is no way back: reversing leaves them hashed."""

from django.db import migrations

from helpdesk.two_factor import recovery_code_digests


def hash_plain_codes(apps, schema_editor):
    StaticToken = apps.get_model("otp_static", "StaticToken")
    for token in StaticToken.objects.filter(token__regex=r"^[a-z2-7]{8}$").select_related("device"):
        token.token = recovery_code_digests(token.device.user_id, token.token)[0]
        token.save(update_fields=["token"])


class Migration(migrations.Migration):
    dependencies = [
        ("helpdesk", "0010_security"),
        ("otp_static", "0003_add_timestamps"),
    ]

    operations = [migrations.RunPython(hash_plain_codes, migrations.RunPython.noop)]
