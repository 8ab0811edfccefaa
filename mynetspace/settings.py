"""MyNetSpace settings: one module, read from the environment.

With nothing set, this gives the embedded set-up (SQLite and files under ``var/``,
eager Celery tasks, emails printed and stored, development keys generated under
``var/keys/``). Production sets the variables documented in ``.env.example``;
``manage.py check --deploy`` fails while a production requirement is missing
(see ``mynetspace/core/checks.py``).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import environ
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _
from kombu import Exchange as KombuExchange
from kombu import Queue as KombuQueue

from mynetspace.core.devkeys import dev_audit_signing_key, dev_encryption_keys, dev_secret_key
from mynetspace.schedule import beat_schedule

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A local .env file fills in what the real environment does not set. ENV_FILE names
# another file; ENV_FILE="" reads none (the tests use this to get a clean environment).
ENV_FILE = env.str("ENV_FILE", default=str(BASE_DIR / ".env"))
if ENV_FILE and Path(ENV_FILE).is_file():
    env.read_env(ENV_FILE, overwrite=False)

VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))
KEYS_DIR = VAR_DIR / "keys"

# --- Core -------------------------------------------------------------------

DEBUG = env.bool("DEBUG", default=True)

#: True when the Django secret key was generated under var/ (refused by check --deploy).
SECRET_KEY_GENERATED = "SECRET_KEY" not in env
SECRET_KEY = env.str("SECRET_KEY") if not SECRET_KEY_GENERATED else dev_secret_key(KEYS_DIR)
# Former keys, still accepted for what they signed (sessions, links) after a rotation.
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])

ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

#: Public base URL, used in emails and links sent outside a request.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "csp",
    "mynetspace.core",
    "audit",
    "guides",
    "accounts",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.usersessions",
    "django.contrib.humanize",
    "vault",
    "subscriptions",
    "assistance",
]

MIDDLEWARE = [
    "mynetspace.core.proxies.UntrustedForwardedHeadersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "audit.middleware.RequestMetaMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "allauth.usersessions.middleware.UserSessionsMiddleware",
    "accounts.middleware.StaffSecurityMiddleware",
    # Customers accept a new version of the terms before going on.
    "accounts.consent_middleware.ConsentGateMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
]

ROOT_URLCONF = "mynetspace.urls"
WSGI_APPLICATION = "mynetspace.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
                "mynetspace.core.context_processors.site",
            ],
        },
    },
]

# --- Company identity (legal notice, footer, invoices) --------------------------------
# Demo values by default; the operator sets the real ones before launch (docs/deploy.md).

COMPANY_NAME = env.str("COMPANY_NAME", default="MyNetSpace SAS")
COMPANY_ADDRESS = env.str("COMPANY_ADDRESS", default="12 rue de l'Exemple, 69002 Lyon, France")
COMPANY_SIREN = env.str("COMPANY_SIREN", default="000 000 000 (démonstration)")
COMPANY_EMAIL = env.str("COMPANY_EMAIL", default="contact@mynetspace.test")
COMPANY_PUBLISHER = env.str("COMPANY_PUBLISHER", default="La présidence de MyNetSpace SAS")
COMPANY_HOST = env.str("COMPANY_HOST", default="Hébergeur à préciser par l'exploitant")
SUPPORT_EMAIL = env.str("SUPPORT_EMAIL", default="support@mynetspace.test")
#: Consumer mediator (Code de la consommation L616-1), shown in the footer and the terms.
MEDIATOR_NAME = env.str(
    "MEDIATOR_NAME",
    default="CM2C, Centre de la médiation de la consommation de conciliateurs de justice",
)
MEDIATOR_URL = env.str("MEDIATOR_URL", default="https://www.cm2c.net/")
#: Intra-community VAT number printed on invoices (CGI art. 242 nonies A).
COMPANY_VAT_NUMBER = env.str("COMPANY_VAT_NUMBER", default="FR00 000000000 (démonstration)")

# --- Payments --------------------------------------------------------------------------

#: "simulated" (default: a local demo checkout, no money moves) or "stripe".
PAYMENT_PROVIDER = env.str("PAYMENT_PROVIDER", default="simulated")
#: Stripe (docs/payments.md). Secret API key: sk_live_... (or a restricted rk_live_...).
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
#: Signing secret of the webhook endpoint /abonnement/webhooks/stripe/ (whsec_...).
# Comma-separated during a rotation of the endpoint's secret: a signature by any of
# them is accepted (Stripe signs with both while the old one is being rolled).
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
#: The Stripe price of each plan: "plan-code=price_id" pairs, comma-separated.
STRIPE_PRICES = env.dict("STRIPE_PRICES", default={})
#: Stripe's API address; only tests change it (they point it at a local fake).
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="https://api.stripe.com").rstrip("/")

# --- Database and cache -------------------------------------------------------

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
DATABASES["default"].setdefault("ATOMIC_REQUESTS", False)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the embedded set-up serve a few concurrent requests.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL;"}
    )
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # An unreachable database fails a request (and /healthz) in seconds, not minutes.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT", default=5)
    )
    # Django turns psycopg's prepared statements off; the ORM binds on the client and
    # never prepares either way. Only the audit append asks for them explicitly (one
    # parse and plan per connection instead of per event: audit/services.py). Turn
    # them off behind a transaction-pooling PgBouncer older than 1.21.
    if env.bool("DATABASE_PREPARED_STATEMENTS", default=True):
        DATABASES["default"]["OPTIONS"].setdefault("prepare_threshold", 5)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            # Falls back to process memory while Redis is down (mynetspace/core/cache.py).
            "BACKEND": "mynetspace.core.cache.ResilientRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "mns",
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Sessions live in the database so that web processes stay stateless and a cache
# outage never logs everybody out. accounts.sessions is Django's database backend with
# a cheaper read (docs/decisions.md, "Session reads").
SESSION_ENGINE = "accounts.sessions"

# --- Authentication -------------------------------------------------------------

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
# Paths, not URL names: templates use LOGIN_URL as a link as it is.
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/espace/"
#: A password reset link (stored with its email as evidence) is valid for one hour.
PASSWORD_RESET_TIMEOUT = 3600

# --- django-allauth (accounts/adapters.py, accounts/auth_events.py, docs/decisions.md) ---

ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
MFA_ADAPTER = "accounts.adapters.MFAAdapter"
USERSESSIONS_ADAPTER = "accounts.adapters.UserSessionsAdapter"
# Email is the login; the user model has no username.
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
# Accepting the terms and the privacy policy at signup (accounts/forms.py), stored with
# the new user in one transaction (accounts/signup.py).
ACCOUNT_SIGNUP_FORM_CLASS = "accounts.forms.SignupForm"
ACCOUNT_FORMS = {
    "signup": "accounts.signup.AtomicSignupForm",
    "login": "accounts.allauth_forms.LoginForm",
    "reset_password": "accounts.allauth_forms.ResetPasswordForm",
    "add_email": "accounts.allauth_forms.AddEmailForm",
}
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_EMAIL_CONFIRMATION_EXPIRE_DAYS = 2
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = False
# One address per account; a new one replaces the old once it is verified.
ACCOUNT_CHANGE_EMAIL = True
# Signup, login and password reset answer the same whether an address has an account.
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_EMAIL_UNKNOWN_ACCOUNTS = True
ACCOUNT_EMAIL_NOTIFICATIONS = True
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_LOGOUT_REDIRECT_URL = "/"
ACCOUNT_SESSION_REMEMBER = None
ACCOUNT_REAUTHENTICATION_REQUIRED = True
ACCOUNT_REAUTHENTICATION_TIMEOUT = 300
# Rates are "amount/period/per" (per ip, user or key = the address typed); stored in
# the cache, which degrades to a per-process memory when Redis is down
# (mynetspace/core/cache.py).
ACCOUNT_RATE_LIMITS = {
    "login": "30/m/ip",
    "login_failed": "10/m/ip,5/5m/key",
    "signup": "20/m/ip",
    "reset_password": "20/m/ip,5/m/key",
    "reset_password_from_key": "20/m/ip",
    "confirm_email": "1/3m/key",
    "change_password": "5/m/user",
    "manage_email": "10/m/user",
    "reauthenticate": "10/m/user",
    # Access codes typed on public share pages, whatever the link (vault.views.sharing):
    # each link also locks itself after a few wrong codes (vault.sharing).
    "vault_share_code": "10/m/ip,30/h/ip",
}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes", "webauthn"]
MFA_PASSKEY_LOGIN_ENABLED = True
MFA_TOTP_ISSUER = "MyNetSpace"
# "Trust this browser" for 30 days; never for staff (accounts.adapters login stages).
MFA_TRUST_ENABLED = True
MFA_TRUST_COOKIE_AGE = 30 * 24 * 3600
# Safe with mandatory verification: nobody can log in, hence enable MFA, on an address
# they have not verified; and it lets MFA users change their address (docs/decisions.md).
MFA_ALLOW_UNVERIFIED_EMAIL = True
# WebAuthn over plain http only in development (localhost).
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = DEBUG
# Recording the last request of every session would write on every page view.
USERSESSIONS_TRACK_ACTIVITY = False
#: Staff sessions end after this many seconds without a request (accounts.middleware).
STAFF_IDLE_TIMEOUT_SECONDS = 30 * 60

# --- Internationalisation --------------------------------------------------------

LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", _("Français")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Paris"
USE_I18N = True
USE_TZ = True

# --- Static files and storage ------------------------------------------------------

STATIC_URL = "/static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "static")))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = VAR_DIR / "media"
MEDIA_URL = "/media-not-served/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

#: With a bucket name, files go to an S3-compatible object store (MinIO in the
#: docker-compose topology); otherwise to MEDIA_ROOT on the local disk.
S3_BUCKET = env.str("S3_BUCKET", default="")
if S3_BUCKET:
    from botocore.config import Config as _BotoConfig

    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": S3_BUCKET,
            "endpoint_url": env.str("S3_ENDPOINT_URL", default="") or None,
            "region_name": env.str("S3_REGION", default="") or None,
            "access_key": env.str("S3_ACCESS_KEY_ID", default="") or None,
            "secret_key": env.str("S3_SECRET_ACCESS_KEY", default="") or None,
            "addressing_style": "path" if env.str("S3_ENDPOINT_URL", default="") else None,
            "file_overwrite": False,
            "default_acl": None,
            "querystring_auth": True,
            "querystring_expire": 300,
            # Fail fast: a stalled object store must not hold a web worker for minutes.
            "client_config": _BotoConfig(
                connect_timeout=3, read_timeout=20, retries={"max_attempts": 2}
            ),
        },
    }

#: Largest upload accepted (one file); the reverse proxy caps whole request bodies
#: at PROXY_MAX_BODY_MB, set a little higher to leave room for the other form fields.
UPLOAD_MAX_BYTES = env.int("UPLOAD_MAX_MB", default=25) * 1024 * 1024
#: Vault space of a customer without an active subscription, in MiB (vault/quota.py):
#: a subscription's plan sets the quota otherwise. Export stays free whatever the usage.
VAULT_FREE_QUOTA_MB = env.int("VAULT_FREE_QUOTA_MB", default=100)

# --- Malware scanning (vault/scanning.py, docs/scanning.md) -----------------------

#: clamd address: tcp://host:port or unix:///run/clamav/clamd.ctl. Empty: no scanner
#: (documents are "not scanned"; check --deploy refuses it).
CLAMD_URL = env.str("CLAMD_URL", default="")
#: Seconds to connect to clamd; seconds any send or wait for its verdict may take.
CLAMD_CONNECT_TIMEOUT = env.int("CLAMD_CONNECT_TIMEOUT", default=3)
CLAMD_TIMEOUT = env.int("CLAMD_TIMEOUT", default=120)
#: Largest document sent to clamd; a larger one is refused, never called clean. Keep
#: clamd's StreamMaxLength, MaxFileSize and MaxScanSize at least this large.
VAULT_SCAN_MAX_BYTES = (
    env.int("VAULT_SCAN_MAX_MB", default=UPLOAD_MAX_BYTES // (1024 * 1024)) * 1024 * 1024
)

# --- Email ------------------------------------------------------------------------

# Every outgoing email is rendered and stored as evidence by audit.emails before a
# task hands it to this backend; the console backend prints it in development.
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=20)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="MyNetSpace <bonjour@mynetspace.test>")
SERVER_EMAIL = env.str("SERVER_EMAIL", default=DEFAULT_FROM_EMAIL)
#: Delivery attempts of one outgoing email before it is marked failed (audit.emails).
EMAIL_MAX_ATTEMPTS = env.int("EMAIL_MAX_ATTEMPTS", default=8)
#: Wait before the first retry of a failed delivery; doubled at each attempt (capped).
EMAIL_RETRY_BACKOFF_SECONDS = env.int("EMAIL_RETRY_BACKOFF_SECONDS", default=60)
#: Largest inbound raw email stored as evidence.
INBOUND_EMAIL_MAX_BYTES = env.int("INBOUND_EMAIL_MAX_MB", default=30) * 1024 * 1024

# --- Celery -------------------------------------------------------------------------
# The Celery app (mynetspace/celery.py) reads every CELERY_* value below; the periodic
# jobs are declared in mynetspace/schedule.py.

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "memory://")
#: Without a broker, tasks run in-process when they are enqueued (embedded set-up).
CELERY_TASK_ALWAYS_EAGER = env.bool(
    "CELERY_TASK_ALWAYS_EAGER", default=CELERY_BROKER_URL.startswith("memory://")
)
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
# A task is acknowledged once it has run, so a worker killed mid-task hands it back.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=300)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=360)
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_QUEUES = tuple(
    KombuQueue(name, KombuExchange(name, type="direct"), routing_key=name)
    for name in ("default", "email", "scan", "export")
)
CELERY_TASK_CREATE_MISSING_QUEUES = False
CELERY_TASK_ROUTES = {
    "audit.tasks.email_send": {"queue": "email"},
    "vault.tasks.*scan*": {"queue": "scan"},
    "*.tasks.*export*": {"queue": "export"},
}
# Publishing must not hang a request when the broker is down: one connection attempt
# (max_retries 0), short socket timeouts, no publish retry. The enqueue helper logs
# the failure and the pending-work sweeper re-enqueues from the database later. The
# worker's own reconnection loop is separate (CELERY_BROKER_CONNECTION_MAX_RETRIES).
CELERY_TASK_PUBLISH_RETRY = False
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "max_retries": 0,
    "socket_connect_timeout": 2,
    "socket_timeout": 3,
    # Longer than the longest retry countdown (audit.emails.MAX_RETRY_DELAY), so Redis
    # never redelivers a scheduled retry while it is still waiting.
    "visibility_timeout": 3600,
}
CELERY_TIMEZONE = TIME_ZONE

#: Rows pending longer than this are re-enqueued by the sweeper.
PENDING_WORK_GRACE_SECONDS = env.int("PENDING_WORK_GRACE_SECONDS", default=120)

# --- Audit --------------------------------------------------------------------------

#: True when the audit signing key was generated under var/ (refused by check --deploy).
AUDIT_SIGNING_KEY_GENERATED = "AUDIT_SIGNING_KEY" not in env
AUDIT_SIGNING_KEY = (
    env.str("AUDIT_SIGNING_KEY")
    if not AUDIT_SIGNING_KEY_GENERATED
    else dev_audit_signing_key(KEYS_DIR)
)
#: Public keys (base64, raw Ed25519) of retired signing keys, still trusted for old checkpoints.
AUDIT_TRUSTED_PUBLIC_KEYS = env.list("AUDIT_TRUSTED_PUBLIC_KEYS", default=[])
AUDIT_CHECKPOINT_MINUTES = env.int("AUDIT_CHECKPOINT_MINUTES", default=60)
# Database sessions audit_verify hashes the log in (0: one per CPU, at most 4).
AUDIT_VERIFY_SESSIONS = env.int("AUDIT_VERIFY_SESSIONS", default=0)
CELERY_BEAT_SCHEDULE = beat_schedule(checkpoint_minutes=AUDIT_CHECKPOINT_MINUTES)

# --- Encryption at rest -----------------------------------------------------------------

#: True when the master key ring was generated under var/ (refused by check --deploy).
ENCRYPTION_KEYS_GENERATED = "ENCRYPTION_KEYS" not in env
#: Master key ring ``id:base64key,...`` (first = current), see mynetspace/core/keyring.py.
ENCRYPTION_KEYS = (
    env.str("ENCRYPTION_KEYS") if not ENCRYPTION_KEYS_GENERATED else dev_encryption_keys(KEYS_DIR)
)

# --- Vault (vault/app_settings.py, docs/vault-format.md) --------------------------------

#: AWS KMS key (id, ARN or alias) that wraps the per-user vault keys. Without it, the
#: master key ring above wraps them (docs/decisions.md, Vault keys).
VAULT_KMS_KEY_ID = env.str("VAULT_KMS_KEY_ID", default="")
#: KMS region (taken from the key ARN when empty) and endpoint (empty: AWS itself).
VAULT_KMS_REGION = env.str("VAULT_KMS_REGION", default="")
VAULT_KMS_ENDPOINT_URL = env.str("VAULT_KMS_ENDPOINT_URL", default="")
#: Credentials for KMS; empty uses boto3's default chain (instance or task role).
VAULT_KMS_ACCESS_KEY_ID = env.str("VAULT_KMS_ACCESS_KEY_ID", default="")
VAULT_KMS_SECRET_ACCESS_KEY = env.str("VAULT_KMS_SECRET_ACCESS_KEY", default="")
#: Mail domain of the customers' private intake addresses (coffre-<token>@<domain>,
#: vault/intake.py); its mail server pipes each message to ``manage.py ingest_email``.
#: Empty: intake by email is off (the page says so).
VAULT_INTAKE_DOMAIN = env.str("VAULT_INTAKE_DOMAIN", default="")

# Encrypted blobs get their own storage alias: a "vault/" prefix of the bucket, or
# VAR_DIR/vault on the local disk (owner-only permissions). Only ciphertext goes there.
if S3_BUCKET:
    from boto3.s3.transfer import TransferConfig as _TransferConfig

    # Bounded memory for streamed uploads: a few 5 MiB parts (S3's minimum) in flight,
    # about 25 MiB whatever the file size (tests/vault/test_s3.py).
    _vault_transfer = _TransferConfig(
        multipart_threshold=5 * 1024 * 1024,
        multipart_chunksize=5 * 1024 * 1024,
        max_concurrency=2,
    )
    _vault_transfer.max_in_memory_upload_chunks = 2
    STORAGES["vault"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            **STORAGES["default"]["OPTIONS"],
            "location": "vault",
            "querystring_auth": False,
            "transfer_config": _vault_transfer,
        },
    }
else:
    STORAGES["vault"] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {
            "location": str(VAR_DIR / "vault"),
            "file_permissions_mode": 0o600,
            "directory_permissions_mode": 0o700,
        },
    }

# --- Security -------------------------------------------------------------------------

#: Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto headers are believed.
try:
    TRUSTED_PROXIES = [
        ipaddress.ip_network(n, strict=False) for n in env.list("TRUSTED_PROXIES", default=[])
    ]
except ValueError as exc:
    raise ImproperlyConfigured(f"TRUSTED_PROXIES: {exc}") from exc
if TRUSTED_PROXIES:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
# The preload directive only makes the domain eligible; submitting it to the browsers'
# list is a separate, deliberate step (docs/decisions.md).
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CSRF_FAILURE_VIEW = "mynetspace.core.views.csrf_failure"

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [NONE],
        "object-src": [NONE],
    }
}

# --- Logging ----------------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
