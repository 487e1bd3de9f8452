"""`make run` and `make test` rely on helpdesk.devstack: prove it starts real Postgres and Redis when
DATABASE_URL / REDIS_URL are unset and leaves nothing running when it ends."""

import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

from .live_services import wait_for

ROOT = Path(__file__).resolve().parent.parent


def stack_env(var_dir: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(HELPDESK_VAR_DIR=str(var_dir), DEBUG="1", **extra)
    return env


def processes_using(path: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            if any(str(path) in part for part in process.info["cmdline"] or []):
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


PROBE = """
import os, psycopg, redis
with psycopg.connect(os.environ["DATABASE_URL"].replace("postgres://", "postgresql://")) as conn:
    print("postgres", conn.execute("show server_version").fetchone()[0])
print("redis", redis.Redis.from_url(os.environ["REDIS_URL"]).ping())
"""


def test_exec_starts_postgres_and_redis_and_stops_them(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "helpdesk.devstack", "exec", "--", sys.executable, "-c", PROBE],
        cwd=ROOT, env=stack_env(tmp_path), capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr + result.stdout
    assert "postgres 18" in result.stdout
    assert "redis True" in result.stdout
    assert (tmp_path / "postgres" / "PG_VERSION").exists()
    assert processes_using(tmp_path) == []


def test_exec_passes_on_the_exit_code(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "helpdesk.devstack", "exec", "--", sys.executable, "-c", "raise SystemExit(3)"],
        cwd=ROOT, env=stack_env(tmp_path), capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert result.returncode == 3
    assert processes_using(tmp_path) == []


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError:
        return None, b""


@pytest.mark.slow
def test_run_serves_the_help_desk_and_ctrl_c_stops_everything(tmp_path):
    from .live_services import _free_port

    port = _free_port()
    log = (tmp_path / "run.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "helpdesk.devstack", "run", "--port", str(port)],
        cwd=ROOT, env=stack_env(tmp_path / "var"), stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        # Beat ticks every 30 s; health is 200 once web, database, Redis, beat and worker all work.
        wait_for(lambda: get(f"http://127.0.0.1:{port}/healthz")[0] == 200, timeout=240, interval=1)
        status, body = get(f"http://127.0.0.1:{port}/login/")
        assert status == 200 and b"password" in body.lower()
        children = psutil.Process(process.pid).children(recursive=True)
        assert len(children) >= 4  # web, worker, beat, mail catcher (+ Redis)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    output = (tmp_path / "run.log").read_text()
    assert "owner@demo.example" in output
    assert process.returncode == 0
    assert processes_using(tmp_path) == []
    assert [p for p in children if still_running(p)] == []


def still_running(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
