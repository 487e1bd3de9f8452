"""The portal shows the business's name, logo and colour, set in the admin."""

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from helpdesk.branding import Branding, contrast_with_white
from helpdesk.cached import forget_all

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def test_an_admin_brands_the_portal(admin_client, client, db):
    response = admin_client.get("/admin/helpdesk/branding/")
    assert response.status_code == 302  # straight to the one set of branding
    form_url = response["Location"]
    response = admin_client.post(form_url, {"name": "Bean & Crumb", "primary_colour": "#7a3e00",
                                            "logo_file": SimpleUploadedFile("logo.png", PNG, "image/png")})  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:3000]

    html = client.get("/help/").content.decode()
    assert "Bean &amp; Crumb" in html and "--color-primary: #7a3e00;" in html
    assert 'src="/help/logo?v=' in html
    logo = client.get("/help/logo")
    assert logo["Content-Type"] == "image/png" and logo.content == PNG

    # a page reads the branding without the logo's bytes (when it is not in the cache: helpdesk.cached)
    forget_all()
    with CaptureQueriesContext(connection) as queries:
        client.get("/help/requests/new/")
    branding = [query["sql"] for query in queries.captured_queries if "helpdesk_branding" in query["sql"]]
    assert len(branding) == 1 and '"helpdesk_branding"."logo_content_type"' in branding[0]
    assert '"helpdesk_branding"."logo",' not in branding[0] and '"helpdesk_branding"."logo" ' not in branding[0]

    admin_client.post(form_url, {"name": "Bean & Crumb", "primary_colour": "#7a3e00", "remove_logo": "on"})
    assert (
        client.get("/help/logo").status_code == 404 and 'src="/help/logo' not in client.get("/help/").content.decode()
    )


def test_unreadable_colours_and_unsafe_logos_are_refused(admin_client, db):
    form_url = admin_client.get("/admin/helpdesk/branding/")["Location"]
    response = admin_client.post(form_url, {"name": "", "primary_colour": "#ffd700"})  # gold: white text unreadable
    assert response.status_code == 200 and "hard to read" in response.content.decode()
    svg = SimpleUploadedFile("logo.svg", b"<svg onload='alert(1)'/>", "image/svg+xml")
    response = admin_client.post(form_url, {"name": "", "primary_colour": "#1f5fbf", "logo_file": svg})
    assert "must be a PNG, JPEG or GIF" in response.content.decode()
    assert Branding.current().logo is None
    assert round(contrast_with_white("#1f5fbf"), 1) == 6.1 and round(contrast_with_white("#ffffff"), 1) == 1.0


def test_without_branding_the_portal_uses_the_default_name(client, db, settings):
    settings.HELPDESK_NAME = "Corner Shop"
    html = client.get("/help/").content.decode()
    assert "Corner Shop" in html and "--color-primary: #1f5fbf;" in html
