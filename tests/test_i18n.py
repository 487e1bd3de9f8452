"""Translations: every language the help desk offers is complete and compiled; the portal speaks the
visitor's language (browser or chosen), and emails speak the recipient's."""

import re
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext

from customers.models import Customer
from tickets.mail import outbound
from tickets.models import Ticket
from tickets.notifications import notify_assigned

TRANSLATED = [code for code, _name in settings.LANGUAGES if code != settings.LANGUAGE_CODE]
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd]|\{\w*\}")


def catalog(code: str) -> Path:
    return Path(settings.LOCALE_PATHS[0]) / code / "LC_MESSAGES" / "django.po"


def placeholders(text: str) -> list[str]:
    return sorted(PLACEHOLDER.findall(text))


def in_(code: str, message: str) -> str:
    with translation.override(code):
        return gettext(message)


@pytest.mark.parametrize("code", TRANSLATED)
def test_every_string_is_translated_with_its_placeholders(code):
    po = polib.pofile(catalog(code))
    assert po.metadata["Language"] == code
    assert [e.msgid for e in po.untranslated_entries()] == [] and [e.msgid for e in po.fuzzy_entries()] == []
    for entry in po.translated_entries():
        if entry.msgid_plural:
            assert placeholders(entry.msgstr_plural[1]) == placeholders(entry.msgid_plural), entry.msgid
            assert set(placeholders(entry.msgstr_plural[0])) <= set(placeholders(entry.msgid_plural)), entry.msgid
        else:
            assert placeholders(entry.msgstr) == placeholders(entry.msgid), entry.msgid


@pytest.mark.parametrize("code", TRANSLATED)
def test_the_compiled_catalog_is_the_current_one(code):
    """The .mo files are committed (no gettext tools needed to run the app): they must match the .po."""
    po, mo = polib.pofile(catalog(code)), polib.mofile(catalog(code).with_suffix(".mo"))

    def messages(entries):
        return {(e.msgctxt, e.msgid): e.msgstr or tuple(sorted(e.msgstr_plural.items())) for e in entries if e.msgid}

    assert messages(mo) == messages(po.translated_entries()), "run `make messages` to compile the catalogs"


def test_the_portal_speaks_the_browsers_language(client, db):
    html = client.get("/help/", HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9").content.decode()
    assert '<html lang="de">' in html
    assert in_("de", "Ask for help") in html and in_("de", "Ask for help") != "Ask for help"


def test_a_visitor_picks_another_language_and_stays_on_the_page(client, db):
    response = client.post("/i18n/setlang/", {"language": "fr", "next": "/help/requests/new/"})
    assert response.status_code == 302 and response["Location"] == "/help/requests/new/"
    html = client.get("/help/requests/new/", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert '<html lang="fr">' in html and in_("fr", "Ask for help") in html
    assert '<option value="fr" lang="fr" selected>Français</option>' in html


def test_a_portal_request_remembers_the_language_and_is_acknowledged_in_it(client, queue, smtp_server):
    client.post("/help/requests/new/", {"email": "ana@example.com", "name": "Ana", "subject": "La taza",
                                        "body": "Llegó rota.", "website": ""}, HTTP_ACCEPT_LANGUAGE="es")  # fmt: skip
    ticket = Ticket.objects.get()
    assert ticket.customer.language == "es"
    with translation.override("en"):  # as in a worker
        outbound.acknowledgement_send(ticket_id=ticket.pk)
        assert translation.get_language() == "en"  # the email did not change the language around it
    text = smtp_server.messages[0].get_body(("plain",)).get_content()
    expected = in_("es", "This is an automatic message confirming that we received your request.")
    assert expected in text and expected != "This is an automatic message confirming that we received your request."


def test_a_customers_language_is_kept_when_they_ask_again_in_another(client, queue, customer):
    Customer.objects.filter(pk=customer.pk).update(language="fr")
    client.post("/help/requests/new/", {"email": customer.email, "subject": "Again", "body": "Hello",
                                        "website": ""}, HTTP_ACCEPT_LANGUAGE="de")  # fmt: skip
    customer.refresh_from_db()
    assert customer.language == "fr"


def test_agents_get_their_emails_in_their_own_language(ticket, agent, mailoutbox):
    agent.language, agent.notify_on_assign = "de", True
    agent.save()
    Ticket.objects.filter(pk=ticket.pk).update(assignee=agent)
    assert notify_assigned(ticket_id=ticket.pk, assignee_id=agent.pk) is True
    html = mailoutbox[0].alternatives[0][0]
    assert '<html lang="de">' in html
