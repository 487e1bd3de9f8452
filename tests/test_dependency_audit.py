"""Known vulnerabilities in the production pins (requirements/base.txt), by pip-audit against PyPI's vulnerability
data (`make audit` shows the same for a person). A pin with a known vulnerability fails: upgrade it.

pip-audit asks PyPI's JSON API about every pinned version (https://pypi.org/pypi/<name>/<version>/json). Where
PyPI cannot be reached, or answers none of those questions (some mirrors and sandboxes serve only the project
pages), nothing was audited: the test is skipped with the reason, never passed. A pin that PyPI does not know
while it knows the others fails (such a pin would not install either).
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "requirements" / "base.txt"
# Every pin is exact (pip freeze), so pip-audit needs no resolver and no virtualenv of its own: one request per pin.
COMMAND = [sys.executable, "-m", "pip_audit", "--requirement", str(REQUIREMENTS), "--no-deps", "--disable-pip",
           "--format", "json", "--progress-spinner", "off", "--timeout", "20"]  # fmt: skip
NETWORK_ERRORS = re.compile(r"ConnectionError|ConnectTimeout|ReadTimeout|MaxRetryError|ProxyError|NameResolution|"
                            r"Temporary failure|Network is unreachable|timed out|ServiceError|SSLError")  # fmt: skip


def run_pip_audit() -> dict:
    try:
        result = subprocess.run(COMMAND, cwd=ROOT, capture_output=True, text=True, timeout=240)
    except subprocess.TimeoutExpired:
        pytest.skip("pip-audit: PyPI did not answer within 240 s")
    try:
        return json.loads(result.stdout)
    except json.JSONDecodeError:
        if NETWORK_ERRORS.search(result.stderr):
            last = result.stderr.strip().splitlines()[-1][:300]
            pytest.skip(f"pip-audit could not reach PyPI: {last}")
        pytest.fail(f"pip-audit failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr[-3000:]}")


def findings(report: dict, pins: int) -> tuple[str | None, list[str]]:
    """Why nothing could be audited (or None), and the problems: vulnerable pins, and pins PyPI does not know."""
    dependencies = report["dependencies"]
    assert len(dependencies) == pins, "pip-audit did not read every pin of requirements/base.txt"
    skipped = [dependency["skip_reason"] for dependency in dependencies if "skip_reason" in dependency]
    if skipped and len(skipped) == len(dependencies):
        return (f"pip-audit could look up none of the {pins} pins: PyPI's per-version JSON API does not answer "
                f"from here (for example: {skipped[0]})"), []  # fmt: skip
    vulnerable = [
        f"{dependency['name']}=={dependency['version']}: {vuln['id']} {' '.join(vuln.get('aliases', []))} "
        f"(fixed in {', '.join(vuln.get('fix_versions', [])) or 'no release yet'})"
        for dependency in dependencies
        for vuln in dependency.get("vulns", [])
    ]
    return None, vulnerable + skipped


def test_production_pins_have_no_known_vulnerabilities():
    report = run_pip_audit()
    pins = [line for line in REQUIREMENTS.read_text().splitlines() if "==" in line and not line.startswith("#")]
    nothing_audited, problems = findings(report, len(pins))
    if nothing_audited:
        pytest.skip(nothing_audited)
    assert problems == [], "upgrade these pins of requirements/base.txt:\n" + "\n".join(problems)


def test_findings_of_a_report():
    """How a report of pip-audit (its JSON) is read, for the cases the network seldom shows."""
    clean = {"name": "nh3", "version": "0.3.8", "vulns": []}
    vulnerable = {
        "name": "django",
        "version": "5.2.1",
        "vulns": [
            {"id": "PYSEC-2025-1", "aliases": ["CVE-2025-0001"], "fix_versions": ["5.2.2"], "description": "..."}
        ],
    }
    unknown = {"name": "gunicorn", "skip_reason": "Dependency not found on PyPI and could not be audited: gunicorn"}

    assert findings({"dependencies": [clean]}, 1) == (None, [])
    assert findings({"dependencies": [clean, vulnerable]}, 2) == (
        None,
        ["django==5.2.1: PYSEC-2025-1 CVE-2025-0001 (fixed in 5.2.2)"],
    )
    assert findings({"dependencies": [clean, unknown]}, 2) == (None, [unknown["skip_reason"]])
    reason, problems = findings({"dependencies": [unknown, unknown]}, 2)
    assert reason.startswith("pip-audit could look up none of the 2 pins") and problems == []
