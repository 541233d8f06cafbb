"""Settings for Durable Console.

One flat module configured by environment variables. Every variable has a default that
works on a developer machine (SQLite under var/, Redis on localhost); `.env.example`
lists them all.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from console.isolation import console_id
from monitoring.logs import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent

# Local, untracked state: the SQLite database, the generated secret key, the beat schedule.
VAR_DIR = BASE_DIR / "var"
VAR_DIR.mkdir(exist_ok=True)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def read_or_create_secret_key(path: Path) -> str:
    """Return the key stored at `path`, generating it on first use.

    The web server and the Celery processes may start at the same moment, so the key is
    written to a temporary file and hard-linked into place: whoever links first wins, and
    nobody can read a half-written key.
    """
    try:
        key = path.read_text().strip()
    except FileNotFoundError:
        key = ""
    if key:
        return key

    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(key + "\n")
        try:
            os.link(tmp, path)
        except FileExistsError:
            return path.read_text().strip()
    finally:
        tmp.unlink(missing_ok=True)
    return key


SECRET_KEY = os.environ.get("SECRET_KEY") or read_or_create_secret_key(VAR_DIR / "secret_key")

DEBUG = env_bool("DEBUG", default=False)

# The test client's "testserver" host is added by Django's test set-up, not here.
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", default=False)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"

# HTTPS deployments (see docs/DEPLOYMENT.md): `manage.py check --deploy` passes with
# SECURE_SSL_REDIRECT=1 SECURE_HSTS_SECONDS=31536000 and the two cookie flags above.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=False)
if env_bool("SECURE_PROXY_SSL_HEADER", default=False):
    # Behind a proxy that terminates TLS and sets X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy, sent by django-csp. The default is strict: our own scripts and
# styles only, no inline code. CONTENT_SECURITY_POLICY in the environment replaces it with
# a header value ("default-src 'self'; img-src 'self' data:"; empty sends none);
# CONTENT_SECURITY_POLICY_REPORT_ONLY=1 sends it as Content-Security-Policy-Report-Only,
# and CONTENT_SECURITY_POLICY_REPORT_URI adds a report-uri that browsers post violations to.
DEFAULT_CSP_DIRECTIVES: dict[str, list[str] | bool] = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}


def parse_csp(policy: str) -> dict[str, list[str] | bool | None]:
    """A Content-Security-Policy header value as django-csp's DIRECTIVES.

    django-csp drops directives it does not know, so an unknown one is an error here
    rather than a silently weaker policy.
    """
    from csp.utils import DEFAULT_DIRECTIVES

    directives: dict[str, list[str] | bool | None] = {}
    for part in policy.split(";"):
        if not part.strip():
            continue
        name, *values = part.split()
        name = name.lower()
        if name not in DEFAULT_DIRECTIVES:
            raise ImproperlyConfigured(f"CONTENT_SECURITY_POLICY: unknown directive {name!r}")
        # A directive without values (upgrade-insecure-requests) is a flag.
        directives[name] = values or True
    if directives:
        # django-csp adds default-src 'self' when it is missing; the header says it all.
        directives.setdefault("default-src", None)
    return directives


_csp_directives = (
    dict(DEFAULT_CSP_DIRECTIVES)
    if os.environ.get("CONTENT_SECURITY_POLICY") is None
    else parse_csp(os.environ["CONTENT_SECURITY_POLICY"])
)
if _csp_directives and os.environ.get("CONTENT_SECURITY_POLICY_REPORT_URI"):
    _csp_directives["report-uri"] = [os.environ["CONTENT_SECURITY_POLICY_REPORT_URI"]]
_csp = {"DIRECTIVES": _csp_directives} if _csp_directives else None
if env_bool("CONTENT_SECURITY_POLICY_REPORT_ONLY"):
    CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY_REPORT_ONLY = None, _csp
else:
    CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY_REPORT_ONLY = _csp, None

# Sign-in attempts (access/signin.py): every attempt is counted, atomically in Redis, before
# its password is checked. After LOGIN_RATE_LIMIT_ATTEMPTS failures of one username from one
# client address, that pair waits LOGIN_RATE_LIMIT_WINDOW_SECONDS, then twice as long after
# each further failure, up to LOGIN_RATE_LIMIT_MAX_SECONDS; failures are forgotten
# LOGIN_RATE_LIMIT_FORGET_SECONDS after the last one, and a success clears them. One
# address is also limited across all usernames (LOGIN_RATE_LIMIT_ADDRESS_ATTEMPTS, 0 = no
# limit), which delays only that address. Nobody can delay a user signing in from another
# address. `manage.py signin unlock USER` lifts a delay.
LOGIN_RATE_LIMIT_ATTEMPTS = int(os.environ.get("LOGIN_RATE_LIMIT_ATTEMPTS", "5"))
LOGIN_RATE_LIMIT_WINDOW_SECONDS = int(os.environ.get("LOGIN_RATE_LIMIT_WINDOW_SECONDS", "900"))
LOGIN_RATE_LIMIT_MAX_SECONDS = int(os.environ.get("LOGIN_RATE_LIMIT_MAX_SECONDS", "86400"))
LOGIN_RATE_LIMIT_FORGET_SECONDS = int(os.environ.get("LOGIN_RATE_LIMIT_FORGET_SECONDS", "86400"))
LOGIN_RATE_LIMIT_ADDRESS_ATTEMPTS = int(os.environ.get("LOGIN_RATE_LIMIT_ADDRESS_ATTEMPTS", "50"))
if os.environ.get("LOGIN_RATE_LIMIT_IP_HEADER"):
    raise ImproperlyConfigured(
        "LOGIN_RATE_LIMIT_IP_HEADER is gone: it trusted the client's own end of the header. "
        "Set TRUSTED_PROXY_HOPS to the number of proxies in front of the console (1 behind "
        "an ALB or one nginx) instead; see docs/DEPLOYMENT.md."
    )
# The client's address (access/clientip.py): the socket's, unless TRUSTED_PROXY_HOPS proxies
# stand in front, each appending to TRUSTED_PROXY_HEADER; then the entry that many places
# from the right. Set it only when the console cannot be reached except through them.
TRUSTED_PROXY_HOPS = int(os.environ.get("TRUSTED_PROXY_HOPS", "0"))
TRUSTED_PROXY_HEADER = os.environ.get("TRUSTED_PROXY_HEADER", "X-Forwarded-For")


def _metrics_networks(value: str) -> list[str]:
    """METRICS_ALLOWED_NETWORKS as networks; anything else stops the console at start-up
    rather than let in nobody (or everybody)."""
    networks = []
    for entry in (part.strip() for part in value.split(",")):
        if not entry:
            continue
        try:
            networks.append(str(ipaddress.ip_network(entry, strict=False)))
        except ValueError:
            raise ImproperlyConfigured(
                f"METRICS_ALLOWED_NETWORKS: {entry!r} is not a network or an address "
                "(10.20.0.0/16, 192.0.2.7, fd00:1::/64)."
            ) from None
    return networks


# /metrics (monitoring/views.py) answers a staff user's API token, and any request from
# these networks (comma-separated CIDRs; the client's address as TRUSTED_PROXY_HOPS tells it).
METRICS_ALLOWED_NETWORKS = _metrics_networks(os.environ.get("METRICS_ALLOWED_NETWORKS", ""))
# gunicorn's workers add up their request counts for /metrics in this directory (emptied
# at every start); one that is not there would fail every request's count, so it stops
# the console at start-up instead.
PROMETHEUS_MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
if PROMETHEUS_MULTIPROC_DIR and not (
    os.path.isdir(PROMETHEUS_MULTIPROC_DIR) and os.access(PROMETHEUS_MULTIPROC_DIR, os.W_OK)
):
    raise ImproperlyConfigured(
        f"PROMETHEUS_MULTIPROC_DIR: {PROMETHEUS_MULTIPROC_DIR} is not a directory this "
        "process may write to; make it (empty) before the web server starts, or unset it."
    )
# ---- sign-in with the company's identity provider (access/oidc.py, access/alb.py) -------

# OpenID Connect (authorization code flow with PKCE, the provider found by discovery):
# on when OIDC_ISSUER is set. The redirect URI to register at the provider is
# CONSOLE_BASE_URL + /sso/callback/.
OIDC_ISSUER = os.environ.get("OIDC_ISSUER", "").rstrip("/")
OIDC_CLIENT_ID = os.environ.get("OIDC_CLIENT_ID", "")
OIDC_CLIENT_SECRET = os.environ.get("OIDC_CLIENT_SECRET", "")
OIDC_SCOPES = os.environ.get("OIDC_SCOPES", "openid email profile")
# The name on the sign-in button ("Sign in with Okta").
OIDC_PROVIDER_NAME = os.environ.get("OIDC_PROVIDER_NAME", "your identity provider")
# The claim that names the person in the console, and the one that lists their groups
# (blank: roles are given by hand only, with `manage.py grant`).
OIDC_USERNAME_CLAIM = os.environ.get("OIDC_USERNAME_CLAIM", "preferred_username")
OIDC_GROUPS_CLAIM = os.environ.get("OIDC_GROUPS_CLAIM", "groups")
# How far the provider's clock may be from ours when its tokens are checked.
OIDC_LEEWAY_SECONDS = int(os.environ.get("OIDC_LEEWAY_SECONDS", "120"))
# How often a signed-in person's groups are read again from the provider (with the refresh
# token, when the scopes ask for offline_access), so leaving a group takes the role away.
OIDC_REFRESH_SECONDS = int(os.environ.get("OIDC_REFRESH_SECONDS", "900"))

# Behind an AWS Application Load Balancer that authenticates: on when ALB_SIGNER_ARN is set
# (the load balancer's ARN). The x-amzn-oidc-data header is trusted only from ALB_NETWORKS
# (the load balancer's subnets), signed with the key its `kid` names at ALB_KEY_URL.
ALB_SIGNER_ARN = os.environ.get("ALB_SIGNER_ARN", "")
ALB_REGION = os.environ.get("ALB_REGION", "")
ALB_KEY_URL = os.environ.get(
    "ALB_KEY_URL", "https://public-keys.auth.elb.{region}.amazonaws.com/{kid}"
)
ALB_NETWORKS = env_list("ALB_NETWORKS")
ALB_USERNAME_CLAIM = os.environ.get("ALB_USERNAME_CLAIM", "email")
ALB_GROUPS_CLAIM = os.environ.get("ALB_GROUPS_CLAIM", "groups")

# Groups to roles, for both: "payments-ops=operator,console-admins=admin,everyone=viewer".
# Applied at every sign-in and session refresh.
ROLES = ("viewer", "operator", "admin")


def parse_group_roles(text: str) -> dict[str, list[tuple[str, str, str]]]:
    """SSO_GROUP_ROLES as {group: [(role, source name, function pattern)]}: each entry
    GROUP=ROLE, optionally @SOURCE (one source) and /PATTERN (some functions), e.g.
    "payments=operator@prod/payments-*, payments=viewer". A role the console does not have
    stops it at start-up rather than give nobody anything."""
    mapping: dict[str, list[tuple[str, str, str]]] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        group, sep, grant = (x.strip() for x in part.partition("="))
        grant, _, pattern = grant.partition("/")
        role, _, source = grant.partition("@")
        if not sep or not group or role.strip() not in ROLES:
            raise ImproperlyConfigured(
                f"SSO_GROUP_ROLES: {part!r} is not GROUP=ROLE[@SOURCE][/FUNCTION-PATTERN] "
                f"with ROLE one of {', '.join(ROLES)}"
            )
        mapping.setdefault(group, []).append((role.strip(), source.strip(), pattern.strip()))
    return mapping


SSO_GROUP_ROLES = parse_group_roles(os.environ.get("SSO_GROUP_ROLES", ""))
# Someone the provider knows but who is in none of those groups is refused (not signed in
# as a reader), unless this is off.
SSO_REQUIRE_ROLE = env_bool("SSO_REQUIRE_ROLE", default=True)
SSO_ENABLED = bool(OIDC_ISSUER or ALB_SIGNER_ARN)
# Sign-in with a local password; may be switched off once SSO is on (break-glass:
# `manage.py breakglass USER`).
LOCAL_SIGNIN = env_bool("LOCAL_SIGNIN", default=True) or not SSO_ENABLED

# Sessions end after this long without a request, and this long after sign-in whatever
# happens; STEP_UP_SECONDS > 0 asks for a sign-in within that long before an answer to a
# callback is sent.
SESSION_IDLE_SECONDS = int(os.environ.get("SESSION_IDLE_SECONDS", str(8 * 3600)))
SESSION_MAX_SECONDS = int(os.environ.get("SESSION_MAX_SECONDS", str(12 * 3600)))
SESSION_COOKIE_AGE = SESSION_MAX_SECONDS
STEP_UP_SECONDS = int(os.environ.get("STEP_UP_SECONDS", "0"))

AUTHENTICATION_BACKENDS = [
    # First, so that an attempt over the limit is refused before any password is checked.
    "access.signin.RateLimitBackend",
    "django.contrib.auth.backends.ModelBackend",
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # Before staticfiles, so that runserver serves static files through WhiteNoise too.
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    # Wraps the template loaders so that "page.html#partial" names work (Django 5.2 has no
    # built-in partials; Django 6.0 adopted this package).
    "template_partials",
    "csp",  # Content-Security-Policy headers (django-csp)
    "access",  # sign-in, its rate limit, the client's address
    "executions",  # the mirror (models, sync, Lambda API)
    "browser",  # the read side
    "actions",  # the operator actions
    "notify",  # notification rules and deliveries
    "guardrails",  # rules that notify, pause or stop runaway executions
    "ninja",  # the API's framework (its docs page's templates and static files)
    "api",  # the HTTP API (/api/v1/) and its tokens' idempotency keys
    "retention",  # the periodic prune of the mirror (archive first)
    "sandbox",  # the development commands: runconsole, sandbox
]

MIDDLEWARE = [
    # Each request in a context of its own (what an API token sets ends with its request).
    "api.middleware.FreshContextMiddleware",
    # The request's id (X-Request-ID) for its log lines and its answer; its count and
    # latency for /metrics; its line in the JSON log (monitoring/).
    "monitoring.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    # Serves /static/ before any other middleware, so static files never need a login.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Every view needs a login unless decorated with @login_not_required (the login page
    # and /healthz are).
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # After messages and htmx (an ended session says why): a session past its idle or absolute
    # limit, or from before "sign out everywhere", ends here; an identity provider's
    # groups are read again when due; an ALB's signed header signs the person in.
    "access.middleware.SessionRulesMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Malformed query parameters become a 400 page that says what was wrong.
    "web.params.BadQueryMiddleware",
]

ROOT_URLCONF = "console.urls"
WSGI_APPLICATION = "console.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        # template_partials replaces APP_DIRS with its own loader chain when the app loads.
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "actions.context_processors.approvals",
            ],
        },
    },
]

# SQLite under var/ unless DATABASE_URL names another database,
# e.g. postgres://user:password@host:5432/name
DATABASE_URL = os.environ.get("DATABASE_URL", "")
# The web server, Celery workers and `manage.py sync` write to SQLite at the same time:
# WAL lets readers run beside a writer, IMMEDIATE transactions queue writers instead of
# failing with "database is locked" when a read transaction tries to write, and the
# timeout bounds the wait. These apply to any SQLite database, however it is named.
SQLITE_OPTIONS = {
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
}
if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(DATABASE_URL, conn_max_age=600, conn_health_checks=True)
    }
    if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        DATABASES["default"]["OPTIONS"] = dict(SQLITE_OPTIONS)
        DATABASES["default"]["CONN_MAX_AGE"] = 0
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "db.sqlite3",
            "OPTIONS": dict(SQLITE_OPTIONS),
            # A file, not memory, so that Celery workers started by the tests share it; one
            # per Redis database, so two test runs apart in Redis are apart here too.
            "TEST": {
                "NAME": VAR_DIR
                / f"test-db-{os.environ.get('REDIS_URL', '/0').rsplit('/', 1)[-1]}.sqlite3"
            },
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

# Every Redis key the console writes starts with REDIS_KEY_PREFIX, so that two consoles on
# one Redis keep apart; see console/isolation.py for CONSOLE_ID and its default.
CONSOLE_ID = console_id(os.environ.get("CONSOLE_ID"), BASE_DIR)
REDIS_KEY_PREFIX = f"durable-console:{CONSOLE_ID}"

CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": REDIS_KEY_PREFIX,
        "OPTIONS": {
            # Fail fast when Redis is down, so /healthz and pages answer instead of hanging.
            "SOCKET_CONNECT_TIMEOUT": 2,
            "SOCKET_TIMEOUT": 2,
            # The cache only saves work: with Redis down (or restarting) pages are built
            # afresh instead of failing.
            "IGNORE_EXCEPTIONS": True,
            # JSON, not pickle: a value planted in Redis can never run code here.
            "SERIALIZER": "console.cache_serializer.JSONSerializer",
            "CLIENT_CLASS": "console.cache_serializer.Client",
        },
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Serve straight from static/ so the console works without running collectstatic first;
# `collectstatic` into STATIC_ROOT still works for deployments that want it.
WHITENOISE_USE_FINDERS = True
# WhiteNoise warns at every start-up when STATIC_ROOT is missing; an empty one is harmless.
STATIC_ROOT.mkdir(exist_ok=True)

# ---- notifications (notify/): links, scans, retries, outgoing requests, email ----------

# Where people open the console: every message links to a page under it.
CONSOLE_BASE_URL = os.environ.get("CONSOLE_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
# How often beat scans the mirror for callbacks, deadlines and failures rules ask about.
NOTIFY_SCAN_SECONDS = float(os.environ.get("NOTIFY_SCAN_SECONDS", "10"))
# A delivery is tried this many times, waiting these many seconds before each retry.
NOTIFY_MAX_ATTEMPTS = int(os.environ.get("NOTIFY_MAX_ATTEMPTS", "3"))
NOTIFY_RETRY_SECONDS = [
    float(part)
    for part in os.environ.get("NOTIFY_RETRY_SECONDS", "10,60").split(",")
    if part.strip()
]
# Executions that failed or timed out longer ago than this are not notified.
NOTIFY_FAILURE_WINDOW_SECONDS = int(os.environ.get("NOTIFY_FAILURE_WINDOW_SECONDS", "3600"))

# Slack's Approve and Reject buttons (notify/slack.py, docs/SLACK.md). The Slack app's
# signing secret: every click Slack sends to /slack/interactions is checked with it, and
# without it the messages carry no buttons and every click is refused.
SLACK_SIGNING_SECRET = os.environ.get("SLACK_SIGNING_SECRET", "")
# Optional: a bot token with users:read and users:read.email, to find the console user
# of a Slack user no administrator linked (`manage.py slackuser`) by their email address.
SLACK_BOT_TOKEN = os.environ.get("SLACK_BOT_TOKEN", "")
SLACK_API_URL = os.environ.get("SLACK_API_URL", "https://slack.com/api").rstrip("/")
# The hosts a click's response_url may name (over https only): Slack's own.
SLACK_RESPONSE_URL_HOSTS = [
    host.strip().lower().rstrip(".")
    for host in os.environ.get("SLACK_RESPONSE_URL_HOSTS", "hooks.slack.com").split(",")
    if host.strip()
]


def _allowed_networks(value: str) -> list[str]:
    """OUTGOING_ALLOWED_NETWORKS' entries, each a network or a host name; anything else
    stops the console at start-up rather than silently allowing nothing (or too much)."""
    entries = []
    for entry in (part.strip() for part in value.split(",")):
        if not entry:
            continue
        try:
            entries.append(str(ipaddress.ip_network(entry, strict=False)))
            continue
        except ValueError:
            pass
        # A numeric "name" (127.1, 2130706433, 0x7f000001) would be matched as written,
        # not as the address it spells: ask for the address or network instead.
        numeric = re.fullmatch(r"(0x[0-9a-f]+|[0-9.]+)", entry, re.IGNORECASE)
        name = re.fullmatch(
            r"([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.?",
            entry,
            re.IGNORECASE,
        )
        if numeric or not name:
            raise ValueError(
                f"OUTGOING_ALLOWED_NETWORKS: {entry!r} is neither a network (10.20.0.0/16, "
                "192.0.2.7, fd00:1::/64) nor a host name (hooks.internal.example.com)"
            )
        entries.append(entry.lower().rstrip("."))
    return entries


# Webhooks (and Slack) are sent only to public addresses: loopback, link-local (the
# instance metadata service), private, shared, multicast and reserved ones are refused,
# checked on the address actually connected to (notify/outgoing.py). These are the
# internal ones a company does want, comma-separated: networks (10.20.0.0/16, one
# address, IPv6 too) and exact host names (every address such a name resolves to passes).
OUTGOING_ALLOWED_NETWORKS = _allowed_networks(os.environ.get("OUTGOING_ALLOWED_NETWORKS", ""))

# Email: SMTP from the environment. EMAIL_BACKEND may name another of Django's backends
# (django.core.mail.backends.console.EmailBackend prints messages instead) for a trial.
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS")
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL")
EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", "20"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "durable-console@localhost")

# The HTTP API (api/, docs/API.md): requests per token per minute (past it, 429 with
# Retry-After), and the longest a token may last.
API_RATE_PER_MINUTE = int(os.environ.get("API_RATE_PER_MINUTE", "600"))
API_TOKEN_MAX_DAYS = int(os.environ.get("API_TOKEN_MAX_DAYS", "365"))

# Callback results may be 1 MB, and error fields 1 MB together; a form sends them
# URL-encoded, which can triple their size.
DATA_UPLOAD_MAX_MEMORY_SIZE = 4 * 1024 * 1024


# Celery: Redis is both the broker and the result backend.
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
# Kombu and the result backend put this before every key and channel (queues, results).
CELERY_BROKER_TRANSPORT_OPTIONS = {"global_keyprefix": f"{REDIS_KEY_PREFIX}:celery:"}
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"global_keyprefix": f"{REDIS_KEY_PREFIX}:celery:"}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
# JSON only, for tasks and results alike: a pickle planted in Redis is refused, not run.
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 3600
CELERY_TIMEZONE = TIME_ZONE
# A task that hangs on a slow endpoint must not hold a worker for ever.
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_TASK_TIME_LIMIT = 300
# Sync tasks are long and uneven; take one at a time so a slow one does not hoard others.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Periodic sweeps. Each source's own intervals decide what is due; these only say how
# often to look. Both sweeps hold a Redis lock and touch only rows that can change.
SYNC_SWEEP_SECONDS = float(os.environ.get("SYNC_SWEEP_SECONDS", "2"))
# The scheduler (executions/schedule.py) queues the checks the call budget allows, this
# often; a watched execution (its page is open) is checked every SYNC_WATCH_SECONDS, one
# that keeps not changing backs off to SYNC_MAX_INTERVAL_SECONDS.
SYNC_TICK_SECONDS = float(os.environ.get("SYNC_TICK_SECONDS", "0.5"))
SYNC_WATCH_SECONDS = float(os.environ.get("SYNC_WATCH_SECONDS", "2"))
SYNC_MAX_INTERVAL_SECONDS = float(os.environ.get("SYNC_MAX_INTERVAL_SECONDS", "60"))
# The longest a worker waits for a token of the call budget before it leaves the call
# for a later check.
SYNC_BUDGET_MAX_WAIT_SECONDS = float(os.environ.get("SYNC_BUDGET_MAX_WAIT_SECONDS", "10"))
# How often the guardrails look (each pass is a few indexed queries per rule).
GUARDRAIL_SECONDS = float(os.environ.get("GUARDRAIL_SECONDS", "15"))
CELERY_BEAT_SCHEDULE: dict[str, dict] = {
    "poll-sources": {"task": "executions.tasks.poll_sources", "schedule": SYNC_SWEEP_SECONDS},
    "schedule-checks": {
        "task": "executions.tasks.schedule_checks",
        "schedule": SYNC_TICK_SECONDS,
    },
    # Sources with a status-event queue: keep a consumer reading it.
    "consume-events": {"task": "executions.tasks.consume_all_events", "schedule": 1.0},
    # Sources with a telemetry queue: keep a consumer reading the SDK's records.
    "consume-telemetry": {"task": "executions.tasks.consume_all_telemetry", "schedule": 1.0},
    "notify-scan": {"task": "notify.tasks.scan", "schedule": NOTIFY_SCAN_SECONDS},
    # Held approvals of callbacks that timed out or whose execution ended are closed.
    "close-stale-approvals": {
        "task": "actions.tasks.close_stale_approvals",
        "schedule": NOTIFY_SCAN_SECONDS,
    },
    # Guardrails look for runaway executions and act (guardrails/engine.py).
    "guardrails": {"task": "guardrails.tasks.run_guardrails", "schedule": GUARDRAIL_SECONDS},
    # Idempotency-Keys of the API are kept a day (api/idempotency.py).
    "forget-idempotency-keys": {"task": "api.tasks.forget_idempotency_keys", "schedule": 3600},
}
# The local SQS-compatible server (moto's) that `make run` and `make test` start for the
# sandbox's status events.
SQS_ENDPOINT_URL = os.environ.get("SQS_ENDPOINT_URL", "http://127.0.0.1:9324")

# How long a sync lock outlives a worker killed mid-sync (a live worker renews it).
SYNC_LOCK_SECONDS = int(os.environ.get("SYNC_LOCK_SECONDS", "60"))

# Retention and the archive (docs/DEPLOYMENT.md, "Retention and the archive"): a source's
# retention_days prune its ended executions that long after their end, each written first
# to ARCHIVE_BUCKET (S3; ARCHIVE_ENDPOINT_URL for an S3-compatible server, such as the
# moto server `make run` starts) as gzip-compressed JSON under ARCHIVE_PREFIX.
ARCHIVE_BUCKET = os.environ.get("ARCHIVE_BUCKET", "").strip()
if ARCHIVE_BUCKET:
    from executions.bucket_names import bucket_name_problem

    if _bucket_problem := bucket_name_problem(ARCHIVE_BUCKET):
        raise ImproperlyConfigured(f"ARCHIVE_BUCKET: {_bucket_problem}")
ARCHIVE_PREFIX = os.environ.get("ARCHIVE_PREFIX", "durable-console").strip().strip("/")
ARCHIVE_ENDPOINT_URL = os.environ.get("ARCHIVE_ENDPOINT_URL", "").strip()
ARCHIVE_REGION = os.environ.get("ARCHIVE_REGION", "us-east-1").strip()
# "default": the default credential chain (a role); "none": placeholder keys, for a local
# S3 server such as moto's (which takes any).
ARCHIVE_CREDENTIALS = os.environ.get("ARCHIVE_CREDENTIALS", "default").strip()
if ARCHIVE_CREDENTIALS not in ("default", "none"):
    raise ImproperlyConfigured(
        f"ARCHIVE_CREDENTIALS: {ARCHIVE_CREDENTIALS!r}; give 'default' or 'none'."
    )
ARCHIVE_TIMEOUT_SECONDS = float(os.environ.get("ARCHIVE_TIMEOUT_SECONDS", "10"))
# How long the archive keeps an execution (the bucket's lifecycle rule, days): no source
# may keep executions in the mirror longer (executions/retention.py says why).
ARCHIVE_KEEP_DAYS = int(os.environ.get("ARCHIVE_KEEP_DAYS", "3650"))
# Prune without archiving (the executions are lost): off unless said.
PRUNE_WITHOUT_ARCHIVE = env_bool("PRUNE_WITHOUT_ARCHIVE")
# The prune (executions/prune.py): executions per batch, the most time a batch spends
# archiving before it deletes what it archived, the most time a run spends, how often it runs.
PRUNE_BATCH_SIZE = int(os.environ.get("PRUNE_BATCH_SIZE", "500"))
# Unset: 20 s, or half of SYNC_LOCK_SECONDS when that is shorter (a shorter sync lock,
# say for tests, must not stop the console from starting over a setting left alone).
PRUNE_BATCH_SECONDS = float(
    os.environ.get("PRUNE_BATCH_SECONDS") or min(20.0, SYNC_LOCK_SECONDS / 2)
)
PRUNE_RUN_SECONDS = float(os.environ.get("PRUNE_RUN_SECONDS", "240"))
PRUNE_INTERVAL_SECONDS = float(os.environ.get("PRUNE_INTERVAL_SECONDS", "300"))
if not 1 <= PRUNE_BATCH_SIZE <= 10_000:
    raise ImproperlyConfigured(f"PRUNE_BATCH_SIZE: {PRUNE_BATCH_SIZE}; give 1 to 10000.")
if not 0 < PRUNE_BATCH_SECONDS <= SYNC_LOCK_SECONDS / 2:
    raise ImproperlyConfigured(
        f"PRUNE_BATCH_SECONDS: {PRUNE_BATCH_SECONDS:g}; give more than 0 and at most half of "
        f"SYNC_LOCK_SECONDS ({SYNC_LOCK_SECONDS}): a batch holds its executions' sync locks."
    )
CELERY_BEAT_SCHEDULE["prune"] = {
    "task": "retention.tasks.prune",
    "schedule": PRUNE_INTERVAL_SECONDS,
}

# Operations' spans (the SDK's OpenTelemetry plugin; browser/trace_links.py): a link to
# any OpenTelemetry UI, with {trace_id} and {span_id}, e.g. Jaeger's
# https://jaeger.example.com/trace/{trace_id}?uiFind={span_id}; blank: no such link.
TRACE_URL_TEMPLATE = os.environ.get("TRACE_URL_TEMPLATE", "").strip()
# Telemetry records (executions/telemetry.py): while they flow, an execution's history is
# read as a reconciliation this long (seconds, at least) after its last record, then twice as long
# each time it told nothing the records had not, up to the maximum; an execution someone
# has open is read when a record changes it, and at least every
# SYNC_TELEMETRY_WATCH_SECONDS. Larger bodies are set aside.
SYNC_TELEMETRY_RECONCILE_SECONDS = float(os.environ.get("SYNC_TELEMETRY_RECONCILE_SECONDS", "300"))
SYNC_TELEMETRY_RECONCILE_MAX_SECONDS = float(
    os.environ.get("SYNC_TELEMETRY_RECONCILE_MAX_SECONDS", "3600")
)
SYNC_TELEMETRY_WATCH_SECONDS = float(os.environ.get("SYNC_TELEMETRY_WATCH_SECONDS", "60"))
# ... and the reconciliations of all a source's executions whose records flow take at most
# this share of its history budget (further apart where there are many).
SYNC_TELEMETRY_RECONCILE_SHARE = float(os.environ.get("SYNC_TELEMETRY_RECONCILE_SHARE", "0.1"))
if not 0 < SYNC_TELEMETRY_RECONCILE_SHARE <= 1:
    raise ImproperlyConfigured(
        f"SYNC_TELEMETRY_RECONCILE_SHARE: {SYNC_TELEMETRY_RECONCILE_SHARE:g}; give a share of "
        "the history budget over 0 and at most 1 (0.1 is a tenth)."
    )
TELEMETRY_MAX_RECORD_BYTES = int(os.environ.get("TELEMETRY_MAX_RECORD_BYTES", str(1024 * 1024)))

# Graphs: a map or parallel with more children than this is drawn collapsed.
GRAPH_COLLAPSE_THRESHOLD = int(os.environ.get("GRAPH_COLLAPSE_THRESHOLD", "25"))


def _threshold(name: str, default: str, low: float, high: float, kind: type = int) -> Any:
    """A needs-attention threshold from the environment, within [low, high]; anything else
    stops the console at start-up with the reason, rather than judge by a wrong number."""
    text = os.environ.get(name, "").strip() or default
    try:
        value = kind(text)
    except ValueError:
        raise ImproperlyConfigured(f"{name}: {text!r} is not a number.") from None
    if not low <= value <= high:
        raise ImproperlyConfigured(f"{name}: {text} is out of range; give {low:g} to {high:g}.")
    return value


# Needs attention (executions/attention.py, the /attention/ page and the overview's card):
# a step on this attempt or later (2: any retry); this many executions of one function
# waiting to retry at once (a retry storm); running longer than FACTOR x the function's
# p95, and MIN_SECONDS at least, the p95 of its newest SAMPLE ended executions of the last
# DAYS (judged once there are MIN_SAMPLE, cached CACHE_SECONDS); this percent of the
# ExecutionTimeout gone; this percent of AWS's 3,000 operations used; PAUSING or DELETING
# this long; a stop sent this long ago (and within LOOKBACK_DAYS) not taken; a callback
# this long past its deadline; a map or parallel of this many items that started one
# within WINDOW_SECONDS.
ATTENTION_RETRY_ATTEMPTS = _threshold("ATTENTION_RETRY_ATTEMPTS", "5", 2, 1_000_000)
ATTENTION_RETRY_STORM_EXECUTIONS = _threshold(
    "ATTENTION_RETRY_STORM_EXECUTIONS", "10", 2, 1_000_000
)
ATTENTION_SLOW_FACTOR = _threshold("ATTENTION_SLOW_FACTOR", "2", 1, 1000, float)
ATTENTION_SLOW_MIN_SECONDS = _threshold("ATTENTION_SLOW_MIN_SECONDS", "300", 0, 366 * 86400)
ATTENTION_DURATION_DAYS = _threshold("ATTENTION_DURATION_DAYS", "7", 1, 366)
ATTENTION_DURATION_SAMPLE = _threshold("ATTENTION_DURATION_SAMPLE", "1000", 10, 100_000)
ATTENTION_DURATION_MIN_SAMPLE = _threshold("ATTENTION_DURATION_MIN_SAMPLE", "20", 1, 100_000)
ATTENTION_DURATION_CACHE_SECONDS = _threshold("ATTENTION_DURATION_CACHE_SECONDS", "300", 0, 86400)
ATTENTION_TIMEOUT_PERCENT = _threshold("ATTENTION_TIMEOUT_PERCENT", "90", 1, 100)
ATTENTION_OPERATIONS_PERCENT = _threshold("ATTENTION_OPERATIONS_PERCENT", "80", 1, 100)
ATTENTION_STUCK_SECONDS = _threshold("ATTENTION_STUCK_SECONDS", "600", 0, 366 * 86400)
ATTENTION_STOP_GRACE_SECONDS = _threshold("ATTENTION_STOP_GRACE_SECONDS", "120", 0, 86400)
ATTENTION_LOOKBACK_DAYS = _threshold("ATTENTION_LOOKBACK_DAYS", "7", 1, 366)
ATTENTION_CALLBACK_GRACE_SECONDS = _threshold(
    "ATTENTION_CALLBACK_GRACE_SECONDS", "60", 0, 366 * 86400
)
ATTENTION_FANOUT_ITEMS = _threshold("ATTENTION_FANOUT_ITEMS", "1000", 2, 1_000_000)
ATTENTION_FANOUT_WINDOW_SECONDS = _threshold(
    "ATTENTION_FANOUT_WINDOW_SECONDS", "600", 1, 366 * 86400
)

# The embedded sandbox backend (`manage.py sandbox`, `make run`).
SANDBOX_PORT = int(os.environ.get("SANDBOX_PORT", "9100"))
SANDBOX_DATA_DIR = Path(os.environ.get("SANDBOX_DATA_DIR", str(VAR_DIR / "sandbox")))

LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO").upper()
# runserver's request log: INFO logs every request, WARNING only failed ones (`make run`'s
# default, so that the pages' polling does not scroll its sign-in block away).
ACCESS_LOG_LEVEL = os.environ.get("ACCESS_LOG_LEVEL", "INFO").upper()

# LOG_FORMAT=json: one JSON object per line (time, level, logger, message, request_id,
# execution_arn), for the web server and the Celery workers alike (monitoring/logs.py).
LOG_FORMAT = os.environ.get("LOG_FORMAT", "text").strip().lower() or "text"
try:
    LOGGING = logging_config(LOG_FORMAT, LOG_LEVEL, ACCESS_LOG_LEVEL)
except ValueError as exc:
    raise ImproperlyConfigured(str(exc)) from None
