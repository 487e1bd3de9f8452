"""Inbound email parsing: the raw bytes of one message in, a plain ``ParsedEmail`` out.

Pure on purpose: no database, no settings, no network, so the Celery task that parses a stored
message can be retried safely and every rule here is tested on real mail without fixtures.

Real mail is often broken (wrong charsets, unquoted boundaries, headers cut in half, 8-bit bytes
where only ASCII is allowed), and a help desk must not lose a customer's message because of it.
So the rule throughout is: take the best reading the standard library gives, repair what it cannot
read, never drop content (a part that cannot be read as text is kept as an attachment), and say what
was repaired in ``defects`` so an admin can see why a message looks odd.
"""

import base64
import codecs
import mimetypes
import quopri
import re
from dataclasses import dataclass, field, replace
from dataclasses import fields as dataclass_fields
from datetime import UTC, datetime
from email import policy as email_policy
from email.generator import BytesGenerator
from email.header import decode_header
from email.message import Message
from email.parser import BytesParser, HeaderParser
from email.utils import getaddresses, parsedate_to_datetime
from functools import lru_cache
from io import BytesIO
from urllib.parse import unquote

from tnefparse import TNEF

from helpdesk.html import html_to_text
from tickets.mail import mime_fast

# A hostile message can nest parts without end or carry thousands of them; past these limits the
# rest is kept whole as one attachment instead of being walked.
MAX_DEPTH = 20
MAX_PARTS = 500
MAX_DEFECT_NOTES = 50


@dataclass(frozen=True)
class Address:
    name: str  # decoded display name, "" if none
    email: str  # the address as written, stripped; "" if none or unparseable


@dataclass(frozen=True)
class ParsedAttachment:
    filename: str  # decoded, never empty: made up from the content type when missing
    content_type: str  # lowercased, e.g. "application/pdf"
    content: bytes  # decoded payload; for message/rfc822 parts the enclosed message's bytes
    content_id: str  # Content-ID without <>, "" if none
    inline: bool  # an image shown inside the HTML body (referenced there by cid:)


@dataclass(frozen=True)
class Bounce:
    recipients: tuple[str, ...]  # the addresses that failed, lowercased
    status: str  # e.g. "5.1.1", "" if unknown
    action: str  # "failed", "delayed", ..., "" if unknown
    original_message_id: str  # Message-ID of the message that bounced, without <>, "" if not found
    permanent: bool  # action is "failed" or the status is 5.x.x


@dataclass(frozen=True)
class ParsedEmail:
    message_id: str
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    subject: str
    sender: Address
    reply_to: tuple[Address, ...]
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    delivered_to: tuple[str, ...]
    date: datetime | None
    text: str
    html: str
    attachments: tuple[ParsedAttachment, ...]
    auto_submitted: bool
    bulk: bool
    bounce: Bounce | None
    defects: tuple[str, ...]


class EmailParseError(Exception):
    """The input is not an email at all (empty, or no header section), as opposed to a broken one."""


def parse_email(raw: bytes) -> ParsedEmail:
    """Parse one raw message. Raises only ``EmailParseError``, and only for input that is not an email.

    The modern ``email.policy.default`` parser reads most mail best; where it raises on a broken
    header the older ``compat32`` policy is tried, and where even that fails (e.g. nesting so deep that
    the standard library runs out of stack) the headers are read alone and the body is kept whole.
    """
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise EmailParseError(f"expected bytes, got {type(raw).__name__}")
    raw = _LEADING_BLANK_LINES.sub(b"", bytes(raw))
    if not _HEADER_LINE.match(raw) and not raw.startswith(b"From "):
        raise EmailParseError("no header section: this is not an email")
    raw, notes = _repair_header_block(raw)
    for policy in (_POLICY, email_policy.compat32):
        try:
            return _parse_with(raw, policy, notes)
        except EmailParseError:
            raise
        except RecursionError:  # nesting too deep for the stdlib: the other policy would fail the same way
            notes = [*notes, "parser failed (nesting too deep)"]
            break
        except Exception as exc:  # the stdlib raises all kinds of errors on hostile input; we degrade instead
            notes = [*notes, f"parser failed ({type(exc).__name__}), retried more leniently"]
    return _headers_only(raw, notes)


def forget_cached() -> None:
    """Empty the parser's caches of header readings (benchmarks start cold with it)."""
    _CachingPolicy._cache.clear()
    _read_mime_header.cache_clear()
    _parse_addresses.cache_clear()


# --- parsing strategies ---------------------------------------------------------------------------------


class _CachingPolicy(email_policy.EmailPolicy):
    """The modern policy, remembering the headers it has parsed: the parser and ``Message`` ask for
    Content-Type again and again (for every ``get_content_type``), and each time the modern header
    parser reads it from scratch; that was half the time of parsing a message. Header objects are
    immutable, so sharing one between messages is safe."""

    _cache: dict = {}  # one per process, bounded below

    def header_fetch_parse(self, name, value):
        if len(value) > 998:  # long values are rare and unlikely to repeat
            return super().header_fetch_parse(name, value)
        key = (name.lower(), value)
        header = self._cache.get(key)
        if header is None:
            if len(self._cache) >= 20_000:
                self._cache.clear()
            header = self._cache[key] = super().header_fetch_parse(name, value)
        return header


_POLICY = _CachingPolicy()


class _VerbatimPolicy(email_policy.Compat32):
    """Writes each header back exactly as it came: the parser keeps a header's source text, folding and 8-bit
    bytes included, and refolding it (``Header.encode``) cost more than the rest of the writing."""

    def fold_binary(self, name, value):
        if not isinstance(value, str):
            return super().fold_binary(name, value)
        text = f"{name}: {value}"
        try:
            return text.encode("ascii", "surrogateescape") + self.linesep.encode("ascii")
        except UnicodeEncodeError:  # set by code, not parsed: real non-ASCII characters
            return super().fold_binary(name, value)


# Enclosed messages are written back with their headers as they came (3,000 nested parts: 1.4 s with compat32's
# folding, 5-6 s with the modern policy's, which parses every header again), else with the modern policy.
_SERIALIZE_POLICIES = (
    _VerbatimPolicy(linesep="\r\n", max_line_length=0),
    email_policy.default.clone(refold_source="none", linesep="\r\n"),
)
_HEADER_LINE = re.compile(rb"[!-9;-~]+[ \t]*:")
_LEADING_BLANK_LINES = re.compile(rb"\A(?:[ \t]*\r?\n)+")
_OBSOLETE_HEADER_NAME = re.compile(rb"([!-9;-~]+)[ \t]+:")


def _repair_header_block(raw: bytes) -> tuple[bytes, list[str]]:
    """Mend the two header-section faults that make the stdlib treat the remaining headers as body.

    RFC 2822's obsolete syntax allows whitespace before the colon ("Subject  : hi"), and some servers
    insert a stray non-header line between headers. The first is normalised; the second is dropped
    when the next line is a header again (otherwise it really is where the body starts).
    """
    notes: list[str] = []
    out: list[bytes] = []
    position = 0
    first = True
    while position < len(raw):
        end = raw.find(b"\n", position)
        end = len(raw) if end < 0 else end + 1
        line = raw[position:end]
        if not line.strip(b"\r\n"):
            break
        obsolete = _OBSOLETE_HEADER_NAME.match(line)
        if obsolete:
            line = obsolete.group(1) + b":" + line[obsolete.end() :]
            if not notes or notes[-1] != "obsolete header syntax normalised":
                notes.append("obsolete header syntax normalised")
        elif not (line[:1] in b" \t" or _HEADER_LINE.match(line) or (first and line.startswith(b"From "))):
            following = raw[end:].split(b"\n", 1)[0]
            if not following.strip(b"\r") or not (following[:1] in b" \t" or _HEADER_LINE.match(following)):
                break
            notes.append(f"dropped a malformed header line: {line.strip()[:80]!r}")
            line = b""
        out.append(line)
        position = end
        first = False
    if not notes:
        return raw, notes
    return b"".join(out) + raw[position:], notes


def _parse_with(raw: bytes, policy, notes: list[str]) -> ParsedEmail:
    message = mime_fast.parse_bytes(raw, policy)
    if not message.keys():
        raise EmailParseError("no header section: this is not an email")
    walk = _Walk(policy=policy, defects=list(notes))
    _walk_part(message, walk, depth=0, where="message")
    return _build(message, walk)


def _headers_only(raw: bytes, notes: list[str]) -> ParsedEmail:
    """Last resort: headers as far as they can be read, the whole message kept as one attachment."""
    try:
        message = BytesParser(policy=email_policy.compat32).parsebytes(raw, headersonly=True)
    except Exception:
        message = Message()
    walk = _Walk(policy=email_policy.compat32, defects=[*notes, "body could not be parsed; kept whole"])
    walk.attachments.append(ParsedAttachment("message.eml", "message/rfc822", raw, "", False))
    return _build(message, walk)


# --- walking the MIME tree ------------------------------------------------------------------------------


@dataclass
class _Segment:
    """One stretch of body: its plain text, its HTML, or both when it came from multipart/alternative."""

    plain: str | None = None
    html: str | None = None


@dataclass
class _Walk:
    """What the walk over one message has found so far."""

    policy: object
    defects: list[str] = field(default_factory=list)
    segments: list[_Segment] = field(default_factory=list)
    attachments: list[ParsedAttachment] = field(default_factory=list)
    delivery_reports: list[bytes] = field(default_factory=list)
    original_message_ids: list[str] = field(default_factory=list)
    tnef_bodies: list[_Segment] = field(default_factory=list)
    body_charset: str | None = None
    parts: int = 0


_ENCLOSED_MESSAGE_TYPES = {"message/rfc822", "message/global", "message/news"}
_BODY_TYPES = {"text/plain", "text/html"}


@dataclass(frozen=True)
class _PartHeaders:
    """The MIME headers of one part, read once: the modern header parser is slow enough for that to matter."""

    content_type: str
    params: dict[str, str]  # of Content-Type
    disposition: str
    filename: str
    content_id: str


def _read_part(part: Message) -> _PartHeaders:
    """Content-Type, Content-Disposition, filename (RFC 2231, RFC 2047 or raw 8-bit) and Content-ID of a part."""
    content_type, params = _mime_params(part, "content-type")
    if not content_type:
        content_type = part.get_default_type()  # text/plain, or message/rfc822 inside multipart/digest
    elif "/" not in content_type:
        content_type = "text/plain"  # what RFC 2045 says an unreadable Content-Type means
    disposition, disposition_params = _mime_params(part, "content-disposition")
    name = disposition_params.get("filename") or params.get("name") or ""
    filename = _safe_filename(_decode_words(name))
    return _PartHeaders(content_type, params, disposition, filename, _content_id(part))


def _walk_part(part: Message, walk: _Walk, depth: int, where: str) -> None:
    """Sort one part into body text, an attachment, an enclosed message, or a container to walk into.

    ``where`` names the part for defect notes: "message/2/1" is the first child of the second child.
    """
    walk.parts += 1
    headers = _read_part(part)
    if headers.content_type.startswith("multipart/"):
        _walk_multipart(part, headers, walk, depth, where)
    elif headers.content_type in _ENCLOSED_MESSAGE_TYPES:
        walk.attachments.append(_enclosed_message(part, headers, walk))
    elif _is_attachment(headers):
        _add_attachment(part, headers, walk)
    else:
        _add_body_text(part, headers, walk, where)
    _note_defects(part, walk, where, headers.content_type)


def _walk_multipart(part: Message, headers: _PartHeaders, walk: _Walk, depth: int, where: str) -> None:
    """Walk the children in order (mixed, related, signed, report, ...); alternatives are chosen between."""
    children = _children(part, headers, walk, where)
    if children is None:
        body = _raw_payload(part)
        if body.strip():
            text, _note = _decode_bytes(body, None)
            walk.segments.append(_Segment(plain=text))
            walk.defects.append(f"{where}: multipart without readable parts; its body kept as text")
        return
    if depth >= MAX_DEPTH:
        walk.defects.append(f"{where}: nested deeper than {MAX_DEPTH} levels; the rest kept as one attachment")
        walk.attachments.append(_kept_whole([part], "nested-parts.eml"))
        return
    if headers.content_type == "multipart/alternative":
        _walk_alternative(children, walk, depth, where)
        return
    for index, child in enumerate(children, start=1):
        if walk.parts >= MAX_PARTS:
            walk.defects.append(f"{where}: more than {MAX_PARTS} parts; the rest kept as one attachment")
            walk.attachments.append(_kept_whole(children[index - 1 :], "remaining-parts.eml"))
            return
        _walk_part(child, walk, depth + 1, f"{where}/{index}")


def _walk_alternative(children: list[Message], walk: _Walk, depth: int, where: str) -> None:
    """Keep both the plain and the HTML version: the first branch with plain text, the last with HTML.

    Any other branch that carries a body (e.g. a second text/plain version, which some senders write
    for the HTML) is kept as an attachment rather than dropped.
    """
    outer, branches = walk.segments, []
    for index, child in enumerate(children, start=1):
        if walk.parts >= MAX_PARTS:
            walk.defects.append(f"{where}: more than {MAX_PARTS} parts; the rest kept as one attachment")
            walk.attachments.append(_kept_whole(children[index - 1 :], "remaining-parts.eml"))
            break
        walk.segments = []
        _walk_part(child, walk, depth + 1, f"{where}/{index}")
        branches.append(walk.segments)
    walk.segments = outer
    plain_branch = next((b for b in branches if any(s.plain is not None for s in b)), None)
    html_branch = next((b for b in reversed(branches) if any(s.html for s in b)), None)
    plain = _join(s.plain for s in plain_branch or [])
    html = "\n".join(s.html for s in html_branch or [] if s.html)
    walk.segments.append(_Segment(plain=plain if plain_branch else None, html=html or None))
    for index, branch in enumerate(branches, start=1):
        if branch and branch is not plain_branch and branch is not html_branch:
            for segment in branch:
                _keep_unused_alternative(segment, walk, index)
            walk.defects.append(f"{where}/{index}: an extra alternative body, kept as an attachment")


def _keep_unused_alternative(segment: _Segment, walk: _Walk, index: int) -> None:
    if segment.plain:
        walk.attachments.append(
            ParsedAttachment(f"alternative-{index}.txt", "text/plain", segment.plain.encode(), "", False)
        )
    if segment.html:
        walk.attachments.append(
            ParsedAttachment(f"alternative-{index}.html", "text/html", segment.html.encode(), "", False)
        )


def _children(part: Message, headers: _PartHeaders, walk: _Walk, where: str) -> list[Message] | None:
    """The subparts of a multipart, re-split by hand when the declared boundary is not in the body.

    Typical causes: an unquoted boundary containing "=" (which the modern parser cuts short) or a
    boundary that differs from the one actually used. None when no boundary works.
    """
    payload = part.get_payload()
    if isinstance(payload, list):
        return payload
    body = _raw_payload(part)
    if not body.strip():
        return None
    for boundary in _boundary_candidates(headers.params.get("boundary"), body):
        entity = f'Content-Type: {headers.content_type}; boundary="{boundary}"\r\n\r\n'.encode() + body
        try:
            children = BytesParser(policy=walk.policy).parsebytes(entity).get_payload()
        except Exception:
            continue
        if isinstance(children, list) and children:
            walk.defects.append(f"{where}: declared boundary not found; parts split on {boundary!r}")
            return children
    return None


def _boundary_candidates(declared: str | None, body: bytes) -> list[str]:
    """The declared boundary as a forgiving reading gives it, then the first one the body actually uses."""
    candidates = [declared] if declared else []
    used = re.search(rb"^--([^\r\n]+?)[ \t]*$", body, re.MULTILINE)
    if used:
        candidates.append(used.group(1).decode("ascii", "replace"))
    return [c for c in dict.fromkeys(candidates) if c and '"' not in c and "\\" not in c]


def _is_attachment(headers: _PartHeaders) -> bool:
    """Any part with Content-Disposition attachment, a filename, or a type other than plain text or HTML."""
    return headers.content_type not in _BODY_TYPES or headers.disposition == "attachment" or bool(headers.filename)


def _add_body_text(part: Message, headers: _PartHeaders, walk: _Walk, where: str) -> None:
    data = _decoded_payload(part)
    content_type = headers.content_type
    charset = _charset(headers, data)
    walk.body_charset = walk.body_charset or charset
    text, note = _decode_bytes(data, charset)
    if note:
        walk.defects.append(f"{where}: {note}")
    text = _normalize_newlines(text)
    walk.segments.append(_Segment(html=text) if content_type == "text/html" else _Segment(plain=text))


def _add_attachment(part: Message, headers: _PartHeaders, walk: _Walk) -> None:
    """Keep a part as an attachment; winmail.dat is unpacked, and bounce reports are also read for the bounce."""
    content = _decoded_payload(part)
    content_type = headers.content_type
    is_tnef = content_type == "application/ms-tnef" or headers.filename.lower() == "winmail.dat"
    if is_tnef and _unpack_tnef(content, walk):
        return
    if content_type == "message/delivery-status":
        walk.delivery_reports.append(content)
    elif content_type == "text/rfc822-headers":
        walk.original_message_ids.append(_message_id_in_headers(content))
    walk.attachments.append(
        ParsedAttachment(
            filename=headers.filename or _invent_filename(content_type),
            content_type=content_type,
            content=content,
            content_id=headers.content_id,
            inline=False,
        )
    )


def _enclosed_message(part: Message, headers: _PartHeaders, walk: _Walk) -> ParsedAttachment:
    """A forwarded or returned message: one attachment holding its bytes, never walked for the body."""
    payload = part.get_payload()
    inner = payload[0] if isinstance(payload, list) and payload else None
    if inner is None:
        content = _raw_payload(part)
        subject = ""
    else:
        content = _serialize(inner)
        subject = _subject(inner)
        walk.original_message_ids.append(_message_id(inner))
    filename = headers.filename or f"{_safe_filename(subject)[:100] or 'message'}.eml"
    return ParsedAttachment(filename, headers.content_type, content, headers.content_id, False)


def _kept_whole(parts: list[Message], filename: str) -> ParsedAttachment:
    """Parts past a safety limit, kept unwalked as one multipart/mixed entity so nothing is lost."""
    chunks = [_serialize(part) for part in parts]
    boundary = "=_kept_parts"
    while any(boundary.encode() in chunk for chunk in chunks):
        boundary += "_"
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + chunk + b"\r\n" for chunk in chunks)
    entity = f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'.encode()
    return ParsedAttachment(filename, "message/rfc822", entity + body + f"--{boundary}--\r\n".encode(), "", False)


def _note_defects(part: Message, walk: _Walk, where: str, content_type: str) -> None:
    for defect in getattr(part, "defects", ()):
        description = str(defect) or (type(defect).__doc__ or type(defect).__name__).strip().splitlines()[0]
        walk.defects.append(f"{where} ({content_type}): {description[:200]}")


# --- payloads and text ----------------------------------------------------------------------------------


def _decoded_payload(part: Message) -> bytes:
    """The part's content with its transfer encoding undone (lenient: bad base64 is decoded as far as it goes)."""
    if part.is_multipart():
        return _entity_body(part)
    raw = _raw_payload(part)
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if data is None:
        return raw
    if data == raw:  # not decoded: no transfer encoding, or one the stdlib did not recognise
        return _decode_misspelt_encoding(data, _first_header(part, "content-transfer-encoding"))
    return data


def _decode_misspelt_encoding(data: bytes, encoding: str) -> bytes:
    """Undo "quoted-printable;" or " base64 " style encodings, which the stdlib passes through undecoded."""
    token = (re.split(r"[\s;,]+", encoding.strip().lower()) or [""])[0]
    if token == "quoted-printable":
        return quopri.decodestring(data)
    if token == "base64":
        letters = re.sub(rb"[^A-Za-z0-9+/]", b"", data)
        if len(letters) % 4 == 1:  # a lone trailing character cannot be decoded
            letters = letters[:-1]
        return base64.b64decode(letters + b"=" * (-len(letters) % 4))
    return data


def _raw_payload(part: Message) -> bytes:
    payload = part.get_payload()
    if isinstance(payload, str):
        return _str_to_bytes(payload)
    if isinstance(payload, bytes):
        return payload
    return _entity_body(part)


def _str_to_bytes(value: str) -> bytes:
    """A payload string back to its bytes: raw 8-bit bytes are kept by the parser as surrogate escapes."""
    return value.encode("utf-8", "surrogateescape")


def _entity_body(part: Message) -> bytes:
    """The body of a part as it would be sent (used for message/delivery-status and similar parts)."""
    data = _serialize(part)
    end = data.find(b"\r\n\r\n")
    return data[end + 4 :] if end >= 0 else data


def _serialize(part: Message) -> bytes:
    for policy in _SERIALIZE_POLICIES:
        try:
            buffer = BytesIO()
            BytesGenerator(buffer, mangle_from_=False, policy=policy).flatten(part)
            return buffer.getvalue()
        except RecursionError:
            return _serialize_flat(part)
        except Exception:
            continue
    return _raw_payload(part) if not part.is_multipart() else b""


def _serialize_flat(part: Message) -> bytes:
    """A tree too deep to write back recursively: its leaves, written one by one into one multipart."""
    leaves, stack = [], [part]
    while stack:
        current = stack.pop()
        payload = current.get_payload()
        if isinstance(payload, list):
            stack.extend(reversed(payload))
        else:
            leaves.append(current)
    return _kept_whole(leaves, "").content


def _charset(headers: _PartHeaders, data: bytes) -> str | None:
    """The declared charset; for HTML without one, the charset its <meta> tag names."""
    charset = headers.params.get("charset")
    if not charset and headers.content_type == "text/html":
        meta = re.search(rb"""<meta[^>]+charset\s*=\s*["']?([\w.:-]+)""", data[:4096], re.IGNORECASE)
        charset = meta.group(1).decode("ascii") if meta else None
    return charset


# Names that mail clients write but Python's codecs do not know, or where a superset reads real mail better.
_CHARSET_ALIASES = {
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "euc-kr": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "iso-8859-8-i": "iso-8859-8",
    "x-sjis": "shift_jis",
    "shift-jis": "shift_jis",
    "windows-874": "cp874",
    "unicode-1-1-utf-7": "utf-7",
    "x-mac-roman": "mac_roman",
    "macintosh": "mac_roman",
    "ansi_x3.4-1968": "ascii",
    "us-ascii": "ascii",
}
_NOT_CHARSETS = {"x-unknown", "unknown", "unknown-8bit", "x-user-defined", "default", "none", "binary"}


def _codec(charset: str | None) -> str | None:
    """Python's codec for a declared charset; None when unknown, or not a text encoding ("base64", "rot13")."""
    if not charset:
        return None
    name = charset.strip().strip("\"'").lower()
    if name in _NOT_CHARSETS:
        return None
    try:
        codec = codecs.lookup(_CHARSET_ALIASES.get(name, name)).name
        "abc".encode(codec).decode(codec)
    except (LookupError, UnicodeError, ValueError, TypeError):
        return None
    return codec


def _decode_bytes(data: bytes, charset: str | None) -> tuple[str, str]:
    """Bytes to text in the declared charset, or the best guess when it is missing, unknown or wrong.

    Returns the text and a note for ``defects`` ("" when the declared charset read the bytes cleanly).
    UTF-8 text labelled Latin-1 is read as UTF-8. Bytes the declared charset cannot read are tried as
    UTF-8; failing that, a known charset keeps its reading with the bad bytes replaced, and otherwise
    mostly-UTF-8 text is read as UTF-8 and anything else as Windows-1252 (what "Latin-1" mail really is).
    """
    codec = _codec(charset)
    if codec in _LEGACY_SINGLE_BYTE and not data.isascii():
        try:
            return data.decode("utf-8"), f"declared charset {charset!r} but the text is UTF-8"
        except UnicodeDecodeError:
            pass
    attempts = [c for c in (codec, "utf-8") if c]
    for attempt in dict.fromkeys(attempts):
        try:
            text = data.decode(attempt)
        except (UnicodeError, LookupError, ValueError, TypeError):
            continue
        if attempt == codec or not charset:
            return text, ""
        return text, f"declared charset {charset!r} did not fit; read as UTF-8"
    if codec and codec not in ("ascii", "utf-8"):
        try:
            return data.decode(codec, "replace"), f"invalid {charset} bytes replaced"
        except (UnicodeError, LookupError, ValueError, TypeError):  # codecs such as idna ignore "replace"
            pass
    if _mostly_utf8(data):
        return data.decode("utf-8", "replace"), "invalid UTF-8 bytes replaced"
    label = f"declared charset {charset!r}" if charset else "no charset declared"
    try:
        return data.decode("cp1252"), f"{label}; read as Windows-1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), f"{label}; read as Latin-1"


# Charsets that decode any byte string, so a wrong label never fails; UTF-8 text labelled with them is read as
# UTF-8, because valid UTF-8 multi-byte sequences almost never occur in real Latin text.
_LEGACY_SINGLE_BYTE = {"latin-1", "iso8859-1", "iso8859-15", "cp1252"}


def _mostly_utf8(data: bytes) -> bool:
    text = data.decode("utf-8", "replace")
    return len(re.findall("[^\x00-\x7f\ufffd]", text)) > text.count("\ufffd")


def _repair_text(value: str, charset: str | None = None) -> str:
    """Text with raw 8-bit bytes (kept by the parser as surrogate escapes) decoded: UTF-8 first, then ``charset``."""
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        data = _str_to_bytes(value)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return _decode_bytes(data, charset)[0]


def _normalize_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _join(texts) -> str:
    return "\n\n".join(t.lstrip("\n").rstrip() for t in texts if t and t.strip())


# --- headers --------------------------------------------------------------------------------------------


def _headers(part: Message, name: str, charset: str | None = None) -> list[str]:
    """Every value of a header, unfolded and with 8-bit bytes decoded, in the order they appear.

    Raw 8-bit header bytes are read as UTF-8 (RFC 6532) or else in ``charset``, the body's charset:
    old clients wrote headers unencoded in the same charset as the body.
    """
    return [_repair_text(value, charset) for value in _unfolded_headers(part).get(name, ())]


_FOLD = re.compile(r"\r?\n(?=[ \t])")


def _unfolded_headers(part: Message) -> dict[str, list[str]]:
    """The part's headers by lower-case name, unfolded: read once per part (a message asks for dozens)."""
    index = part.__dict__.get("_unfolded_headers")
    if index is None:
        index = {}
        for key, value in part.raw_items():
            index.setdefault(key.lower(), []).append(_FOLD.sub("", str(value)).replace("\r", "").replace("\n", " "))
        part.__dict__["_unfolded_headers"] = index
    return index


def _first_header(part: Message, name: str, charset: str | None = None) -> str:
    values = _headers(part, name, charset)
    return values[0] if values else ""


def _decode_words(value: str) -> str:
    """RFC 2047 encoded words decoded, in any charset (unknown or wrong ones are guessed like bodies).

    ``decode_header`` comes first: it hands over each word's bytes and charset, and it is linear where
    the modern policy's parser takes half a second on a 200 kB subject. The policy reads what it rejects.
    """
    if "=?" not in value:
        return value
    try:
        chunks = decode_header(value)
    except Exception:
        try:
            return _repair_text(str(_POLICY.header_factory("subject", value)))
        except Exception:
            return value
    return "".join(chunk if isinstance(chunk, str) else _decode_bytes(chunk, charset)[0] for chunk, charset in chunks)


def _subject(part: Message, charset: str | None = None) -> str:
    return " ".join(_decode_words(_first_header(part, "subject", charset)).split())


def _mime_params(part: Message, name: str) -> tuple[str, dict[str, str]]:
    """The main value and parameters of Content-Type or Content-Disposition (RFC 2231 and 2047 decoded).

    When the modern parser reports defects, parameters read by a forgiving regex fill in or correct
    its reading: it cuts unquoted values at spaces or "=" ("name=This is a test.txt", "boundary=--=_1").
    """
    value = _first_header(part, name)
    if not value:
        return "", {}
    main, params = _read_mime_header(name, value)
    return main, dict(params)


@lru_cache(maxsize=4096)
def _read_mime_header(name: str, value: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """``_mime_params`` of one header value, remembered: most Content-Types repeat from message to message."""
    try:
        header = _POLICY.header_factory(name, value)
        params = {key.lower(): str(val) for key, val in header.params.items()}
        main = str(getattr(header, "content_disposition", None) or getattr(header, "content_type", "") or "")
        broken = bool(header.defects)
    except Exception:
        params, main, broken = {}, value.split(";")[0].strip(), True
    if broken:
        params.update(_loose_params(value))
    return main.lower(), tuple((key, _repair_text(val)) for key, val in params.items())


_PARAM = re.compile(r';\s*([\w.-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


def _loose_params(value: str) -> dict[str, str]:
    params = {}
    for key, raw in _PARAM.findall(value):
        raw = raw.strip()
        if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        if raw:
            params[key.lower()] = _decode_words(raw)
    return params


def _safe_filename(name: str) -> str:
    """Only the last path component, without control characters: the caller may store it as a file name."""
    name = re.split(r"[/\\]", name)[-1]
    name = " ".join(re.sub(r"[\x00-\x1f\x7f]", "", name).split())[:255]
    return "" if name in (".", "..") else name


_INVENTED_NAMES = {
    "message/delivery-status": "delivery-status.txt",
    "message/disposition-notification": "disposition-notification.txt",
    "message/feedback-report": "feedback-report.txt",
    "text/rfc822-headers": "original-headers.txt",
    "application/ms-tnef": "winmail.dat",
}
_EXTENSIONS = {
    "text/calendar": ".ics",
    "image/jpg": ".jpg",
    "application/pgp-signature": ".asc",
    "application/pkcs7-signature": ".p7s",
    "application/x-pkcs7-signature": ".p7s",
}
_DEFAULT_MIMETYPES = mimetypes.MimeTypes()  # the built-in table only, so names do not depend on the machine


def _invent_filename(content_type: str) -> str:
    """A name for a part that has none, e.g. "attachment.pdf", "image.png", "delivery-status.txt"."""
    if content_type in _INVENTED_NAMES:
        return _INVENTED_NAMES[content_type]
    maintype = content_type.split("/")[0]
    extension = _EXTENSIONS.get(content_type) or _DEFAULT_MIMETYPES.guess_extension(content_type) or ""
    if not extension and maintype == "text":
        extension = ".txt"
    stem = maintype if maintype in ("image", "audio", "video", "message") else "attachment"
    return stem + extension


def _content_id(part: Message) -> str:
    return _first_header(part, "content-id").strip().strip("<>").strip()


_MESSAGE_ID = re.compile(r"<([^<>]+)>")


def _message_ids(value: str) -> list[str]:
    """Message ids in a References-style header, in order; tolerant of junk, folding and missing <>."""
    found = _MESSAGE_ID.findall(value)
    if not found:
        found = [token for token in re.split(r"[\s,]+", value) if "@" in token]
    ids = (re.sub(r"\s+|\([^()]*\)", "", message_id) for message_id in found)
    return [message_id for message_id in dict.fromkeys(ids) if message_id]


def _message_id(part: Message) -> str:
    ids = _message_ids(_first_header(part, "message-id"))
    return ids[0] if ids else ""


def _message_id_in_headers(data: bytes) -> str:
    headers = HeaderParser(policy=email_policy.compat32).parsestr(data.decode("ascii", "surrogateescape"))
    return _message_id(headers)


def _addresses(part: Message, name: str, charset: str | None = None) -> tuple[Address, ...]:
    found: list[Address] = []
    for value in _headers(part, name, charset):
        found.extend(_parse_addresses(name, value))
    return tuple(address for address in found if address.name or address.email)


# One plain address, "Name <local@domain>" or "local@domain": no quotes, comments, groups, encoded words or
# lists, which the modern parser would read the same way, only a hundred times slower.
_PLAIN_ADDRESS = re.compile(
    r'\s*(?:([^"(),:;<>@\\=\[\]]*?)\s*<([^\s"(),:;<>@\\\[\]]+@[^\s"(),:;<>@\\\[\]]+)>'
    r'|([^\s"(),:;<>@\\\[\]]+@[^\s"(),:;<>@\\\[\]]+))\s*'
)


@lru_cache(maxsize=4096)
def _parse_addresses(name: str, value: str) -> tuple[Address, ...]:
    """Addresses by the modern parser (groups, comments, encoded words), by ``getaddresses`` if it fails."""
    plain = _PLAIN_ADDRESS.fullmatch(value)
    if plain is not None:
        display, email = (" ".join(plain.group(1).split()), plain.group(2)) if plain.group(2) else ("", plain.group(3))
        return (Address(_repair_text(display), _repair_text(email)),)
    try:
        parsed = [(a.display_name, a.addr_spec) for a in _POLICY.header_factory(name, value).addresses]
    except Exception:
        parsed = []
    if not parsed and "@" in value:
        parsed = getaddresses([value])
    return tuple(
        Address(_repair_text(_decode_words(n)).strip(), _repair_text(e).strip().strip("<>")) for n, e in parsed
    )


def _delivered_to(part: Message) -> tuple[str, ...]:
    found = []
    for name in ("delivered-to", "x-original-to", "envelope-to"):
        for value in _headers(part, name):
            found.extend(email.strip() for _name, email in getaddresses([value]) if email.strip())
    return tuple(dict.fromkeys(found))


def _date(part: Message, walk: _Walk) -> datetime | None:
    value = _first_header(part, "date").strip()
    if not value:
        return None
    # RFC 2822's obsolete syntax allows comments and spaces inside the time: "09(comment):   55  :  06".
    plain = re.sub(r"\s*:\s*", ":", re.sub(r"\([^()]*\)", " ", value))
    try:
        parsed = parsedate_to_datetime(plain)
    except (TypeError, ValueError, IndexError, OverflowError):
        walk.defects.append(f"unreadable Date header: {value[:80]!r}")
        return None
    if not 1900 <= parsed.year <= 2200:
        walk.defects.append(f"implausible Date header: {value[:80]!r}")
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# --- automatic mail and bounces -------------------------------------------------------------------------


def _is_auto_submitted(part: Message) -> bool:
    auto = _first_header(part, "auto-submitted").strip().lower()
    if auto and re.split(r"[\s;(]", auto)[0] != "no":
        return True
    for name in ("x-autoreply", "x-autorespond"):
        value = _first_header(part, name).strip().lower()
        if value and value not in ("no", "false", "0"):
            return True
    suppress = {token.lower() for token in re.split(r"[\s,]+", _first_header(part, "x-auto-response-suppress"))}
    if suppress & {"all", "oof", "autoreply"}:
        return True
    return _first_header(part, "precedence").strip().lower() == "auto_reply"


def _is_bulk(part: Message) -> bool:
    if _first_header(part, "precedence").strip().lower() in ("bulk", "list", "junk"):
        return True
    return bool(_first_header(part, "list-id").strip() or _first_header(part, "list-unsubscribe").strip())


_DAEMON = re.compile(r"^(mailer-daemon|mail-daemon|mailerdaemon|postmaster)@", re.IGNORECASE)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered|delivery (status notification|failure|has failed)|returned mail|failure notice"
    r"|mail delivery failed|delivery problem|delayed mail",
    re.IGNORECASE,
)
_ORIGINAL_MARKER = re.compile(
    r"^[ \t-]*(original message( follows)?|(a )?copy of the (original )?message|undelivered message)\b.*$",
    re.IGNORECASE | re.MULTILINE,
)
_STATUS = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")
_EMAIL = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")


def _find_bounce(message: Message, walk: _Walk, sender: Address, subject: str, text: str) -> Bounce | None:
    """A delivery status notification: the standard multipart/report, or a mailer daemon's plain text.

    The non-standard kind is recognised only when the sender is a mailer daemon or postmaster and the
    message also names failed recipients, encloses the original or has a bounce subject.
    """
    original_id = next((message_id for message_id in walk.original_message_ids if message_id), "")
    if walk.delivery_reports:
        return _bounce_from_reports(walk.delivery_reports, original_id)
    if not _DAEMON.match(sender.email):
        return None
    failed_header = ",".join(_headers(message, "x-failed-recipients"))
    marker = _ORIGINAL_MARKER.search(text)
    if not (failed_header or marker or walk.original_message_ids or _BOUNCE_SUBJECT.search(subject)):
        return None
    explanation = text[: marker.start()] if marker else text
    own = {sender.email.lower(), *(a.email.lower() for a in _addresses(message, "to"))}
    recipients = [a.lower() for a in _EMAIL.findall(failed_header or explanation) if a.lower() not in own]
    status = next(iter(_STATUS.findall(explanation)), "")
    delayed = status.startswith("4") or re.search(r"delay|will be retried|still being retried", subject, re.I)
    action = "delayed" if delayed else "failed"
    if not original_id and marker:
        original_id = _message_id_in_headers(text[marker.end() :].lstrip("\n").encode("utf-8", "replace"))
    return Bounce(tuple(dict.fromkeys(recipients)), status, action, original_id, _permanent(action, status))


def _bounce_from_reports(reports: list[bytes], original_id: str) -> Bounce:
    """Per-recipient fields of message/delivery-status parts (RFC 3464), worst outcome first."""
    recipients: list[str] = []
    outcomes: list[tuple[str, str]] = []
    for report in reports:
        for fields in _field_blocks(report.decode("utf-8", "replace")):
            address = fields.get("final-recipient") or fields.get("original-recipient")
            if not address:
                continue
            action = fields.get("action", "").strip().lower()
            status = next(iter(_STATUS.findall(fields.get("status", ""))), "")
            if action in ("delivered", "relayed", "expanded"):
                continue
            recipients.append(address.split(";")[-1].strip().strip("<>").lower())
            outcomes.append((action, status))
    rank = {"failed": 0, "delayed": 1}
    action, status = min(outcomes, key=lambda o: (rank.get(o[0], 2), not o[1].startswith("5")), default=("", ""))
    return Bounce(tuple(dict.fromkeys(recipients)), status, action, original_id, _permanent(action, status))


def _field_blocks(text: str) -> list[dict[str, str]]:
    """RFC 822-style field blocks separated by blank lines, as lowercased-name dictionaries."""
    blocks = []
    for block in re.split(r"\n[ \t]*\n", _normalize_newlines(text)):
        fields: dict[str, str] = {}
        name = None
        for line in block.split("\n"):
            if line[:1] in (" ", "\t") and name:
                fields[name] += " " + line.strip()
            elif ":" in line:
                name, value = line.split(":", 1)
                name = name.strip().lower()
                fields.setdefault(name, value.strip())
        blocks.append(fields)
    return blocks


def _permanent(action: str, status: str) -> bool:
    return action == "failed" or status.startswith("5")


# --- TNEF (winmail.dat) ---------------------------------------------------------------------------------


def _unpack_tnef(data: bytes, walk: _Walk) -> bool:
    """Outlook's winmail.dat unpacked into its files (and its body, used if the mail has no other).

    False when it cannot be read or holds nothing usable: the caller then keeps it as it is.
    """
    try:
        tnef = TNEF(data, do_checksum=False)
        files = [
            ParsedAttachment(
                filename=_safe_filename(_tnef_name(item)) or "attachment",
                content_type=(mimetypes.guess_type(_tnef_name(item))[0] or "application/octet-stream").lower(),
                content=bytes(item.data),
                content_id="",
                inline=False,
            )
            for item in tnef.attachments
        ]
        body = _Segment(plain=_tnef_text(tnef.body) or None, html=_tnef_text(tnef.htmlbody) or None)
    except Exception as exc:  # tnefparse raises many kinds of errors on damaged files
        walk.defects.append(f"winmail.dat could not be unpacked ({type(exc).__name__}); kept as it is")
        return False
    if not files and not (body.plain or body.html):
        walk.defects.append("winmail.dat holds no files or readable body; kept as it is")
        return False
    walk.attachments.extend(files)
    if body.plain or body.html:
        walk.tnef_bodies.append(body)
    return True


def _tnef_name(item) -> str:
    name = item.long_filename() or item.name or ""
    return name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)


def _tnef_text(value) -> str:
    if isinstance(value, bytes):
        return _normalize_newlines(_decode_bytes(value.rstrip(b"\x00"), None)[0])
    return _normalize_newlines(value.rstrip("\x00")) if isinstance(value, str) else ""


# --- assembling the result ------------------------------------------------------------------------------


def _build(message: Message, walk: _Walk) -> ParsedEmail:
    text = _join(s.plain if (s.plain or "").strip() else html_to_text(s.html or "") for s in walk.segments)
    html = "\n".join(s.html for s in walk.segments if s.html and s.html.strip())
    if not text.strip() and not html.strip() and walk.tnef_bodies:
        text = _join(s.plain or html_to_text(s.html or "") for s in walk.tnef_bodies)
        html = "\n".join(s.html for s in walk.tnef_bodies if s.html)
    charset = walk.body_charset
    senders = _addresses(message, "from", charset)
    sender = senders[0] if senders else Address("", "")
    subject = _subject(message, charset)
    bounce = _find_bounce(message, walk, sender, subject, text)
    is_report = _read_part(message).content_type == "multipart/report"
    date = _date(message, walk)  # before the defects are summarized: it may add one
    parsed = ParsedEmail(
        message_id=_message_id(message),
        in_reply_to=tuple(_message_ids(" ".join(_headers(message, "in-reply-to")))),
        references=tuple(_message_ids(" ".join(_headers(message, "references")))),
        subject=subject,
        sender=sender,
        reply_to=_addresses(message, "reply-to", charset),
        to=_addresses(message, "to", charset),
        cc=_addresses(message, "cc", charset),
        delivered_to=_delivered_to(message),
        date=date,
        text=text,
        html=html,
        attachments=_mark_inline(walk.attachments, html),
        auto_submitted=_is_auto_submitted(message) or bounce is not None or is_report,
        bulk=_is_bulk(message),
        bounce=bounce,
        defects=_summarize(walk.defects),
    )
    return _without_nul(parsed)


def _without_nul(email: ParsedEmail) -> ParsedEmail:
    """NUL characters (U+0000) replaced by U+FFFD in every text of the result (not in attachments' bytes). They
    are not text (broken mail has them: UTF-16 read as another charset, a C string's end), and Postgres refuses
    them in a text column: kept, they would make the message impossible to put on a ticket."""
    if not any("\x00" in text for text in _texts(email)):
        return email

    def clean(value):
        if isinstance(value, str):
            return value.replace("\x00", "\ufffd")
        if isinstance(value, tuple):
            return tuple(clean(item) for item in value)
        if isinstance(value, Address | Bounce | ParsedAttachment | ParsedEmail):
            return replace(value, **{f.name: clean(getattr(value, f.name)) for f in dataclass_fields(value)})
        return value

    cleaned = clean(email)
    return replace(cleaned, defects=_summarize([*cleaned.defects, "NUL characters replaced"]))


def _texts(value):
    """Every str in a parse result, however deep."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, tuple):
        for item in value:
            yield from _texts(item)
    elif isinstance(value, Address | Bounce | ParsedAttachment | ParsedEmail):
        for f in dataclass_fields(value):
            yield from _texts(getattr(value, f.name))


def _mark_inline(attachments: list[ParsedAttachment], html: str) -> tuple[ParsedAttachment, ...]:
    """Inline means shown inside the HTML: only parts the HTML references by cid: are hidden from the list."""
    referenced = {unquote(cid).strip().lower() for cid in re.findall(r"cid:([^\"'\s>)]+)", html, re.IGNORECASE)}
    return tuple(
        replace(a, inline=True) if a.content_id and a.content_id.lower() in referenced else a for a in attachments
    )


def _summarize(defects: list[str]) -> tuple[str, ...]:
    unique = list(dict.fromkeys(defects))
    if len(unique) <= MAX_DEFECT_NOTES:
        return tuple(unique)
    return (*unique[:MAX_DEFECT_NOTES], f"... and {len(unique) - MAX_DEFECT_NOTES} more")
