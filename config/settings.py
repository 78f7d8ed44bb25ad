"""Django settings, read from environment variables with safe embedded defaults.

The defaults run everything on one machine with no servers: SQLite for the database and a
filesystem broker (see `config/broker.py`). Production sets `DATABASE_URL` (PostgreSQL),
`CELERY_BROKER_URL` (Redis or RabbitMQ), `SECRET_KEY`, `DEBUG=0` and `ALLOWED_HOSTS`.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url

from ops import multiproc

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("BATON_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    """Read a boolean environment variable (1/true/yes/on)."""
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    """Read a comma-separated environment variable."""
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def local_secret_key(var_dir: Path) -> str:
    """Return this installation's own key, made on first start in `var_dir/secret_key` (mode 0600).

    Every process of `make run` may start at once: each writes a candidate to a file of its own
    and links it into place, which fails if another got there first; all then read the one file.
    """
    path = var_dir / "secret_key"
    if not path.exists():
        candidate = var_dir / f".secret_key.{os.getpid()}"
        descriptor = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(secrets.token_urlsafe(64))
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(candidate, path)
        except FileExistsError:
            pass
        finally:
            candidate.unlink()
    key = path.read_text().strip()
    if len(key) < 50:
        raise RuntimeError(f"{path} holds no usable key: delete it to make a new one, or set SECRET_KEY")
    return key


DEBUG = env_bool("DEBUG", True)
VAR_DIR.mkdir(parents=True, exist_ok=True)
# With DEBUG=1 and no SECRET_KEY, a key of this installation's own (never a default that is
# public, never in the repository): it signs sessions and, unless BATON_SECRET_KEY is set, seals secrets.
SECRET_KEY = os.environ.get("SECRET_KEY") or (local_secret_key(VAR_DIR) if DEBUG else "")
if not SECRET_KEY:
    raise RuntimeError("SECRET_KEY must be set when DEBUG is off")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "config.apps.SystemBeatConfig",  # django-celery-beat, shown as "System"
    "axes",
    "workflows",
    "executions",
    "access",
    "alerts",
    "ops",
]

MIDDLEWARE = [
    "ops.http.OperationsMiddleware",  # first: /healthz, /readyz and /metrics answer before the rest (docs/operations.md)
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",  # static files from the app itself (admin, API docs)
    "access.audit.DeferredAuditMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",  # after sessions, before common: the browser's or chosen language
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "access.preferences.ViewerTimeZoneMiddleware",  # after sessions: times in the viewer's chosen zone
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "access.http.ApiGuardMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a locked-out login into a 429 page
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'baton.sqlite3'}"),
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and scheduler share one file: take the write lock at BEGIN (no deadlocked
    # read-to-write upgrades), wait for it instead of failing, and let readers run beside a writer.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not memory, so a real worker process can share the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
# English and Simplified Chinese: the browser's Accept-Language picks one, the header's
# selector (Django's set_language view) overrides it per user in the language cookie.
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
# Dates and times to the second with their UTC offset, in every language (config/formats/).
FORMAT_MODULE_PATH = ["config.formats"]
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
# `collectstatic` gathers the admin's, the API docs' and Baton's assets here (compressed);
# WhiteNoise serves them from the web process. With DEBUG=1 it reads the apps' folders directly.
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# BATON_LOG_FORMAT=json: one JSON object per record, with the batch, node, run and attempt the
# record is about (`ops.logcontext`); the default is plain text.
BATON_LOG_FORMAT = os.environ.get("BATON_LOG_FORMAT", "text").strip().lower()
if BATON_LOG_FORMAT not in {"text", "json"}:
    raise RuntimeError(f"BATON_LOG_FORMAT must be text or json, not {BATON_LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"run_context": {"()": "ops.logcontext.RunContextFilter"}},
    "formatters": {"json": {"()": "ops.logcontext.JsonFormatter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["run_context"],
            **({"formatter": "json"} if BATON_LOG_FORMAT == "json" else {}),
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}

# --- Celery -----------------------------------------------------------------------------
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "batonfs://localhost//")
CELERY_BROKER_IS_EMBEDDED = CELERY_BROKER_URL.startswith("batonfs://")
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
# The scheduler tick and the recovery sweep have a queue of their own, so a worker busy with
# long tasks never delays a fire; `make run` starts a small worker for it beside the main one.
CELERY_TASK_ROUTES = {
    "baton.tick": {"queue": "baton-control"},
    "baton.recover": {"queue": "baton-control"},
    "baton.retention": {"queue": "baton-control"},
    # Alerts have a queue of their own: a slow mail server never delays a fire (docs/alerts.md).
    "baton.alerts": {"queue": "baton-alerts"},
}
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
CELERY_TASK_ALWAYS_EAGER = False
if CELERY_BROKER_IS_EMBEDDED:
    from config import broker as _broker

    CELERY_BROKER_TRANSPORT_OPTIONS = _broker.transport_options(VAR_DIR / "broker")
    CELERY_WORKER_ENABLE_REMOTE_CONTROL = False
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # A message not acknowledged within this time is delivered again; the node run's
        # guarded QUEUED -> RUNNING transition makes the second delivery a no-op.
        "visibility_timeout": int(os.environ.get("BATON_VISIBILITY_TIMEOUT", "3600")),
        "health_check_interval": 10,
    }
elif CELERY_BROKER_URL.startswith(("amqp://", "amqps://", "pyamqp://")):
    # RabbitMQ closes a worker's channel when a delivery stays unacknowledged past its
    # `consumer_timeout` (docs/deployment.md); reconnect then instead of stopping the worker.
    # The messages it held are delivered again, and the guarded claim drops a run already claimed.
    CELERY_BROKER_CHANNEL_ERROR_RETRY = True

# --- Cache (the API throttle, the denied-attempt audit) -------------------------------------
# Shared by every web process: CACHE_URL if set (redis://…, locmem://, file://…), else the Redis broker
# (under its own key prefix; clearing it leaves the queues alone), else files under VAR_DIR,
# which every process on the one machine of the embedded default shares.


def cache_settings(url: str) -> dict[str, object]:
    """Return the default cache for a URL: redis:// or rediss:// (shared), locmem:// (this process), file://PATH."""
    if url.startswith(("redis://", "rediss://")):
        return {
            "BACKEND": "access.cache.SharedRedisCache",
            "LOCATION": url,
            "KEY_PREFIX": "baton-cache",
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    if url.startswith("locmem://"):
        return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    if url.startswith("file://"):
        return {
            "BACKEND": "access.cache.LockedFileCache",
            "LOCATION": url.removeprefix("file://"),
            "OPTIONS": {"MAX_ENTRIES": 10000},
        }
    raise RuntimeError(f"CACHE_URL must start with redis://, rediss://, locmem:// or file://, not {url[:16]!r}…")


CACHES = {
    "default": cache_settings(
        os.environ.get("CACHE_URL")
        or (
            CELERY_BROKER_URL
            if CELERY_BROKER_URL.startswith(("redis://", "rediss://"))
            else f"file://{VAR_DIR / 'cache'}"
        )
    )
}

# --- Baton ------------------------------------------------------------------------------
BATON_MAX_TASKS_PER_WORKFLOW = int(os.environ.get("BATON_MAX_TASKS_PER_WORKFLOW", "20"))
BATON_OUTPUT_LIMIT = int(os.environ.get("BATON_OUTPUT_LIMIT", "65536"))
# Bytes (as JSON) of the values one node run may publish for its successors (`${nodes.KEY.outputs.NAME}`).
BATON_OUTPUT_VALUES_LIMIT = int(os.environ.get("BATON_OUTPUT_VALUES_LIMIT", "16384"))
BATON_KILL_GRACE_SECONDS = float(os.environ.get("BATON_KILL_GRACE_SECONDS", "5"))
BATON_HEARTBEAT_SECONDS = float(os.environ.get("BATON_HEARTBEAT_SECONDS", "1"))
BATON_HTTP_ALLOWED_NETWORKS = tuple(env_list("BATON_HTTP_ALLOWED_NETWORKS"))
BATON_DEFAULT_WORKFLOW_TIMEOUT = int(os.environ.get("BATON_DEFAULT_WORKFLOW_TIMEOUT", "86400"))
# A worker runs a successor its finish queued on the same queue itself (no broker round trip)
# for up to this long per message; 0 sends every successor through the broker.
BATON_CONTINUATION_SECONDS = float(os.environ.get("BATON_CONTINUATION_SECONDS", "5"))
# The engine's hot statements are prepared on the server; turn off behind a pooler that cannot
# keep prepared statements (PgBouncer in transaction mode before 1.21).
BATON_PG_PREPARED = env_bool("BATON_PG_PREPARED", True)
BATON_REDISPATCH_SECONDS = float(os.environ.get("BATON_REDISPATCH_SECONDS", "30"))
BATON_WORKER_LOST_SECONDS = float(os.environ.get("BATON_WORKER_LOST_SECONDS", "20"))
BATON_MISFIRE_THRESHOLD_SECONDS = float(os.environ.get("BATON_MISFIRE_THRESHOLD_SECONDS", "60"))
# At most this many fires of one workflow wait under the `queue` overlap policy; later ones are skipped.
BATON_OVERLAP_QUEUE_LIMIT = max(0, int(os.environ.get("BATON_OVERLAP_QUEUE_LIMIT", "10")))
# A tick claims and prepares the fires due this far ahead, then starts them at their instant.
BATON_SCHEDULER_LOOKAHEAD_SECONDS = float(os.environ.get("BATON_SCHEDULER_LOOKAHEAD_SECONDS", "1.0"))

# --- Alerts (docs/alerts.md) --------------------------------------------------------------
# Links in messages start with this address (the address people open Baton at).
BATON_BASE_URL = os.environ.get("BATON_BASE_URL", "http://localhost:8000")
# Repeats of a failure of one workflow within this window share one message, with a count.
BATON_ALERT_GROUP_SECONDS = float(os.environ.get("BATON_ALERT_GROUP_SECONDS", "600"))
# A failed send is tried again after this, then 2×, 4× … (at most an hour), up to the attempts limit.
BATON_ALERT_RETRY_SECONDS = float(os.environ.get("BATON_ALERT_RETRY_SECONDS", "30"))
BATON_ALERT_MAX_ATTEMPTS = max(1, int(os.environ.get("BATON_ALERT_MAX_ATTEMPTS", "6")))
BATON_ALERT_TIMEOUT_SECONDS = float(os.environ.get("BATON_ALERT_TIMEOUT_SECONDS", "15"))
# A sender that died mid-send leaves its delivery to be sent again after this.
BATON_ALERT_LEASE_SECONDS = float(os.environ.get("BATON_ALERT_LEASE_SECONDS", "120"))
# The backstop reads events at least this old for good (a later commit of an earlier id is still read).
BATON_ALERT_SETTLE_SECONDS = float(os.environ.get("BATON_ALERT_SETTLE_SECONDS", "60"))
# A worker re-reads which teams have alert rules this often: a batch of a team without one wakes no
# alerts task (a new rule's first alerts may come from the 30-second backstop meanwhile).
BATON_ALERT_RULES_CACHE_SECONDS = float(os.environ.get("BATON_ALERT_RULES_CACHE_SECONDS", "5"))
# Mail: Django's SMTP settings, from the environment.
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = float(os.environ.get("EMAIL_TIMEOUT", "15"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "baton@localhost")

# --- Operations: metrics, health, worker liveness (docs/operations.md) -------------------------
# Each process writes its Prometheus samples under this folder, one sub-folder per service (`ops.multiproc`).
BATON_METRICS_DIR = multiproc.base_directory()
multiproc.join(BATON_METRICS_DIR)
# Who may read /metrics: a request with `Authorization: Bearer <token>`, or from an allowed network.
BATON_METRICS_TOKEN = os.environ.get("BATON_METRICS_TOKEN", "")
BATON_METRICS_ALLOWED_NETWORKS = tuple(env_list("BATON_METRICS_ALLOWED_NETWORKS", "127.0.0.0/8,::1/128"))
# A Celery worker writes its heartbeat row this often; one not seen for 3 intervals is shown as gone.
BATON_WORKER_HEARTBEAT_SECONDS = float(os.environ.get("BATON_WORKER_HEARTBEAT_SECONDS", "10"))
# How long /readyz waits for the database and the broker before it answers 503.
BATON_READY_TIMEOUT_SECONDS = float(os.environ.get("BATON_READY_TIMEOUT_SECONDS", "3"))

# --- REST API (docs/api.md) ---------------------------------------------------------------
BATON_API_MAX_BODY_BYTES = int(os.environ.get("BATON_API_MAX_BODY_BYTES", str(1024 * 1024)))
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "access.authentication.TokenAuthentication",  # first, so a missing credential answers 401
        "rest_framework.authentication.SessionAuthentication",  # the browser, with CSRF
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["access.http.SafeJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "access.http.Pagination",
    "DEFAULT_SCHEMA_CLASS": "access.api.BatonAutoSchema",
    "EXCEPTION_HANDLER": "access.http.exception_handler",
    "DEFAULT_THROTTLE_RATES": {"trigger": os.environ.get("BATON_TRIGGER_RATE", "60/minute")},
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Baton API",
    "DESCRIPTION": "Workflows, tasks, batches and their node runs; see docs/api.md.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},  # no call-out to the public validator
    "ENUM_NAME_OVERRIDES": {
        "BatchStatusEnum": "executions.states.BatchStatus",
        "NodeStatusEnum": "executions.states.NodeStatus",
        # Two fields named "kind" and two named "trigger" hold different choices: name each set.
        "TaskKindEnum": "workflows.kinds.kind_choices",
        "ChannelKindEnum": "alerts.channels.kind_choices",
        "BatchTriggerEnum": "executions.models.batch_trigger_choices",
        "AlertTriggerEnum": "alerts.models.trigger_choices",
        # Operator recovery: the version a re-run takes, and the actions a plan or a bulk call names.
        "RecoveryVersionEnum": "executions.lifecycle.VERSIONS",
        "PlannedActionEnum": "executions.api.PLANNED_ACTIONS",
        "BulkActionEnum": "executions.api.BULK_ACTIONS",
    },
}

# --- Admin login throttle (django-axes) ----------------------------------------------------
# Failed logins are counted per client address and per username (each locks on its own) in the
# database; a locked login answers 429 until the cool-off ends or `manage.py axes_reset` runs.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = int(os.environ.get("BATON_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=float(os.environ.get("BATON_LOGIN_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_RESET_ON_SUCCESS = True
AXES_DISABLE_ACCESS_LOG = True  # no row per successful login: Django keeps `last_login`
AXES_CLIENT_IP_CALLABLE = "access.actors.source_address"  # REMOTE_ADDR, as the audit trail records it
AXES_VERBOSE = False

# --- Production security (docs/deployment.md); each one is env-driven and off while DEBUG=1 --
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("SECURE_PROXY_SSL_HEADER", False) else None
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0" if DEBUG else "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# --- Retention (executions/retention.py) ----------------------------------------------------
# Ended batches older than this many days are archived to compressed JSON Lines and deleted
# (a team's own `retention_days` overrides it); 0 keeps everything.
BATON_RETENTION_DAYS = max(0, int(os.environ.get("BATON_RETENTION_DAYS", "90")))
BATON_ARCHIVE_DIR = Path(os.environ.get("BATON_ARCHIVE_DIR", VAR_DIR / "archive"))
# Batches per transaction, and how long one periodic run may take before it leaves the rest to the next.
BATON_RETENTION_CHUNK = max(1, int(os.environ.get("BATON_RETENTION_CHUNK", "200")))
BATON_RETENTION_BUDGET_SECONDS = float(os.environ.get("BATON_RETENTION_BUDGET_SECONDS", "20"))
