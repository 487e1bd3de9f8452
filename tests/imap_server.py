"""A throwaway Dovecot IMAP server on loopback, for the IMAP fetching tests.

Needs Debian's ``dovecot-imapd`` (which brings ``dovecot-core``), the ``openssl`` command, and root (as in
CI). The config, certificate, passwd-file, sockets, state and log are in the test's tmp dir; the maildir
is in a directory of its own under /tmp, removed at teardown. The server listens on 127.0.0.1 only, on
free ports, and is stopped (with every process it started) at teardown.
"""

import contextlib
import imaplib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

DOVECOT = Path("/usr/sbin/dovecot")
INSTALL_HINT = "Dovecot is not installed: apt-get install -y dovecot-imapd"

CONFIG = """\
protocols = imap
listen = 127.0.0.1
instance_name = helpdesk-test-{imap_port}
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
shutdown_clients = yes

ssl = yes
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
# A wrong password fails at once, and the next login from 127.0.0.1 is not slowed down either.
auth_failure_delay = 0

default_login_user = {login_user}
default_internal_user = {internal_user}
first_valid_uid = {uid}
last_valid_uid = 0
first_valid_gid = {gid}
last_valid_gid = 0

mail_location = maildir:{maildir}/%u
mail_uid = {uid}
mail_gid = {gid}
namespace inbox {{
  inbox = yes
  separator = /
}}

passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = home={maildir}/%u
}}

service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
    ssl = yes
  }}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
# The passwd-file is in pytest's tmp dir, which only root may enter.
service auth {{
  user = root
}}
"""


@dataclass
class ImapServer:
    host: str
    port: int
    ssl_port: int
    user: str
    password: str
    cafile: str
    root: Path

    def connect(self) -> imaplib.IMAP4:
        imap = imaplib.IMAP4(self.host, self.port, timeout=10)
        imap.login(self.user, self.password)
        return imap

    def append(self, raw: bytes, folder: str = "INBOX") -> int:
        """APPEND one message; returns its UID. imaplib turns bare LF into CRLF, so give it CRLF lines."""
        imap = self.connect()
        try:
            if folder != "INBOX":
                imap.create(f'"{folder}"')  # fails harmlessly when it exists
            status, data = imap.append(f'"{folder}"', None, None, raw)
            assert status == "OK", data
            found = re.search(rb"APPENDUID \d+ (\d+)", data[0])
            return int(found.group(1))
        finally:
            imap.logout()

    def flags(self, folder: str = "INBOX") -> dict[int, str]:
        """{UID: flags} of the messages in a folder, read without changing anything."""
        imap = self.connect()
        try:
            imap.select(f'"{folder}"', readonly=True)
            status, data = imap.uid("FETCH", "1:*", "(FLAGS)")
            assert status == "OK", data
            result = {}
            for line in data:
                if line:
                    found = re.search(rb"UID (\d+) FLAGS \(([^)]*)\)|FLAGS \(([^)]*)\) UID (\d+)", line)
                    uid, flags = (found.group(1), found.group(2)) if found.group(1) else found.group(4, 3)
                    result[int(uid)] = flags.decode()
            return result
        finally:
            imap.logout()


def _unavailable(reason: str) -> None:
    """In CI a missing server is a failure, not a silently skipped test."""
    (pytest.fail if os.environ.get("CI") else pytest.skip)(reason)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _unprivileged(*names: str) -> str:
    for name in names:
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    return "nobody"


def _make_certificate(root: Path) -> None:
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", root / "key.pem", "-out", root / "cert.pem", "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip


def _wait_for_greeting(port: int, process: subprocess.Popen, log: Path, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dovecot exited with {process.returncode}:\n{_read(log)}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            if sock.recv(100).startswith(b"* OK"):
                return
        time.sleep(0.05)
    raise RuntimeError(f"dovecot did not answer on port {port} within {timeout} s:\n{_read(log)}")


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def _group(pgid: int) -> list[int]:
    """The live (not zombie) processes of a process group."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after "pid (comm)": state ppid pgrp ...
            if int(fields[2]) == pgid and fields[0] != "Z":
                pids.append(int(stat.parent.name))
    return pids


def _stop(process: subprocess.Popen) -> None:
    """Stop Dovecot and every process it started. The master and its children are signalled together (the
    master alone waits a second for them), then anything still alive after a few seconds is killed."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
    deadline = time.monotonic() + 5
    while left := _group(process.pid):
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            time.sleep(0.2)
            if left := _group(process.pid):
                raise RuntimeError(f"Dovecot processes {left} are still running")
            return
        time.sleep(0.05)


@pytest.fixture
def imap_server(tmp_path):
    """A real Dovecot on 127.0.0.1 (plain IMAP with STARTTLS, and IMAPS) with one user and an empty INBOX."""
    if not DOVECOT.exists():
        _unavailable(INSTALL_HINT)
    if os.getuid() != 0:
        _unavailable("The Dovecot test server must be started as root (as in CI); it drops privileges itself.")
    root = tmp_path / "dovecot"
    for name in ("run", "state"):
        (root / name).mkdir(parents=True)
    _make_certificate(root)
    user, password = "support", "correct horse battery"
    (root / "users").write_text(f"{user}:{{PLAIN}}{password}\n")
    with contextlib.ExitStack() as cleanup:
        # Dovecot never accesses mail as root: the mail belongs to Debian's "mail" user, in a directory of its
        # own (removed at the end), since that user cannot enter pytest's tmp dir (root's, mode 700).
        mail_user = pwd.getpwnam(_unprivileged("mail", "nobody"))
        maildir = Path(tempfile.mkdtemp(prefix="helpdesk-dovecot-mail-"))
        cleanup.callback(shutil.rmtree, maildir, ignore_errors=True)
        os.chown(maildir, mail_user.pw_uid, mail_user.pw_gid)
        imap_port, imaps_port = _free_port(), _free_port()
        config = root / "dovecot.conf"
        config.write_text(
            CONFIG.format(
                root=root, maildir=maildir, imap_port=imap_port, imaps_port=imaps_port,
                uid=mail_user.pw_uid, gid=mail_user.pw_gid,
                login_user=_unprivileged("dovenull", "nobody"), internal_user=_unprivileged("dovecot", "nobody"),
            )
        )  # fmt: skip
        log = root / "dovecot.log"
        with log.open("ab") as stderr:
            process = subprocess.Popen([DOVECOT, "-F", "-c", config], stdin=subprocess.DEVNULL,
                                       stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True)  # fmt: skip
        cleanup.callback(_stop, process)
        _wait_for_greeting(imap_port, process, log)
        yield ImapServer(host="127.0.0.1", port=imap_port, ssl_port=imaps_port, user=user, password=password,
                         cafile=str(root / "cert.pem"), root=root)  # fmt: skip
