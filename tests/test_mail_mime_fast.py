"""mime_fast.parse_bytes gives exactly the standard library's message tree, only faster on big base64 bodies."""

import random
import re
from email import feedparser, policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickets.mail import mime_fast

from .corpus import EMAIL_CORPUS

POLICIES = [pytest.param(policy.default, id="default"), pytest.param(policy.compat32, id="compat32")]


def tree(message) -> list:
    """Everything the parser decided, part by part: types, payloads, defects, preamble, epilogue, headers."""
    return [
        (part.get_content_type(), part._payload if isinstance(part._payload, str) else len(part._payload),
         [type(defect).__name__ for defect in part.defects], part.preamble, part.epilogue, list(part.raw_items()))
        for part in message.walk()
    ]  # fmt: skip


def stdlib_tree(raw: bytes, pol) -> list:
    with mime_fast.plain_feedparser():
        return tree(BytesParser(policy=pol).parsebytes(raw))


def with_attachment(size: int, *, crlf: bool = False, blank_before_boundary: bool = False) -> bytes:
    message = EmailMessage()
    message["From"] = "ann@example.com"
    message["Subject"] = "Invoice"
    message.set_content("See the attached invoice.")
    message.add_attachment(random.Random(size).randbytes(size), maintype="application", subtype="pdf",
                           filename="invoice.pdf")  # fmt: skip
    raw = message.as_bytes()
    if blank_before_boundary:
        raw = raw.replace(b"\n--=", b"\n\n--=")
    return raw.replace(b"\n", b"\r\n") if crlf else raw


def corpus_messages() -> list:
    files = sorted(p for p in EMAIL_CORPUS.rglob("*") if p.is_file() and p.name not in ("LICENSE", "README.md"))
    assert files, f"the email corpus is missing at {EMAIL_CORPUS}"
    return [pytest.param(p.read_bytes(), id=p.relative_to(EMAIL_CORPUS).as_posix()) for p in files]


@pytest.mark.parametrize("pol", POLICIES)
@pytest.mark.parametrize("raw", corpus_messages())
def test_same_tree_as_the_standard_library_on_the_corpus(raw, pol):
    try:
        expected = stdlib_tree(raw, pol)
    except Exception as error:  # what the stdlib raises on, parse_bytes raises on too
        with pytest.raises(type(error)):
            mime_fast.parse_bytes(raw, pol)
        return
    assert tree(mime_fast.parse_bytes(raw, pol)) == expected


@pytest.mark.parametrize("pol", POLICIES)
@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(with_attachment(200_000), id="200KB"),
        pytest.param(with_attachment(20_000, crlf=True), id="20KB-crlf"),
        pytest.param(with_attachment(50_000, blank_before_boundary=True), id="blank-line-before-boundary"),
    ],
)
def test_big_base64_bodies_take_the_fast_way_and_come_back_whole(raw, pol, monkeypatch):
    put_back = []
    original = mime_fast._put_back
    monkeypatch.setattr(mime_fast, "_put_back", lambda message, bodies: put_back.append(len(bodies)) or
                        original(message, bodies))  # fmt: skip
    message = mime_fast.parse_bytes(raw, pol)
    assert put_back == [1]  # one body stood in for, and it found its part
    assert tree(message) == stdlib_tree(raw, pol)
    pdf = next(part for part in message.walk() if part.get_content_type() == "application/pdf")
    assert len(pdf.get_payload(decode=True)) in (20_000, 50_000, 200_000)


def test_base64_lookalike_that_is_not_a_whole_part_falls_back_to_the_ordinary_parse():
    """Base64-looking lines after a blank line inside a text body: the stand-in is not a whole payload there."""
    lines = b"\n".join([b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo="] * 600)
    raw = (b"From: ann@example.com\nSubject: hi\nContent-Type: multipart/mixed; boundary=XX\n\n--XX\n"
           b"Content-Type: text/plain\n\nSome text first.\n\n" + lines + b"\n--XX--\n")  # fmt: skip
    assert tree(mime_fast.parse_bytes(raw, policy.default)) == stdlib_tree(raw, policy.default)
    text = mime_fast.parse_bytes(raw, policy.default).get_payload()[0].get_payload()
    assert text.startswith("Some text first.\n\nQUJD") and text.count("\n") == 601


# --- boundaries: the feed parser's boundary test without a regular expression compiled per boundary ---------


def boundary_regex(separator: str) -> re.Pattern:
    """What ``email.feedparser`` compiles for a boundary (Python 3.11)."""
    return re.compile("(?P<sep>" + re.escape(separator) + r")(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$")


def same_match(expected, got) -> bool:
    if expected is None or got is None:
        return expected is got
    return expected.group(0, "sep", "end", "ws", "linesep") == got.group(0, "sep", "end", "ws", "linesep") and (
        expected.span() == got.span()
    )


LINES = ["--b", "--b\n", "--b\r\n", "--b\r", "--b--", "--b--\n", "--b  \t\n", "--b--  \r\n", "--bx\n", "--b --x\n",
         "--b\n\n", "x--b\n", "--", "", "--b\t--\n", "--b---\n", "--b\r\r"]  # fmt: skip


@pytest.mark.parametrize("line", LINES)
def test_the_boundary_stand_in_matches_like_the_compiled_pattern(line):
    separator = "--b"
    pattern = feedparser.re.compile(boundary_regex(separator).pattern)
    assert isinstance(pattern, mime_fast._BoundaryPattern)  # the stand-in, not a compiled pattern
    assert same_match(boundary_regex(separator).match(line), pattern.match(line))


@given(
    boundary=st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=70),
    tail=st.text(alphabet=st.sampled_from(["-", " ", "\t", "\r", "\n", "x", "=", "."]), max_size=6),
    prefix=st.sampled_from(["", "-", "x"]),
)
def test_the_boundary_stand_in_agrees_with_the_regex_for_any_boundary(boundary, tail, prefix):
    separator = "--" + boundary
    line = prefix + separator + tail
    pattern = feedparser.re.compile(boundary_regex(separator).pattern)
    assert same_match(boundary_regex(separator).match(line), pattern.match(line))


def test_other_patterns_still_compile_with_re():
    assert feedparser.re.compile(r"(\r\n|\r|\n)") is re.compile(r"(\r\n|\r|\n)")
    assert feedparser.re.escape is re.escape
