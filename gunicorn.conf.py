"""Gunicorn settings of the production image (Dockerfile, docker-compose.yml).

Gunicorn runs behind a TLS reverse proxy (Caddy or nginx, see docs/deploy.md). Every knob can be set in
.env; an empty value counts as unset. Workers are processes, each with GUNICORN_THREADS threads (gthread,
one by default): idle keep-alive connections wait in the worker's poller, not in a thread.

One thread per worker, because the requests are CPU-bound: a worker's threads share one interpreter lock,
and a request that lands in a worker already busy with another waits for it while another worker may be
idle. In the load test (docs/performance.md, 50 agents and 5 portal requests/s on two cores) the slowest
page's p95 was 360 ms with 5 workers x 1 thread and 790 ms with 5 workers x 4 threads.

A slow client uploading an attachment then holds a whole worker, so the proxy in front should receive the
upload before passing it on: nginx does by default, Caddy with ``request_buffers`` (docs/deploy.md). nginx also
takes a download (an attachment) whole and sends it on itself; Caddy streams it, so a worker waits for a slow
downloader: where many people download large attachments over slow links behind Caddy, set GUNICORN_THREADS=2.
"""

import gc
import os

# With no GUNICORN_WORKERS, 2 * cores + 1 processes, but never more than this many: each costs about
# 100 MB of memory and keeps its own database connections.
MAX_DEFAULT_WORKERS = 8


def _env_str(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, not {value!r}") from None
    if number < 1:
        raise SystemExit(f"{name} must be at least 1, not {number}")
    return number


def default_workers() -> int:
    """2 * the cores this container may run on + 1, capped at MAX_DEFAULT_WORKERS."""
    try:
        cores = len(os.sched_getaffinity(0))  # honours cpusets (docker --cpuset-cpus), unlike cpu_count()
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return min(2 * cores + 1, MAX_DEFAULT_WORKERS)


wsgi_app = "helpdesk.wsgi:application"
bind = ["0.0.0.0:8000"]
proc_name = "helpdesk"

workers = _env_int("GUNICORN_WORKERS", default_workers())
worker_class = "gthread"
threads = _env_int("GUNICORN_THREADS", 1)

# A request running longer than this (no heartbeat from the worker) gets the worker killed and restarted.
timeout = _env_int("GUNICORN_TIMEOUT", 60)
# On SIGTERM (docker stop, deploys) requests in flight get this long to finish; docker-compose.yml gives
# the container 30 s before SIGKILL.
graceful_timeout = _env_int("GUNICORN_GRACEFUL_TIMEOUT", 25)
# Idle keep-alive connections from the proxy stay open this long. It must be longer than the proxy's own
# idle timeout for upstream connections (Caddy: 2 min, nginx: 60 s), otherwise the proxy can reuse a
# connection gunicorn is closing and answer 502.
keepalive = _env_int("GUNICORN_KEEPALIVE", 125)

# The app is imported once, in the master, and the workers are forked from it: a worker that is started or
# recycled (max_requests below) serves at once instead of spending a second or two of CPU importing Django
# and the project, which the load test saw as 5-10 % of the web server's CPU. Nothing opens a database or
# Redis connection at import time, so the workers share none. A deploy restarts the container.
preload_app = True

# Recycle workers now and then so that a slow memory leak cannot grow without bound. Not too often: a new
# worker compiles its templates and opens its connections again (at 100 requests/s on 5 workers, 1,000
# requests meant a new worker every 10 s).
max_requests = _env_int("GUNICORN_MAX_REQUESTS", 10_000)
max_requests_jitter = max(1, max_requests // 10)

# The worker heartbeat file lives in memory: on the container's overlay filesystem it can stall workers.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None

# X-Forwarded-Proto (and the other secure-scheme headers) is believed only from these addresses. The web
# container's port is published on 127.0.0.1 of the host only, so the proxy reaches it from the Docker
# network's gateway or from a container on the same network (a private address).
forwarded_allow_ips = _env_str("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# Logs go to stdout / stderr, where `docker compose logs` finds them. Behind a proxy the peer address is
# the proxy's, so the access log shows X-Forwarded-For first.
accesslog = "-"
errorlog = "-"
loglevel = _env_str("LOG_LEVEL", "info").lower()
access_log_format = '%({x-forwarded-for}i)s (%(h)s) - %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(M)sms'


def when_ready(server):
    """In the master, the app loaded (preload_app), before the first worker is forked: load the reports
    engine's fact tables once, so that the workers share them (reports.engine.warm_up)."""
    from reports.engine import warm_up

    seconds = warm_up()
    # Everything loaded so far (Django, the project, the fact tables) lives as long as the server: move it out of
    # the garbage collector's reach, so that the workers' full collections no longer walk it (the ticket lists
    # took 15 % less CPU in one measurement, within the noise in others) and do not write to the pages they
    # share with the master.
    gc.collect()
    gc.freeze()
    if seconds is None:
        server.log.warning("Reports: the fact tables could not be read at start; the first dashboard loads them")
    else:
        server.log.info("Reports: fact tables loaded in %.1f s, shared by the workers", seconds)
