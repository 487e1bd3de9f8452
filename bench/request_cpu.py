"""CPU per request, as a gunicorn worker spends it: the load test's requests one at a time, on an otherwise idle
machine, so that what a change saves shows apart from the load test's queueing (issue 10).

    DATABASE_URL=postgres://…/helpdesk_bench REDIS_URL=redis://127.0.0.1:6379/3 \\
        .venv/bin/python -m bench.request_cpu [--requests 200] [--threads 4]

Starts gunicorn (gunicorn.conf.py, one worker, production settings on plain HTTP on loopback) on the seeded
bench database, signs in the first seeded agent, then sends each kind of request ``--requests`` times after a
warm-up and prints the worker's CPU time (user + system, from /proc) and the wall time per request. The portal's
form POST and the request page it leads to are measured on new customers (removed at the end, as the load
test's: their addresses end in .load.example). Linux only. Figures vary by ±20 % between runs on a shared
virtual machine: compare runs made one after the other.
"""

import argparse
import http.cookiejar
import os
import random
import re
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PORTAL_DOMAIN = "request-cpu.load.example"
WARM_UP = 30


def server_env(port: int) -> dict[str, str]:
    return {
        **os.environ, "DEBUG": "0", "SECRET_KEY": secrets.token_urlsafe(50), "ALLOWED_HOSTS": "127.0.0.1",
        "SITE_URL": f"http://127.0.0.1:{port}", "SECURE_SSL_REDIRECT": "0", "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0", "CSRF_TRUSTED_ORIGINS": "", "TRUSTED_PROXY_COUNT": "0",
        "PORTAL_REQUESTS_PER_HOUR_PER_IP": "1000000000", "PORTAL_REQUESTS_PER_HOUR_PER_EMAIL": "1000000000",
        # No worker reads this queue: the tasks a request queues cost what queueing costs, and are dropped.
        "CELERY_TASK_ALWAYS_EAGER": "0", "CELERY_TASK_DEFAULT_QUEUE": "bench-request-cpu",
        "STATICFILES_STORAGE": "django.contrib.staticfiles.storage.StaticFilesStorage", "LOG_LEVEL": "WARNING",
        "GUNICORN_WORKERS": "1",
    }  # fmt: skip


class Worker:
    """The one gunicorn worker's CPU seconds, from /proc/<pid>/stat (utime, stime)."""

    def __init__(self, pid: int):
        self.path = f"/proc/{pid}/stat"
        self.tick = os.sysconf("SC_CLK_TCK")

    def cpu(self) -> float:
        fields = Path(self.path).read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / self.tick


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="of each kind (default 200)")
    parser.add_argument("--threads", type=int, default=4, help="of the gunicorn worker (default 4, as in production)")
    parser.add_argument("--port", type=int, default=8765)
    options = parser.parse_args()
    port = options.port
    env = server_env(port) | {"GUNICORN_THREADS": str(options.threads)}
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    from customers.models import Customer
    from helpdesk.models import User
    from tickets.models import Ticket

    agent = User.objects.filter(is_active=True, role=User.Role.AGENT).order_by("pk").first()
    if agent is None:
        raise SystemExit("No agents: seed the database first (docs/performance.md).")
    session = import_module(settings.SESSION_ENGINE).SessionStore()
    session[SESSION_KEY], session[BACKEND_SESSION_KEY] = str(agent.pk), "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = agent.get_session_auth_hash()
    session.create()
    cookie = f"{settings.SESSION_COOKIE_NAME}={session.session_key}"
    host = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "--bind",
                               f"127.0.0.1:{port}", "--no-control-socket"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        _wait_for(host)
        children = subprocess.run(["pgrep", "-P", str(server.pid)], capture_output=True, text=True).stdout.split()
        worker = Worker(int(children[0]))
        _measure(host, cookie, worker, options.requests)
    finally:
        server.terminate()
        server.wait()
        session.delete()
        customers = Customer.objects.filter(email__endswith="@" + PORTAL_DOMAIN)
        Ticket.objects.filter(customer__in=customers).delete()
        customers.delete()


def _wait_for(host: str) -> None:
    for _ in range(240):
        try:
            with urllib.request.urlopen(host + "/healthz?scope=web", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise SystemExit("gunicorn did not answer")


def _measure(host: str, cookie: str, worker: Worker, count: int) -> None:
    def get(path: str, *, agent: bool = False, htmx: bool = False) -> str:
        headers = (
            {"Accept": "text/html"} | ({"Cookie": cookie} if agent else {}) | ({"HX-Request": "true"} if htmx else {})
        )
        with urllib.request.urlopen(urllib.request.Request(host + path, headers=headers), timeout=60) as response:
            return response.read().decode()

    tickets = [int(pk) for pk in re.findall(r'href="/tickets/(\d+)/"', get("/tickets/?view=open", agent=True))]
    kinds = {
        "portal: new request form": lambda: get("/help/requests/new/"),
        "portal: article suggestions (htmx)": lambda: get("/help/suggest/?subject=Where+is+my+order", htmx=True),
        "ticket list: open": lambda: get("/tickets/?view=open", agent=True),
        "ticket list: unassigned": lambda: get("/tickets/?view=unassigned", agent=True),
        "ticket page": lambda: get(f"/tickets/{random.choice(tickets)}/", agent=True),
        "ticket page: suggested articles (htmx)": lambda: get(
            f"/tickets/{random.choice(tickets)}/articles/", agent=True, htmx=True
        ),
        "notifications badge (htmx)": lambda: get("/tickets/notifications/badge/", agent=True, htmx=True),
    }
    print(f"{'request':42s} {'CPU ms':>7s} {'wall ms':>8s}")
    for name, send in kinds.items():
        for _ in range(WARM_UP):
            send()
        cpu, wall = worker.cpu(), time.perf_counter()
        for _ in range(count):
            send()
        print(
            f"{name:42s} {(worker.cpu() - cpu) / count * 1000:7.1f} {(time.perf_counter() - wall) / count * 1000:8.1f}"
        )
    totals = [0.0] * 4  # the POST's CPU and wall time, then the request page's
    for number in range(WARM_UP + count):
        spent = _portal_request(host, worker)
        if number >= WARM_UP:
            totals = [total + part for total, part in zip(totals, spent, strict=True)]
    post_cpu, post_wall, page_cpu, page_wall = (total / count * 1000 for total in totals)
    print(f"{'portal: submit request (POST)':42s} {post_cpu:7.1f} {post_wall:8.1f}")
    print(f"{'portal: request page':42s} {page_cpu:7.1f} {page_wall:8.1f}")


def _portal_request(host: str, worker: Worker) -> tuple[float, float, float, float]:
    """A new visitor sends the form: the CPU and wall time of the POST, then of the request page it redirects to."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), NoRedirect)
    html = opener.open(host + "/help/requests/new/").read().decode()
    fields = dict(re.findall(r'name="(csrfmiddlewaretoken|submission)" value="([^"]*)"', html))
    topic = re.search(r'<option value="(\d+)"', html)
    fields |= {"email": f"c{uuid.uuid4().hex[:10]}@{PORTAL_DOMAIN}", "name": "Request CPU", "website": "",
               "subject": "Where is my order?", "body": "Hello, where is my order? " * 8}  # fmt: skip
    if topic:
        fields["queue"] = topic.group(1)
    request = urllib.request.Request(host + "/help/requests/new/", data=urllib.parse.urlencode(fields).encode(),
                                     headers={"Origin": host, "Referer": host + "/help/requests/new/"})  # fmt: skip
    before, started = worker.cpu(), time.perf_counter()
    try:
        opener.open(request)
        raise SystemExit("the form was not accepted (no redirect)")
    except urllib.error.HTTPError as redirect:
        if redirect.code != 302:
            raise
        location = redirect.headers["Location"]
    sent, answered = worker.cpu(), time.perf_counter()
    opener.open(host + location).read()
    return sent - before, answered - started, worker.cpu() - sent, time.perf_counter() - answered


if __name__ == "__main__":
    main()
