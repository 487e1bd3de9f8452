"""Find the quoted history and the signature in an inbound customer email, so the ticket page can fold them.

A reply usually carries every earlier message of the thread below the few lines the customer wrote. We never
delete any of it (the quote may be the only copy an agent has of what was said), we only fold it into
``<details class="quoted">`` so the new part is what an agent reads first.

How: the body becomes a list of *units* (plain text: one per line; HTML: one per line of inline content, plus
every ``<blockquote>`` and ``<hr>`` as a unit of its own), each classified by what it looks like (an attribution
"On ... wrote:", an Outlook header block, a "-- " signature delimiter, a quoted ">" line, a mobile signature...).
One rule, shared by both formats, then picks where the folded tail starts:

- a *hard* marker (attribution, Outlook header, signature delimiter, mailing-list footer) starts the tail: all
  that follows it is history, whatever it looks like, since Outlook and Gmail do not prefix their quotes;
- the tail also takes in the *soft* units just above it (quoted lines, blank lines, separators, "Sent from my
  iPhone"), and with no hard marker a trailing run of them is the whole tail.

Being wrong costs more one way than the other (an agent who misses a sentence the customer wrote answers the
wrong question), so the rule is conservative: an attribution followed by answers written between the quoted
lines is not a marker; nothing folds unless the customer wrote something above it (a forward with no comment,
a message that is all quote, stays as it is); an email that forwards a message is never folded; attributions
need a time of day or an address in them, so a sentence that happens to start with "On" and end with "wrote:"
does not hide the rest.

HTML is read *after* ``sanitize_html``: nh3 drops ``class``, ``id`` and ``type``, so Gmail's ``gmail_quote``,
Outlook's ``divRplyFwdMsg`` or Apple's ``type=cite`` are no longer there to see. The quotes are found from the
structure that survives instead (``<blockquote>``, the attribution line above it, an ``<hr>`` or a block that
starts with "From: ... Sent: ... To:"). This keeps the one sanitized copy of a body as the input, works for
bodies stored before this module existed, and does not tie us to each client's class names. The fold is made
by inserting the ``<details>`` tags at positions in the sanitized string (nothing is rebuilt from parsed text),
and the result is sanitized once more, so the output is safe to mark safe even if a caller forgot to sanitize.
"""

import re
from dataclasses import dataclass, field
from html import escape
from html.parser import HTMLParser
from itertools import islice

from django.utils.translation import gettext

from helpdesk.html import sanitize_html, text_to_html

# What a unit is. Hard markers start the folded tail; soft units join a tail that follows them.
TEXT = "text"
BLANK = "blank"
QUOTE = "quote"  # a line starting with ">", or a <blockquote>
SEPARATOR = "separator"  # "-----", "_____", <hr>
MOBILE = "mobile"  # "Sent from my iPhone"
ATTRIBUTION = "attribution"  # "On Tue, 3 Mar 2020 at 10:00, Ann <ann@x.com> wrote:"
HEADER = "header"  # Outlook's "-----Original Message-----" or "From: / Sent: / To: / Subject:"
SIGNATURE = "signature"  # the "-- " delimiter
FOOTER = "footer"  # a mailing list's "_____" line and the few lines under it
FORWARD = "forward"  # "---------- Forwarded message ---------": never folded

_HARD = {ATTRIBUTION, HEADER, SIGNATURE, FOOTER}
_SOFT = {BLANK, QUOTE, SEPARATOR, MOBILE}

_LONGEST_LINE = 1000  # longer lines are text: no pattern is worth trying on them

_ATTRIBUTION = re.compile(
    r"(?:On\s.*wrote"  # English
    r"|Am\s.*\sschrieb\s.*"  # German: "Am 03.03.2020 um 10:00 schrieb Ann <ann@x.com>:"
    r"|Le\s.*\sa\s+écrit"  # French: "Le mar. 3 mars 2020 à 10:00, Ann <ann@x.com> a écrit :"
    r"|El\s.*\sescribió"  # Spanish: "El mar, 3 mar 2020 a las 10:00, Ann (<ann@x.com>) escribió:"
    r"|Op\s.*\sschreef\s.*)"  # Dutch: "Op di 3 mrt. 2020 om 10:00 schreef Ann <ann@x.com>:"
    r"\s?:"
)
_TIME_OR_ADDRESS = re.compile(r"\d{1,2}:\d\d|@")
_ORIGINAL_MESSAGE = re.compile(
    r"-{2,}\s*(original message|ursprüngliche nachricht|message d'origine|mensaje original"
    r"|oorspronkelijk bericht|messaggio originale)\s*-{2,}",
    re.IGNORECASE,
)
_FORWARDED = re.compile(
    r"(-{2,}\s*(forwarded message|weitergeleitete nachricht|message transféré|mensaje reenviado"
    r"|doorgestuurd bericht|messaggio inoltrato)\s*-{2,}|begin forwarded message\s?:)",
    re.IGNORECASE,
)
_HEADER_FIELD = re.compile(r"\*?([^\W\d_][^\W\d_ ]{0,15})\s?:\*?(\s|$)")
_HEADER_FROM = {"from", "von", "de", "van", "da", "från", "fra"}
_HEADER_SENT = {"sent", "date", "gesendet", "datum", "envoyé", "enviado", "fecha", "verzonden", "data", "skickat"}
_HEADER_TO = {"to", "an", "à", "para", "aan", "a", "till", "subject", "betreff", "objet", "asunto", "onderwerp"}
_SEPARATOR = re.compile(r"\s*[-_=*~—–]{5,}\s*")
_FOOTER = re.compile(r"\s*_{10,}\s*")
_MOBILE = re.compile(
    r"(Sent from|Sent with|Get Outlook for|Envoyé de mon|Enviado desde mi|Verzonden (met|vanaf) mijn|Von meinem)"
    r"[\w .'’&-]{1,50}"
)


@dataclass(eq=False)
class _Unit:
    lines: list[str]  # its text, a line each
    where: object  # plain text: offset of the line; HTML: (parent node, index of its first child)
    quote: bool = False
    rule: bool = False  # an <hr>
    kind: str = TEXT


# --- The rule, shared by plain text and HTML ---------------------------------------------------------------


def _find_tail(units: list[_Unit]) -> int | None:
    """Index of the unit where the folded tail starts, or None when nothing should be folded."""
    for index, unit in enumerate(units):
        unit.kind = _kind(units, index)
    end = None
    for index, unit in enumerate(units):
        if unit.kind == FORWARD:
            return None  # what a customer forwards is what they want us to read
        if unit.kind == HEADER or (unit.kind == ATTRIBUTION and not _answers_follow(units, index)):
            end = index if end is None else end
            break
        if unit.kind in (SIGNATURE, FOOTER) and end is None:
            end = index  # keep looking: a forward below the signature still keeps everything shown
    start = len(units) if end is None else end
    while start > 0 and units[start - 1].kind in _SOFT:
        start -= 1
    while start < len(units) and units[start].kind == BLANK:
        start += 1  # blank lines above the quote stay where they are
    if all(unit.kind in (BLANK, SEPARATOR) for unit in units[start:]):
        return None
    if all(unit.kind in (BLANK, QUOTE, SEPARATOR) for unit in units[:start]):
        return None  # nothing new above it: a message that is all quote is shown as it is
    return start


def _answers_follow(units: list[_Unit], index: int) -> bool:
    """True if, below the attribution at ``index``, the customer wrote between the quoted lines."""
    seen_quote = False
    for unit in islice(units, index + 1, None):
        if unit.kind in _HARD:
            return False
        if unit.kind == QUOTE:
            seen_quote = True
        elif seen_quote and unit.kind == TEXT:
            return True
    return False


def _kind(units: list[_Unit], index: int) -> str:
    unit = units[index]
    first = next((line for line in unit.lines if line.strip()), "")
    stripped = first.strip()
    if unit.rule:
        return SEPARATOR
    if unit.quote:
        return FORWARD if _FORWARDED.fullmatch(stripped) else QUOTE
    if not stripped:
        return BLANK
    if len(first) > _LONGEST_LINE:
        return TEXT
    if _FORWARDED.fullmatch(stripped):
        return FORWARD
    if _ORIGINAL_MESSAGE.fullmatch(stripped) or _is_header_block(units, index, first):
        return HEADER
    if _is_attribution(units, index):
        return ATTRIBUTION
    if first == "-- " or (stripped == "--" and _lines_below(units, index, 6) <= 6):
        return SIGNATURE  # "-- " is the standard delimiter; a bare "--" only right at the end
    if _FOOTER.fullmatch(first) and _lines_below(units, index, 4) <= 4:
        return FOOTER
    if _SEPARATOR.fullmatch(first):
        return SEPARATOR
    one_line = sum(1 for line in unit.lines if line.strip()) == 1
    if one_line and len(stripped.split()) <= 8 and _MOBILE.fullmatch(stripped):
        return MOBILE
    return TEXT


def _lines_from(units: list[_Unit], index: int):
    """The lines of the units from ``index`` on, in order."""
    for position in range(index, len(units)):
        yield from units[position].lines


def _lines_below(units: list[_Unit], index: int, limit: int) -> int:
    """How many non-blank lines follow the first line of unit ``index`` (counting stops past ``limit``)."""
    count = -1
    for line in _lines_from(units, index):
        if line.strip():
            count += 1
            if count > limit:
                break
    return count


def _header_field(line: str) -> str:
    match = _HEADER_FIELD.match(line.strip())
    return match.group(1).lower() if match else ""


def _is_header_block(units: list[_Unit], index: int, first: str) -> bool:
    """Outlook's "From: ... / Sent: ... / To: ... / Subject: ..." (also in German, French, Spanish, Dutch)."""
    if _header_field(first) not in _HEADER_FROM:
        return False
    lines = islice((line for line in _lines_from(units, index) if line.strip()), 1, 7)
    fields = {_header_field(line) for line in lines}
    return bool(fields & _HEADER_SENT) and bool(fields & _HEADER_TO)


def _is_attribution(units: list[_Unit], index: int) -> bool:
    """An "On <date>, <name> wrote:" line, also when the mail client wrapped it over two or three lines."""
    joined = ""
    for count, line in enumerate(_lines_from(units, index)):
        if count == 3 or not line.strip() or line.startswith(">") or len(joined) > 300:
            return False
        if count and joined[-1] in ".!?":
            return False  # a sentence ended: the next line is not the rest of an attribution
        joined = f"{joined} {line.strip()}".strip()
        if _ATTRIBUTION.fullmatch(joined):
            return bool(_TIME_OR_ADDRESS.search(joined))
    return False


# --- Plain text --------------------------------------------------------------------------------------------


def split_reply_text(text: str) -> tuple[str, str]:
    """(the new part the customer wrote, the quoted history and signature that follow), for plain text.

    The two parts joined with a newline give back the whole text, except for the blank space around the cut:
    nothing is deleted. If nothing is quoted, returns ``(text, "")``.
    """
    units, offset = [], 0
    for line in text.split("\n"):
        units.append(_Unit([line.rstrip("\r")], where=offset, quote=line.startswith(">")))
        offset += len(line) + 1
    start = _find_tail(units)
    if start is None:
        return text, ""
    cut = units[start].where
    return text[:cut].rstrip(), text[cut:].rstrip()


def quoted_text_to_html(text: str) -> str:
    """A plain-text email body as safe HTML, with the quoted history folded into ``<details class="quoted">``."""
    new, quoted = split_reply_text(text)
    if not quoted:
        return text_to_html(text)
    return text_to_html(new) + _details(text_to_html(quoted))


def _details_open() -> str:
    return f'<details class="quoted"><summary>{escape(gettext("Show quoted text"))}</summary>'


def _details(inner_html: str) -> str:
    return f"{_details_open()}{inner_html}</details>"


# --- HTML --------------------------------------------------------------------------------------------------

_VOID = {"area", "br", "col", "hr", "img", "input", "source", "wbr"}
_BLOCK = {
    "address", "article", "aside", "blockquote", "caption", "center", "colgroup", "dd", "details", "div", "dl",
    "dt", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "ol", "p", "pre", "section",
    "summary", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul",
}  # fmt: skip
_STAY_INSIDE = {"td", "th", "li", "dd", "dt", "caption"}  # a fold never climbs out of a table cell or list item


@dataclass(eq=False)
class _Node:
    tag: str  # "" for text
    start: int  # offset of its first character in the source
    text: str = ""
    parent: "_Node | None" = None
    children: list["_Node"] = field(default_factory=list)
    content_end: int = 0  # offset of its end tag
    breaks: bool = False  # it holds a block or a <br>: its lines are units of their own


class _TreeBuilder(HTMLParser):
    """A tree of the HTML that knows where each node starts in the source, so tags can be inserted there."""

    def __init__(self, source: str):
        super().__init__(convert_charrefs=True)
        self.line_starts = [0, *(match.end() for match in re.finditer("\n", source))]
        self.root = _Node("#root", 0)
        self.open = [self.root]
        self.feed(source)
        self.close()
        for node in reversed(self.open):  # left open by the source: they end where it ends
            self._end(node, len(source))

    def _offset(self) -> int:
        line, column = self.getpos()
        return self.line_starts[line - 1] + column

    def _add(self, node: _Node) -> None:
        node.parent = self.open[-1]
        node.parent.children.append(node)

    def _end(self, node: _Node, offset: int) -> None:
        node.content_end = offset
        if node.parent and (node.breaks or node.tag in _BLOCK):
            node.parent.breaks = True

    def handle_starttag(self, tag, attrs):
        node = _Node(tag, self._offset())
        self._add(node)
        if tag in _VOID:
            self._end(node, node.start)
            node.parent.breaks |= tag == "br"
        else:
            self.open.append(node)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        for depth in range(len(self.open) - 1, 0, -1):
            if self.open[depth].tag == tag:
                for node in reversed(self.open[depth:]):
                    self._end(node, self._offset())
                del self.open[depth:]
                return

    def handle_data(self, data):
        self._add(_Node("", self._offset(), text=data))


def collapse_quoted_html(html: str) -> str:
    """Sanitized HTML of an email body, with the quoted history and the signature folded into
    ``<details class="quoted"><summary>Show quoted text</summary>…</details>``. Content is moved, never dropped.

    ``html`` is expected to be sanitized already (``helpdesk.html.sanitize_html``); the result is sanitized
    again all the same, so it is always safe to mark safe.
    """
    try:
        tree = _TreeBuilder(html or "")
        units: list[_Unit] = []
        _html_units(tree.root, units, in_pre=False)
        start = _find_tail(units)
    except RecursionError:  # thousands of nested elements: show it unfolded rather than fail the page
        start = None
    if start is not None:
        parent, index = units[start].where
        html = _fold(html, parent, index)
    return sanitize_html(html)


def _html_units(node: _Node, units: list[_Unit], *, in_pre: bool) -> None:
    """Append the units of ``node``'s content: a blockquote or <hr> each, and each line of inline content."""
    line: list[int] = []

    def end_line():
        if line:
            nodes = [node.children[index] for index in line]
            units.append(_Unit(_lines(nodes, in_pre), where=(node, line[0])))
            line.clear()

    for index, child in enumerate(node.children):
        if child.tag in ("blockquote", "hr"):
            end_line()
            lines = _lines([child], in_pre) if child.tag == "blockquote" else []
            units.append(_Unit(lines, where=(node, index), quote=child.tag == "blockquote", rule=child.tag == "hr"))
        elif child.tag in _BLOCK or child.breaks:
            end_line()
            _html_units(child, units, in_pre=in_pre or child.tag == "pre")
        else:
            line.append(index)
            if child.tag == "br":
                end_line()
    end_line()


def _lines(nodes: list[_Node], in_pre: bool) -> list[str]:
    """The readable text of ``nodes``, as lines (an image counts as something written)."""
    parts: list[str] = []
    stack = list(reversed(nodes))
    while stack:
        node = stack.pop()
        if not node.tag:
            parts.append(node.text.replace("\xa0", " ") if in_pre else re.sub(r"\s+", " ", node.text))
        elif node.tag == "br":
            parts.append("\n")
        elif node.tag == "img":
            parts.append("\ufffc")
        else:
            if node.tag in _BLOCK:
                parts.append("\n")
            stack.extend(reversed(node.children))
    lines = "".join(parts).split("\n")
    return lines if in_pre else [line.lstrip() for line in lines]


def _is_blank(nodes: list[_Node]) -> bool:
    return not "".join(_lines(nodes, in_pre=False)).strip()


def _fold(source: str, parent: _Node, index: int) -> str:
    """Wrap ``parent``'s children from ``index`` on in <details>, first climbing out of containers that hold
    nothing before the tail (so Apple's ``<div><div><blockquote>`` folds as one block)."""
    while parent.parent is not None and parent.tag not in _STAY_INSIDE and _is_blank(parent.children[:index]):
        index = parent.parent.children.index(parent)
        parent = parent.parent
    start, end = parent.children[index].start, parent.content_end
    return source[:start] + _details_open() + source[start:end] + "</details>" + source[end:]


_FOLDED = re.compile(r'<details class="quoted"><summary>.*?</summary>.*</details>', re.DOTALL)


def without_quoted_html(html: str) -> str:
    """The body without its folded quote, for emails to agents: many mail clients ignore <details>, and the
    agent opens the ticket for the history. The fold is always the body's last part (see ``_fold``)."""
    return _FOLDED.sub("", html)
