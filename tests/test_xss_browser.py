"""Untrusted content in a real browser: every payload of tests/xss_payloads.py comes in through email, the portal's
form (typed into the browser), the REST API and knowledge-base Markdown, and Chromium opens every page that shows
it, for agents and for customers. Nothing may run: no dialog opens, ``window.__xss`` stays unset, the page stays
where it is, and the live DOM has no event-handler or htmx-handler attribute, no javascript:/data: URL, no frame,
object, <base>, refresh or foreign script, and inside the content only the sanitizer's tags.

The pages are opened with the Content-Security-Policy bypassed: the policy forbids inline script anyway, and this
test is about the sanitizer holding on its own (a policy is a second line, and a weaker one in old browsers).
A control at the end proves that the watchers see a payload that does run."""

from urllib.parse import urlparse

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from helpdesk.html import ALLOWED_TAGS
from knowledge_base.models import Article
from tickets.models import Ticket
from tickets.portal.links import follow_token

from .api_fixtures import client_with, token_for
from .test_screens import CHROMIUM_ARGS, DESKTOP, browser, sign_in  # noqa: F401 (browser is a fixture)
from .test_xss import email_thread, ingest, one_line
from .xss_payloads import ALL, HTML, MARKDOWN

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Everything in the live DOM that could run script, as a list of findings ([] when the page is clean).
DOM_PROBLEMS = """
(allowedTags) => {
  const problems = [];
  const urlAttributes = ["href", "src", "action", "formaction", "data", "srcset", "xlink:href", "background",
                         "poster", "codebase", "cite", "to", "from", "values"];
  const label = (element) => `<${element.localName}${element.id ? "#" + element.id : ""}>`;
  for (const element of document.querySelectorAll("*")) {
    for (const attribute of element.attributes) {
      const name = attribute.name.toLowerCase();
      if (name.startsWith("on")) problems.push(`${label(element)} ${name}`);
      // htmx runs these as script (hx-vals only with a js: prefix; plain JSON is data)
      const script = /^(data-)?hx-vals/.test(name) && /^\\s*(js|javascript):/i.test(attribute.value);
      if (/^(data-)?hx-(on|vars)/.test(name) || script) problems.push(`${label(element)} ${name}`);
      if (urlAttributes.includes(name)) {
        const value = attribute.value.replace(/[\\t\\n\\r]/g, "").replace(/^[\\x00-\\x20]+/, "").toLowerCase();
        const image = value.startsWith("data:image/") && ["img", "link"].includes(element.localName);
        if (/^(javascript|vbscript):/.test(value) || (value.startsWith("data:") && !image)) {
          problems.push(`${label(element)} ${name}=${value.slice(0, 60)}`);
        }
      }
    }
    if (["iframe", "frame", "object", "embed", "applet", "base"].includes(element.localName)) {
      problems.push(label(element));
    }
    if (element.localName === "meta" && (element.httpEquiv || "").toLowerCase() === "refresh") {
      problems.push("<meta http-equiv=refresh>");
    }
    if (element.localName === "script" && element.type !== "application/json") {
      const source = element.src ? new URL(element.src) : null;
      if (!source || source.origin !== location.origin || !source.pathname.startsWith("/static/")) {
        problems.push(`<script> ${element.src || element.textContent.slice(0, 60)}`);
      }
    }
  }
  for (const element of document.querySelectorAll(".message__body *, .kb-article__body *")) {
    if (!allowedTags.includes(element.localName)) problems.push(`${label(element)} in content`);
    for (const attribute of element.attributes) {
      if (attribute.name.startsWith("hx-") || attribute.name.startsWith("data-")) {
        problems.push(`${label(element)} ${attribute.name} in content`);
      }
    }
  }
  return problems;
}
"""


class Watched:
    """A browser page that records every dialog and what ``DOM_PROBLEMS`` finds on each page visited."""

    def __init__(self, browser, base_url: str):  # noqa: F811
        self.context = browser.new_context(viewport=DESKTOP, base_url=base_url, bypass_csp=True)
        self.context.set_default_timeout(15_000)
        self.page = self.context.new_page()
        self.dialogs: list[str] = []
        self.page.on("dialog", self._dialog)

    def _dialog(self, dialog):
        self.dialogs.append(f"{dialog.type}({dialog.message}) on {self.page.url}")
        dialog.dismiss()

    def visit(self, path: str, *, expect_text: str = "") -> None:
        response = self.page.goto(path)
        assert response is not None and response.ok, (path, response and response.status)
        self.page.wait_for_load_state("networkidle")  # images that fail, frames and refreshes have had their go
        if expect_text:
            expect(self.page.locator("main")).to_contain_text(expect_text)
        self.check(path)

    def check(self, path: str) -> None:
        assert self.page.url.endswith(path), f"{path}: the page went to {self.page.url}"
        assert self.page.evaluate("window.__xss") is None, f"{path}: payload {self.page.evaluate('window.__xss')} ran"
        assert self.dialogs == [], path
        assert self.page.evaluate(DOM_PROBLEMS, sorted(ALLOWED_TAGS)) == [], path


@pytest.fixture
def watched(browser, live_server):  # noqa: F811
    page = Watched(browser, live_server.url)
    yield page
    page.context.close()


@pytest.fixture
def content(queue, agent, make_article):
    """Every payload through every way in (the portal's form is typed in the test itself)."""
    rows = ingest(email_thread(HTML))
    assert {row.status for row in rows} == {"done"}, [row.error for row in rows if row.error]
    email_ticket = rows[0].ticket

    api = client_with(token_for(agent))
    created = api.post(reverse("api:ticket-list"), {
        "customer_email": "api@customer.example", "customer_name": one_line(HTML[3].text),
        "subject": one_line(HTML[8].text), "body": f"<p>Hi</p>{HTML[8].text}", "body_format": "html",
        "queue": queue.pk}, format="json")  # fmt: skip
    assert created.status_code == 201, created.content
    api_ticket = Ticket.objects.get(pk=created.json()["id"])
    for payload in ALL:
        if "\x00" in payload.text:
            continue  # refused by the API (tests/test_xss.py)
        kind, body_format = ("reply", "html") if payload in HTML else ("notes", "markdown")
        response = api.post(reverse(f"api:ticket-{kind}", args=[api_ticket.pk]),
                            {"body": f"(payload {payload.number})\n\n{payload.text}", "body_format": body_format},
                            format="json")  # fmt: skip
        assert response.status_code == 201, (payload, response.content)

    articles = [
        make_article("Every HTML payload", body="\n\n".join(p.text for p in HTML if "\x00" not in p.text)),
        make_article("Every Markdown payload", body="\n\n".join(p.text for p in MARKDOWN)),
    ]
    return {"email": email_ticket, "api": api_ticket, "articles": articles}


def test_no_payload_runs_on_any_page(watched, content, agent):
    # The portal's request form, filled in as a customer would (the body holds every payload).
    watched.visit("/help/requests/new/")
    page = watched.page
    page.get_by_label("Your email address").fill("zoe@example.com")
    page.get_by_label("Your name").fill(one_line(HTML[13].text))
    page.get_by_label("Subject").fill(one_line(HTML[0].text))
    page.get_by_label("Your question or problem").fill("\n\n".join(p.text for p in ALL if "\x00" not in p.text))
    page.get_by_role("button", name="Send request").click()
    page.wait_for_url(lambda url: "/help/requests/" in url and "/new/" not in url)
    portal_ticket = Ticket.objects.get(customer__email="zoe@example.com")
    watched.check(urlparse(page.url).path)  # the request's page, as the form's redirect opened it

    # What customers see: their requests by the signed link, the articles on the portal, the search results.
    tickets = [content["email"], content["api"], portal_ticket]
    for ticket in tickets:
        watched.visit(reverse("portal:request", args=[follow_token(ticket)]))
    for article in content["articles"]:
        watched.visit(article.get_absolute_url(), expect_text=article.title)
    watched.visit(f"{reverse('kb:search')}?q=alert")

    # What agents see: the ticket pages (the email's HTML among them), the list, the customers' timelines, articles.
    sign_in(page, agent)
    watched.check("/tickets/")
    for ticket in tickets:
        watched.visit(reverse("tickets:detail", args=[ticket.pk]), expect_text=ticket.reference)
        expect(page.locator(".message")).to_have_count(ticket.messages.count())
        watched.visit(reverse("customers:detail", args=[ticket.customer_id]))
    for article in content["articles"]:
        watched.visit(reverse("articles:detail", args=[article.pk]), expect_text=article.title)
    watched.visit(f"{reverse('articles:list')}?q=alert")
    assert Article.objects.count() == 2


def test_the_watchers_see_a_payload_that_runs(watched, ticket, agent):
    """The control: the same watchers, on a page where markup is put without the sanitizer, catch it."""
    sign_in(watched.page, agent)
    path = reverse("tickets:detail", args=[ticket.pk])
    watched.visit(path)
    watched.page.evaluate("""document.querySelector(".message__body").insertAdjacentHTML("beforeend",
        '<img src="/nothing-here.png" onerror="window.__xss = 1; alert(1)">')""")
    expect(watched.page.locator("img[onerror]")).to_have_count(1)
    watched.page.wait_for_function("window.__xss === 1")
    assert watched.dialogs == [f"alert(1) on {watched.page.url}"]
    assert watched.page.evaluate(DOM_PROBLEMS, sorted(ALLOWED_TAGS)) == ["<img> onerror"]
    watched.dialogs.clear()
    watched.page.evaluate("window.__xss = undefined")
