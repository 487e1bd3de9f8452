"""Hardening (issue 10) that needs no browser: the Content-Security-Policy header on every kind of response,
templates that keep within it, attachment downloads that a browser never renders, and random stored file names.

The policy in a real browser is tests/test_csp_browser.py; `check --deploy` is tests/test_deploy_config.py.
"""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from helpdesk.uploads import random_upload_name, safe_extension
from knowledge_base.models import ArticleFile
from tickets import services
from tickets.portal.links import follow_token

ROOT = Path(settings.BASE_DIR)
POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}


def directives(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return {name: value.strip() for name, _, value in (part.strip().partition(" ") for part in header.split(";"))}


# --- Content-Security-Policy ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "url", "status"),
    [
        ("anonymous", "/login/", 200),  # a page
        ("anonymous", "/healthz", None),  # JSON (503 here: no Celery beat runs beside these tests)
        ("anonymous", "/api/v1/tickets/", 401),  # an API error
        ("anonymous", "/no-such-page/", 404),  # the designed 404 page
        ("anonymous", "/tickets/", 302),  # a redirect
        ("agent", "/tickets/", 200),
        ("agent", "/api/v1/tickets/", 200),
    ],
)
def test_every_response_carries_the_policy(client, agent, who, url, status):
    if who == "agent":
        client.force_login(agent)
    response = client.get(url)
    assert status is None or response.status_code == status
    assert directives(response) == POLICY  # no nonce: these pages have no inline style


def test_the_portals_brand_colour_is_the_one_inline_style_and_carries_the_nonce(client, db):
    response = client.get("/help/")
    html = response.content.decode()
    nonces = re.findall(r'<style nonce="([^"]+)">', html)
    assert len(nonces) == 1 and len(nonces[0]) >= 16 and html.count("<style") == 1
    assert directives(response)["style-src"] == f"'self' 'nonce-{nonces[0]}'"
    assert directives(response)["script-src"] == "'self'"  # the nonce never allows an inline script
    assert nonces[0] not in client.get("/help/").content.decode()  # a new one for every response


def test_the_api_docs_page_has_no_inline_code(client, agent):
    client.force_login(agent)
    page = client.get(reverse("api:docs"))
    html = page.content.decode()
    assert page.status_code == 200 and directives(page) == POLICY
    assert "<style" not in html and not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    script = client.get(reverse("api:docs") + "?script=")  # the start-up script, from the page's own URL
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle(" in script.content.decode()


def _page_templates():
    """Every HTML template that a browser renders (emails are read by mail programs, which need inline styles)."""
    folders = [ROOT / "templates", *ROOT.glob("*/templates")]
    for folder in folders:
        if ".venv" in folder.parts:
            continue
        for path in sorted(folder.rglob("*.html")):
            relative = path.relative_to(folder).as_posix()
            if relative.startswith("emails/") or relative.endswith("_email.html"):
                continue
            yield path


def test_templates_need_no_inline_script_handler_or_style():
    found = []
    for path in _page_templates():
        text = path.read_text()
        for pattern, what in [
            (r"<script(?![^>]*\bsrc=)[^>]*>", "inline <script>"),
            (r"\son[a-z]+\s*=", "event handler attribute"),
            (r"\sstyle\s*=", "style attribute"),
            (r"<style(?![^>]*\bnonce=)[^>]*>", "<style> without the nonce"),
            (r"javascript:", "javascript: URL"),
            (r"\shx-on[:\-]", "hx-on (evaluated code)"),
        ]:
            for match in re.finditer(pattern, text):
                found.append(f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, match.start()) + 1}: {what}")
    assert found == [], "\n".join(found)
    assert len(list(_page_templates())) > 40  # the scan does look at the templates


# --- attachment downloads ---------------------------------------------------------------------

HTML_FILE = b"<html><script>alert(document.cookie)</script></html>"


@pytest.fixture
def html_attachment(ticket, agent):
    """A customer-visible reply whose file a browser would run as a page if it were shown inline."""
    message = services.ticket_reply(ticket=ticket, author=agent, body="See the page.",
                                    attachments=[SimpleUploadedFile("page.html", HTML_FILE, "text/html")])  # fmt: skip
    return message.attachments.get()


def assert_is_a_download(response, filename="page.html"):
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="{filename}"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" in response
    assert b"".join(response.streaming_content) == HTML_FILE


def test_agent_screens_serve_attachments_as_downloads(client, agent, html_attachment):
    client.force_login(agent)
    assert_is_a_download(client.get(reverse("tickets:attachment", args=[html_attachment.pk])))


def test_the_api_serves_attachments_as_downloads(api_as, html_attachment):
    assert_is_a_download(api_as("agent").get(reverse("api:attachment-download", args=[html_attachment.pk])))


def test_the_portal_serves_attachments_as_downloads(client, ticket, html_attachment):
    url = reverse("portal:attachment", args=[follow_token(ticket), html_attachment.pk])
    assert_is_a_download(client.get(url))


def test_article_files_other_than_images_are_downloads(client, make_article):
    article = make_article("Setup")
    item = ArticleFile.objects.create(article=article, file=SimpleUploadedFile("page.html", HTML_FILE),
                                      filename="page.html", content_type="text/html", size=len(HTML_FILE))  # fmt: skip
    assert_is_a_download(client.get(item.get_absolute_url()))


# --- stored file names ------------------------------------------------------------------------

STORED_NAME = r"{folder}/\d{{4}}/\d{{2}}/[A-Za-z0-9_-]{{32}}{extension}"


@pytest.mark.parametrize(
    ("uploaded", "extension"),
    [
        ("Invoice March.PDF", ".pdf"),
        ("../../etc/passwd", ""),
        ("photo.jpeg", ".jpeg"),
        ("archive.tar.gz", ".gz"),
        ("no extension", ""),
        ("trick.p<h>p", ""),
        ("x.verylongextension", ""),
        ("résumé.dóc", ""),
        (".htaccess", ""),
    ],
)
def test_uploads_are_stored_under_random_names(ticket, agent, make_article, uploaded, extension):
    assert safe_extension(uploaded) == extension
    message = services.ticket_add_note(ticket=ticket, author=agent, body="File",
                                       attachments=[SimpleUploadedFile(uploaded, b"data", "text/plain")])  # fmt: skip
    attachment = message.attachments.get()
    assert re.fullmatch(STORED_NAME.format(folder="attachments", extension=re.escape(extension)), attachment.file.name)
    assert attachment.filename == uploaded.rsplit("/", 1)[-1]  # the person's name for it, shown and downloaded

    item = ArticleFile.objects.create(article=make_article("Setup"), file=SimpleUploadedFile(uploaded, b"data"),
                                      filename=uploaded, content_type="text/plain", size=4)  # fmt: skip
    assert re.fullmatch(STORED_NAME.format(folder="kb", extension=re.escape(extension)), item.file.name)


def test_random_names_differ():
    assert random_upload_name("kb", "a.png") != random_upload_name("kb", "a.png")
