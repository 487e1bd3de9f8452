"""Fuzzing the email parser (``tickets.mail.parse.parse_email``, what inbound processing calls on the stored raw
bytes) with hypothesis: arbitrary bytes, MIME messages built at random (headers, encoded words, charsets, transfer
encodings, boundaries, nesting, enclosed messages, parts cut short) and real messages of the corpus mutated.

The parser's contract: it returns a ``ParsedEmail`` or raises ``EmailParseError`` (the input is not an email),
nothing else. Processing records that error as the message's "failed" outcome with the reason (an admin can look
at it and process it again); the tests at the end check that on the database. What it returns can be stored:
only text without NUL characters (Postgres refuses them), attachments with a name, and HTML that the sanitizer
makes safe.

Derandomized (the same examples on every run) and without hypothesis's example database, so CI is stable; the
example counts keep each test well under 20 s.
"""

import base64
import quopri
from dataclasses import fields

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpdesk.html import html_to_text, sanitize_html
from tickets.mail.parse import Address, Bounce, EmailParseError, ParsedAttachment, ParsedEmail, parse_email

from .corpus import EMAIL_CORPUS
from .mail_factory import raw_email
from .xss_payloads import fragment_problems

FUZZ = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip


def parse_or_refuse(raw: bytes) -> ParsedEmail | None:
    """The parser's result, checked; None when it refused the input as not an email (its one allowed error)."""
    try:
        parsed = parse_email(raw)
    except EmailParseError:
        return None
    check(parsed)
    return parsed


def texts(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, tuple):
        for item in value:
            yield from texts(item)
    elif isinstance(value, Address | Bounce | ParsedAttachment | ParsedEmail):
        for field in fields(value):
            yield from texts(getattr(value, field.name))


def check(parsed: ParsedEmail) -> None:
    assert isinstance(parsed, ParsedEmail)
    assert all("\x00" not in text for text in texts(parsed)), "a NUL would make the message impossible to store"
    for attachment in parsed.attachments:
        assert attachment.filename and isinstance(attachment.content, bytes)
        assert "/" in attachment.content_type and attachment.content_type == attachment.content_type.lower()
    assert len(parsed.defects) <= 51
    assert fragment_problems(sanitize_html(parsed.html)) == []
    html_to_text(parsed.html)


# --- arbitrary bytes ------------------------------------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=3000))
def test_any_bytes_are_parsed_or_refused_as_not_an_email(raw):
    parse_or_refuse(raw)


@FUZZ
@given(st.binary(max_size=3000))
def test_any_bytes_after_a_header_are_an_email(rest):
    parsed = parse_or_refuse(b"From: Ann <ann@customer.example>\r\n" + rest)
    assert parsed is not None


# --- MIME messages built at random ---------------------------------------------------------------------------------

CHARSETS = ["utf-8", "UTF-8", "iso-8859-1", "windows-1252", "koi8-r", "shift_jis", "gb2312", "big5", "utf-16",
            "utf-7", "us-ascii", "x-unknown", "", "utf8mb4", "unicode-1-1-utf-7", "iso-2022-jp", '"utf-8"']  # fmt: skip
TRANSFER_ENCODINGS = ["7bit", "8bit", "binary", "base64", "quoted-printable", "x-uuencode", "BASE64", "bogus", ""]
LEAF_TYPES = ["text/plain", "text/html", "text/calendar", "application/octet-stream", "application/pdf", "image/png",
              "message/delivery-status", "text/rfc822-headers", "application/ms-tnef", "message/rfc822", "text",
              "x/y", "multipart/mixed", ""]  # fmt: skip
MULTIPART_TYPES = ["mixed", "alternative", "related", "report", "signed", "digest", "parallel", "x-unknown"]
HEADER_NAMES = ["From", "To", "Cc", "Reply-To", "Subject", "Message-ID", "In-Reply-To", "References", "Date",
                "Auto-Submitted", "Precedence", "List-Id", "Delivered-To", "Return-Path", "X-Mailer",
                "Content-Disposition", "Content-ID", "MIME-Version", "X-Failed-Recipients"]  # fmt: skip

words = st.text(max_size=30)


def encode_word(text: str, charset: str, kind: str, broken: bool) -> str:
    data = text.encode(charset if _known(charset) else "utf-8", "replace")
    if kind == "B":
        payload = base64.b64encode(data).decode()
        payload = payload[:-1] if broken and payload else payload
    else:
        payload = quopri.encodestring(data, header=True).decode()
    return f"=?{charset}?{kind}?{payload}?="


def _known(charset: str) -> bool:
    try:
        "".encode(charset)
    except LookupError:
        return False
    return True


header_value = st.one_of(
    words,
    st.builds(encode_word, words, st.sampled_from(CHARSETS), st.sampled_from(["B", "Q", "b", "x"]), st.booleans()),
    st.lists(st.sampled_from(["<a@b>", "Ann", '"Ann, B."', "<", ">", ",", ";", ":", "(c)", "@", "\\", '"', "=?",
                              "?=", "\r\n ", "\t", "\x00", "\xff", "ann@customer.example", "undisclosed-recipients:;"]),
             max_size=12).map("".join),
)  # fmt: skip
header = st.tuples(st.sampled_from(HEADER_NAMES) | st.from_regex(r"\A[!-9;-~]{1,20}\Z"), header_value)


def content_header(content_type: str, charset: str, extra: str) -> str:
    value = content_type + (f"; charset={charset}" if charset else "") + extra
    return f"Content-Type: {value}"


def encode_body(body: bytes, encoding: str, correct: bool) -> bytes:
    if not correct:
        return body
    if encoding.lower() == "base64":
        return base64.encodebytes(body)
    if encoding == "quoted-printable":
        return quopri.encodestring(body)
    return body


def headers_bytes(pairs) -> bytes:
    return b"".join(f"{name}: {value}\r\n".encode("utf-8", "surrogateescape") for name, value in pairs)


@st.composite
def leaf(draw) -> bytes:
    content_type = draw(st.sampled_from(LEAF_TYPES))
    encoding = draw(st.sampled_from(TRANSFER_ENCODINGS))
    extra = draw(st.sampled_from(["", "; name=file.bin", "; name*=utf-8''%E2%82%AC%00.txt", '; name="a\\"b"',
                                  "; format=flowed; delsp=yes", "; boundary=x", ";;;"]))  # fmt: skip
    lines = [content_header(content_type, draw(st.sampled_from(CHARSETS)), extra)]
    if encoding:
        lines.append(f"Content-Transfer-Encoding: {encoding}")
    lines += [f"{name}: {value}" for name, value in draw(st.lists(header, max_size=3))]
    if draw(st.booleans()):
        lines.append(draw(st.sampled_from(['Content-Disposition: attachment; filename="report.pdf"',
                                           "Content-Disposition: inline; filename*=utf-8''%F0%9F%98%80",
                                           'Content-Disposition: attachment; filename="../../etc/passwd"',
                                           "Content-Disposition: inline", "Content-ID: <img1@x>"])))  # fmt: skip
    body = draw(st.binary(max_size=300) | st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")))
    return "\r\n".join(lines).encode() + b"\r\n\r\n" + encode_body(body, encoding, draw(st.booleans()))


@st.composite
def multipart(draw, children) -> bytes:
    parts = draw(st.lists(children, max_size=4))
    boundary = draw(st.sampled_from(["b", "=_b1", "simple boundary", "a" * 70, "--", "x:y", ""])
                    | st.from_regex(r"\A[ -~]{0,40}\Z"))  # fmt: skip
    quote = draw(st.sampled_from(['"', ""]))
    head = f"Content-Type: multipart/{draw(st.sampled_from(MULTIPART_TYPES))}; boundary={quote}{boundary}{quote}"
    separator = f"\r\n--{boundary}\r\n".encode("utf-8", "surrogateescape")
    body = draw(st.sampled_from([b"", b"preamble\r\n", b"--b\r\n"])) + b"".join(separator + part for part in parts)
    ending = draw(st.sampled_from(["close", "missing", "twice", "truncated"]))
    if ending == "close":
        body += f"\r\n--{boundary}--\r\n".encode()
    elif ending == "twice":
        body += f"\r\n--{boundary}--\r\n--{boundary}--\r\nepilogue".encode()
    elif ending == "truncated":
        body = body[: draw(st.integers(0, max(0, len(body))))]
    return head.encode() + b"\r\n\r\n" + body


@st.composite
def enclosed(draw, children) -> bytes:
    """A message/rfc822 part holding a whole message."""
    inner = headers_bytes(draw(st.lists(header, max_size=3))) + draw(children)
    return b"Content-Type: message/rfc822\r\n\r\n" + inner


mime_part = st.recursive(leaf(), lambda children: multipart(children) | enclosed(children), max_leaves=8)


@st.composite
def mime_message(draw) -> bytes:
    top = [("From", draw(st.sampled_from(["Ann <ann@customer.example>", "ann@customer.example"]) | header_value))]
    top += draw(st.lists(header, max_size=6))
    if draw(st.booleans()):
        top.append(("MIME-Version", "1.0"))
    raw = headers_bytes(top) + draw(mime_part)
    if draw(st.booleans()):
        raw = raw.replace(b"\r\n", b"\n")
    return raw


@settings(FUZZ, max_examples=100)
@given(mime_message())
def test_random_mime_messages_are_parsed(raw):
    assert parse_or_refuse(raw) is not None, "it starts with a header: it is an email"


def test_the_generator_makes_real_mime():
    """Not only junk: a message built by the strategy's pieces is read as the standard library would."""
    raw = (b"From: Ann <ann@customer.example>\r\nSubject: =?utf-8?B?" + base64.b64encode("Grüße".encode()) + b"?=\r\n"
           + b'Content-Type: multipart/alternative; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8'
           + b"\r\n\r\nHello\r\n--b\r\nContent-Type: text/html\r\n\r\n<p onclick=x()>Hello</p>\r\n--b--\r\n")  # fmt: skip
    parsed = parse_or_refuse(raw)
    assert (parsed.subject, parsed.sender.email, parsed.text) == ("Grüße", "ann@customer.example", "Hello")
    assert sanitize_html(parsed.html) == "<p>Hello</p>"


# --- real messages, mutated ----------------------------------------------------------------------------------------


def corpus() -> list[bytes]:
    files = sorted(p for p in EMAIL_CORPUS.rglob("*") if p.is_file() and p.name not in ("LICENSE", "README.md"))
    assert files, f"the email corpus is missing at {EMAIL_CORPUS}"
    return [p.read_bytes() for p in files if p.stat().st_size < 40_000]


@st.composite
def mutated(draw) -> bytes:
    raw = bytearray(draw(st.sampled_from(CORPUS)))
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "duplicate", "newline"]))
        at = draw(st.integers(0, len(raw)))
        if kind == "flip" and at < len(raw):
            raw[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            raw[at:at] = draw(st.binary(max_size=20) | st.sampled_from([b"\r\n\r\n", b"--", b"=?", b"\x00", b":"]))
        elif kind == "delete":
            del raw[at : at + draw(st.integers(1, 200))]
        elif kind == "truncate":
            del raw[at:]
        elif kind == "duplicate":
            raw[at:at] = raw[at : at + draw(st.integers(1, 500))]
        else:
            raw[at:at] = draw(st.sampled_from([b"\n", b"\r", b"\r\n", b"\n "]))
    return bytes(raw)


CORPUS = corpus()


@FUZZ
@given(mutated())
def test_real_messages_mutated_are_parsed_or_refused(raw):
    parse_or_refuse(raw)


# --- what inbound processing makes of it (database) ----------------------------------------------------------------


@pytest.mark.django_db
def test_what_the_parser_refuses_is_flagged_failed_with_the_reason(queue):
    from tickets.mail.inbound import inbound_process, inbound_store
    from tickets.models import Ticket

    rows = [inbound_store(raw=raw, source="pipe")[0] for raw in (b"\x00\xff\xfe garbage", b"<html>hi</html>")]
    processed = [inbound_process(inbound_id=row.pk) for row in rows]
    assert [(row.status, row.error.split(":")[0]) for row in processed] == [("failed", "EmailParseError")] * 2
    assert not Ticket.objects.exists()


@pytest.mark.django_db
def test_nul_characters_neither_stop_storing_nor_processing(queue):
    """Found by this fuzzing: a NUL in a header made storing the raw message fail (Postgres refuses NUL in text),
    and one in the text made processing fail. The message is now stored and becomes a ticket, the NUL shown as
    U+FFFD and noted among the defects."""
    from tickets.mail.inbound import inbound_process, inbound_store

    raw = raw_email(subject="Order", text="Hello,\x00 where is it?").replace(b"Subject: Order", b"Subject: Or\x00der")
    row, created = inbound_store(raw=raw, source="pipe")
    assert created and row.subject == "Order"
    row = inbound_process(inbound_id=row.pk)
    assert row.status == "done", row.error
    assert row.ticket.subject == "Or\ufffdder" and row.message.body_text == "Hello,\ufffd where is it?"
    assert "NUL characters replaced" in row.defects
