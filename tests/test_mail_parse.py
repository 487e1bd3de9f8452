"""The inbound email parser against real-world mail (the shared corpus) and hand-built edge cases.

Expected values in the specific tests were read from the raw messages themselves, not from the parser.
"""

import base64
import random
import re
import struct
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest

from tickets.mail.parse import MAX_DEPTH, MAX_PARTS, Address, EmailParseError, ParsedEmail, parse_email

from .corpus import EMAIL_CORPUS

CORPUS = EMAIL_CORPUS
EMAIL_FOLDERS = ("ruby-mail", "flanker", "django-helpdesk")

# Files in the email folders that are not emails, and why. Everything else there must parse.
NOT_EMAILS = {
    "ruby-mail/LICENSE": "licence text",
    "flanker/LICENSE": "licence text",
    "django-helpdesk/LICENSE": "licence text",
    "ruby-mail/sample_output_multipart": "an empty file (expected output of a Ruby test)",
    "flanker/attachments/mailgun.png": "an image used as attachment data",
    "flanker/attachments/small.png": "an image used as attachment data",
    "flanker/attachments/mailgun-rocks.wav": "a sound file used as attachment data",
}


def corpus_files() -> list:
    if not CORPUS.is_dir():
        return [pytest.param(None, id="corpus-missing")]
    files = sorted(p for folder in EMAIL_FOLDERS for p in (CORPUS / folder).rglob("*") if p.is_file())
    return [pytest.param(p, id=p.relative_to(CORPUS).as_posix()) for p in files]


def corpus(name: str) -> ParsedEmail:
    path = CORPUS / name
    assert path.is_file(), f"corpus message {path} is missing"
    return parse_email(path.read_bytes())


def attachment_names(parsed: ParsedEmail) -> list[str]:
    return [a.filename for a in parsed.attachments]


def test_corpus_is_present():
    assert CORPUS.is_dir(), f"the email corpus is missing: expected it at {CORPUS}"
    for folder in EMAIL_FOLDERS:
        assert (CORPUS / folder).is_dir(), f"corpus folder {folder} is missing"
    assert len(corpus_files()) > 150


# --- every message of the corpus ------------------------------------------------------------------------


def non_body_leaves(message) -> int:
    """Leaf parts that are not body text, by the standard library's own reading: each must be kept.

    An enclosed message (and any other message/* part) counts once, whatever it contains; multipart
    containers are not leaves.
    """
    enclosed: set[int] = set()
    count = 0
    for part in message.walk():
        if id(part) in enclosed:
            continue
        if part.get_content_maintype() == "message":
            count += 1
            enclosed.update(id(inner) for inner in part.walk() if inner is not part)
        elif part.get_content_maintype() != "multipart":
            is_body = (
                part.get_content_type() in ("text/plain", "text/html")
                and part.get_content_disposition() != "attachment"
                and not part.get_filename()
            )
            count += not is_body
    return count


def has_body(raw: bytes) -> bool:
    sections = re.split(rb"\r?\n\r?\n", raw.lstrip(b"\r\n"), maxsplit=1)
    return len(sections) == 2 and bool(sections[1].strip())


@pytest.mark.parametrize("path", corpus_files())
def test_corpus_message_parses_without_losing_parts(path):
    assert path is not None, f"the email corpus is missing: expected it at {CORPUS}"
    name = path.relative_to(CORPUS).as_posix()
    raw = path.read_bytes()
    if name in NOT_EMAILS:
        with pytest.raises(EmailParseError):
            parse_email(raw)
        return

    parsed = parse_email(raw)

    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert len(parsed.attachments) >= non_body_leaves(message)
    if has_body(raw):
        assert parsed.text or parsed.html or parsed.attachments
    assert all(a.filename and a.content_type == a.content_type.lower() for a in parsed.attachments)
    assert parsed.date is None or parsed.date.tzinfo is not None


def test_reply_parsing_bodies_survive_as_message_bodies():
    """The reply-parsing folder holds bare bodies, not emails: each one, sent as a body, comes back whole."""
    files = sorted(p for p in (CORPUS / "reply-parsing").rglob("*.txt"))
    assert files
    for path in files:
        body = path.read_bytes().decode("utf-8", "replace").replace("\r\n", "\n")
        message = EmailMessage()
        message["From"] = "customer@example.com"
        message["Subject"] = path.name
        message.set_content(body)
        assert parse_email(message.as_bytes()).text == body.strip(), path.name


# --- specific corpus messages ---------------------------------------------------------------------------

# (message, sender address, sender name, subject, a snippet of the text body, attachment names)
SPECIFIC = [
    (
        "django-helpdesk/all-special-chars.eml",
        "timothy.hobbs@auto-mat.cz",
        "Timothy Hobbs",
        "Testovácí email",
        "íářčšáíéřášč",
        [],
    ),
    (
        "django-helpdesk/quoted_printable.eml",
        "tim.thelion@gmail.com",
        "Tim hobbs",
        "Český test",
        "Tohle je test českých písmen odeslaných z gmailu.",
        [],
    ),
    (
        "django-helpdesk/forwarded-message.eml",
        "sender@domain.tld",
        "The Sender",
        "Test with original message from GitHub",
        "-----Original Message-----\nFrom: GitHub <noreply@github.com>",
        [],
    ),
    (
        "django-helpdesk/pgp.eml",
        "bugreporter@example.com",
        "Bug Reporter",
        "example email that crashes django-helpdesk get_email",
        "hi, thanks for looking into this :)",
        ["signature.asc"],
    ),
    (
        "django-helpdesk/utf-nondecodable.eml",
        "john.smith@example.cz",
        "John Smith",
        "Fwd: Cyklozaměstnavatel - změna vyhodnocení",
        "podle domluvy bych Tě poprosila o změnu vyhodnocení soutěže",
        [],
    ),
    (
        "django-helpdesk/blank-body-with-attachment.eml",
        "timothy.hobbs@auto-mat.cz",
        "Timothy Hobbs",
        "Attachment without body - and a l" + "o" * 179 + "ng subject",
        "",
        ["baf"],
    ),
    (
        "ruby-mail/multi_charset/japanese_iso_2022.eml",
        "raasdnil@gmail.com",
        "Mikel Lindsaar",
        "まみむめも",
        "すみません。",
        [],
    ),
    (
        "ruby-mail/multi_charset/japanese_shift_jis.eml",
        "xxxxxxx@docomo.ne.jp",
        "",
        "test",
        "あいうえお\n\nこのメールはテスト用のメールです。",
        [],
    ),
    ("ruby-mail/multi_charset/ks_c_5601-1987.eml", "from@example.com", "", "test", "스티해", []),
    (
        "ruby-mail/plain_emails/raw_email.eml",
        "jamis@37signals.com",
        "Jamis Buck",
        "NOTE: 한국말로 하는 것",
        "제 이름은 Jamis입니다.",
        [],
    ),
    (
        "ruby-mail/plain_emails/raw_email_with_partially_quoted_subject.eml",
        "jamis@37signals.com",
        "Jamis Buck",
        'Re: Test: "漢字" mid "漢字" tail',
        "대부분의 마찬가지로",
        [],
    ),
    (
        "flanker/bilingual-simple.eml",
        "hello@example.com",
        "Hello",
        "Simple text. How are you? Как ты поживаешь?",
        "This line is in English\nА эта линия по-русски.",
        [],
    ),
    (
        "ruby-mail/error_emails/invalid_subject_characters.eml",
        "info@formacaofrenetik.info",
        "Formação Frenetikpolis",  # encoded word in windows-1252
        "Formação FrenetikPolis: Mega Campanha Final Verão | Cursos de Setembro",  # raw UTF-8 in the header
        "TEST",
        [],
    ),
    (
        "ruby-mail/plain_emails/raw_email_bad_time.eml",
        "yusuf75thu@auracom.net",
        "Атиковa",  # windows-1251 encoded word
        "[0]: XXXXXXX XXXXX XXXXX !",
        "Filter2: This message has been scanned for viruses",
        [],
    ),
    (
        "flanker/from-encoding.eml",
        "ingo@blank.pages.de",
        "Ingo Lütkebohle",  # a raw Latin-1 byte in the From header
        "Re: running server as root (Was: Re: PUT method)",
        "Marc Slemko wrote:",
        [],
    ),
    (
        "flanker/quoted-printable.eml",
        "bob@example.com",
        "Bob",
        "This message contains very long links in html",
        "http://translate.google.com/translate?sl=de&tl=en&u=http%3A%2F%2Fwww.horizont.at%2Fhome%2Fdetail%2F"
        "google-ist-geldgeber-von-adblock-plus.html&act=url",
        ["alternative-2.txt"],  # a second text/plain alternative (HTML labelled as plain) is kept, not dropped
    ),
    (
        "flanker/long-links.eml",  # HTML only
        "postmaster@example.com",
        "Bob",
        "Please enjoy this mega long link",
        "http://www.longurlmaker.com/view/?id=UAOJNVKBMQUGPYZKCQZRZ",
        [],
    ),
    (
        "flanker/iphone.eml",
        "someone@somewhere.com",
        "Danielle",
        "Subject",
        "Hello\n\n~Danielle",  # the text after the photo is appended, not dropped
        ["photo.JPG"],
    ),
    (
        "flanker/mailgun-pic.eml",
        "hello@example.com",
        "Bob Smith",
        "Mailgun rocks!",
        "Мейлган! Хахах!",
        ["mailgun.png"],
    ),
    (
        "ruby-mail/attachment_emails/attachment_with_quoted_filename.eml",  # RFC 2231 filename in ISO-8859-1
        "jeff@37signals.com",
        "Jeffrey Hardy",
        "Eelanalüüsi päring",
        "",
        ["Eelanalüüsi päring.jpg"],
    ),
    (
        "ruby-mail/multi_charset/japanese_attachment_long_name.eml",  # RFC 2231 continuations
        "mikel@test.lindsaar.net",
        "Mikel Lindsaar",
        "まみむめも" * 10,
        "",
        ["かきくけこ" * 5 + ".txt"],
    ),
    (
        "ruby-mail/multi_charset/japanese_attachment.eml",  # RFC 2047 in a quoted filename
        "raasdnil@gmail.com",
        "Mikel Lindsaar",
        "testing",
        "testing",
        ["てすと.txt"],
    ),
    (
        "ruby-mail/attachment_emails/attachment_with_base64_encoded_name.eml",  # filename==?utf-8?B?...?=
        "xxxxxxxxx.xxxxxxx@gmail.com",
        "xxxxxxxxx xxxxxxx",
        "Fwd: Signed email causes file attachments",
        "We should not include these files or vcards as attachments.",
        ["This is a test.pdf"],
    ),
    (
        "ruby-mail/attachment_emails/attachment_with_unquoted_name.eml",  # filename=This is a test.txt
        "foo@example.com",
        "",
        "testing",
        "This is the first part.",
        ["This is a test.txt"],
    ),
    (
        "ruby-mail/attachment_emails/attachment_nonascii_filename.eml",  # raw UTF-8 filename
        "foo@example.com",
        "",
        "testing",
        "This is the first part.",
        ["ciële.txt"],
    ),
    (
        "ruby-mail/mime_emails/raw_email_with_illegal_boundary.eml",  # unquoted boundary containing "="
        "email_test@me.nowhere",
        "Mikel Lindsaar",
        "Testing outlook",
        "Hello\nThis is an outlook test\n\nSo there.\n\nMe.",
        [],
    ),
    (
        "ruby-mail/mime_emails/raw_email_with_binary_encoded.eml",  # the same, with a single binary image
        "email_test@me.nowhere",
        "Mikel Lindsaar",
        "Testing outlook",
        "",
        ["2013-08-13_19-08-28-1.jpg"],
    ),
    (
        "flanker/enclosed.eml",
        "bob@example.net",
        "Bob Marley",
        "Wow",
        "Hello",
        ["thanks.eml"],
    ),
    (
        "ruby-mail/attachment_emails/attachment_message_rfc822.eml",  # the enclosed PDF stays inside the .eml
        "foo@example.com",
        "",
        "testing",
        "This is the first part.",
        ["ForwardedMessage.eml"],
    ),
    (
        "ruby-mail/mime_emails/raw_email_with_nested_attachment.eml",  # S/MIME signed
        "jamis@37signals.com",
        "Jamis Buck",
        "Testing attachments",
        "Here is a test of an attachment via email.\n\n- Jamis",
        ["truncated.png", "smime.p7s"],
    ),
    (
        "ruby-mail/rfc2822/example13.eml",  # obsolete syntax: "From  :", comments in the Date and Message-ID
        "jdoe@machine.example",
        "John Doe",
        "Saying Hello",
        'This is a message just to say hello.\nSo, "Hello".',
        [],
    ),
    (
        "ruby-mail/plain_emails/raw_email_incorrect_header.eml",  # a stray "quite Delivered-To:" header line
        "xxx@xxx.xxx",
        "xxx xxx",
        "Stop adware/spyware once and for all.",
        "You are infected with:",
        [],
    ),
    (
        "ruby-mail/error_emails/content_transfer_encoding_x_uuencode.eml",
        "lpeters@PACIFIER.COM",
        "Lon L. Peters",
        "PGP Comments on RTO West Release of Dec. 14",
        "Attached are the comments of the Public Generating Pool.",
        ["PGP_Cmts_on_12-14-01_Pkg.doc"],
    ),
]


@pytest.mark.parametrize(
    ("name", "email", "sender_name", "subject", "snippet", "attachments"),
    SPECIFIC,
    ids=[row[0] for row in SPECIFIC],
)
def test_specific_message(name, email, sender_name, subject, snippet, attachments):
    parsed = corpus(name)

    assert parsed.sender == Address(sender_name, email)
    assert parsed.subject == subject
    assert snippet in parsed.text
    if not snippet:
        assert parsed.text == ""
    assert attachment_names(parsed) == attachments


def test_multipart_alternative_keeps_both_versions():
    parsed = corpus("django-helpdesk/quoted_printable.eml")

    assert parsed.text == "Tohle je test českých písmen odeslaných z gmailu."
    assert parsed.html.strip() == '<div dir="ltr">Tohle je test českých písmen odeslaných z gmailu.</div>'
    assert parsed.message_id == "CACf_UpPA7=DRF4NLFf4WpOVwHsRMtfNEwy1DHLjfh09DjuKZFA@mail.gmail.com"
    assert parsed.to == (Address("", "helpdesk@auto-mat.cz"),)
    assert parsed.date.isoformat() == "2019-03-05T18:03:06+01:00"


def test_html_only_mail_gets_readable_text():
    parsed = corpus("flanker/long-links.eml")

    assert parsed.html.lstrip().startswith("<html>")
    assert "<" not in parsed.text
    assert parsed.text.startswith("http://www.longurlmaker.com/view/?id=")


def test_utf_nondecodable_message():
    """The file's name says undecodable; as stored in the corpus it is valid UTF-8 (with a no-break space)."""
    parsed = corpus("django-helpdesk/utf-nondecodable.eml")

    assert "Ahoj Johne," in parsed.text
    assert "zaměstnanců tohoto zaměstnavatele.\xa0\nDíky moc!" in parsed.text
    assert "prosazuje lepší" in parsed.html
    assert parsed.in_reply_to == ("CAK0Q_=uQY=3V5iUSgEN16GLtYoJ-6oQu-vYjsgQ=jv6DwOkuLQ@mail.gmail.com",)
    assert parsed.references == parsed.in_reply_to
    assert parsed.delivered_to == ("helpdesk@example.cz",)


def test_invalid_utf8_bytes_are_replaced_and_noted():
    raw = (
        b"From: a@example.com\nSubject: =?utf-8?q?Zm=C4=9Bna?=\nContent-Type: text/plain; charset=utf-8\n\n"
        b"Dobr\xc3\xbd den, zm\xc4\x9bna \xc4 vyhodnocen\xc3\xad\n"
    )

    parsed = parse_email(raw)

    assert parsed.subject == "Změna"
    assert parsed.text == "Dobrý den, změna \ufffd vyhodnocení"
    assert any("UTF-8" in defect or "utf-8" in defect for defect in parsed.defects)


def test_pgp_signed_message_keeps_signature_as_attachment():
    parsed = corpus("django-helpdesk/pgp.eml")

    (signature,) = parsed.attachments
    assert signature.content_type == "application/pgp-signature"
    assert signature.content.startswith(b"-----BEGIN PGP SIGNATURE-----")
    assert parsed.text.startswith("hi, thanks for looking into this :)")


def test_blank_body_with_attachment():
    parsed = corpus("django-helpdesk/blank-body-with-attachment.eml")

    assert parsed.text == ""
    assert parsed.html == ""
    (attachment,) = parsed.attachments
    assert (attachment.content_type, attachment.content) == ("text/plain", b"You shouldn't see this.\n")


def test_enclosed_message_is_one_attachment_with_its_bytes():
    parsed = corpus("ruby-mail/attachment_emails/attachment_message_rfc822.eml")

    (enclosed,) = parsed.attachments
    assert enclosed.content_type == "message/rfc822"
    inner = parse_email(enclosed.content)
    assert inner.subject == "Another PDF"
    assert attachment_names(inner) == ["broken.pdf"]
    assert "broken.pdf" not in parsed.text


def test_enclosed_message_without_name_is_named_after_its_subject():
    parsed = corpus("flanker/bounce/zed.eml")

    assert "test bounce.eml" in attachment_names(parsed)


def test_inline_image_in_corpus_is_marked_inline():
    parsed = corpus("ruby-mail/attachment_emails/attachment_message_rfc822_inline_image.eml")

    image = next(a for a in parsed.attachments if a.filename == "img.png")
    assert image.inline
    assert image.content_id == "emedfeb92f-a786-4718-a446-98db8afb53fb@kronos"
    assert image.content.startswith(b"\x89PNG")
    assert not next(a for a in parsed.attachments if a.filename == "Testmail.eml").inline


def test_broken_boundary_is_repaired_and_noted():
    parsed = corpus("ruby-mail/mime_emails/raw_email_with_illegal_boundary.eml")

    assert "This is an outlook" in parsed.html
    assert any("boundary" in defect for defect in parsed.defects)


def test_missing_final_boundary_still_gives_the_body():
    parsed = corpus("flanker/missing-final-boundary.eml")

    assert parsed.text == "Some body"
    assert any("close boundary" in defect for defect in parsed.defects)


def test_unreadable_date_is_none_and_noted():
    parsed = corpus("ruby-mail/plain_emails/raw_email_with_bad_date.eml")

    assert parsed.date is None
    assert any("Date" in defect for defect in parsed.defects)


def test_text_enriched_alternative_is_kept_as_attachment():
    parsed = corpus("ruby-mail/mime_emails/raw_email11.eml")

    assert parsed.text == "XXXXX Xxxxx"
    assert [(a.filename, a.content_type) for a in parsed.attachments] == [("attachment.txt", "text/enriched")]


# --- bounces and automatic mail in the corpus -----------------------------------------------------------


# (message, failed recipients, status, action, Message-ID of the original, permanent)
BOUNCES = [
    (
        "flanker/bounce/zed.eml",
        ("asdfasdfasdfasdfasdfasdfewrqertrtyrthsfgdfgadfqeadvxzvz@gmail.com",),
        "5.1.1",
        "failed",
        "20090708054735.GC7578@example.com",
        True,
    ),
    (
        "flanker/bounce/mailbox-full.eml",  # the original's id is in a text/rfc822-headers part
        ("user@aol.com",),
        "5.2.2",
        "failed",
        "4E326A95.3010907@example.com",
        True,
    ),
    (
        "flanker/bounce/no-mx.eml",
        ("user@example.com",),
        "4.4.4",
        "delayed",
        "19E44CA63F984902B7D654F8FF40F89D@bo",
        False,
    ),
    (
        "flanker/bounce/delayed.eml",  # "Action: failed" with a 4.x status: failed is permanent
        ("foo@example.com",),
        "4.0.0",
        "failed",
        "",
        True,
    ),
    ("flanker/bounce/delayed-broken.eml", ("demo@example.com",), "4.2.2", "failed", "", True),
    (
        "flanker/bounce/office365.eml",
        ("noname@example.com",),
        "5.1.10",
        "failed",
        "20171013111011.20866.254C2F3A4D7AA526@ninomail.com",
        True,
    ),
    (
        "ruby-mail/multipart_report_emails/report_422.eml",
        ("fraser@oooooooo.com.au",),
        "4.2.2",
        "delayed",
        "15655788.13.1200472642578.JavaMail.Administrator@mail.ttttt.com.au",
        False,
    ),
    (
        "ruby-mail/multipart_report_emails/multi_address_bounce1.eml",
        (
            "bbbbvhvbbvkjbhfbvbvjhb@gmail.com",
            "bscdbcjhasbcjhbdscbhbsdhcbj@gmail.com",
            "egyfefsdvsfvvhjsd@gmail.com",
            "kfhejkfbsjkjsbhds@gmail.com",
            "qfvhgsvhgsduiohncdhcvhsdfvsfygusd@gmail.com",
        ),
        "5.1.1",
        "failed",
        "118707422.15521266992174819.JavaMail.root@lvmail01",
        True,
    ),
    (
        "ruby-mail/multipart_report_emails/multipart_report_multiple_status.eml",  # "<u@ci.com>", mixed case
        ("u@ci.com",),
        "5.3.0",
        "failed",
        "4c2a146147ac8_61ff157c4ec1652df@s.h.c.mail",
        True,
    ),
    # Non-standard bounces: plain text from a mailer daemon, the original quoted below a marker.
    (
        "flanker/bounce/gmail-invalid-address.eml",
        ("awfawfawfawfawfaw@someserverhere.com",),
        "5.1.0",
        "failed",
        "CAKsfaBUUGqVZiaMrmH3TRPfq1odQPtM7Ey5YW1SgyJJRHtAjgw@mail.gmail.com",
        True,
    ),
    ("flanker/bounce/gmail-no-dns.eml", ("user@example.comm",), "", "failed", "", True),
    ("flanker/bounce/broken-mime.eml", ("info@example.net",), "", "failed", "", True),
]


@pytest.mark.parametrize(
    ("name", "recipients", "status", "action", "original_message_id", "permanent"),
    BOUNCES,
    ids=[row[0] for row in BOUNCES],
)
def test_bounce(name, recipients, status, action, original_message_id, permanent):
    parsed = corpus(name)

    assert parsed.bounce is not None
    assert parsed.bounce.recipients == recipients
    assert parsed.bounce.status == status
    assert parsed.bounce.action == action
    assert parsed.bounce.original_message_id == original_message_id
    assert parsed.bounce.permanent is permanent
    assert parsed.auto_submitted


@pytest.mark.parametrize(
    "name",
    [
        "flanker/complaints/aol.eml",  # an abuse report is automatic mail but not a bounce
        "flanker/disposition-notification.eml",  # a read receipt likewise
    ],
)
def test_other_reports_are_automatic_but_not_bounces(name):
    parsed = corpus(name)

    assert parsed.bounce is None
    assert parsed.auto_submitted


@pytest.mark.parametrize(
    "name",
    [
        "django-helpdesk/forwarded-message.eml",  # a human forwarding "-----Original Message-----"
        "flanker/long-links.eml",  # sent from postmaster@, but an ordinary message
        "ruby-mail/attachment_emails/attachment_message_rfc822.eml",  # a forwarded .eml from a person
    ],
)
def test_ordinary_mail_is_not_a_bounce(name):
    parsed = corpus(name)

    assert parsed.bounce is None
    assert not parsed.auto_submitted


@pytest.mark.parametrize(
    ("name", "auto_submitted", "bulk"),
    [
        ("ruby-mail/multipart_report_emails/report_530.eml", True, False),  # Auto-Submitted: auto-generated
        ("ruby-mail/error_emails/bad_date_header.eml", False, True),  # Precedence: junk
        ("flanker/apache-message-news-mime.eml", False, True),  # Precedence: bulk
        ("ruby-mail/error_emails/empty_in_reply_to.eml", False, True),  # List-Id
        ("django-helpdesk/pgp.eml", False, False),
    ],
)
def test_automatic_and_bulk_flags_in_corpus(name, auto_submitted, bulk):
    parsed = corpus(name)

    assert (parsed.auto_submitted, parsed.bulk) == (auto_submitted, bulk)


# --- hand-built messages --------------------------------------------------------------------------------


def build(body: str = "Hello", **headers: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Customer <customer@example.com>"
    message["To"] = "support@helpdesk.example"
    message["Subject"] = "Help"
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message


@pytest.mark.parametrize(
    ("headers", "auto_submitted", "bulk"),
    [
        ({}, False, False),
        ({"Auto-Submitted": "auto-replied"}, True, False),
        ({"Auto-Submitted": "auto-generated (vacation)"}, True, False),
        ({"Auto-Submitted": "no"}, False, False),
        ({"X-Autoreply": "yes"}, True, False),
        ({"X-Autorespond": "Out of office"}, True, False),
        ({"X-Auto-Response-Suppress": "DR, OOF, AutoReply"}, True, False),
        ({"X-Auto-Response-Suppress": "All"}, True, False),
        ({"X-Auto-Response-Suppress": "DR"}, False, False),
        ({"Precedence": "auto_reply"}, True, False),
        ({"Precedence": "bulk"}, False, True),
        ({"Precedence": "list"}, False, True),
        ({"Precedence": "junk"}, False, True),
        ({"List-Id": "Announcements <announce.lists.example.com>"}, False, True),
        ({"List-Unsubscribe": "<mailto:unsubscribe@lists.example.com>"}, False, True),
    ],
)
def test_automatic_and_bulk_flags(headers, auto_submitted, bulk):
    parsed = parse_email(build(**{k.replace("-", "_"): v for k, v in headers.items()}).as_bytes())

    assert (parsed.auto_submitted, parsed.bulk) == (auto_submitted, bulk)
    assert parsed.bounce is None


def test_in_reply_to_and_references_with_folding_and_junk():
    raw = (
        b"From: customer@example.com\r\n"
        b"Subject: Re: Help\r\n"
        b"Message-ID:   <new.1@client.example>  \r\n"
        b"In-Reply-To: <first@helpdesk.example> (sent by Agent)\r\n"
        b"\t<second@helpdesk.example>\r\n"
        b"References: <root@helpdesk.example> junk, text\r\n"
        b"  <first@helpdesk.example>,\r\n"
        b"\t(a comment) <second@helpdesk.example>\r\n"
        b"References: <third@helpdesk.example>\r\n"
        b"\r\n"
        b"Thanks!\r\n"
    )

    parsed = parse_email(raw)

    assert parsed.message_id == "new.1@client.example"
    assert parsed.in_reply_to == ("first@helpdesk.example", "second@helpdesk.example")
    assert parsed.references == (
        "root@helpdesk.example",
        "first@helpdesk.example",
        "second@helpdesk.example",
        "third@helpdesk.example",
    )
    assert parsed.text == "Thanks!"


def test_message_ids_without_angle_brackets():
    raw = b"From: a@example.com\nMessage-ID: bare@example.com\nIn-Reply-To: other@example.com\n\nHi\n"

    parsed = parse_email(raw)

    assert parsed.message_id == "bare@example.com"
    assert parsed.in_reply_to == ("other@example.com",)


def test_delivered_to_headers_for_mailbox_matching():
    message = build(Delivered_To="support+acme@helpdesk.example", X_Original_To="<support@helpdesk.example>")
    message["Envelope-To"] = "billing@helpdesk.example"

    parsed = parse_email(message.as_bytes())

    assert parsed.delivered_to == (
        "support+acme@helpdesk.example",
        "support@helpdesk.example",
        "billing@helpdesk.example",
    )


def test_cid_image_is_inline_and_unreferenced_image_is_not():
    message = build("See the logo")
    message.add_alternative('<p>See the logo <img src="cid:logo@helpdesk.example"></p>', subtype="html")
    html_part = message.get_payload()[1]
    html_part.add_related(b"\x89PNG logo", "image", "png", cid="<logo@helpdesk.example>")
    html_part.add_related(b"\x89PNG other", "image", "png", cid="<unused@helpdesk.example>")
    message.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename="invoice.pdf")

    parsed = parse_email(message.as_bytes())

    assert parsed.text == "See the logo"
    assert 'src="cid:logo@helpdesk.example"' in parsed.html
    assert [(a.filename, a.content_id, a.inline) for a in parsed.attachments] == [
        ("image.png", "logo@helpdesk.example", True),
        ("image.png", "unused@helpdesk.example", False),
        ("invoice.pdf", "", False),
    ]


def test_mailing_list_footer_is_appended_to_the_text():
    message = build("The question")
    message.make_mixed()
    footer = EmailMessage()
    footer.set_content("-- \nYou received this because you are subscribed.")
    message.attach(footer)

    parsed = parse_email(message.as_bytes())

    assert parsed.text == "The question\n\n-- \nYou received this because you are subscribed."


def test_inline_pgp_signed_text_stays_as_text():
    body = (
        "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nPlease reset my password.\n"
        "-----BEGIN PGP SIGNATURE-----\n\niQEzBAEBCAAdFiEE\n-----END PGP SIGNATURE-----"
    )

    parsed = parse_email(build(body).as_bytes())

    assert parsed.text == body


def test_unknown_and_wrong_charsets_fall_back():
    raw = (
        b"From: =?x-unknown?q?J=F6rg?= <jorg@example.com>\n"
        b"Subject: =?bogus-charset?b?w6R0c2No?=\n"
        b"Content-Type: text/plain; charset=x-does-not-exist\n"
        b"\n"
        b"Gr\xfc\xdfe, caf\xe9\n"
    )

    parsed = parse_email(raw)

    assert parsed.sender == Address("Jörg", "jorg@example.com")
    assert parsed.subject == "ätsch"
    assert parsed.text == "Grüße, café"
    assert parsed.defects


def test_koi8_r_header_and_body():
    """The corpus has no KOI8-R mail, still common from Russian senders."""
    subject = "Привет, мир".encode("koi8-r")
    raw = (
        b"From: =?koi8-r?b?" + base64.b64encode("Иван".encode("koi8-r")) + b"?= <ivan@example.ru>\n"
        b"Subject: =?KOI8-R?Q?" + "".join(f"={byte:02X}" for byte in subject).encode() + b"?=\n"
        b"Content-Type: text/plain; charset=koi8-r\nContent-Transfer-Encoding: 8bit\n\n" + "Спасибо!".encode("koi8-r")
    )

    parsed = parse_email(raw)

    assert parsed.sender == Address("Иван", "ivan@example.ru")
    assert parsed.subject == "Привет, мир"
    assert parsed.text == "Спасибо!"
    assert parsed.defects == ()


def test_bad_base64_attachment_is_kept_and_noted():
    raw = (
        b"From: a@example.com\nSubject: scan\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/mixed; boundary="b"\n\n'
        b"--b\nContent-Type: text/plain\n\nsee attached\n"
        b"--b\nContent-Type: application/pdf; name=scan.pdf\nContent-Transfer-Encoding: base64\n\n"
        b"JVBERi0xLjQK!!!broken*base64\n"
        b"--b--\n"
    )

    parsed = parse_email(raw)

    (scan,) = parsed.attachments
    assert scan.filename == "scan.pdf"
    assert scan.content.startswith(b"%PDF-1.4")
    assert any("base64" in defect for defect in parsed.defects)


def tnef_object(level: int, name: int, kind: int, data: bytes) -> bytes:
    return struct.pack("<BHHI", level, name, kind, len(data)) + data + struct.pack("<H", sum(data) & 0xFFFF)


def make_tnef(files: list[tuple[str, bytes]], body: str = "") -> bytes:
    """A minimal TNEF stream (MS-OXTNEF): signature, version, code page, body, and per file its title and data."""
    stream = struct.pack("<IH", 0x223E9F78, 1)
    stream += tnef_object(1, 0x9006, 0x0008, struct.pack("<I", 0x10000))  # attTnefVersion
    stream += tnef_object(1, 0x9007, 0x0006, struct.pack("<II", 1252, 0))  # attOemCodepage
    if body:
        stream += tnef_object(1, 0x800C, 0x0002, body.encode() + b"\0")  # attBody
    for name, data in files:
        stream += tnef_object(2, 0x9002, 0x0006, bytes(14))  # attAttachRendData starts an attachment
        stream += tnef_object(2, 0x8010, 0x0001, name.encode() + b"\0")  # attAttachTitle
        stream += tnef_object(2, 0x800F, 0x0006, data)  # attAttachData
    return stream


def with_winmail(body: str | None, winmail: bytes) -> bytes:
    message = EmailMessage()
    message["From"] = "outlook.user@example.com"
    message["Subject"] = "Files"
    if body is not None:
        message.set_content(body)
    message.add_attachment(winmail, maintype="application", subtype="ms-tnef", filename="winmail.dat")
    return message.as_bytes()


def test_tnef_winmail_dat_is_unpacked():
    winmail = make_tnef([("notes.txt", b"hello from tnef"), ("report.pdf", b"%PDF-1.4")], body="Body from TNEF")

    parsed = parse_email(with_winmail("The real body", winmail))

    assert parsed.text == "The real body"
    assert [(a.filename, a.content_type, a.content) for a in parsed.attachments] == [
        ("notes.txt", "text/plain", b"hello from tnef"),
        ("report.pdf", "application/pdf", b"%PDF-1.4"),
    ]


def test_tnef_body_is_used_when_the_mail_has_none():
    parsed = parse_email(with_winmail(None, make_tnef([("a.txt", b"a")], body="Body from TNEF")))

    assert parsed.text == "Body from TNEF"
    assert attachment_names(parsed) == ["a.txt"]


def test_unreadable_winmail_dat_is_kept_as_it_is():
    parsed = parse_email(with_winmail("Body", b"not a tnef stream at all"))

    (winmail,) = parsed.attachments
    assert (winmail.filename, winmail.content) == ("winmail.dat", b"not a tnef stream at all")
    assert any("winmail.dat" in defect for defect in parsed.defects)


def nested(depth: int) -> bytes:
    """A message whose only content sits ``depth`` multipart levels down."""
    lines = [b"From: deep@example.com", b"Subject: deep", b"MIME-Version: 1.0"]
    for level in range(depth):
        lines += [b'Content-Type: multipart/mixed; boundary="b%d"' % level, b"", b"--b%d" % level]
    lines += [b"Content-Type: text/plain", b"", b"the bottom"]
    lines += [b"--b%d--" % level for level in reversed(range(depth))]
    return b"\r\n".join(lines) + b"\r\n"


def test_depth_limit_keeps_the_deep_rest_as_one_attachment():
    parsed = parse_email(nested(MAX_DEPTH + 10))

    (kept,) = parsed.attachments
    assert kept.filename == "nested-parts.eml"
    assert b"the bottom" in kept.content
    assert parsed.text == ""
    assert any("nested deeper" in defect for defect in parsed.defects)


def test_nesting_too_deep_for_the_standard_library_still_parses():
    parsed = parse_email(nested(3000))

    assert parsed.subject == "deep"
    (kept,) = parsed.attachments
    assert b"the bottom" in kept.content
    assert any("parser failed" in defect for defect in parsed.defects)


def test_part_limit_keeps_the_rest_as_one_attachment():
    message = build("Many files")
    for number in range(MAX_PARTS + 20):
        message.add_attachment(b"x", maintype="application", subtype="octet-stream", filename=f"f{number}.bin")

    parsed = parse_email(message.as_bytes())

    assert parsed.text == "Many files"
    assert attachment_names(parsed)[-1] == "remaining-parts.eml"
    assert len(parsed.attachments) <= MAX_PARTS
    assert b"f519.bin" in parsed.attachments[-1].content
    assert any(f"more than {MAX_PARTS} parts" in defect for defect in parsed.defects)


@pytest.mark.parametrize(
    "raw",
    [b"", b"\r\n\r\n", b"   \n", b"Hello there,\nthis is just text.\n", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"],
    ids=["empty", "blank-lines", "spaces", "plain-text", "png"],
)
def test_not_an_email(raw):
    with pytest.raises(EmailParseError):
        parse_email(raw)


def test_not_bytes_is_not_an_email():
    with pytest.raises(EmailParseError):
        parse_email("From: a@example.com\n\nhi")


def test_damaged_corpus_messages_never_raise():
    """Truncated and byte-flipped real messages: any result, or EmailParseError, but no other exception."""
    rng = random.Random(20240521)
    samples = [
        "flanker/mailgun-pic.eml",
        "flanker/bounce/office365.eml",
        "ruby-mail/attachment_emails/attachment_message_rfc822.eml",
        "django-helpdesk/pgp.eml",
        "ruby-mail/multi_charset/japanese_attachment_long_name.eml",
        "flanker/torture-part.eml",
    ]
    for name in samples:
        raw = (CORPUS / name).read_bytes()
        for _ in range(25):
            damaged = bytearray(raw[: rng.randrange(1, len(raw) + 1)])
            for _ in range(rng.randrange(0, 20)):
                damaged[rng.randrange(len(damaged))] = rng.randrange(256)
            try:
                parsed = parse_email(bytes(damaged))
            except EmailParseError:
                continue
            assert isinstance(parsed, ParsedEmail)
