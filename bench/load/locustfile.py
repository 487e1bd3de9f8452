"""The load test's traffic (issue 10): agents working tickets in the browser, customers sending requests through
the portal. Run it with ``manage.py loadtest`` (bench/load/driver.py), which signs the agents in, starts the
web server and a worker, and passes the options below; by hand, from the project root:

    .venv/bin/python -m locust -f bench/load/locustfile.py --headless --host http://127.0.0.1:8000 \\
        --sessions-file sessions.json --agents 50 --portal-rate 20 -u 110 -r 11 -t 5m

Each request is sent as the browser sends it: full pages as plain GETs (followed by the htmx requests the page
makes on load), htmx requests with the headers htmx adds, forms with every field the page gives them and the
page's CSRF token, redirects after a POST followed by hand (so they count as the page they open). Static files
are not fetched: a browser has them cached after the first page.

Request names: ``GET`` requests without "(htmx)" in the name are page views (the p95 target of 300 ms applies
to them). Anything but the expected status (200; 302 after a POST) is an error, with the reason in its message.
"""

import itertools
import json
import random
import re
import time
from http.cookiejar import Cookie
from urllib.parse import urlencode, urlsplit

from locust import FastHttpUser, between, events, task

from bench.load.shape import PORTAL_HEADROOM, customer_domain, poisson_arrivals, portal_users
from bench.load.webforms import csrf_header_token, encode_multipart, find_form

# An agent reads a page for this long (seconds) before the next click.
AGENT_THINK_SECONDS = (2, 10)
# From very common to absent in the seeded text (as manage.py bench).
SEARCH_WORDS = ("order", "refund", "grinder", "kombucha", "sauerkraut", "gluten", "zeppelin")
SUBJECTS = (
    "Where is my order?",
    "Refund for a broken grinder",
    "Question about gluten-free options",
    "Change my delivery address",
    "Catering for 40 people next Friday",
    "Wrong size in my parcel",
    "Invoice needed for my company",
)
BODY = (
    "Hello,\n\nI ordered last week and have not heard anything since. Could you tell me where my order is and "
    "when it will arrive? The order number is in the confirmation email.\n\nThank you!"
)
REPLY = "Thank you for writing to us. I have looked into this and will get back to you by tomorrow at the latest."

_TICKET_LINK = re.compile(r'href="/tickets/(\d+)/"')
_CUSTOMER_LINK = re.compile(r'href="(/customers/\d+/)"')
_SETUP = {"agents": [], "run_id": "manual", "cookie_name": "sessionid"}
_next_agent = itertools.count()
_next_customer = itertools.count(1)


@events.init_command_line_parser.add_listener
def _arguments(parser):
    parser.add_argument("--sessions-file", default="", help="JSON written by manage.py loadtest: agents' sessions")
    parser.add_argument("--agents", type=int, default=50, help="agents browsing and replying")
    parser.add_argument("--portal-rate", type=float, default=20.0, help="portal submissions per second")
    parser.add_argument("--run-id", default="", help="marks this run's customers (their email domain)")
    parser.add_argument("--results-file", default="", help="where to write the final statistics (JSON)")


@events.init.add_listener
def _configure(environment, **kwargs):
    options = environment.parsed_options
    if options is None:
        return
    _SETUP["environment"] = environment
    if options.sessions_file:
        with open(options.sessions_file, encoding="utf-8") as file:
            _SETUP.update(json.load(file))
    if options.run_id:
        _SETUP["run_id"] = options.run_id
    AgentUser.fixed_count = options.agents
    PortalUser.fixed_count = portal_users(options.portal_rate)
    PortalUser.wait_time = poisson_arrivals(options.portal_rate / PortalUser.fixed_count)


@events.quit.add_listener
def _save_results(**kwargs):
    """The final statistics, once every user has stopped (locust's CSV files may miss the last requests)."""
    environment = _SETUP.get("environment")
    if environment is not None and environment.parsed_options.results_file:
        with open(environment.parsed_options.results_file, "w", encoding="utf-8") as file:
            json.dump(results(environment.stats), file, indent=1)


def results(stats) -> dict:
    """Per request type and in all: count, errors, rate, median, p95, max; and the errors."""

    def entry(item) -> dict:
        return {"method": item.method or "", "name": item.name, "count": item.num_requests,
                "failures": item.num_failures, "rps": item.total_rps, "median_ms": item.median_response_time,
                "p95_ms": _p95(item),
                "max_ms": item.max_response_time}  # fmt: skip

    return {
        "requests": [entry(item) for item in stats.entries.values()],
        "total": entry(stats.total),
        "errors": [{"method": e.method, "name": e.name, "error": e.to_name(), "occurrences": e.occurrences}
                   for e in stats.errors.values()],
    }  # fmt: skip


def _p95(item) -> float:
    # Locust keeps times above 100 ms to two significant digits; the median and the max are exact.
    return min(max(item.get_response_time_percentile(0.95) or 0, item.median_response_time), item.max_response_time)


def _status_error(response) -> str:
    location = response.headers.get("Location") if response.headers else None
    return f"HTTP {response.status_code}" + (f" to {location}" if location else "")


class BrowserUser(FastHttpUser):
    abstract = True

    def get_page(
        self, name: str, url: str, *, htmx_from: str = "", target: str = "", must_have: str = ""
    ) -> str | None:
        """GET ``url``; the HTML, or None after recording why not. ``htmx_from``: an htmx request made by the page
        at that path (swapping ``target``, an element's id). ``must_have``: text the page must contain."""
        headers = {"Accept": "text/html,application/xhtml+xml"}
        if htmx_from:
            headers |= {"HX-Request": "true", "HX-Current-URL": self.host + htmx_from}
            if target:
                headers["HX-Target"] = target
        with self.client.get(url, name=name, headers=headers, allow_redirects=False, catch_response=True) as response:
            if response.status_code != 200:
                response.failure(_status_error(response))
                return None
            if must_have and must_have not in response.text:
                response.failure(f"HTTP 200 without {must_have!r}")
                return None
            return response.text

    def post_form(self, name: str, url: str, fields, files=(), *, referer: str, expect: str,
                  conflict: str = "") -> str | None:  # fmt: skip
        """POST a form as multipart/form-data; the redirect's target, or None after recording why not.
        ``expect``: the path the redirect should go to (its start). ``conflict``: a text the page may answer
        with instead, which is the product working as designed (another agent wrote first): recorded as a
        request of its own ("<name>: conflict"), not as an error."""
        body, content_type = encode_multipart(fields, files)
        headers = {"Content-Type": content_type, "Origin": self.host, "Referer": self.host + referer}
        with self.client.post(url, data=body, name=name, headers=headers, allow_redirects=False,
                              catch_response=True) as response:  # fmt: skip
            location = response.headers.get("Location", "") if response.headers else ""
            path = urlsplit(location).path
            if conflict and response.status_code == 200 and conflict in (response.text or ""):
                response.request_meta["name"] = f"{name}: conflict"
                return None
            if response.status_code != 302 or not path.startswith(expect):
                response.failure(_status_error(response) + _form_error(response))
                return None
            return location


def _form_error(response) -> str:
    """The form's error message on the page that came back, if any (a refused POST answers 200 or 400)."""
    text = (response.text or "") if response.status_code in (200, 400) else ""
    match = re.search(r'role="alert"[^>]*>\s*(?:<p>)?([^<]{1,160})', text)
    return f": {match.group(1).strip()}" if match else ""


class AgentUser(BrowserUser):
    """An agent signed in with a session from --sessions-file: lists, search, tickets, replies, customers."""

    wait_time = between(*AGENT_THINK_SECONDS)
    fixed_count = 50

    def on_start(self):
        agents = _SETUP["agents"]
        if not agents:
            raise RuntimeError("No agent sessions: pass --sessions-file (manage.py loadtest writes it).")
        agent = agents[next(_next_agent) % len(agents)]
        host = urlsplit(self.host).hostname
        self.client.cookiejar.set_cookie(_cookie(_SETUP["cookie_name"], agent["session"], host))
        self.queues = agent["queues"]
        self.sample = agent["tickets"]  # tickets the agent may see, spread over the whole dataset
        self.listed: list[int] = []  # the tickets on the list page last seen
        self.ticket: tuple[int, str] | None = None  # the ticket page open now: (id, html)
        self.list_page("ticket list: open", "/tickets/?view=open")

    def page(self, name: str, url: str) -> str | None:
        """A full page, then the notification badge its header loads (hx-trigger="load")."""
        html = self.get_page(name, url)
        if html is not None:
            self.get_page("notifications badge (htmx)", "/tickets/notifications/badge/", htmx_from=url)
        return html

    def list_page(self, name: str, url: str) -> None:
        html = self.page(name, url)
        if html is not None:
            self.listed = [int(pk) for pk in dict.fromkeys(_TICKET_LINK.findall(html))]

    @task(3)
    def list_open(self):
        self.list_page("ticket list: open", "/tickets/?view=open")

    @task(2)
    def list_mine(self):
        self.list_page("ticket list: mine", "/tickets/?view=mine")

    @task(2)
    def list_unassigned(self):
        self.list_page("ticket list: unassigned", "/tickets/?view=unassigned")

    @task(2)
    def list_queue(self):
        if self.queues:
            self.list_page("ticket list: queue", f"/tickets/?queue={random.choice(self.queues)}")

    @task(1)
    def search(self):
        """Typing in the toolbar's search field: htmx swaps the results (#ticket-results) in."""
        url = "/tickets/?" + urlencode({"q": random.choice(SEARCH_WORDS)})
        html = self.get_page("ticket list: search (htmx)", url, htmx_from="/tickets/", target="ticket-results")
        if html is not None:
            self.listed = [int(pk) for pk in dict.fromkeys(_TICKET_LINK.findall(html))]

    @task(6)
    def open_ticket(self):
        """A ticket from the list just seen (mostly) or any ticket the agent may see, with what the page loads."""
        pool = self.listed if self.listed and random.random() < 0.7 else self.sample
        if pool:
            self.open(random.choice(pool))

    def open(self, ticket_id: int) -> None:
        url = f"/tickets/{ticket_id}/"
        html = self.page("ticket page", url)
        self.ticket = (ticket_id, html) if html is not None else None
        if html is not None:
            self.get_page("ticket page: suggested articles (htmx)", f"/tickets/{ticket_id}/articles/",
                          htmx_from=url, target="ticket-articles")  # fmt: skip

    @task(2)
    def reply(self):
        """Write in the composer (htmx tells the others "replying"), send it, land on the ticket again."""
        if self.ticket is None:
            return self.open_ticket()
        ticket_id, html = self.ticket
        url = f"/tickets/{ticket_id}/"
        form = find_form(html, form_id="composer")
        token = csrf_header_token(html)
        if form is None or token is None:
            self.ticket = None
            return None
        headers = {"HX-Request": "true", "HX-Target": "presence-list", "HX-Trigger": "id_body",
                   "HX-Current-URL": self.host + url, "X-CSRFToken": token, "Origin": self.host,
                   "Referer": self.host + url}  # fmt: skip
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        data = urlencode({"body": REPLY[:40], "state": "replying"})
        with self.client.post(f"/tickets/{ticket_id}/presence/", data=data, name="presence (htmx)", headers=headers,
                              allow_redirects=False, catch_response=True) as response:  # fmt: skip
            if response.status_code != 200:
                response.failure(_status_error(response))
        # Another agent may reply to the same ticket first: the composer then says so and keeps the draft.
        location = self.post_form("reply (POST)", form.action, form.filled(body=REPLY), form.files, referer=url,
                                  expect=url, conflict="New messages arrived while you were writing")  # fmt: skip
        if location is not None:
            self.open(ticket_id)

    @task(2)
    def customer(self):
        """The customer's page, from the customer panel of the ticket page."""
        if self.ticket is None:
            return self.open_ticket()
        match = _CUSTOMER_LINK.search(self.ticket[1])
        if match:
            self.page("customer page", match.group(1))
        return None


class PortalUser(BrowserUser):
    """A new customer each time: the request form, the article suggestions while typing the subject, the POST,
    then the request's page the redirect opens. The rate is --portal-rate, spread over the portal users."""

    wait_time = poisson_arrivals(1 / PORTAL_HEADROOM)
    fixed_count = portal_users(20.0)

    def on_start(self):
        time.sleep(self.wait_time())  # the first submission at a random moment too (gevent's sleep)

    @task
    def submit(self):
        self.client.cookiejar.clear()  # a new visitor
        url = "/help/requests/new/"
        html = self.get_page("portal: new request form", url, must_have='name="email"')
        form = find_form(html, has="email") if html is not None else None
        if form is None:
            return
        subject = random.choice(SUBJECTS)
        self.get_page("portal: article suggestions (htmx)", "/help/suggest/?" + urlencode({"subject": subject}),
                      htmx_from=url, target="kb-suggestions")  # fmt: skip
        number = next(_next_customer)
        email = f"customer{number}.{random.randrange(16**8):08x}@{customer_domain(_SETUP['run_id'])}"
        fields = form.filled(email=email, name=f"Load Customer {number}", subject=subject, body=BODY)
        location = self.post_form("portal: submit request (POST)", form.action or url, fields, form.files,
                                  referer=url, expect="/help/requests/")  # fmt: skip
        if location is not None:
            self.get_page("portal: request page", urlsplit(location).path)


def _cookie(name: str, value: str, host: str) -> Cookie:
    return Cookie(version=0, name=name, value=value, port=None, port_specified=False, domain=host,
                  domain_specified=False, domain_initial_dot=False, path="/", path_specified=True, secure=False,
                  expires=None, discard=True, comment=None, comment_url=None, rest={})  # fmt: skip
