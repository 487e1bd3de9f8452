"""Fuzzing the sanitizer (helpdesk.html) with hypothesis: random strings, markup built from the pieces attacks are
made of, Markdown built the same way, and the XSS corpus mixed with itself. Nothing raises, and whatever comes
out passes the strict check of tests/xss_payloads.py (only the allowed tags and attributes, no event handler, no
javascript:/data: URL, no comment or declaration), read back with the standard library's html.parser, and stays
safe when an HTML5 parser reads it again (no mutation XSS; the browser itself reads it in test_xss_browser.py).

Derandomized (the same examples on every run) and without hypothesis's example database, so CI is stable; the
example counts keep each test well under 20 s.
"""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpdesk.html import ALLOWED_TAGS, html_to_text, markdown_to_html, sanitize_html, text_to_html
from tickets.mail.quotes import collapse_quoted_html, without_quoted_html

from .xss_payloads import ALL, fragment_problems

FUZZ = settings(max_examples=400, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip

# --- the pieces markup attacks are made of -------------------------------------------------------------------------

TAGS = sorted(ALLOWED_TAGS | {
    "script", "style", "iframe", "object", "embed", "svg", "math", "mglyph", "mtext", "foreignobject", "noscript",
    "noembed", "xmp", "listing", "textarea", "title", "template", "form", "input", "button", "base", "meta", "link",
    "body", "html", "head", "frameset", "select", "option", "plaintext", "image", "animate", "set", "use",
})  # fmt: skip
ATTRIBUTES = ["href", "src", "onerror", "onload", "OnClick", "onmouseover", "style", "title", "alt", "class", "id",
              "srcset", "action", "formaction", "xlink:href", "data", "hx-get", "hx-on:click", "data-hx-on:load",
              "hx-trigger", "background", "dynsrc", "is", "xmlns", "http-equiv", "content", "open", "rel", "target",
              "colspan", "width"]  # fmt: skip
SCHEMES = ["javascript:", "JaVaScRiPt:", " javascript:", "java\tscript:", "jav&#x0A;ascript:", "&#106;avascript:",
           "&#x6A;avascript:", "javascript&colon;", "vbscript:", "data:text/html,", "data:text/html;base64,",
           "data:image/svg+xml,", "http://example.com/", "https:", "mailto:", "cid:", "//example.com", "", "\x01",
           "java\x00script:", "javascript\t:", "%6a%61vascript:"]  # fmt: skip
SCRIPTS = ["alert(1)", "top.__xss=1", "alert`1`", "eval(name)", "&#97;lert(1)", "\\u0061lert(1)"]
QUOTES = ['"', "'", "`", ""]
NOISE = ["<", ">", "</", "/>", "<!--", "-->", "--!>", "<!-->", "<![CDATA[", "]]>", "<?", "?>", "<!DOCTYPE html>",
         "&", "&lt;", "&#60;", "&#x3c", "\x00", "\ufffd", "\n", "\t", " ", "=", '"', "'", "`", "\\", "/", "x",
         "&amp;lt;script&amp;gt;", "\u2028", "\ufeff"]  # fmt: skip

attribute = st.builds(
    lambda name, quote, scheme, script, space: f"{space}{name}={quote}{scheme}{script}{quote}",
    st.sampled_from(ATTRIBUTES), st.sampled_from(QUOTES), st.sampled_from(SCHEMES), st.sampled_from(SCRIPTS),
    st.sampled_from([" ", "/", "\n", "\t", " \x0c"]),
)  # fmt: skip
opening_tag = st.builds(
    lambda tag, attributes, end: f"<{tag}{''.join(attributes)}{end}",
    st.sampled_from(TAGS) | st.sampled_from(TAGS).map(str.upper), st.lists(attribute, max_size=3),
    st.sampled_from([">", "/>", " >", "", ">\n"]),
)  # fmt: skip
closing_tag = st.sampled_from(TAGS).map(lambda tag: f"</{tag}>")
markup = st.lists(
    opening_tag | closing_tag | st.sampled_from(NOISE) | st.sampled_from(SCRIPTS) | st.text(max_size=8), max_size=40
).map("".join)

MARKDOWN = ["[", "]", "(", ")", "![", "](", "<", ">", "`", "```", "*", "_", "\n", "\n\n", "    ", "|", "|---|",
            "> ", "- ", "1. ", "#", "\\", '"', "'", "[x]: ", "<http://example.com>", "&#106;", "&colon;", "&amp;"]  # fmt: skip
markdown = st.lists(
    st.sampled_from(MARKDOWN) | st.sampled_from(SCHEMES) | st.sampled_from(SCRIPTS) | opening_tag | st.text(max_size=6),
    max_size=40,
).map("".join)

corpus_mix = st.lists(st.sampled_from([p.text for p in ALL]) | st.sampled_from(NOISE), min_size=1, max_size=8).map(
    "".join
)

# --- the properties ---------------------------------------------------------------------------------------------


def assert_safe(output: str, source: str) -> None:
    assert fragment_problems(output) == [], (source, output)


def assert_stable(output: str, source: str) -> None:
    """Read again by an HTML5 parser (the sanitizer's own, html5ever, builds trees as browsers do), the output is
    still safe, and a second reading changes nothing more. (The first may: elements the sanitizer removed can
    leave allowed ones nested where a parser would not nest them, "<h1><x><h1>" gives "<h1><h1></h1></h1>"; only
    allowed elements move, text stays text.)"""
    again = sanitize_html(output)
    assert_safe(again, source)
    assert sanitize_html(again) == again.removeprefix("\ufeff"), (source, output, again)


@FUZZ
@given(st.text(max_size=300) | markup | corpus_mix)
def test_sanitized_html_is_always_safe(value):
    output = sanitize_html(value)
    assert_safe(output, value)
    assert_stable(output, value)
    html_to_text(output)


@FUZZ
@given(st.text(max_size=300) | markdown | markup | corpus_mix)
def test_markdown_always_renders_to_safe_html(value):
    output = markdown_to_html(value)
    assert_safe(output, value)
    assert_stable(output, value)


@FUZZ
@given(st.text(max_size=300) | markup | corpus_mix)
def test_an_emails_html_with_its_quotes_folded_is_safe(value):
    """An email's HTML as the ticket page shows it (quoted history folded into <details>) and as the agents'
    notification emails carry it (quoted history left out)."""
    folded = collapse_quoted_html(sanitize_html(value))
    assert_safe(folded, value)
    assert_safe(without_quoted_html(folded), value)


@settings(FUZZ, max_examples=200)
@given(st.text(max_size=300) | markup)
def test_plain_text_is_shown_as_text(value):
    output = text_to_html(value)
    assert_safe(output, value)
    assert all(tag in ("p", "br") for tag in _tags(output)), output


def _tags(html: str) -> list[str]:
    from html.parser import HTMLParser

    found = []
    parser = HTMLParser()
    parser.handle_starttag = lambda tag, attrs: found.append(tag)
    parser.feed(html)
    parser.close()
    return found
