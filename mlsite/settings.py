"""Settings for mlsite, read from the environment (see .env.example)."""

import os
import re
import warnings
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


class SettingRenamedWarning(DeprecationWarning):
    """An environment variable read under a name it no longer has."""


warnings.simplefilter("default", SettingRenamedWarning)  # shown once, also outside __main__


def _renamed(new: str, old: str, cast, default):
    """A renamed setting: the new name, else the old one (still honoured, with a warning)."""
    if new in os.environ or old not in os.environ:
        return cast(new, default=default)
    warnings.warn(
        f"{old} is deprecated: use {new} (the same setting)", SettingRenamedWarning, stacklevel=2
    )
    return cast(old, default=default)


_EXACT_TYPE_NAME = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+\Z")

env = environ.Env()
# A local .env file is read when present; real environment variables win.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY or SECRET_KEY.startswith("django-insecure") or len(SECRET_KEY) < 32:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is missing or too weak (needs 32+ characters). Set it in the "
            "environment or in .env, for example with: python -c 'import secrets; "
            "print(secrets.token_urlsafe(50))'. For local development only, DJANGO_DEBUG=true "
            "allows running without one."
        )
    SECRET_KEY = SECRET_KEY or "django-insecure-development-only-key-do-not-use-in-production"

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "rest_framework_api_key",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "predictor",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "predictor.middleware.error_pages.DebugErrorPagesMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "predictor.middleware.guard.ApiGuardMiddleware",
    "predictor.middleware.uploads.UploadLimitMiddleware",  # before anything reads request.POST (CSRF)
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
]

# Content-Security-Policy (django-csp) on every response: scripts, styles, images, fonts
# and requests from this site only, no inline script anywhere (the pages, the admin and
# /api/docs/ load theirs from files); inline style= attributes may stay (bar widths).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

ROOT_URLCONF = "mlsite.urls"

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
            ],
        },
    },
]

WSGI_APPLICATION = "mlsite.wsgi.application"
ASGI_APPLICATION = "mlsite.asgi.application"

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several writers (server threads, the training worker) share one file: WAL lets
    # readers run beside a writer, IMMEDIATE takes the write lock at BEGIN so two writers
    # queue on the busy timeout instead of failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # The test database is a file too (not shared-cache memory), so tests see the same
    # locking as the server does.
    # SQLITE_TEST_NAME lets two test runs on one checkout keep apart.
    _test_db = env.str("SQLITE_TEST_NAME", default=str(BASE_DIR / "var" / "test-db.sqlite3"))
    DATABASES["default"].setdefault("TEST", {"NAME": _test_db})
    (BASE_DIR / "var").mkdir(exist_ok=True)
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))
    # Off by default: a health check is a query at the start of every request. A connection
    # that broke is closed after the request that met it (which answers 503).
    DATABASES["default"].setdefault(
        "CONN_HEALTH_CHECKS", env.bool("DATABASE_CONN_HEALTH_CHECKS", default=False)
    )
    # The prediction log's INSERT is prepared once per connection and then runs without
    # being parsed and planned again (a third less PostgreSQL time for a one-row request).
    # Only that statement: Django's own queries bind on the client and are never prepared.
    # PREDICTION_LOG_PREPARED=false behind a pooler that cannot keep prepared statements
    # (PgBouncer in transaction mode before 1.21).
    if env.bool("PREDICTION_LOG_PREPARED", default=True):
        DATABASES["default"].setdefault("OPTIONS", {}).setdefault("prepare_threshold", 2**31 - 1)
    # The prediction log is written through a connection of its own whose commits do not
    # wait for the WAL to reach the disk: the rows are committed before any answer is sent
    # (and visible at once), but a crash of the PostgreSQL server itself can lose the last
    # fraction of a second of log. Registry changes go through "default" and always wait.
    # PREDICTION_LOG_SYNC_COMMIT=true makes the log wait too (about 2 ms more per commit).
    if not env.bool("PREDICTION_LOG_SYNC_COMMIT", default=False):
        _log = {**DATABASES["default"], "TEST": {"MIRROR": "default"}}
        _options = dict(_log.get("OPTIONS", {}))
        _options["options"] = (_options.get("options", "") + " -c synchronous_commit=off").strip()
        DATABASES["log"] = {**_log, "OPTIONS": _options}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("DJANGO_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Compressed, not manifest-hashed: pages render whether or not collectstatic has run.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve straight from the finders when collectstatic has not been run (make run, tests).
WHITENOISE_USE_FINDERS = True

MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(BASE_DIR / "var" / "media")))
MEDIA_URL = "media/"
# Fitted pipelines live here, written and read only by predictor.services.registry.artifacts.
ARTIFACT_ROOT = Path(env.str("ARTIFACT_ROOT", default=str(MEDIA_ROOT / "artifacts")))

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

# --- Limits of the service -------------------------------------------------------------
PREDICT_MAX_ROWS = env.int("PREDICT_MAX_ROWS", default=10_000)
# Largest request body accepted anywhere (bytes); a larger one gets a JSON 413.
REQUEST_MAX_BODY_BYTES = env.int("REQUEST_MAX_BODY_BYTES", default=10 * 1024 * 1024)
# Upload caps (bytes), one per door: datasets (API, train page, admin), model files (admin
# import), batch-scoring CSV files (batch page). A larger Content-Length is refused before the
# body is read; an upload that turns out larger is stopped at the cap (predictor/middleware/uploads.py).
DATASET_MAX_UPLOAD_BYTES = env.int("DATASET_MAX_UPLOAD_BYTES", default=50 * 1024 * 1024)
MODEL_MAX_UPLOAD_BYTES = env.int("MODEL_MAX_UPLOAD_BYTES", default=50 * 1024 * 1024)
BATCH_MAX_UPLOAD_BYTES = env.int("BATCH_MAX_UPLOAD_BYTES", default=50 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = REQUEST_MAX_BODY_BYTES
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
MODEL_CACHE_SIZE = env.int("MODEL_CACHE_SIZE", default=16)
# How jobs (training, retraining, batch scoring) run: "db" (queued in the database, run by
# `manage.py run_worker`), "celery" (sent to Celery workers), "eager" (inline, in the caller:
# tests) or "thread" (a thread of the server process: development only).
TRAINING_BACKEND = env.str("TRAINING_BACKEND", default="db")
if TRAINING_BACKEND not in ("db", "celery", "eager", "thread"):
    raise ImproperlyConfigured("TRAINING_BACKEND must be db, celery, eager or thread")
# A job running longer than this is stopped and ends failed (db backend).
JOB_MAX_SECONDS = env.float("JOB_MAX_SECONDS", default=3600.0)
# A running job writes a heartbeat this often; after three missed beats it is ended failed.
JOB_HEARTBEAT_SECONDS = env.float("JOB_HEARTBEAT_SECONDS", default=10.0)
# TRAINING_BACKEND=celery: the broker, and Celery's settings (CELERY_* here). Messages are
# acknowledged after the job ends; one a dead worker held is delivered again after the
# visibility timeout (the job is then already ended by its stopped heartbeat).
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="redis://127.0.0.1:6379/0")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SOFT_TIME_LIMIT = JOB_MAX_SECONDS
CELERY_TASK_TIME_LIMIT = JOB_MAX_SECONDS + 60
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": int(JOB_MAX_SECONDS) + 600}
CELERY_BEAT_SCHEDULE = {
    "retrain-due": {"task": "predictor.tasks.retrain_due", "schedule": 600.0},
    "monitor": {"task": "predictor.tasks.monitor", "schedule": 600.0},
    "reap-stale-jobs": {"task": "predictor.tasks.reap_stale_jobs", "schedule": 60.0},
    "prune-predictions": {"task": "predictor.tasks.prune_predictions", "schedule": 86400.0},
}
TRAINING_WORKERS = env.int("TRAINING_WORKERS", default=1)
# Queued and running jobs (training, retraining, batch scoring) one person may have at once;
# managers (the model-manager permissions, superusers) have the larger cap. Jobs the system
# starts (retrain policies) are not counted against anyone.
JOBS_MAX_PER_USER = env.int("JOBS_MAX_PER_USER", default=3)
JOBS_MAX_PER_MANAGER = env.int("JOBS_MAX_PER_MANAGER", default=20)
# Retraining on feedback from everyone: no one user supplies more than this share of the
# training rows (their excess rows are left out); anonymous feedback never joins.
RETRAIN_MAX_FEEDBACK_SHARE = env.float("RETRAIN_MAX_FEEDBACK_SHARE", default=0.1)

# --- Serving ---------------------------------------------------------------------------------
# How long a server process trusts what it looked up for a token or an API key (seconds).
AUTH_CACHE_SECONDS = env.float("AUTH_CACHE_SECONDS", default=5.0)
# Micro-batching: concurrent requests for one version in one process share a model call and
# one INSERT; a call takes at most this many rows, and waits at most this long for requests
# already in flight (never when the request is alone).
# ("Batch" names the scoring of CSV files alone: BATCH_MAX_ROWS, BATCH_SYNC_MAX_ROWS, ….)
MICROBATCH_MAX_ROWS = _renamed("MICROBATCH_MAX_ROWS", "BATCH_MAX_ROWS_PER_CALL", env.int, 256)
MICROBATCH_MAX_WAIT_MS = _renamed("MICROBATCH_MAX_WAIT_MS", "BATCH_MAX_WAIT_MS", env.float, 2.0)
# Shadow versions predict a routed request's rows after it is answered: in a background
# thread of the process ("thread"; at most SHADOW_QUEUE_ROWS rows waiting, beyond that they
# are dropped and counted) or in the request's thread after its rows are logged ("inline").
SHADOW_MODE = env.str("SHADOW_MODE", default="thread")
if SHADOW_MODE not in ("thread", "inline"):
    raise ImproperlyConfigured("SHADOW_MODE must be thread or inline")
SHADOW_QUEUE_ROWS = env.int("SHADOW_QUEUE_ROWS", default=1000)

# --- Operations: health and metrics ---------------------------------------------------------
# /metrics also answers `Authorization: Bearer <METRICS_TOKEN>` (a scraper); empty: staff only.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# How long a process reuses its /readyz answer (seconds).
READINESS_CACHE_SECONDS = env.int("READINESS_CACHE_SECONDS", default=2)

# --- The prediction log ----------------------------------------------------------------------
# Fernet keys (comma-separated) for the values of sensitive features: the first encrypts,
# every one decrypts (rotate by putting a new key first). None set: those values are not
# stored at all, only "***".
PREDICTION_LOG_KEYS = [k for k in env.list("PREDICTION_LOG_KEYS", default=[]) if k.strip()]
for _key in PREDICTION_LOG_KEYS:
    try:
        from cryptography.fernet import Fernet

        Fernet(_key.encode())
    except (ValueError, TypeError):
        raise ImproperlyConfigured(
            "PREDICTION_LOG_KEYS holds a value that is not a Fernet key (32 url-safe base64 "
            "bytes); make one with: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'"
        ) from None
# Days of prediction rows that `manage.py prune_predictions` keeps when run without
# --older-than (unset: keep everything). Hourly aggregates are never pruned.
# Seconds after which a server process adds its logged rows' figures to the hourly
# aggregates, in one upsert (0: in the statement that stores the rows; see
# predictor/services/log/deferred.py).
PREDICTION_AGGREGATES_DELAY = env.float("PREDICTION_AGGREGATES_DELAY", default=1.0)
if PREDICTION_AGGREGATES_DELAY < 0:
    raise ImproperlyConfigured("PREDICTION_AGGREGATES_DELAY must be 0 or more seconds")
PREDICTION_RETENTION_DAYS = env.int("PREDICTION_RETENTION_DAYS", default=None)
if PREDICTION_RETENTION_DAYS is not None and PREDICTION_RETENTION_DAYS < 0:
    raise ImproperlyConfigured("PREDICTION_RETENTION_DAYS must be 0 or more days")
# Days a batch's result and input files (MEDIA_ROOT/batch-*) are kept; prune_predictions
# deletes older ones.
BATCH_RESULT_DAYS = env.int("BATCH_RESULT_DAYS", default=7)
if BATCH_RESULT_DAYS < 0:
    raise ImproperlyConfigured("BATCH_RESULT_DAYS must be 0 or more days")
# Counts of a sensitive feature's bins or categories below this are merged or dropped
# wherever they are shown (reference statistics, aggregates read by monitoring).
PRIVACY_MIN_COUNT = env.int("PRIVACY_MIN_COUNT", default=5)
# The history API's page size (?page_size= may ask for 1 to PREDICTION_PAGE_MAX).
PREDICTION_PAGE_SIZE = env.int("PREDICTION_PAGE_SIZE", default=50)
PREDICTION_PAGE_MAX = 1000

# Refused requests (401/403) from one client address within a minute that make a security
# event (the audit trail, in the admin and /metrics).
SECURITY_DENIED_BURST = env.int("SECURITY_DENIED_BURST", default=20)

# --- Monitoring ------------------------------------------------------------------------------
# A feature drifts when its PSI reaches DRIFT_PSI_ALERT, or DRIFT_PSI_WARN with a test's
# p-value under DRIFT_P_VALUE; warns from DRIFT_PSI_WARN or when its missing share moves more
# than DRIFT_MISSING_POINTS; under DRIFT_MIN_ROWS rows (live: LIVE_MIN_LABELS labels) it is
# insufficient_data. Live accuracy more than LIVE_METRIC_TOLERANCE under the holdout figure
# (regression: RMSE that fraction above) is degraded. The job worker runs the monitor pass
# every MONITOR_INTERVAL_SECONDS (0: never; cron runs `manage.py monitor` then).
DRIFT_PSI_ALERT = env.float("DRIFT_PSI_ALERT", default=0.25)
DRIFT_PSI_WARN = env.float("DRIFT_PSI_WARN", default=0.1)
DRIFT_P_VALUE = env.float("DRIFT_P_VALUE", default=0.01)
DRIFT_MIN_ROWS = env.int("DRIFT_MIN_ROWS", default=100)
LIVE_METRIC_TOLERANCE = env.float("LIVE_METRIC_TOLERANCE", default=0.05)
LIVE_MIN_LABELS = env.int("LIVE_MIN_LABELS", default=30)
DRIFT_MISSING_POINTS = env.float("DRIFT_MISSING_POINTS", default=0.1)
MONITOR_INTERVAL_SECONDS = env.int("MONITOR_INTERVAL_SECONDS", default=300)
# `manage.py monitor` POSTs each status change here as JSON (unset: alerts only in the admin).
ALERT_WEBHOOK_URL = env.str("ALERT_WEBHOOK_URL", default="")
ALERT_WEBHOOK_TIMEOUT = env.float("ALERT_WEBHOOK_TIMEOUT", default=5.0)


REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "predictor.api.auth.CachedTokenAuthentication",
        "predictor.api.auth.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["predictor.api.parsers.SafeJSONParser"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PAGINATION_CLASS": "predictor.api.pagination.PagePagination",
    "PAGE_SIZE": env.int("API_PAGE_SIZE", default=50),
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_THROTTLE_CLASSES": [
        "predictor.api.throttling.FixedWindowRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("THROTTLE_ANON", default="600/minute"),
        "user": env.str("THROTTLE_USER", default="6000/minute"),
    },
    "EXCEPTION_HANDLER": "predictor.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "mlsite API",
    "DESCRIPTION": "Model registry, training and predictions for scikit-learn models.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "predictor.api.openapi.postprocess",
    ],
    "ENUM_NAME_OVERRIDES": {
        "StageEnum": "predictor.models.Stage",
        "TaskEnum": "predictor.models.Task",
        "SourceEnum": "predictor.models.Source",
        "JobStatusEnum": "predictor.models.JobStatus",
    },
}

CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}

# HTTPS. Production mode redirects plain HTTP to HTTPS, marks cookies Secure and sends HSTS,
# unless DJANGO_SECURE_SSL_REDIRECT=false (plain HTTP: benchmarks, CI). Behind a proxy that
# terminates TLS and sets X-Forwarded-Proto, DJANGO_BEHIND_PROXY=true makes Django trust that
# header (only there: a client could send it too). docs/operations.md, "HTTPS".
BEHIND_PROXY = env.bool("DJANGO_BEHIND_PROXY", default=False)
# How many proxies of ours append to X-Forwarded-For: the client address is the entry the
# outermost of them added, counted from the right (services/audit.py: client_address).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=1)
if BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
if not DEBUG:
    SESSION_COOKIE_HTTPONLY = True
    CSRF_COOKIE_HTTPONLY = False
    SECURE_CONTENT_TYPE_NOSNIFF = True
    X_FRAME_OPTIONS = "DENY"
    SECURE_REFERRER_POLICY = "same-origin"
    SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    _https = SECURE_SSL_REDIRECT or BEHIND_PROXY
    SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=_https)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
    SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=31_536_000 if _https else 0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("DJANGO_HSTS_PRELOAD", default=True)
    # /healthz and /readyz answer plain HTTP: load balancers probe them inside the network.
    SECURE_REDIRECT_EXEMPT = [r"^healthz/?$", r"^readyz/?$"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# skops files (imports, and stored artifacts at every load) may only hold the exact types of
# predictor/services/registry/trusted_types.py; this adds exact dotted names, never prefixes.
if "SKOPS_TRUSTED_MODULE_PREFIXES" in os.environ:
    raise ImproperlyConfigured(
        "SKOPS_TRUSTED_MODULE_PREFIXES is no longer read: a module prefix let code-running "
        "functions through. Remove it; list extra types by exact dotted name in "
        "SKOPS_TRUSTED_TYPES_EXTRA (e.g. mypackage.transformers.Clipper)."
    )
SKOPS_TRUSTED_TYPES_EXTRA = env.list("SKOPS_TRUSTED_TYPES_EXTRA", default=[])
_bad_names = [n for n in SKOPS_TRUSTED_TYPES_EXTRA if not _EXACT_TYPE_NAME.match(n)]
if _bad_names:
    raise ImproperlyConfigured(
        f"SKOPS_TRUSTED_TYPES_EXTRA takes exact dotted type names (package.module.Type), "
        f"not {', '.join(map(repr, _bad_names))}"
    )
# joblib/pickle can run arbitrary code when loaded: importing one is off unless allowed here,
# and even then only superusers may do it.
ALLOW_PICKLE_IMPORT = env.bool("ALLOW_PICKLE_IMPORT", default=False)

# Rows in one batch-scoring upload (the web page's CSV scoring).
BATCH_MAX_ROWS = env.int("BATCH_MAX_ROWS", default=100_000)
# A batch file of more rows than this is scored as a job (with progress) on the job backend.
BATCH_SYNC_MAX_ROWS = env.int("BATCH_SYNC_MAX_ROWS", default=10_000)

# The import sandbox (predictor/services/registry/sandbox.py): limits of the child process
# that opens an outside model file, and of what the file may hold.
SANDBOX_MEMORY_BYTES = env.int("SANDBOX_MEMORY_BYTES", default=2 * 1024**3)
SANDBOX_CPU_SECONDS = env.int("SANDBOX_CPU_SECONDS", default=120)
SANDBOX_TIMEOUT_SECONDS = env.float("SANDBOX_TIMEOUT_SECONDS", default=180.0)
SANDBOX_FILE_BYTES = env.int("SANDBOX_FILE_BYTES", default=64 * 1024**2)
SANDBOX_MAX_PROCESSES = env.int("SANDBOX_MAX_PROCESSES", default=32)
SANDBOX_MAX_UNCOMPRESSED_BYTES = env.int("SANDBOX_MAX_UNCOMPRESSED_BYTES", default=200 * 1024**2)
SANDBOX_MAX_COMPRESSION_RATIO = env.int("SANDBOX_MAX_COMPRESSION_RATIO", default=100)
SANDBOX_MAX_ARRAY_BYTES = env.int("SANDBOX_MAX_ARRAY_BYTES", default=64 * 1024**2)

# --- Login limits (django-axes; predictor/services/logins.py) --------------------------------
# Failed logins (site, admin) and bad API credentials, per username and per client address:
# LOGIN_FAILURE_LIMIT of them, and that username or address is refused for
# LOGIN_COOLOFF_MINUTES (then the right password works again). Counted in the cache when
# it is shared by all server processes (Redis, Memcached, database cache), else in the
# database (a per-process or dummy cache would count apart or not at all).
INSTALLED_APPS.append("axes")
MIDDLEWARE.append("axes.middleware.AxesMiddleware")  # last: it answers refused logins
AUTHENTICATION_BACKENDS = [
    "predictor.services.logins.LimitedBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("LOGIN_COOLOFF_MINUTES", default=15.0))
AXES_LOCKOUT_PARAMETERS = "predictor.services.logins.lockout_parameters"
AXES_CLIENT_IP_CALLABLE = "predictor.services.audit.client_address"
AXES_LOCKOUT_CALLABLE = "predictor.web.logins.lockout_response"
# Tries while refused neither count nor lengthen the cool-off: it ends when it said it would.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_DISABLE_ACCESS_LOG = True  # logins are in the security audit trail already
_per_process = ("LocMemCache", "DummyCache", "FileBasedCache")
AXES_HANDLER = env.str(
    "AXES_HANDLER",
    default="axes.handlers.database.AxesDatabaseHandler"
    if CACHES["default"]["BACKEND"].endswith(_per_process)
    else "axes.handlers.cache.AxesCacheHandler",
)
