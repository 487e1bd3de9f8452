"""Quoted history and signatures in inbound email: found, folded, never lost (tickets/mail/quotes.py)."""

import re

import pytest

from helpdesk.html import html_to_text, sanitize_html, text_to_html
from tickets.mail.quotes import collapse_quoted_html, quoted_text_to_html, split_reply_text

from .corpus import EMAIL_CORPUS

CORPUS = EMAIL_CORPUS / "reply-parsing"
CORPUS_FILES = sorted(CORPUS.glob("*/*.txt"))
SUMMARY = "Show quoted text"


def _ink(text: str) -> str:
    """The text without its whitespace: what must survive a split, in order."""
    return re.sub(r"\s", "", text)


def _read(name: str) -> str:
    path = CORPUS / name
    assert path.is_file(), f"corpus file missing: {path} (see /work/shared/testdata/email/README.md)"
    return path.read_text(encoding="utf-8")


def _parts(output: str) -> tuple[str, str]:
    """(the text shown, the text folded) of collapse_quoted_html's output, which has one <details> at most."""
    assert output.count("<details") <= 1
    if "<details" not in output:
        return html_to_text(output), ""
    start = output.index('<details class="quoted"><summary>')
    end = output.rindex("</details>")
    inside = output[start:end]
    assert inside.count("</summary>") == 1 and f"<summary>{SUMMARY}</summary>" in inside
    inside = inside.split("</summary>", 1)[1]
    return html_to_text(output[:start] + output[end + len("</details>") :]), html_to_text(inside)


# --- The real-world corpus ------------------------------------------------------------------------------------


def test_corpus_is_there():
    assert CORPUS.is_dir(), f"The reply-parsing corpus is missing: expected it at {CORPUS}"
    assert {path.parent.name for path in CORPUS_FILES} == {"github", "zapier"}
    assert len(CORPUS_FILES) >= 40


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_corpus_nothing_is_lost(path):
    text = path.read_text(encoding="utf-8")

    new, quoted = split_reply_text(text)

    assert _ink(new + "\n" + quoted) == _ink(text)
    if not quoted:
        assert new == text
    shown = html_to_text(quoted_text_to_html(text))
    assert _ink(shown) == _ink(new) + (_ink(SUMMARY) + _ink(quoted) if quoted else "")


# What each file's new part is, decided from reading it: (file, the new part starts with, ends with,
# the folded part starts with; "" when nothing should fold).
EXPECTED = [
    ("github/correct_sig.txt", "this is an email", "with a correct -- signature.", "-- \nrick"),
    ("github/email_1_1.txt", "Hi folks", "-Abhishek Kona", "_____"),  # the mailing list's footer
    # Answers between the quoted lines: the first quote stays for context, the last one folds.
    ("github/email_1_2.txt", "Hi,\nOn Tue, 2011-03-01", 'delete them all individually."', "> \n> -Abhishek Kona"),
    ("github/email_1_3.txt", "Oh thanks.", "-Abhishek Kona", "On 01/03/11 7:07 PM, Russell Brown wrote:"),
    ("github/email_1_4.txt", "Awesome!", "another problem with it.", "On Aug 22, 2011, at 7:37 PM, defunkt"),
    ("github/email_1_5.txt", "One: Here's what I've got.", "for a while.", ""),
    ("github/email_1_6.txt", "I get proper", "rendering as well.", "Sent from a magnificent torch of pixels"),
    ("github/email_1_7.txt", ":+1:", ":+1:", "On Tue, Sep 25, 2012 at 8:59 AM, Chris Wanstrath"),
    ("github/email_1_8.txt", "On Tue, Apr 29, 2014 at 4:22 PM", "I will reply under this one\n\n>\n> okay?\n>\n\nand under this.", ">\n> -- Tim"),
    ("github/email_2_1.txt", "Outlook with a reply", "Outlook with a reply", "------------------------------"),
    ("github/email_2_2.txt", "Outlook with a reply", "directly above line", "_____"),
    ("github/email_2_3.txt", "Outlook with a reply", "directly above line", "From: CRM Comments"),
    ("github/email_BlackBerry.txt", "Here is another email", "Here is another email", "Sent from my BlackBerry"),
    ("github/email_bullets.txt", "test 2 this should list second", "   - and another", "On Fri, Feb 24, 2012 at 10:19 AM"),
    ("github/email_iPhone.txt", "Here is another email", "Here is another email", "Sent from my iPhone"),
    ("github/email_long_quote.txt", "Hi folks", "-Abhishek Kona", "_____"),
    ("github/email_multi_word_sent_from_my_mobile_device.txt", "Here is", "another email", "Sent from my Verizon"),
    ("github/email_one_is_not_on.txt", "Thank, this", "when I run...", "On Oct 1, 2012, at 11:55 PM, Dave Tapley wrote:"),
    ("github/email_sent_from_my_not_signature.txt", "Here is another email", "easier then my mobile phone.", ""),
    ("github/email_sig_delimiter_in_middle_of_line.txt", "Hi there!", "kthxbai", ""),
    ("github/greedy_on.txt", "On your remote host", "the tunnel is not working.", "On 9 Jan 2014, at 2:47, George"),
    ("github/pathological.txt", "I think you're onto", "get back to a computer.", 'On Dec 8, 2013 2:10 PM, "John'),
    ("zapier/email_2_3.txt", "Outlook with a reply", "using unusual format", "*From:* Kim via Site"),
    ("zapier/email_gmail.txt", "This is a test", "replying to a github message.", "On Wed, May 18, 2016 at 11:10 PM"),
    ("zapier/email_headers_no_delimiter.txt", "And another reply!", "And another reply!", "From: Dan Watson"),
    ("zapier/email_partial_quote_header.txt", "On your remote host", "is not working.", "On 9 Jan 2014, at 2:47"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "starts", "ends", "folded"), EXPECTED, ids=[row[0] for row in EXPECTED])
def test_corpus_new_part(name, starts, ends, folded):
    new, quoted = split_reply_text(_read(name))

    assert new.startswith(starts)
    assert new.rstrip().replace("\r", "").endswith(ends)
    assert quoted.lstrip(" ").startswith(folded)
    if folded:
        assert quoted
        last_line = new.splitlines()[-1]
        assert not last_line.startswith(">") and not last_line.rstrip().endswith("wrote:")
    else:
        assert quoted == ""


def test_corpus_covers_enough_files():
    assert len(EXPECTED) >= 20
    for name, *_ in EXPECTED:
        assert (CORPUS / name).is_file(), f"missing {name}"


# --- Plain text: each shape of quote ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "attribution",
    [
        "On Tue, 3 Mar 2020 at 10:00, Ann <ann@example.com> wrote:",
        "On Tue, 3 Mar 2020 at 10:00, Ann Smith\n<ann@example.com> wrote:",  # wrapped by the client
        "Am Di., 3. März 2020 um 10:00 Uhr schrieb Ann Smith <ann@example.com>:",
        "Le mar. 3 mars 2020 à 10:00, Ann Smith <ann@example.com> a écrit :",
        "El mar., 3 mar. 2020 a las 10:00, Ann Smith (<ann@example.com>) escribió:",
        "Op di 3 mrt. 2020 om 10:00 schreef Ann Smith <ann@example.com>:",
    ],
)
def test_attribution_and_quote_fold(attribution):
    text = f"The printer works again, thanks!\n\n{attribution}\n> Please restart it.\n>\n> Bob\n"

    assert split_reply_text(text) == (
        "The printer works again, thanks!",
        f"{attribution}\n> Please restart it.\n>\n> Bob",
    )


@pytest.mark.parametrize(
    "history",
    [
        "-----Original Message-----\nFrom: Acme Support\nSent: Tuesday, March 3, 2020 10:00\nSubject: Order",
        "________________________________\nFrom: Acme Support <help@acme.test>\nSent: Tuesday, March 3, 2020 10:00"
        "\nTo: Ann Smith\nSubject: RE: Order\n\nHello Ann,\nplease send the serial number.",
        "Von: Acme Support <help@acme.test>\nGesendet: Dienstag, 3. März 2020 10:00\nAn: Ann\nBetreff: Bestellung",
        "-- \nAnn Smith\nAcme Ltd\n+44 20 7946 0000",
        "Sent from my iPhone",
        "Von meinem iPhone gesendet",
        "Get Outlook for iOS",
        "> Did the update help?\n> Bob",  # a trailing quote with no attribution
    ],
)
def test_history_and_signatures_fold(history):
    text = f"Here is the serial number: X200-1234.\n\n{history}\n"

    assert split_reply_text(text) == ("Here is the serial number: X200-1234.", history)


@pytest.mark.parametrize(
    "text",
    [
        "> Did the update help?\n> Bob\n",  # all quote
        "On Tue, 3 Mar 2020 at 10:00, Bob <bob@acme.test> wrote:\n> Did the update help?\n",
        "---------- Forwarded message ---------\nFrom: Shop <shop@x.test>\nDate: Tue, 3 Mar 2020\nSubject: Order\n\nHi",
        # A forward with a comment: what was forwarded is what the customer wants us to read.
        "See below.\n\n---------- Forwarded message ---------\nFrom: Shop <shop@x.test>\nDate: Tue, 3 Mar 2020\n\nHi",
        # Answers between the quoted lines.
        "Hi,\n\nOn Tue, 3 Mar 2020 at 10:00, Bob <bob@acme.test> wrote:\n> Which model?\nThe X200.\n> Since when?\n"
        "Since Monday.\n",
        # Sentences that only look like markers.
        "On Monday our manager wrote:\nplease fix the invoice\nand send it again.\n",
        "Step one\n--\nStep two\nStep three\nStep four\nStep five\nStep six\nStep seven\nStep eight\n",
        "Thanks,\nAnn\n\nSent from my desk, which is easier than my phone.\n",
        "Here is a fix -- this is not a signature.\n\nAnn\n",
        "Sent from my iPhone\n",
    ],
)
def test_conservative_cases_are_not_folded(text):
    assert split_reply_text(text) == (text, "")


def test_bare_double_dash_at_the_end_is_a_signature():
    assert split_reply_text("Thanks!\n\n--\nAnn Smith\nAcme Ltd\n") == ("Thanks!", "--\nAnn Smith\nAcme Ltd")


def test_signature_above_the_quote_folds_with_it():
    text = "Fixed, thanks.\n\n-- \nAnn\n\nOn Tue, 3 Mar 2020 at 10:00, Bob <bob@acme.test> wrote:\n> Restart it.\n"

    assert split_reply_text(text) == ("Fixed, thanks.", text[len("Fixed, thanks.\n\n") :].rstrip())


def test_quoted_text_to_html_escapes_and_folds():
    text = (
        "Is <b>this</b> & that fixed?\n\nOn Tue, 3 Mar 2020 at 10:00, Bob <bob@acme.test> wrote:\n> <script>x</script>"
    )

    output = quoted_text_to_html(text)

    assert output == (
        "<p>Is &lt;b&gt;this&lt;/b&gt; &amp; that fixed?</p>"
        f'<details class="quoted"><summary>{SUMMARY}</summary>'
        "<p>On Tue, 3 Mar 2020 at 10:00, Bob &lt;bob@acme.test&gt; wrote:<br>&gt; &lt;script&gt;x&lt;/script&gt;</p>"
        "</details>"
    )


def test_quoted_text_to_html_without_quote_is_text_to_html():
    assert quoted_text_to_html("Hello,\n\nit broke.") == text_to_html("Hello,\n\nit broke.")


# --- HTML, as the mail clients write it ----------------------------------------------------------------------

GMAIL = (
    '<div dir="ltr">Thanks, that fixed it.<div><br></div><div>Ann</div></div><br><div class="gmail_quote">'
    '<div dir="ltr" class="gmail_attr">On Tue, 3 Mar 2020 at 10:00, Acme Support &lt;<a href="mailto:help@acme.test">'
    "help@acme.test</a>&gt; wrote:<br></div>"
    '<blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;border-left:1px solid rgb(204,204,204);'
    'padding-left:1ex"><div dir="ltr">Hello Ann,<div>please restart the router.</div></div></blockquote></div>'
)
GMAIL_SIGNATURE = (
    '<div dir="ltr"><div>Order 1234 arrived broken.</div><br clear="all"><div><br></div>-- <br>'
    '<div dir="ltr" class="gmail_signature" data-smartmail="gmail_signature"><div dir="ltr">Ann Smith'
    "<div>Acme Ltd</div></div></div></div>"
)
GMAIL_GERMAN = (
    '<div dir="ltr">Danke, es geht wieder.</div><br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">'
    "Am Di., 3. März 2020 um 10:00 Uhr schrieb Acme Support &lt;help@acme.test&gt;:<br></div>"
    '<blockquote class="gmail_quote">Bitte starten Sie neu.</blockquote></div>'
)
OUTLOOK_WEB = (
    '<html><head><style>p{margin:0}</style></head><body><div style="font-family:Calibri">'
    "<p>Still broken after the update.</p></div>"
    '<div id="appendonsend"></div><hr style="display:inline-block;width:98%" tabindex="-1">'
    '<div id="divRplyFwdMsg" dir="ltr"><font face="Calibri, sans-serif" style="font-size:11pt" color="#000000">'
    "<b>From:</b> Acme Support &lt;help@acme.test&gt;<br><b>Sent:</b> Tuesday, March 3, 2020 10:00 AM<br>"
    "<b>To:</b> Ann Smith &lt;ann@example.com&gt;<br><b>Subject:</b> Re: Router</font><div>&nbsp;</div></div>"
    "<div><p>Hello Ann, please update the firmware.</p></div></body></html>"
)
OUTLOOK_DESKTOP = (
    '<html xmlns:o="urn:schemas-microsoft-com:office:office"><body lang="EN-US"><div class="WordSection1">'
    '<p class="MsoNormal">Here is the invoice you asked for.<o:p></o:p></p><p class="MsoNormal"><o:p>&nbsp;</o:p></p>'
    '<div><div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0in 0in 0in">'
    '<p class="MsoNormal"><b>From:</b> Acme Support &lt;help@acme.test&gt; <br><b>Sent:</b> Tuesday, March 3, 2020 '
    "10:00 AM<br><b>To:</b> Ann Smith &lt;ann@example.com&gt;<br><b>Subject:</b> Invoice<o:p></o:p></p></div></div>"
    '<p class="MsoNormal"><o:p>&nbsp;</o:p></p><p class="MsoNormal">Could you send us the invoice?<o:p></o:p></p>'
    "</div></body></html>"
)
OUTLOOK_ORIGINAL_MESSAGE = (
    "<div><p>Please cancel order 1234.</p><p>&nbsp;</p><p>-----Original Message-----<br>From: Acme Support<br>"
    "Sent: Tuesday, March 3, 2020 10:00 AM<br>To: Ann Smith<br>Subject: Order 1234</p><p>Your order shipped.</p></div>"
)
APPLE_MAIL = (
    '<html><head><meta http-equiv="content-type" content="text/html; charset=utf-8"></head><body dir="auto">'
    '<div dir="ltr">Sounds good, thank you.</div><div dir="ltr"><br></div><div dir="ltr"><br>'
    '<blockquote type="cite">On 3 Mar 2020, at 10:00, Acme Support &lt;help@acme.test&gt; wrote:<br><br></blockquote>'
    '</div><blockquote type="cite"><div dir="ltr">Your replacement ships tomorrow.</div></blockquote></body></html>'
)
THUNDERBIRD = (
    "<html><body><p>Yes, that is the serial number.</p><p>Ann<br></p>"
    '<div class="moz-cite-prefix">On 3/3/20 10:00 AM, Acme Support wrote:<br></div>'
    '<blockquote type="cite" cite="mid:123@acme.test">Could you tell us the serial number?</blockquote>'
    '<pre class="moz-signature" cols="72">-- \nAnn Smith</pre></body></html>'
)
THUNDERBIRD_SIGNATURE = (
    '<html><body><p>Thanks!</p><div class="moz-signature">-- <br>Ann Smith<br>Acme Ltd</div></body></html>'
)
YAHOO = (
    '<div class="ydp1"><div>It still does not print.</div><div><br></div><div class="yahoo_quoted">'
    '<div style="font-family:Helvetica"><div><font size="2">On Tuesday, March 3, 2020, 10:00:00 AM GMT, Acme Support '
    "&lt;help@acme.test&gt; wrote:</font></div><div><br></div><div><br></div>"
    '<div><div dir="ltr">Please try printing again.</div></div></div></div></div>'
)


@pytest.mark.parametrize(
    ("raw", "new", "folded"),
    [
        (GMAIL, "Thanks, that fixed it.", "please restart the router."),
        (GMAIL_SIGNATURE, "Order 1234 arrived broken.", "Acme Ltd"),
        (GMAIL_GERMAN, "Danke, es geht wieder.", "Bitte starten Sie neu."),
        (OUTLOOK_WEB, "Still broken after the update.", "please update the firmware."),
        (OUTLOOK_DESKTOP, "Here is the invoice you asked for.", "Could you send us the invoice?"),
        (OUTLOOK_ORIGINAL_MESSAGE, "Please cancel order 1234.", "Your order shipped."),
        (APPLE_MAIL, "Sounds good, thank you.", "Your replacement ships tomorrow."),
        (THUNDERBIRD, "Yes, that is the serial number.", "Could you tell us the serial number?"),
        (THUNDERBIRD_SIGNATURE, "Thanks!", "Acme Ltd"),
        (YAHOO, "It still does not print.", "Please try printing again."),
    ],
    ids=[
        "gmail",
        "gmail-signature",
        "gmail-german",
        "outlook-web",
        "outlook-desktop",
        "outlook-original-message",
        "apple-mail",
        "thunderbird",
        "thunderbird-signature",
        "yahoo",
    ],
)
def test_html_quote_is_folded(raw, new, folded):
    clean = sanitize_html(raw)

    output = collapse_quoted_html(clean)

    shown, hidden = _parts(output)
    assert new in shown and new not in hidden
    assert folded in hidden and folded not in shown
    assert "wrote:" not in shown and "From:" not in shown
    assert _ink(shown + hidden) == _ink(html_to_text(clean))  # moved, not dropped
    assert sanitize_html(output) == output  # what comes out survives sanitizing unchanged


@pytest.mark.parametrize(
    "raw",
    [
        # Only a quote: Apple Mail with nothing typed above it.
        '<blockquote type="cite"><div>On 3 Mar 2020, at 10:00, Bob &lt;bob@x.test&gt; wrote:</div>'
        "<div>Hello</div></blockquote>",
        # A Gmail forward with no comment.
        '<div dir="ltr"><br><br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">---------- Forwarded '
        "message ---------<br>From: <b>Shop</b> &lt;shop@x.test&gt;<br>Date: Tue, 3 Mar 2020 at 10:00<br>"
        "Subject: Order<br>To: &lt;ann@example.com&gt;<br></div><br><br>Your order</div></div>",
        # Thunderbird, answers written between the quoted lines.
        '<div class="moz-cite-prefix">On 3/3/20 10:00 AM, Acme Support wrote:<br></div>'
        '<blockquote type="cite">Which model?</blockquote><p>The X200.</p>'
        '<blockquote type="cite">Since when?</blockquote><p>Since Monday.</p>',
        # No quote at all.
        "<p>Hello,</p><p>the printer is broken.</p>",
    ],
    ids=["only-quote", "forward", "interleaved", "no-quote"],
)
def test_html_without_new_text_above_a_quote_is_not_folded(raw):
    clean = sanitize_html(raw)

    assert collapse_quoted_html(clean) == clean


def test_html_signature_inside_a_paragraph():
    output = collapse_quoted_html(sanitize_html("<p>Thanks<br>-- <br>Ann Smith</p>"))

    assert _parts(output) == ("Thanks", "--\nAnn Smith")


def test_html_hostile_quote_stays_harmless():
    raw = (
        "<p>See below</p><div class='gmail_quote'>On Tue, 3 Mar 2020 at 10:00, Bob &lt;bob@x.test&gt; wrote:"
        '<blockquote><script>alert(1)</script><img src=x onerror="alert(2)">&lt;script&gt;alert(3)&lt;/script&gt;'
        '<a href="javascript:alert(4)" onclick="alert(5)">link</a><style>body{display:none}</style></blockquote></div>'
    )

    for output in (collapse_quoted_html(sanitize_html(raw)), collapse_quoted_html(raw)):
        assert '<details class="quoted">' in output
        lowered = output.lower()
        assert "<script" not in lowered and "<style" not in lowered
        assert "onerror" not in lowered and "onclick" not in lowered and "javascript:" not in lowered
        assert "&lt;script&gt;alert(3)&lt;/script&gt;" in output  # text that looks like a tag stays text
        assert "alert(1)" not in output


def test_html_hostile_summary_translation_is_escaped(monkeypatch):
    monkeypatch.setattr("tickets.mail.quotes.gettext", lambda message: "<i>Zitat</i> & mehr")

    output = collapse_quoted_html(sanitize_html(GMAIL))

    assert "<summary>&lt;i&gt;Zitat&lt;/i&gt; &amp; mehr</summary>" in output


def test_html_deep_nesting_does_not_fail():
    raw = "<p>Hi</p>" + "<div>" * 5000 + "x" + "</div>" * 5000

    assert "Hi" in collapse_quoted_html(raw)
