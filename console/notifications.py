"""Settings of notifications (notify/): email through SMTP, webhook retries, the console's
public address for links; and the request size that 1 MB callback results need.
console/settings.py imports them all; `.env.example` lists the variables.
"""

from __future__ import annotations

import os

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

# Email: SMTP from the environment. EMAIL_BACKEND may name another of Django's backends
# (django.core.mail.backends.console.EmailBackend prints messages instead) for a trial.
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = os.environ.get("EMAIL_USE_TLS", "").strip().lower() in {"1", "true", "yes", "on"}
EMAIL_USE_SSL = os.environ.get("EMAIL_USE_SSL", "").strip().lower() in {"1", "true", "yes", "on"}
EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", "20"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "durable-console@localhost")

# Callback results may be 1 MB, and error fields 1 MB together; a form sends them
# URL-encoded, which can triple their size.
DATA_UPLOAD_MAX_MEMORY_SIZE = 4 * 1024 * 1024
