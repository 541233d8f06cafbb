"""Shared set-up for benchmarks: a throwaway database and machine facts for the report."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit


def use_throwaway_database(database_url: str = "") -> str:
    """Point Django at a fresh database and migrate it; return a description of it.

    SQLite (the default): a new file in a temporary folder. PostgreSQL (`database_url`, or
    DATABASE_URL, naming any database on the server): a new database beside it, named
    durable_console_bench_<pid>, dropped by `drop_throwaway_database()`.
    """
    url = database_url or os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        import psycopg

        base = urlsplit(url)
        name = f"durable_console_bench_{os.getpid()}"
        admin = urlunsplit(base._replace(path="/postgres"))
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        os.environ["DATABASE_URL"] = urlunsplit(base._replace(path=f"/{name}"))
        where = f"PostgreSQL database {name} at {base.hostname}"
    else:
        folder = Path(tempfile.mkdtemp(prefix="durable-console-bench-"))
        os.environ["DATABASE_URL"] = url or f"sqlite:///{folder / 'bench.sqlite3'}"
        where = f"SQLite at {os.environ['DATABASE_URL'].removeprefix('sqlite:///')}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return where


def drop_throwaway_database() -> None:
    """Drop the PostgreSQL database use_throwaway_database() made (SQLite files stay in
    their temporary folder)."""
    url = os.environ.get("DATABASE_URL", "")
    name = urlsplit(url).path.lstrip("/")
    if not name.startswith("durable_console_bench_"):
        return
    import psycopg
    from django.db import connections

    connections.close_all()
    admin = urlunsplit(urlsplit(url)._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{os.cpu_count()} cores, {cpu}{mem}, Python {platform.python_version()}, {date.today()}"


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def git_revision() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def timed(fn: Callable[[], object], repeat: int, before: Callable[[], None] | None = None) -> float:
    """Median milliseconds of `repeat` calls of `fn` (after one warm-up call: connection,
    template loading), `before` run untimed before each; every answer must be a 200 or a
    286 (htmx's stop-polling)."""
    fn()
    samples = []
    for _ in range(repeat):
        if before:
            before()
        t0 = time.perf_counter()
        response = fn()
        samples.append((time.perf_counter() - t0) * 1000)
        status = getattr(response, "status_code", 200)
        assert status in (200, 286), status
    return median(samples)
