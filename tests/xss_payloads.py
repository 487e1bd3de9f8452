"""A corpus of cross-site scripting payloads, sent through every way untrusted content comes in
(tests/test_xss.py, tests/test_xss_browser.py).

Every payload, if it ever ran, would do something a test can observe: ``alert(N)`` opens a dialog, and
``top.__xss=N`` sets a global (``top`` so that script running in a frame counts too). ``N`` is the payload's
number (``XSS_N`` in the templates below), so a failure says which payload got through.

``HTML`` is markup (an email's HTML part, an API body in the html format); ``MARKDOWN`` is Markdown (a
knowledge-base article, an API note in the markdown format), where raw HTML is shown as text and the danger
is in links and images; ``ALL`` is both, for the fields that are plain text (subjects, names, the portal's
form), where every payload must come out as the characters typed.
"""

import base64
import re
from dataclasses import dataclass
from html.parser import HTMLParser

MARK = "XSS_N"


@dataclass(frozen=True)
class Payload:
    number: int
    name: str
    text: str

    def __str__(self):  # the id pytest shows
        return f"{self.number}-{self.name}"


def _b64(text: str) -> str:
    """A marker for base64 of ``text``, encoded once ``XSS_N`` in it has its number (see ``_build``)."""
    return f"B64({text})B64"


_B64 = re.compile(r"B64\((.*?)\)B64", re.S)


def _js_entities(text: str, *, hex_: bool = False) -> str:
    return "".join(f"&#x{ord(c):x};" if hex_ else f"&#{ord(c)};" for c in text)


# name -> markup, with XSS_N where the payload's number goes.
_HTML = {
    # script tags
    "script": "<script>alert(XSS_N)</script>",
    "script-global": "<script>top.__xss=XSS_N</script>",
    "script-src-data": '<script src="data:text/javascript,top.__xss=XSS_N"></script>',
    "script-uppercase": "<SCRIPT>alert(XSS_N)</SCRIPT>",
    "script-nested": "<scr<script>ipt>alert(XSS_N)</scr</script>ipt>",
    "script-double": "<<script>script>alert(XSS_N)<</script>/script>",
    "script-in-attribute-breakout": '<img alt=""><script>alert(XSS_N)</script>">',
    "script-unclosed": "<script>alert(XSS_N)",
    # event handlers
    "img-onerror": "<img src=x onerror=alert(XSS_N)>",
    "img-onerror-quoted": '<img src="x" onerror="top.__xss=XSS_N">',
    "img-onerror-slash": "<img/src/onerror=alert(XSS_N)>",
    "img-onerror-newline": "<img src=x\nonerror\n=\nalert(XSS_N)>",
    "img-onerror-backtick": "<img src=x onerror=`alert(XSS_N)`>",
    "body-onload": "<body onload=alert(XSS_N)>",
    "details-ontoggle": "<details open ontoggle=alert(XSS_N)><summary>x</summary></details>",
    "input-autofocus": "<input autofocus onfocus=alert(XSS_N)>",
    "a-onmouseover": '<a href="https://example.com/" onmouseover="alert(XSS_N)">hover</a>',
    "div-onpointerenter": '<div onpointerenter="top.__xss=XSS_N" style="position:fixed;inset:0">x</div>',
    "video-source-onerror": '<video><source onerror="alert(XSS_N)"></video>',
    "audio-onerror": "<audio src=x onerror=alert(XSS_N)>",
    "marquee-onstart": "<marquee onstart=alert(XSS_N)>x</marquee>",
    "td-onclick": "<table><tr><td onclick=alert(XSS_N)>x</td></tr></table>",
    # javascript: and data: URLs
    "a-javascript": '<a href="javascript:alert(XSS_N)">click</a>',
    "a-javascript-mixed-case": '<a href="JaVaScRiPt:alert(XSS_N)">click</a>',
    "a-javascript-space": '<a href=" javascript:alert(XSS_N)">click</a>',
    "a-javascript-tab": '<a href="java\tscript:alert(XSS_N)">click</a>',
    "a-javascript-newline-entity": '<a href="jav&#x0A;ascript:alert(XSS_N)">click</a>',
    "a-javascript-colon-entity": '<a href="javascript&colon;alert(XSS_N)">click</a>',
    "a-javascript-decimal": '<a href="' + _js_entities("javascript:") + 'alert(XSS_N)">click</a>',
    "a-javascript-hex": '<a href="' + _js_entities("javascript:", hex_=True) + 'alert(XSS_N)">click</a>',
    "a-javascript-padded-entities": '<a href="&#0000106&#0000097&#0000118&#0000097&#0000115&#0000099&#0000114'
    '&#0000105&#0000112&#0000116&#0000058alert(XSS_N)">click</a>',
    "a-vbscript": '<a href="vbscript:msgbox(XSS_N)">click</a>',
    "a-data-html": f'<a href="data:text/html;base64,{_b64("<script>top.__xss=XSS_N</script>")}">click</a>',
    "img-data-svg": f'<img src="data:image/svg+xml;base64,{_b64("<svg onload=top.__xss=XSS_N />")}">',
    "img-javascript": '<img src="javascript:alert(XSS_N)">',
    "img-srcset": '<img srcset="javascript:alert(XSS_N) 1x">',
    "a-title-breakout": '<a href="https://example.com/" title=\'" onmouseover="alert(XSS_N)\'>x</a>',
    # SVG and MathML
    "svg-onload": "<svg onload=alert(XSS_N)>",
    "svg-slash-onload": "<svg/onload=top.__xss=XSS_N>",
    "svg-script": "<svg><script>alert(XSS_N)</script></svg>",
    "svg-script-href": '<svg><script href="data:,top.__xss=XSS_N"></script></svg>',
    "svg-a-xlink": '<svg><a xlink:href="javascript:alert(XSS_N)"><text x="20" y="20">x</text></a></svg>',
    "svg-animate": "<svg><animate onbegin=alert(XSS_N) attributeName=x dur=1s>",
    "svg-set-href": '<svg><a><set attributeName="href" to="javascript:alert(XSS_N)"/><text y="20">x</text></a></svg>',
    "svg-foreignobject": "<svg><foreignObject><img src=x onerror=alert(XSS_N)></foreignObject></svg>",
    "math-href": '<math><mi href="javascript:alert(XSS_N)">x</mi></math>',
    # CSS
    "style-expression": '<div style="width: expression(alert(XSS_N))">x</div>',
    "style-url-javascript": '<div style="background:url(javascript:alert(XSS_N))">x</div>',
    "style-tag-import": "<style>@import 'javascript:alert(XSS_N)';</style>",
    "style-tag-breakout": "<style></style><img src=x onerror=alert(XSS_N)></style>",
    "link-stylesheet": '<link rel=stylesheet href="javascript:alert(XSS_N)">',
    "style-behavior": '<p style="behavior:url(#default#time2)" onbegin="alert(XSS_N)">x</p>',
    # frames, objects, navigation
    "iframe-javascript": '<iframe src="javascript:top.__xss=XSS_N"></iframe>',
    "iframe-srcdoc": '<iframe srcdoc="&lt;script&gt;top.__xss=XSS_N&lt;/script&gt;"></iframe>',
    "iframe-data": f'<iframe src="data:text/html;base64,{_b64("<script>alert(XSS_N)</script>")}"></iframe>',
    "object-data": '<object data="javascript:top.__xss=XSS_N"></object>',
    "object-data-html": f'<object data="data:text/html;base64,{_b64("<script>alert(XSS_N)</script>")}"></object>',
    "embed-src": '<embed src="javascript:top.__xss=XSS_N">',
    "meta-refresh": '<meta http-equiv="refresh" content="0;url=javascript:top.__xss=XSS_N">',
    "meta-refresh-data": f'<meta http-equiv="refresh" content="0;url=data:text/html;base64,'
    f'{_b64("<script>alert(XSS_N)</script>")}">',
    "base-href": '<base href="javascript:alert(XSS_N)//">',
    "form-action": '<form action="javascript:alert(XSS_N)"><button>Send</button></form>',
    "button-formaction": '<form><button formaction="javascript:alert(XSS_N)">Send</button></form>',
    "isindex": '<isindex action="javascript:alert(XSS_N)" type=image>',
    "template": "<template><img src=x onerror=alert(XSS_N)></template>",
    # broken and unclosed markup
    "unclosed-img": "<img src=x onerror=alert(XSS_N)//",
    "unclosed-svg": "<svg onload=alert(XSS_N)//",
    "unquoted-breakout": '<img src=x alt=x" onerror=alert(XSS_N) ">',
    "quote-soup": '<img """><script>alert(XSS_N)</script>">',
    "comment-breakout": "<!--><img src=x onerror=alert(XSS_N)>-->",
    "comment-bang": "<!--!><img src=x onerror=alert(XSS_N)>",
    "conditional-comment": "<!--[if]><script>alert(XSS_N)</script -->",
    "cdata": "<![CDATA[><img src=x onerror=alert(XSS_N)>]]>",
    "processing-instruction": '<?xml version="1.0"?><img src=x onerror=alert(XSS_N)>',
    "null-byte": "<img src=x on\x00error=alert(XSS_N)>",
    "half-open-tag": '<a href="javascript:alert(XSS_N)" <b>x',
    # mutation XSS classics (markup that changes meaning when parsed again)
    "mxss-noscript": '<noscript><p title="</noscript><img src=x onerror=alert(XSS_N)>"></noscript>',
    "mxss-svg-style": '<svg></p><style><a id="</style><img src=1 onerror=alert(XSS_N)>">',
    "mxss-math-mglyph": '<math><mtext><table><mglyph><style><!--</style><img title="--&gt;&lt;/mglyph&gt;&lt;img'
    '&Tab;src=1&Tab;onerror=alert(XSS_N)&gt;">',
    "mxss-form-math": "<form><math><mtext></form><form><mglyph><style></math><img src onerror=alert(XSS_N)>",
    "mxss-xmp": "<xmp><img src=x onerror=alert(XSS_N)></xmp>",
    "mxss-listing": "<listing>&lt;img src=1 onerror=alert(XSS_N)&gt;</listing>",
    "mxss-title": "<title><img src=x onerror=alert(XSS_N)></title>",
    "mxss-textarea": "<textarea><img src=x onerror=alert(XSS_N)></textarea>",
    "mxss-noembed": '<noembed><img title="</noembed><img src=x onerror=alert(XSS_N)>"></noembed>',
    "mxss-backtick-ie": '<img src="x` `<script>alert(XSS_N)</script>"` `>',
    "mxss-table-a": '<table><a href="javascript:alert(XSS_N)"><td>x</td></a></table>',
    # htmx runs on every page: its attributes in content would make requests or run code
    "htmx-on": '<div hx-on:htmx:load="alert(XSS_N)">x</div>',
    "htmx-on-dashes": '<img src=x hx-on--error="top.__xss=XSS_N">',
    "htmx-data-on": '<button data-hx-on:click="alert(XSS_N)">x</button>',
    "htmx-get-load": '<div hx-get="/logout/" hx-trigger="load" hx-swap="outerHTML">x</div>',
    "htmx-vals-js": '<div hx-post="/tickets/" hx-vals="js:{a: alert(XSS_N)}" hx-trigger="load">x</div>',
    # encoded variants that must stay text
    "escaped-script": "&lt;script&gt;alert(XSS_N)&lt;/script&gt;",
    "double-escaped-img": "&amp;lt;img src=x onerror=alert(XSS_N)&amp;gt;",
    "utf7": "+ADw-script+AD4-alert(XSS_N)+ADw-/script+AD4-",
    "fullwidth": "＜script＞alert(XSS_N)＜/script＞",
}

# Markdown: raw HTML is not rendered (it is text), so these aim at links, images and autolinks.
_MARKDOWN = {
    "md-link-javascript": "[click](javascript:alert(XSS_N))",
    "md-link-javascript-case": "[click](JaVaScRiPt:alert(XSS_N))",
    "md-link-javascript-entity": "[click](&#106;avascript:alert(XSS_N))",
    "md-link-javascript-colon-entity": "[click](javascript&#58;alert(XSS_N))",
    "md-link-javascript-escaped": "[click](javascript\\:alert(XSS_N))",
    "md-link-javascript-angle": "[click](<javascript:alert(XSS_N)>)",
    "md-link-javascript-space": "[click]( javascript:alert(XSS_N))",
    "md-link-javascript-percent": "[click](javascript%3Aalert(XSS_N))",
    "md-link-vbscript": "[click](vbscript:msgbox(XSS_N))",
    "md-link-data": f"[click](data:text/html;base64,{_b64('<script>alert(XSS_N)</script>')})",
    "md-image-javascript": "![x](javascript:alert(XSS_N))",
    "md-image-data-svg": f"![x](data:image/svg+xml;base64,{_b64('<svg onload=top.__xss=XSS_N />')})",
    "md-image-data-png-onerror": '![x" onerror="alert(XSS_N)](data:image/png;base64,AAAA)',
    "md-autolink": "<javascript:alert(XSS_N)>",
    "md-reference": "[click][evil]\n\n[evil]: javascript:alert(XSS_N)",
    "md-title-breakout": '[click](https://example.com/ "x\\" onmouseover=\\"alert(XSS_N)")',
    "md-inline-html": "hello <img src=x onerror=alert(XSS_N)> world",
    "md-html-block": '<div onmouseover="alert(XSS_N)">\n\n*x*\n\n</div>',
    "md-script-block": "<script>\ntop.__xss=XSS_N\n</script>",
    "md-code-span": "`<script>alert(XSS_N)</script>`",
    "md-fenced-code": "```html\n<script>alert(XSS_N)</script>\n```",
    "md-table-cell": "| a | b |\n|---|---|\n| <img src=x onerror=alert(XSS_N)> | [x](javascript:alert(XSS_N)) |",
    "md-nested-link": "[[x](javascript:alert(XSS_N))](https://example.com/)",
    "md-link-in-emphasis": "*[click](javascript:alert(XSS_N))*",
}


def _fill(template: str, number: int) -> str:
    text = template.replace(MARK, str(number))
    return _B64.sub(lambda found: base64.b64encode(found.group(1).encode()).decode(), text)


def _build(start: int, templates: dict[str, str]) -> list[Payload]:
    return [Payload(number, name, _fill(text, number)) for number, (name, text) in enumerate(templates.items(), start)]


HTML = _build(1, _HTML)
MARKDOWN = _build(len(HTML) + 1, _MARKDOWN)
ALL = HTML + MARKDOWN

# Attributes whose value a browser loads or follows as a URL.
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "data", "srcset", "xlink:href", "background", "poster",
                  "codebase", "cite", "longdesc", "usemap", "dynsrc", "lowsrc", "to", "from", "values"}  # fmt: skip
SAFE_URL_SCHEMES = ("http:", "https:", "mailto:", "cid:")


# --- what "safe" means, checked on markup with the standard library's parser -----------------------------------

_SCHEME = re.compile(r"^([a-z][a-z0-9+.\-]*):")


def url_scheme(value: str) -> str:
    """The scheme a browser would read from an attribute's (already unescaped) value, "" for a relative URL.
    Browsers drop leading and trailing control characters and spaces, and tabs and newlines anywhere."""
    cleaned = re.sub(r"[\t\n\r]", "", value).strip("".join(map(chr, range(0x21)))).lower()
    found = _SCHEME.match(cleaned)
    return found.group(1) if found else ""


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, list[tuple[str, str]]]] = []
        self.script_text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, [(name, value or "") for name, value in attrs]))
        self._in_script = tag == "script"

    def handle_startendtag(self, tag, attrs):
        self.elements.append((tag, [(name, value or "") for name, value in attrs]))

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.script_text.append(data)


def _parse(markup: str) -> _Collector:
    collector = _Collector()
    collector.feed(markup)
    collector.close()
    return collector


def _attribute_problems(tag: str, attrs: list[tuple[str, str]]) -> list[str]:
    problems = []
    for name, value in attrs:
        if name.startswith("on"):
            problems.append(f"<{tag} {name}=...>: an event handler")
        elif re.match(r"(data-)?hx-(on|vars)", name) or (
            re.match(r"(data-)?hx-vals", name) and re.match(r"\s*(js|javascript):", value, re.I)
        ):  # htmx evaluates these as script (hx-vals only with a js: prefix; plain JSON is data)
            problems.append(f"<{tag} {name}=...>: an htmx handler")
        elif name in URL_ATTRIBUTES and url_scheme(value) not in ("", *(s[:-1] for s in SAFE_URL_SCHEMES)):
            problems.append(f"<{tag} {name}={value[:60]!r}>: a {url_scheme(value)}: URL")
        elif name == "style" and re.search(r"expression|javascript|url\s*\(", value, re.I):
            problems.append(f"<{tag} style={value[:60]!r}>: script in CSS")
    if tag == "meta" and any(name == "http-equiv" and value.lower() == "refresh" for name, value in attrs):
        problems.append("<meta http-equiv=refresh>")
    return problems


def fragment_problems(markup: str) -> list[str]:
    """Why a sanitized fragment (a message's or an article's HTML) is not safe: [] when it is. Strict: only the
    sanitizer's allowed tags and attributes, and no URL with a scheme other than http(s), mailto and cid."""
    from helpdesk.html import ALLOWED_ATTRIBUTES, ALLOWED_TAGS

    parsed = _parse(markup)
    # The sanitizer drops comments and escapes every "<" of text, so these are never in its output; where they
    # were, the standard library's parser and a browser could read the rest differently (`<!-->` ends a comment
    # in a browser, not here).
    problems = [f"{opening!r} in the markup" for opening in ("<!", "<?") if opening in markup]
    for tag, attrs in parsed.elements:
        if tag not in ALLOWED_TAGS:
            problems.append(f"<{tag}>: not an allowed tag")
        # nh3 adds rel to links, and allows title and lang on every tag (Ammonia's generic attributes)
        allowed = ALLOWED_ATTRIBUTES.get(tag, set()) | {"title", "lang"} | ({"rel"} if tag == "a" else set())
        problems += [f"<{tag} {name}>: not an allowed attribute" for name, _value in attrs if name not in allowed]
        problems += _attribute_problems(tag, attrs)
    return problems


def page_problems(markup: str) -> list[str]:
    """Why a whole rendered page is not safe: [] when it is. The page's own forms and its scripts from /static/
    are fine; inline script, event handlers, javascript:/data: URLs, frames, objects, <base> and refreshes
    are not (the pages use none of them, and the Content-Security-Policy forbids inline script)."""
    parsed = _parse(markup)
    problems = [f"inline script: {text.strip()[:80]!r}" for text in parsed.script_text]
    for tag, attrs in parsed.elements:
        values = dict(attrs)
        if tag == "script" and not (values.get("src", "").startswith("/static/")
                                    or values.get("type") == "application/json"):  # fmt: skip
            problems.append(f"<script {attrs!r}>: not one of the site's scripts")
        if tag in {"iframe", "frame", "object", "embed", "applet", "base", "isindex"}:
            problems.append(f"<{tag}>")
        if tag in {"link", "img"} and url_scheme(values.get("href") or values.get("src") or "") == "data":
            # The site's icon is an SVG data: URL; an image cannot run script (an SVG as an image runs none).
            attrs = [(name, value) for name, value in attrs if not value.lower().startswith("data:image/")]
        problems += _attribute_problems(tag, attrs)
    return problems
