"""The one function that sends every email.

Each email ``name`` has three templates: ``emails/<name>.subject.txt``, ``emails/<name>.txt`` and
``emails/<name>.html``.
"""

from email.utils import make_msgid

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.mail.utils import DNS_NAME
from django.template.loader import render_to_string


def send_email(*, name: str, to: list[str], context: dict, headers: dict | None = None) -> str:
    """Render and send one email; returns its Message-ID."""
    context = {"helpdesk_name": settings.HELPDESK_NAME, "site_url": settings.SITE_URL, **context}
    subject = " ".join(render_to_string(f"emails/{name}.subject.txt", context).split())
    text = render_to_string(f"emails/{name}.txt", context)
    html = render_to_string(f"emails/{name}.html", context)
    headers = {"Message-ID": make_msgid(domain=DNS_NAME), **(headers or {})}
    message = EmailMultiAlternatives(subject=subject, body=text, to=to, headers=headers)
    message.attach_alternative(html, "text/html")
    message.send()
    return headers["Message-ID"]
