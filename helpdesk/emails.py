"""The one function that sends every email.

Each email ``name`` has three templates: ``emails/<name>.subject.txt``, ``emails/<name>.txt`` and
``emails/<name>.html``.
"""

from email.utils import make_msgid

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.mail.utils import DNS_NAME
from django.template.loader import render_to_string
from django.utils import translation


def send_email(
    *,
    name: str,
    to: list[str],
    context: dict,
    headers: dict | None = None,
    from_email: str | None = None,
    cc: list[str] | None = None,
    reply_to: list[str] | None = None,
    message_id: str | None = None,
    attachments: list[tuple[str, bytes, str]] = (),
    subject: str | None = None,
    language: str = "",
) -> str:
    """Render and send one email; returns its Message-ID (with <>).

    ``message_id`` (without <>) is used when the caller made one (ticket emails carry ours, see
    ``tickets.mail.ids``); ``subject`` replaces the subject template; ``attachments`` are
    (file name, content, content type); ``language`` is the recipient's (empty: the one active now, which
    is the request's in a view and the default language in a task).
    """
    with translation.override(language or translation.get_language()):
        return _send(name=name, to=to, context=context, headers=headers, from_email=from_email, cc=cc,
                     reply_to=reply_to, message_id=message_id, attachments=attachments, subject=subject)  # fmt: skip


def _send(*, name, to, context, headers, from_email, cc, reply_to, message_id, attachments, subject) -> str:
    context = {"helpdesk_name": settings.HELPDESK_NAME, "site_url": settings.SITE_URL, **context}
    if subject is None:
        subject = render_to_string(f"emails/{name}.subject.txt", context)
    subject = " ".join(subject.split())
    text = render_to_string(f"emails/{name}.txt", context)
    html = render_to_string(f"emails/{name}.html", context)
    headers = {"Message-ID": f"<{message_id}>" if message_id else make_msgid(domain=DNS_NAME), **(headers or {})}
    message = EmailMultiAlternatives(subject=subject, body=text, to=to, cc=cc or None, reply_to=reply_to or None,
                                     from_email=from_email, headers=headers)  # fmt: skip
    message.attach_alternative(html, "text/html")
    for filename, content, content_type in attachments:
        message.attach(filename, content, content_type)
    message.send()
    return headers["Message-ID"]
