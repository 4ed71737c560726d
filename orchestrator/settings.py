"""Django settings, all from environment variables (see the README's configuration table).

Nothing here needs editing to deploy: the embedded default (SQLite in WAL mode, a Redis that the
start command runs when none answers) and production (PostgreSQL, an external Redis, N workers)
differ only in ``DATABASE_URL`` and ``REDIS_URL``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from orchestrator.assets import assets_dir
from orchestrator.logs import config as logging_config

BASE_DIR = Path(__file__).resolve().parent.parent
# templates/, static/ (the built canvas), examples/: beside the packages in a checkout, in the
# package flowbuilder_assets when installed from a wheel (orchestrator/assets.py).
ASSETS_DIR = assets_dir()
# Everything the app writes (SQLite file, collected static, first login, beat schedule).
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# -- core ------------------------------------------------------------------------------------------

# Good enough for tests and a first look, and flagged by the system check orchestrator.W001 (and by
# `check --deploy`) whenever it is in use. `./dev start` writes a random key to var/ instead.
DEV_SECRET_KEY = "django-insecure-dev-only-set-SECRET_KEY-in-the-environment"
SECRET_KEY = os.environ.get("SECRET_KEY", "").strip() or DEV_SECRET_KEY
# Earlier keys, comma-separated, while a new SECRET_KEY is rolled out: sessions signed with them
# stay signed in (pages and sockets alike), and credentials encrypted with a key derived from one
# still decrypt until `manage.py rotate_credentials` moves them onto the current key.
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS")
# Fernet keys for workspace credentials (editor.secret_box): the first encrypts, all decrypt.
# Unset: a key derived from SECRET_KEY (system check orchestrator.W002; an error in --deploy).
CREDENTIALS_KEYS = env_list("CREDENTIALS_KEY")

DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
# Behind an HTTPS proxy: CSRF_TRUSTED_ORIGINS=https://flows.example.com
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
if env_bool("BEHIND_HTTPS_PROXY"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

INSTALLED_APPS = [
    # First, so that `runserver` serves ASGI (HTTP and WebSockets) like production does.
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # Before staticfiles so `runserver` does not serve static files its own way.
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "editor",
    "knowledge",
    "orchestrator",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # A server span per request, continuing the caller's traceparent (off without OTLP).
    "orchestrator.tracing.TraceMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before anything reads the body, so an oversized request gets a 413 in the API's error shape.
    "orchestrator.middleware.RequestBodyLimitMiddleware",
    # A database that cannot take the request: 503 with Retry-After from every view, not a 500.
    "orchestrator.middleware.DatabaseUnavailableMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "orchestrator.urls"
ASGI_APPLICATION = "orchestrator.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [ASSETS_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# -- database --------------------------------------------------------------------------------------

# What this process is: "web" is set by orchestrator/asgi.py when Daphne (or any ASGI server) loads
# the app; the Procfile names the others ("worker", "beat"). Only the web process pools its
# connections; everything else keeps one connection per process (CONN_MAX_AGE), as workers must.
PROCESS_ROLE = os.environ.get("FLOWBUILDER_PROCESS", "").strip().lower()
# The most PostgreSQL connections the web process holds, whatever its load: Daphne runs each
# request in a thread of its own, and a connection kept per thread (CONN_MAX_AGE) is never reused,
# so a burst would take the server's last slots. Requests borrow a connection from this pool and
# give it back when they end; one that waits longer than WEB_DB_POOL_TIMEOUT seconds is answered
# 503 with Retry-After. 0: no pool, each request opens and closes its own connection (for a
# PgBouncer in front).
WEB_DB_POOL_SIZE = int(os.environ.get("WEB_DB_POOL_SIZE", 10))
WEB_DB_POOL_TIMEOUT = float(os.environ.get("WEB_DB_POOL_TIMEOUT", 10))

DATABASE_URL = os.environ.get("DATABASE_URL", "").strip()
if DATABASE_URL:
    DATABASES: dict[str, dict[str, Any]] = {
        "default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)
    }
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        _options = DATABASES["default"].setdefault("OPTIONS", {})
        # Each process names its role in pg_stat_activity (unless the URL names one already).
        _options.setdefault(
            "application_name", f"flowbuilder-{PROCESS_ROLE}" if PROCESS_ROLE else "flowbuilder"
        )
        if PROCESS_ROLE == "web":
            DATABASES["default"]["CONN_MAX_AGE"] = 0  # a connection goes back after each request
            if WEB_DB_POOL_SIZE > 0:
                # psycopg's pool, made by Django on the first query: Daphne never forks, and no
                # other process has the web role, so no pool is ever copied into a child.
                _options["pool"] = {
                    "name": "flowbuilder-web",
                    "min_size": 1,
                    "max_size": WEB_DB_POOL_SIZE,
                    "timeout": WEB_DB_POOL_TIMEOUT,
                }
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": VAR_DIR / "db.sqlite3"}
    }

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            # WAL lets the web process read while a worker writes; IMMEDIATE takes the write lock
            # at BEGIN, so two writers queue on `timeout` instead of failing with "database is
            # locked" when a read transaction tries to upgrade.
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# -- auth ------------------------------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# -- i18n, static ----------------------------------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# WhiteNoise serves static/ (the built canvas included) straight from the source folders, so
# a rebuilt canvas needs no collectstatic before a test server or `./dev start` picks it up.
WHITENOISE_USE_FINDERS = True
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [ASSETS_DIR / "static"]
# The example flows /api/examples/ lists (editor.examples).
EXAMPLES_DIR = ASSETS_DIR / "examples"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Not the manifest variant: Vite already puts content hashes in the bundle names, and a
    # manifest would make every page that uses {% static %} fail until collectstatic has run
    # (tests, a fresh checkout).
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# -- request limits --------------------------------------------------------------------------------

# The largest request body accepted: 2 MiB. A graph at the MAX_NODES limit with ordinary settings
# is well under 1 MiB; anything bigger is refused with 413 before it is read or parsed.
# Override with MAX_REQUEST_BYTES.
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("MAX_REQUEST_BYTES", 2 * 1024 * 1024))

# -- knowledge bases ------------------------------------------------------------------------------

# Where chunks, their full-text index and their vectors live: sqlite:///<file> (sqlite-vec +
# FTS5) or postgres://… (pgvector, which the server must have). Unset: the database's own
# PostgreSQL if it has pgvector, else a file beside the database (knowledge.stores says more).
KNOWLEDGE_STORE_URL = os.environ.get("KNOWLEDGE_STORE_URL", "").strip()
KNOWLEDGE_DEFAULT_STORE_URL = (
    DATABASE_URL
    if DATABASE_URL.startswith(("postgres://", "postgresql://"))
    else f"sqlite:///{VAR_DIR / 'knowledge.sqlite3'}"
)
# The largest document (20 MiB), files per upload, and upload request (the request body limit
# of the upload route alone; everywhere else MAX_REQUEST_BYTES holds).
KNOWLEDGE_MAX_DOCUMENT_BYTES = int(os.environ.get("KNOWLEDGE_MAX_DOCUMENT_BYTES", 20 * 1024**2))
KNOWLEDGE_MAX_FILES = int(os.environ.get("KNOWLEDGE_MAX_FILES", 20))
# Tries of a batch of chunks whose embedding fails with a transient error (429, 5xx, timeout,
# connection), and the wait before the second try (doubling after each), before the document fails.
KNOWLEDGE_EMBED_ATTEMPTS = int(os.environ.get("KNOWLEDGE_EMBED_ATTEMPTS", 4))
KNOWLEDGE_EMBED_RETRY_SECONDS = float(os.environ.get("KNOWLEDGE_EMBED_RETRY_SECONDS", 1.0))
KNOWLEDGE_MAX_UPLOAD_BYTES = int(os.environ.get("KNOWLEDGE_MAX_UPLOAD_BYTES", 100 * 1024**2))
# Request bodies larger than MAX_REQUEST_BYTES that a route may take: (path pattern, limit).
LARGE_BODY_ROUTES = [(r"^/api/knowledge/[^/]+/documents/$", KNOWLEDGE_MAX_UPLOAD_BYTES)]

# -- Redis: Celery broker and results, channel layer -----------------------------------------------

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# A task is acknowledged only when it has finished, and put back if its worker dies: together
# with idempotent tasks, a crashed worker loses no step.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# One task at a time per process: LLM steps are long, and a prefetched task would wait behind one.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Results are in the database (Run, Step); Celery's result backend would only duplicate them.
CELERY_TASK_IGNORE_RESULT = True

# -- the run side ---------------------------------------------------------------------------------

# A worker renews a running step's lease every third of this; a step whose lease ran out (its
# worker died) is re-queued by the sweeper, which beat runs every SWEEP_SECONDS. A dead worker's
# step is thus running again within STEP_LEASE_SECONDS + SWEEP_SECONDS (default 8 s; about 4 s
# in the middle, bench/kills.py). A live worker has three renewals to miss before it loses its
# step; one that does stops the step at its next renewal.
STEP_LEASE_SECONDS = float(os.environ.get("STEP_LEASE_SECONDS", 6))
SWEEP_SECONDS = float(os.environ.get("SWEEP_SECONDS", 2))
# How long a worker goes on with the steps its own steps make runnable for it (a map's next item,
# the next step of a chain), claimed in the transaction that ends the step before, before it
# sends them as messages again. 0: every step travels as a message.
STEP_LANE_SECONDS = float(os.environ.get("STEP_LANE_SECONDS", 1))
# How many steps one worker process runs at once on its event loop: a message's step takes queued
# tasks of the same delegating step (a map's items, a manager's tasks) with it, as model calls
# mostly wait on the network. 1: one step per process.
STEP_TASKS_PER_PROCESS = int(os.environ.get("STEP_TASKS_PER_PROCESS", 4))
# A queued step not taken this long after it was due is sent again when its message is not
# waiting in the broker's queue (Redis restarted empty, or its worker died before sending it). It
# is running again within STEP_RESEND_SECONDS + SWEEP_SECONDS (default 7 s); a step merely waiting
# in a long queue is not sent twice.
STEP_RESEND_SECONDS = float(os.environ.get("STEP_RESEND_SECONDS", 5))
# A call to a workflow served over MCP (orchestrator.mcp_endpoint) waits this long for its run to
# end; past it the call answers that the run goes on, with its URL.
MCP_CALL_TIMEOUT = float(os.environ.get("MCP_CALL_TIMEOUT", 300))
CELERY_BEAT_SCHEDULE = {
    "sweep-lost-steps": {"task": "orchestrator.tasks.sweep", "schedule": SWEEP_SECONDS},
}
# Celery's persistent scheduler with a heartbeat in Redis (orchestrator/beat.py): beat answers no
# ping, so its health check and /metrics read that.
CELERY_BEAT_SCHEDULER = "orchestrator.beat:HeartbeatScheduler"

CHANNEL_LAYERS = {
    "default": {
        # channels_redis, its pool waiting for a free connection (orchestrator/channel_layer.py)
        "BACKEND": "orchestrator.channel_layer.ChannelLayer",
        "CONFIG": {
            # redis-py 8 defaults to a 5 s socket timeout, which kills the layer's blocking read
            # and closes idle WebSockets after ~5 s (PITFALLS.md).
            "hosts": [{"address": REDIS_URL, "socket_timeout": None}],
            # Messages a channel may hold before new ones are dropped (silently; the default is
            # 100). A worker streaming a long answer sends a message per chunk, so a socket
            # that reads slower than that would lose the run's next events; the run socket
            # repairs such gaps on its pings (orchestrator.consumers), this makes them rare.
            "capacity": 1000,
        },
    },
}

# -- logs ------------------------------------------------------------------------------------------

# LOG_FORMAT=json: one JSON object a line; text (the default) for people. Each line carries the
# run, step, workspace and trace ids it has, and no secret (orchestrator/logs.py).
LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO").strip().upper() or "INFO"
LOGGING = logging_config(LOG_LEVEL)

# -- traces ----------------------------------------------------------------------------------------

# A run's page links its trace in the operator's trace viewer: the viewer's address of one trace,
# with {trace_id} where the id goes (Jaeger: http://localhost:16686/trace/{trace_id}). Unset, the
# page shows the trace id alone. Traces themselves are on when OTEL_EXPORTER_OTLP_ENDPOINT is set.
TRACE_URL_TEMPLATE = os.environ.get("TRACE_URL_TEMPLATE", "").strip()
if TRACE_URL_TEMPLATE and (
    "{trace_id}" not in TRACE_URL_TEMPLATE
    or not TRACE_URL_TEMPLATE.startswith(("http://", "https://"))
):
    raise ImproperlyConfigured(
        "TRACE_URL_TEMPLATE must be an http(s) address with {trace_id} where the trace id goes, "
        f"e.g. http://localhost:16686/trace/{{trace_id}}; it is {TRACE_URL_TEMPLATE!r}"
    )

# -- metrics ---------------------------------------------------------------------------------------

# prometheus_client's multiprocess mode (Celery's prefork pool is many processes): every process
# writes its values here, and /metrics (or a worker's exporter) adds them up. Set before anything
# imports prometheus_client, which reads it once. The start commands empty it.
METRICS_DIR = Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip() or VAR_DIR / "metrics")
METRICS_DIR.mkdir(parents=True, exist_ok=True)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(METRICS_DIR)
# /metrics answers a request with `Authorization: Bearer <METRICS_TOKEN>`; unset, only loopback.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "").strip()
# A worker's own exporter (its container's processes): off unless WORKER_METRICS_PORT is set.
WORKER_METRICS_PORT = int(os.environ.get("WORKER_METRICS_PORT", "0") or 0)
WORKER_METRICS_ADDRESS = os.environ.get("WORKER_METRICS_ADDRESS", "127.0.0.1").strip()

# -- REST API --------------------------------------------------------------------------------------

REST_FRAMEWORK = {
    # Token first: an anonymous API call then gets 401 with `WWW-Authenticate: Token`, not 403.
    # Personal API tokens (many per user, hashed, optional expiry): editor.authentication.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "editor.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["editor.parsers.SafeJSONParser"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "EXCEPTION_HANDLER": "editor.api_errors.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "editor.api_schema.ApiSchema",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Flowbuilder API",
    "DESCRIPTION": (
        "Build AI-orchestration flows, run them on workers, watch and approve them. "
        "Authenticate with a session (browser) or `Authorization: Token <secret>` "
        "(a personal API token, made under /settings/tokens). "
        'Every 4xx answer has the body `{"error": {"code", "message", "fields"?}}`, and so '
        "has the 503 (with `Retry-After`) of a database too busy to take the request. "
        "No string in a request may hold a NUL character (`\\u0000`): PostgreSQL cannot "
        "store one, so such a request is refused with 400."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Runs and approvals each have a "status" with their own values (runs keep the old name).
    "ENUM_NAME_OVERRIDES": {
        "StatusEnum": "runtime.events.RUN_STATUSES",
        "ApprovalStatusEnum": "orchestrator.models.APPROVAL_STATUSES",
        # A credential's kind, and the kinds of each shape a new credential's body takes.
        "CredentialKindEnum": "editor.models.CredentialKind",
        "LlmCredentialKindEnum": "editor.credentials.LLM_KIND_VALUES",
        "BearerCredentialKindEnum": ["http_bearer"],
        "HeaderCredentialKindEnum": ["http_header"],
        # Where each of a credential Test's capabilities came from (detected, catalogue, ...).
        "CapabilitySourceEnum": "runtime.providers.capabilities.SOURCES",
    },
}
