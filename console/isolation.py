"""Which console this is, so that two on one Redis server keep their keys apart.

Every Redis key a console writes (its cache, locks, the scheduler's marks, the call
budget, Celery's queues and results) starts with `durable-console:<CONSOLE_ID>:`, and
the sandbox of `make run` sends its status events to a queue named after it too.

Unset, CONSOLE_ID is derived from the checkout's directory: the same for every process
started from one checkout, another for another checkout. Set it (to the same value on
every host) when the hosts of one console run from checkouts in different directories,
or when one checkout serves two consoles (two DATABASE_URLs).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

CONSOLE_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,40}")


def default_console_id(base_dir: Path) -> str:
    """A checkout's name for itself: its directory's name and a hash of its path.

    Every process started from one checkout (the web server, the workers, beat, the
    tests' workers) gets the same one, and another checkout on the machine another."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", base_dir.name).strip("-")[:24] or "console"
    return f"{name}-{hashlib.sha256(str(base_dir).encode()).hexdigest()[:8]}"


def console_id(value: str | None, base_dir: Path) -> str:
    """CONSOLE_ID from the environment, checked, or the checkout's default."""
    if value is None or not value.strip():
        return default_console_id(base_dir)
    value = value.strip()
    if not CONSOLE_ID_PATTERN.fullmatch(value):
        raise ImproperlyConfigured(
            f"CONSOLE_ID {value!r}: use 1 to 40 letters, digits, '-' or '_' (it names this "
            "console's Redis keys and its sandbox's status-event queue)"
        )
    return value
