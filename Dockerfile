# Production image of the help desk: gunicorn serving Django (static files through whitenoise). The same
# image runs the Celery worker, Celery beat and the one-shot `migrate` service (docker-compose.yml).
# Build: docker compose build   (or: docker build -t helpdesk:latest .)
# Only requirements/base.txt is installed; requirements/dev.txt never reaches this image.

ARG PYTHON_IMAGE=python:3.11-slim

# ---- build: a virtualenv with the pinned production requirements -----------------------------------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/venv
COPY requirements/base.txt /tmp/requirements/base.txt
RUN /opt/venv/bin/pip install --no-deps --requirement /tmp/requirements/base.txt \
    && /opt/venv/bin/pip check

# ---- runtime: the venv, the project and its collected static files; runs as an unprivileged user ------------
FROM ${PYTHON_IMAGE} AS runtime

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=helpdesk.settings

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /home/app --create-home --shell /usr/sbin/nologin app

COPY --from=build /opt/venv /opt/venv

WORKDIR /app
# The code stays owned by root: the app user can read it but not change it.
COPY . .

# collectstatic imports the settings, which need a SECRET_KEY when DEBUG is off. This dummy exists only in
# the environment of this one command: it is not an ENV or ARG, so containers never see it.
# var/media (uploads) and var/beat (Celery beat's schedule) are the only places the app user writes; the
# named volumes mounted there start out with this ownership.
RUN SECRET_KEY=build-only-dummy-key-not-used-at-run-time DEBUG=0 \
        python manage.py collectstatic --noinput \
    && python -m compileall -q /app \
    && chmod -R a+rX /app \
    && mkdir -p /app/var/media /app/var/beat \
    && chown app:app /app/var/media /app/var/beat

USER app

EXPOSE 8000

CMD ["gunicorn", "--config", "/app/gunicorn.conf.py", "helpdesk.wsgi:application"]
