"""What a browser does with a page's forms, for the load test: read a form's fields with the values the page
gives them, and send them as ``multipart/form-data`` the way a browser encodes them.

Standard library only (the locustfile runs under gevent, the tests import this directly).
"""

import re
import uuid
from dataclasses import dataclass, field
from html.parser import HTMLParser

# Input types a browser never sends (buttons: only the one clicked, and ours have no name).
_NOT_SENT = {"submit", "button", "reset", "image"}
_CSRF_HEADER = re.compile(r'"X-CSRFToken"\s*:\s*"([^"]+)"')


@dataclass
class Form:
    attrs: dict[str, str]
    fields: list[tuple[str, str]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # file inputs: sent empty, as a browser does with no file

    @property
    def action(self) -> str:
        return self.attrs.get("action", "")

    @property
    def method(self) -> str:
        return self.attrs.get("method", "get").lower()

    def names(self) -> set[str]:
        return {name for name, _ in self.fields} | set(self.files)

    def value(self, name: str) -> str | None:
        return next((value for key, value in self.fields if key == name), None)

    def filled(self, **values: str) -> list[tuple[str, str]]:
        """The fields with ``values`` typed in (replacing what the page had, else added)."""
        result = [(name, values.get(name, value)) for name, value in self.fields]
        present = {name for name, _ in self.fields}
        return result + [(name, value) for name, value in values.items() if name not in present]


class _FormParser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._textarea: tuple[str, list[str]] | None = None
        self._select: dict | None = None
        self._option: dict | None = None

    def handle_starttag(self, tag, attrs):
        attrs = {key: value or "" for key, value in attrs}
        if tag == "form":
            self._form = Form(attrs=attrs)
            self.forms.append(self._form)
            return
        if self._form is None or "disabled" in attrs:
            return
        name = attrs.get("name")
        if tag == "input" and name:
            kind = attrs.get("type", "text").lower()
            if kind == "file":
                self._form.files.append(name)
            elif kind in ("checkbox", "radio"):
                if "checked" in attrs:
                    self._form.fields.append((name, attrs.get("value", "on")))
            elif kind not in _NOT_SENT:
                self._form.fields.append((name, attrs.get("value", "")))
        elif tag == "textarea" and name:
            self._textarea = (name, [])
        elif tag == "select" and name:
            self._select = {"name": name, "multiple": "multiple" in attrs, "options": []}
        elif tag == "option" and self._select is not None:
            self._option = {"value": attrs.get("value"), "selected": "selected" in attrs, "text": []}
            self._select["options"].append(self._option)

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea[1].append(data)
        elif self._option is not None:
            self._option["text"].append(data)

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "textarea" and self._textarea is not None:
            name, text = self._textarea
            if self._form is not None:
                value = "".join(text)
                self._form.fields.append((name, value[1:] if value.startswith("\n") else value))
            self._textarea = None
        elif tag == "option":
            self._option = None
        elif tag == "select" and self._select is not None:
            self._end_select()

    def _end_select(self):
        select, self._select, self._option = self._select, None, None
        options = select["options"]
        chosen = [o for o in options if o["selected"]] or ([] if select["multiple"] else options[:1])
        if self._form is not None:
            for option in chosen:
                value = option["value"] if option["value"] is not None else "".join(option["text"]).strip()
                self._form.fields.append((select["name"], value))


def forms_of(html: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(html)
    parser.close()
    return parser.forms


def find_form(html: str, *, has: str = "", action: str = "", form_id: str = "") -> Form | None:
    """The first POST form of the page with a field named ``has`` / this ``action`` / this ``id``."""
    for form in forms_of(html):
        if form.method != "post":
            continue
        if has and has not in form.names():
            continue
        if action and form.action != action:
            continue
        if form_id and form.attrs.get("id") != form_id:
            continue
        return form
    return None


def csrf_header_token(html: str) -> str | None:
    """The token htmx sends as X-CSRFToken (``hx-headers`` on <body>), else the one of the page's first form."""
    match = _CSRF_HEADER.search(html)
    if match:
        return match.group(1)
    for form in forms_of(html):
        token = form.value("csrfmiddlewaretoken")
        if token:
            return token
    return None


def encode_multipart(fields: list[tuple[str, str]], files: list[str] = ()) -> tuple[bytes, str]:
    """``(body, content_type)`` of a multipart/form-data POST; ``files`` are file inputs left empty."""
    boundary = f"----LoadTestBoundary{uuid.uuid4().hex}"
    parts = []
    for name, value in fields:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{_quote(name)}"\r\n\r\n{value}\r\n')
    for name in files:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{_quote(name)}"; filename=""\r\n'
            "Content-Type: application/octet-stream\r\n\r\n\r\n"
        )
    parts.append(f"--{boundary}--\r\n")
    return "".join(parts).encode(), f"multipart/form-data; boundary={boundary}"


def _quote(name: str) -> str:
    # As browsers do (HTML's multipart/form-data encoding algorithm).
    return name.replace("\r", "%0D").replace("\n", "%0A").replace('"', "%22")
