"""The standard library's MIME parser, without its slowest habit: reading big encoded attachments line by line.

``email.feedparser`` looks at every line of a message to find the next boundary. A 200 KB PDF is 3,500
lines of base64, and reading them took two thirds of the time of parsing a message that carries one.
Such a body cannot hold a boundary (base64 has no "-"), so the parser learns nothing from its lines:
``parse_bytes`` hands the parser a copy of the message in which each long base64 body is one short
stand-in line, and puts the real bodies back into the parsed parts afterwards.

The result is exactly the standard library's: a stand-in is accepted only where the parser made it the
whole payload of one part, as it would have made the real body; if any stand-in lands anywhere else
(the body was not what it looked like), the message is parsed again the ordinary way.
"""

import re
import secrets
from contextlib import contextmanager
from email import feedparser
from email.message import Message
from email.parser import BytesParser
from functools import lru_cache

# A blank line (the end of a part's headers), then at least 32 lines of base64 up to a line that starts
# with "--" (a boundary, if the parser agrees), blank lines allowed before it. The last line break belongs
# to the boundary. Possessive quantifiers: a body that is not followed by "--" fails at once.
_BASE64_BODY = re.compile(rb"(?<=\n)(\r?\n)((?:[A-Za-z0-9+/=]{1,998}+\r?\n){32,}+(?:\r?\n)*+)(?=--)")
_MIN_SIZE = 16_384  # smaller messages have no body worth standing in for


def parse_bytes(raw: bytes, policy) -> Message:
    """``BytesParser(policy=policy).parsebytes(raw)``, the same result, faster when big attachments are base64."""
    if len(raw) < _MIN_SIZE:
        return BytesParser(policy=policy).parsebytes(raw)
    nonce = secrets.token_hex(8)
    bodies: dict[str, str] = {}

    def stand_in(match: re.Match) -> bytes:
        lines = match.group(2)
        line_break = b"\r\n" if lines.endswith(b"\r\n") else b"\n"
        key = f"@@{nonce}-{len(bodies)}@@"
        bodies[key] = lines[: -len(line_break)].decode("ascii")
        return match.group(1) + key.encode("ascii") + line_break

    light = _BASE64_BODY.sub(stand_in, raw)
    if not bodies:
        return BytesParser(policy=policy).parsebytes(raw)
    message = BytesParser(policy=policy).parsebytes(light)
    if _put_back(message, bodies):
        return message
    return BytesParser(policy=policy).parsebytes(raw)


def _put_back(message: Message, bodies: dict[str, str]) -> bool:
    """Give each part whose whole payload is a stand-in its real body; False unless every one found its part."""
    for part in message.walk():
        payload = part._payload
        if isinstance(payload, str) and payload in bodies:
            part._payload = bodies.pop(payload)
    return not bodies


# --- boundaries ----------------------------------------------------------------------------------------------
# For every multipart part the feed parser compiles a regular expression for its boundary
# (``'(?P<sep>' + re.escape(separator) + r')(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$'``). Boundaries
# are unique per message, so ``re``'s cache never helps, and compiling took a fifth of our parse time
# (0.2 ms a boundary). The parser gets a stand-in that answers ``match`` with the same ``re.Match``: the line
# must start with the separator (a plain string test), then one pattern per separator *length* (compiled once)
# matches the rest exactly as the original would.

_BOUNDARY_HEAD = "(?P<sep>"
_BOUNDARY_TAIL = r")(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$"
_UNESCAPE = re.compile(r"\\(.)", re.DOTALL)


@lru_cache(maxsize=256)
def _boundary_of_length(length: int) -> re.Pattern:
    return re.compile(f"(?P<sep>[\\s\\S]{{{length}}})" + _BOUNDARY_TAIL[1:])


class _BoundaryPattern:
    __slots__ = ("_pattern", "separator")

    def __init__(self, separator: str):
        self.separator = separator
        self._pattern = _boundary_of_length(len(separator))

    def match(self, line: str):
        return self._pattern.match(line) if line.startswith(self.separator) else None


class _FeedParserRe:
    """``re`` as ``email.feedparser`` sees it: everything is ``re``'s own except compiling a boundary pattern."""

    def __getattr__(self, name):
        return getattr(re, name)

    @staticmethod
    def compile(pattern, flags=0):
        if (
            flags == 0
            and isinstance(pattern, str)
            and pattern.startswith(_BOUNDARY_HEAD)
            and pattern.endswith(_BOUNDARY_TAIL)
        ):
            separator = _UNESCAPE.sub(r"\1", pattern[len(_BOUNDARY_HEAD) : -len(_BOUNDARY_TAIL)])
            if re.escape(separator) == pattern[len(_BOUNDARY_HEAD) : -len(_BOUNDARY_TAIL)]:
                return _BoundaryPattern(separator)
        return re.compile(pattern, flags)


feedparser.re = _FeedParserRe()


@contextmanager
def plain_feedparser():
    """The standard library's parser exactly as shipped, for comparisons (tests, the email benchmark)."""
    patched, feedparser.re = feedparser.re, re
    try:
        yield
    finally:
        feedparser.re = patched
