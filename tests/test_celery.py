"""A real Celery worker (with beat) on the real Redis broker mirrors the sandbox."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection

from executions.models import Execution
from sandbox.client import start, wait_for_status

REPO = Path(__file__).resolve().parent.parent


def database_url() -> str:
    """The test database, as a DATABASE_URL a worker process can open."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{Path(s['NAME']).resolve()}"
    user = s.get("USER") or ""
    auth = f"{user}:{s['PASSWORD']}@" if s.get("PASSWORD") else (f"{user}@" if user else "")
    return f"postgres://{auth}{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{s['NAME']}"


@pytest.fixture
def celery_worker(tmp_path, transactional_db):
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "SYNC_SWEEP_SECONDS": "1",
        "DJANGO_SETTINGS_MODULE": "console.settings",
    }
    log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "console",
            "worker",
            "--beat",
            "--loglevel",
            "INFO",
            "--concurrency",
            "2",
            "--schedule",
            str(tmp_path / "beat-schedule"),
        ],  # fmt: skip
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    yield proc
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    log.close()


def test_a_celery_worker_with_beat_mirrors_the_sandbox_on_its_own(
    sandbox_source, lambda_sandbox, celery_worker, tmp_path
):
    name = f"celery-{uuid.uuid4().hex[:8]}"
    arn = start(lambda_sandbox, "order-processor", {"orderId": "CELERY-1"}, name)
    wait_for_status(lambda_sandbox, arn)

    deadline = time.monotonic() + 90
    execution = None
    while time.monotonic() < deadline:
        assert celery_worker.poll() is None, (tmp_path / "worker.log").read_text()[-3000:]
        execution = Execution.objects.filter(arn=arn, history_complete=True).first()
        if execution:
            break
        time.sleep(0.5)
    assert execution is not None, (tmp_path / "worker.log").read_text()[-3000:]
    assert execution.status == "SUCCEEDED"
    assert execution.name == name
    assert execution.operations.filter(name="finalize-order", status="SUCCEEDED").exists()
    assert execution.last_synced_at is not None
