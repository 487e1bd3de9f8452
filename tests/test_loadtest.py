"""The load test's pieces (bench/load), without a run: the locustfile loads, the command's options parse, the
report reads locust's results and says which targets were met, the forms are sent as a browser sends them."""

import argparse
import itertools
import json
import random
import statistics
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from bench.load import driver, shape
from bench.load.webforms import csrf_header_token, encode_multipart, find_form

ROOT = Path(__file__).resolve().parent.parent


def test_the_locustfile_loads_with_its_user_classes_and_options():
    # In a process of its own: importing locust patches the standard library for gevent. Its own options are
    # accepted (an unknown option is an error), and --list names the user classes without running them.
    listed = subprocess.run([sys.executable, "-m", "locust", "-f", "bench/load/locustfile.py", "--list",
                             "--sessions-file", "", "--agents", "2", "--portal-rate", "1", "--run-id", "t",
                             "--results-file", ""], cwd=ROOT, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert "AgentUser" in listed.stdout and "PortalUser" in listed.stdout


def parse(*args: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    driver.add_arguments(parser)
    return parser.parse_args(args)


def test_defaults_are_the_full_run_of_issue_10():
    options = parse()
    assert (options.run_time, options.users, options.portal_rate, options.port) == (300, 50, 20.0, 0)
    assert not options.any_database


def test_the_smoke_run_options():
    options = parse("--run-time", "30s", "--users", "10", "--portal-rate", "5")
    assert (options.run_time, options.users, options.portal_rate) == (30, 10, 5.0)


@pytest.mark.parametrize(("text", "seconds"), [("300", 300), ("30s", 30), ("5m", 300), ("1h", 3600), ("1m30s", 90)])
def test_durations(text, seconds):
    assert driver.parse_duration(text) == seconds


@pytest.mark.parametrize("args", [["--run-time", "5 minutes"], ["--run-time", "0s"], ["--users", "0"],
                                  ["--portal-rate", "0"], ["--portal-rate", "-1"]])  # fmt: skip
def test_bad_options_are_refused(args, capsys):
    with pytest.raises(SystemExit):
        parse(*args)


def test_durations_are_printed_the_way_they_are_given():
    assert [driver.format_duration(s) for s in (30, 300, 90)] == ["30s", "5m", "1m30s"]


def test_portal_users_leave_room_for_slow_iterations():
    assert shape.portal_users(20) == 60 and shape.portal_users(5) == 15 and shape.portal_users(0.1) == 1


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def monotonic(self):
        return self.now


def test_portal_submissions_start_at_random_moments_at_the_asked_rate():
    clock = FakeClock()
    wait_time = shape.poisson_arrivals(0.5, clock=clock.monotonic, rng=random.Random(7))  # every 2 s on average
    users = [SimpleNamespace() for _ in range(20)]
    firsts = [wait_time(user) for user in users]  # users started at the same moment do not start together
    assert len({round(first, 3) for first in firsts}) == 20 and max(firsts) > 2
    user, starts = users[0], []
    for _ in range(5000):  # tasks of 0.5 s
        clock.now += wait_time(user)
        starts.append(clock.now)
        clock.now += 0.5
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert statistics.mean(gaps) == pytest.approx(2, rel=0.05)
    assert statistics.stdev(gaps) > 1.7  # random gaps (an exponential one: stdev = mean), not a steady pace (0)


def test_a_user_that_falls_behind_catches_up_by_one_interval_at_most():
    clock = FakeClock()
    wait_time = shape.poisson_arrivals(1.0, clock=clock.monotonic, rng=random.Random(3))
    user = SimpleNamespace()
    clock.now += wait_time(user)
    clock.now += 60  # one task took a minute: about 60 starts were missed
    at_once = 0
    while wait_time(user) == 0:  # tasks that take no time: the starts already due follow at once
        at_once += 1
    assert at_once < 6  # the lag of one interval (1 s) at most, not a burst of 60


def row(name, method="GET", *, count=100, failures=0, p95=120.0, **values):
    return {"method": method, "name": name, "count": count, "failures": failures, "rps": values.get("rps", 1.5),
            "median_ms": values.get("median", 80.0), "p95_ms": p95, "max_ms": values.get("max", 900.0)}  # fmt: skip


def write_results(tmp_path, rows, errors=()):
    total = row("Aggregated", "", count=sum(r["count"] for r in rows), failures=sum(r["failures"] for r in rows),
                p95=max(r["p95_ms"] for r in rows))  # fmt: skip
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"requests": rows, "total": total, "errors": list(errors)}))
    return driver.read_results(path)


def test_the_report_table_and_targets_met(tmp_path):
    rows, total, failures = write_results(tmp_path, [
        row("ticket list: open", p95=250.0, rps=3.25), row("ticket list: search (htmx)", p95=900.0),
        row("portal: submit request (POST)", "POST", p95=700.0),
    ])  # fmt: skip
    table = driver.format_table(rows, total)
    lines = table.splitlines()
    assert lines[0] == "| request | kind | count | req/s | median ms | p95 ms | max ms | errors |"
    assert lines[2] == "| `GET ticket list: open` | page | 100 | 3.25 | 80 | 250 | 900 | 0 |"  # pages first
    assert "| `GET ticket list: search (htmx)` | htmx |" in table
    assert "| `POST portal: submit request (POST)` | form |" in table
    assert lines[-1] == "| **all requests** | | 300 | 1.50 | 80 | 900 | 900 | 0 |"
    # htmx requests and POSTs are not page views: their p95 is over 300 ms, the target is still met
    assert driver.target_lines(rows, total) == [
        ("errors: 0 (target 0)", True),
        ("page views: worst p95 250 ms, `ticket list: open` (target ≤ 300 ms)", True),
    ]
    assert driver.format_failures(failures) == "Errors: none."


def test_the_report_lists_errors_and_missed_targets(tmp_path):
    errors = [{"method": "POST", "name": "reply (POST)", "error": "HTTP 403", "occurrences": 2},
              {"method": "GET", "name": "ticket page", "error": "HTTP 500", "occurrences": 5}]  # fmt: skip
    rows, total, failures = write_results(tmp_path, [row("ticket page", p95=1250.0, failures=5, max=3100.0),
                                                     row("reply (POST)", "POST", failures=2)], errors)  # fmt: skip
    assert "| `GET ticket page` | page | 100 | 1.50 | 80 | 1,250 | 3,100 | 5 |" in driver.format_table(rows, total)
    assert driver.format_failures(failures).splitlines() == [
        "Errors:", "- 5 × `GET ticket page`: HTTP 500", "- 2 × `POST reply (POST)`: HTTP 403",
    ]  # fmt: skip
    checks = driver.format_checks("Targets (issue 10):", driver.target_lines(rows, total))
    assert checks.splitlines() == [
        "Targets (issue 10):",
        "- NOT MET: errors: 7 (target 0)",
        "- NOT MET: page views: worst p95 1,250 ms, `ticket page` (target ≤ 300 ms)",
    ]
    assert driver.accepted(rows, "reply (POST)") == 98


def test_side_effects_are_compared():
    matching = driver.SideEffects(portal_accepted=100, portal_tickets=100, replies_accepted=7, replies_created=7,
                                  acknowledgements=100, emails=107)  # fmt: skip
    assert all(ok for _, ok in driver.verification_lines(matching))
    lost = driver.SideEffects(portal_accepted=100, portal_tickets=99, replies_accepted=7, replies_created=7,
                              acknowledgements=90, emails=97, tasks_left=9)  # fmt: skip
    assert [ok for _, ok in driver.verification_lines(lost)] == [False, True, False, False]


def test_the_command_refuses_a_database_that_is_not_a_bench_database(db):
    with pytest.raises(CommandError, match="bench database"):
        call_command("loadtest", "--run-time", "1s")


def test_a_run_removes_the_portal_requests_of_load_runs_and_nothing_else(db):
    """What a run leaves (its portal customers and their open tickets) is removed, so the next run starts
    from the same database; other customers and tickets stay."""
    from customers.models import Customer
    from tickets.models import Message, Ticket
    from tickets.portal.services import portal_request_create

    from .factories import QueueFactory

    queue = QueueFactory()
    load = [portal_request_create(email=f"c{n}@20261124-0100.load.example", name="", language="en",
                                  subject="Where is my order?", body="Hello", queue=queue) for n in range(3)]  # fmt: skip
    kept = portal_request_create(email="someone@example.com", name="", language="en", subject="Hi", body="Hello",
                                 queue=queue)  # fmt: skip
    run = driver.LoadTest({}, write=lambda line: None)
    run._remove_portal_data(".load.example")
    assert list(Ticket.objects.values_list("pk", flat=True)) == [kept.pk]
    assert list(Customer.objects.values_list("email", flat=True)) == ["someone@example.com"]
    assert not Message.objects.filter(ticket_id__in=[ticket.pk for ticket in load]).exists()


COMPOSER = """
<body hx-headers:inherited='{"X-CSRFToken": "header-token"}'>
<form class="presence" hx-post="/tickets/7/presence/"><input type="hidden" name="state" value="viewing"></form>
<form id="composer" method="post" action="/tickets/7/messages/" enctype="multipart/form-data">
  <input type="hidden" name="csrfmiddlewaretoken" value="form-token">
  <input type="hidden" name="seen_up_to" value="41">
  <input type="radio" name="kind" value="reply" checked><input type="radio" name="kind" value="note">
  <textarea name="body">
</textarea>
  <input type="file" name="attachments" multiple>
  <select name="status"><option value="">Keep</option><option value="solved">Solved</option></select>
  <select name="priority"><option value="low">Low</option><option value="high" selected>High</option></select>
  <input type="checkbox" name="notify" value="yes"><input type="text" name="off" value="x" disabled>
  <button type="submit">Send reply</button>
</form>
</body>"""


def test_a_form_is_read_as_a_browser_sends_it():
    form = find_form(COMPOSER, form_id="composer")
    assert form.action == "/tickets/7/messages/" and form.method == "post"
    assert form.fields == [("csrfmiddlewaretoken", "form-token"), ("seen_up_to", "41"), ("kind", "reply"),
                           ("body", ""), ("status", ""), ("priority", "high")]  # fmt: skip
    assert form.files == ["attachments"]
    assert ("body", "Thanks!") in form.filled(body="Thanks!")
    assert find_form(COMPOSER, has="seen_up_to").action == form.action
    assert find_form(COMPOSER, has="email") is None  # the presence form is not a POST form with that field
    assert csrf_header_token(COMPOSER) == "header-token"
    assert csrf_header_token(COMPOSER.replace("""{"X-CSRFToken": "header-token"}""", "{}")) == "form-token"


def test_multipart_encoding_parses_back_in_django(rf):
    body, content_type = encode_multipart([("subject", "Where is my order?"), ("body", "Héllo\nthere")],
                                          ["attachments"])  # fmt: skip
    request = rf.generic("POST", "/", data=body, content_type=content_type)
    assert request.POST["subject"] == "Where is my order?" and request.POST["body"] == "Héllo\nthere"
    assert not request.FILES  # an empty file input sends no file
