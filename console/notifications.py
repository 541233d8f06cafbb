"""Settings of notifications (notify/): email through SMTP, webhook retries, the console's
public address for links; and the request size that 1 MB callback results need.
console/settings.py imports them all; `.env.example` lists the variables.
"""

from __future__ import annotations

import ipaddress
import os
import re

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
EMAIL_USE_TLS = os.environ.get("EMAIL_USE_TLS", "").strip().lower() in {"1", "true", "yes", "on"}
EMAIL_USE_SSL = os.environ.get("EMAIL_USE_SSL", "").strip().lower() in {"1", "true", "yes", "on"}
EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", "20"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "durable-console@localhost")

# Callback results may be 1 MB, and error fields 1 MB together; a form sends them
# URL-encoded, which can triple their size.
DATA_UPLOAD_MAX_MEMORY_SIZE = 4 * 1024 * 1024
