"""The production deployment files: docker-compose.yml, .env.example, gunicorn.conf.py, Dockerfile.

The docker-compose.yml tests need PyYAML (requirements/dev.txt); `manage.py check --deploy` runs in a
subprocess with the environment of .env.example, plus DATABASE_URL / REDIS_URL of this test run.
"""

import os
import re
import runpy
import secrets
import string
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
SETTINGS_FILE = ROOT / "helpdesk" / "settings.py"
GUNICORN_CONF = ROOT / "gunicorn.conf.py"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

LONG_RUNNING_SERVICES = ("postgres", "redis", "web", "worker", "beat")
APP_SERVICES = ("migrate", "web", "worker", "beat")  # built from the Dockerfile, configured by .env
POSTGRES_DATA = "/var/lib/postgresql/data"

# env.str("NAME", ...), env.bool("NAME"), env.db("NAME"), env("NAME"): every variable settings.py reads.
SETTINGS_ENV_CALL = re.compile(r"""\benv(?:\.\w+)?\(\s*["']([A-Z][A-Z0-9_]*)["']""")
GUNICORN_ENV_CALL = re.compile(r"""_env_\w+\(\s*["']([A-Z][A-Z0-9_]*)["']""")


# ---- helpers ------------------------------------------------------------------------------------------------


def parse_env_file(path: Path) -> dict[str, str]:
    """The NAME=value lines of a dotenv file, as docker compose reads them (comments and blanks skipped)."""
    values = {}
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, equals, value = line.partition("=")
        assert equals and re.fullmatch(r"[A-Z][A-Z0-9_]*", name), f"{path.name}:{number} is not NAME=value: {raw!r}"
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[name] = value
    return values


def names_in_env_file(path: Path) -> set[str]:
    """Every variable the file names, set or commented out (`# NAME=default`)."""
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", path.read_text(), flags=re.MULTILINE))


def random_secret_key() -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(50))


def manage_py_env() -> dict[str, str]:
    """The environment of .env.example, for a manage.py subprocess on this machine."""
    env = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR") if name in os.environ}
    env.update(parse_env_file(ENV_EXAMPLE))
    for name in ("DATABASE_URL", "REDIS_URL"):  # the servers of this test run, not the compose service names
        if os.environ.get(name):
            env[name] = os.environ[name]
    return env


def run_manage_py(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )


def mounts(service: dict) -> dict[str, str]:
    """Container path -> source (volume name or host path) of a compose service."""
    result = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, _, rest = volume.partition(":")
            target = rest.split(":")[0]
        else:
            source, target = volume.get("source", ""), volume["target"]
        result[target.rstrip("/")] = source
    return result


def depends_on(service: dict) -> dict[str, str]:
    """Service name -> condition; the short (list) form means service_started."""
    value = service.get("depends_on", {})
    if isinstance(value, list):
        return dict.fromkeys(value, "service_started")
    return {name: spec.get("condition", "service_started") for name, spec in value.items()}


def command_text(service: dict) -> str:
    command = service.get("command", "")
    return " ".join(command) if isinstance(command, list) else command


# ---- docker-compose.yml -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict:
    import yaml  # PyYAML, from requirements/dev.txt

    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict), "docker-compose.yml is not a mapping"
    return data


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    return parse_env_file(ENV_EXAMPLE)


def test_compose_defines_the_services(services):
    missing = set(LONG_RUNNING_SERVICES + APP_SERVICES) - set(services)
    assert not missing, f"services missing from docker-compose.yml: {sorted(missing)}"


@pytest.mark.parametrize("name", ["postgres", "redis", "web", "worker"])
def test_long_running_services_have_a_healthcheck(services, name):
    healthcheck = services[name].get("healthcheck")
    assert healthcheck, f"{name} has no healthcheck"
    assert not healthcheck.get("disable"), f"{name}'s healthcheck is disabled"
    assert healthcheck.get("test"), f"{name}'s healthcheck has no test"


def test_beat_healthcheck_if_any_has_a_test(services):
    healthcheck = services["beat"].get("healthcheck")
    if healthcheck is not None:
        assert healthcheck.get("disable") or healthcheck.get("test")


def test_images_of_postgres_and_redis(services):
    assert services["postgres"]["image"] == "postgres:17"
    assert services["redis"]["image"] == "redis:7"
    assert "pg_isready" in str(services["postgres"]["healthcheck"]["test"])
    assert "ping" in str(services["redis"]["healthcheck"]["test"])


def test_postgres_data_is_on_a_named_volume(compose, services):
    source = mounts(services["postgres"]).get(POSTGRES_DATA)
    assert source, f"postgres does not mount a volume at {POSTGRES_DATA}"
    assert source in compose.get("volumes", {}), f"{source!r} is not a named volume of docker-compose.yml"


def test_redis_persists_with_append_only_file(compose, services):
    assert "--appendonly yes" in command_text(services["redis"])
    source = mounts(services["redis"]).get("/data")
    assert source in compose.get("volumes", {}), "redis has no named volume at /data"


def test_media_volume_is_shared_by_web_and_worker(compose, services, env_example):
    media_root = env_example["MEDIA_ROOT"].rstrip("/")
    web_source = mounts(services["web"]).get(media_root)
    assert web_source, f"web does not mount a volume at MEDIA_ROOT ({media_root})"
    assert web_source in compose.get("volumes", {}), f"{web_source!r} is not a named volume"
    assert mounts(services["worker"]).get(media_root) == web_source, "worker does not share web's media volume"


def test_beat_schedule_is_on_a_volume(compose, services):
    match = re.search(r"--schedule[ =](\S+)", command_text(services["beat"]))
    assert match, "beat has no --schedule"
    schedule_dir = str(Path(match.group(1)).parent)
    source = mounts(services["beat"]).get(schedule_dir)
    assert source in compose.get("volumes", {}), f"beat's schedule directory {schedule_dir} is not on a named volume"


def test_commands(services):
    assert "gunicorn" in command_text(services["web"])
    assert re.search(r"celery -A helpdesk worker\b", command_text(services["worker"]))
    assert re.search(r"celery -A helpdesk beat\b", command_text(services["beat"]))
    assert re.search(r"manage\.py migrate --noinput", command_text(services["migrate"]))


def test_app_services_are_configured_from_dot_env(services):
    for name in (*APP_SERVICES, "postgres"):
        env_file = services[name].get("env_file")
        env_files = [env_file] if isinstance(env_file, str) else env_file or []
        paths = [item if isinstance(item, str) else item.get("path") for item in env_files]
        assert ".env" in paths, f"{name} does not read .env"


def test_restart_policies(services):
    for name in LONG_RUNNING_SERVICES:
        assert services[name].get("restart") == "unless-stopped", f"{name} should restart unless stopped"
    # A one-shot that restarted would migrate in a loop.
    assert services["migrate"].get("restart", "no") == "no"


def test_migrations_run_once_before_web_worker_and_beat(services):
    assert depends_on(services["migrate"]).get("postgres") == "service_healthy"
    for name in ("web", "worker", "beat"):
        conditions = depends_on(services[name])
        assert conditions.get("migrate") == "service_completed_successfully", f"{name} does not wait for migrate"
        assert conditions.get("postgres") == "service_healthy", f"{name} does not wait for a healthy postgres"
        assert conditions.get("redis") == "service_healthy", f"{name} does not wait for a healthy redis"


def test_only_web_publishes_a_port_and_only_on_loopback(services):
    for name, service in services.items():
        if name != "web":
            assert not service.get("ports"), f"{name} must not publish ports"
    for port in services["web"]["ports"]:
        text = port if isinstance(port, str) else f"{port.get('host_ip', '')}:{port.get('published')}"
        assert text.startswith("127.0.0.1:"), f"web publishes {text!r} beyond the host's loopback"


def test_web_healthcheck_requests_healthz_with_valid_python(services):
    test = services["web"]["healthcheck"]["test"]
    assert test[:2] == ["CMD", "python"] and "-c" in test, "web's healthcheck should run a python -c script"
    script = test[test.index("-c") + 1]
    assert "http://127.0.0.1:8000/healthz" in script
    assert "$" not in script, "compose would interpolate $ in the healthcheck"
    compile(script, "web-healthcheck", "exec")


def test_worker_healthcheck_pings_its_own_node(services):
    test = services["worker"]["healthcheck"]["test"]
    assert test[0] == "CMD-SHELL"
    assert "celery -A helpdesk inspect ping" in test[1]
    assert "-d celery@$$HOSTNAME" in test[1], "the ping must target this container's node ($$ escapes compose)"


def test_beat_is_not_replicated(services):
    assert services["beat"].get("scale", 1) == 1
    assert services["beat"].get("deploy", {}).get("replicas", 1) == 1


# ---- .env.example -------------------------------------------------------------------------------------------


def test_settings_env_names_are_found():
    names = set(SETTINGS_ENV_CALL.findall(SETTINGS_FILE.read_text()))
    # The regex must keep finding what settings.py reads; these are certainly among them.
    assert {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL", "STATICFILES_STORAGE"} <= names


def test_env_example_names_every_variable_settings_reads():
    read = set(SETTINGS_ENV_CALL.findall(SETTINGS_FILE.read_text()))
    missing = read - names_in_env_file(ENV_EXAMPLE)
    assert not missing, f".env.example does not mention {sorted(missing)}"


def test_env_example_names_every_variable_gunicorn_reads():
    read = set(GUNICORN_ENV_CALL.findall(GUNICORN_CONF.read_text()))
    assert {"GUNICORN_WORKERS", "FORWARDED_ALLOW_IPS"} <= read
    missing = read - names_in_env_file(ENV_EXAMPLE)
    assert not missing, f".env.example does not mention {sorted(missing)}"


def test_env_example_names_the_postgres_container_settings(env_example):
    assert {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"} <= set(env_example)


def test_env_example_values_are_production_safe(env_example):
    assert env_example["DEBUG"] in ("0", "false", "False", "off")
    # Placeholders left empty on purpose: the app (SECRET_KEY) and postgres refuse to start without them.
    assert env_example["SECRET_KEY"] == ""
    assert env_example["POSTGRES_PASSWORD"] == ""
    assert env_example["CELERY_TASK_ALWAYS_EAGER"] in ("0", "false", "False", "off")
    for name, value in env_example.items():
        assert "$" not in value, f"{name}: compose would interpolate the $ in its value"


def test_check_deploy_passes_with_env_example():
    env = manage_py_env()
    env["SECRET_KEY"] = random_secret_key()
    result = run_manage_py("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, f"manage.py check --deploy failed:\n{result.stdout}\n{result.stderr}"
    assert "System check identified no issues (0 silenced)." in result.stdout, result.stdout + result.stderr


def test_app_refuses_the_development_secret_key_in_production():
    env = {**manage_py_env(), "SECRET_KEY": "dev-only-insecure-key-do-not-use-in-production"}
    result = run_manage_py("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_app_refuses_to_start_while_secret_key_is_the_placeholder():
    result = run_manage_py("check", env=manage_py_env())
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


# ---- gunicorn.conf.py, Dockerfile, .dockerignore ------------------------------------------------------------


def load_gunicorn_conf(monkeypatch, **env: str) -> dict:
    for name in os.environ:
        if name.startswith("GUNICORN_") or name in ("FORWARDED_ALLOW_IPS", "LOG_LEVEL"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(GUNICORN_CONF))


def test_gunicorn_defaults(monkeypatch):
    conf = load_gunicorn_conf(monkeypatch, GUNICORN_WORKERS="")
    assert conf["bind"] == ["0.0.0.0:8000"]
    assert 3 <= conf["workers"] <= conf["MAX_DEFAULT_WORKERS"]
    assert conf["workers"] == conf["default_workers"]()
    assert conf["accesslog"] == "-"
    assert conf["graceful_timeout"] < 30, "docker-compose.yml gives web 30 s to stop"
    assert conf["keepalive"] > 120, "must outlive Caddy's idle upstream connections (2 min)"
    assert conf["preload_app"] is True, "a recycled worker must not import the app again (issue 10, load)"
    assert callable(conf["when_ready"]), "the master loads the reports engine before forking (reports.engine)"


def test_gunicorn_reads_the_environment(monkeypatch):
    conf = load_gunicorn_conf(
        monkeypatch, GUNICORN_WORKERS="3", GUNICORN_THREADS="2", FORWARDED_ALLOW_IPS="10.0.0.2", LOG_LEVEL="WARNING"
    )
    assert (conf["workers"], conf["threads"], conf["forwarded_allow_ips"]) == (3, 2, "10.0.0.2")
    assert conf["loglevel"] == "warning"


def test_dockerfile():
    text = "\n".join(line for line in DOCKERFILE.read_text().splitlines() if not line.lstrip().startswith("#"))
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim$", text, flags=re.MULTILINE)
    assert re.search(r"pip install .*requirements/base\.txt", text) and "dev.txt" not in text
    assert re.search(r"^USER (?!root|0\b)\w+", text, flags=re.MULTILINE), "the image must not run as root"
    assert "collectstatic --noinput" in text
    assert not re.search(r"^(ENV|ARG) .*SECRET_KEY", text, flags=re.MULTILINE), "SECRET_KEY must not persist"
    assert re.search(r"^EXPOSE 8000$", text, flags=re.MULTILINE)
    assert re.search(r'^CMD \["gunicorn"', text, flags=re.MULTILINE)


def test_dockerignore_keeps_secrets_and_local_state_out():
    patterns = {line.strip() for line in DOCKERIGNORE.read_text().splitlines()}
    assert {".env", ".git", ".venv", "var", "node_modules"} <= patterns
    assert not any(pattern.startswith("static") for pattern in patterns), "static/ is needed by collectstatic"


def test_collectstatic_with_the_production_storage_finds_every_referenced_file(settings, tmp_path):
    """The image runs collectstatic with the manifest storage, which fails on a file that names a missing one
    (a vendored script's source map did)."""
    from django.core.management import call_command

    settings.STATIC_ROOT = tmp_path / "static"
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"}}  # fmt: skip
    call_command("collectstatic", "--noinput", verbosity=0)
    assert (tmp_path / "static" / "staticfiles.json").exists()
