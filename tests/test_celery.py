"""A real Celery worker (with beat) on the real Redis broker mirrors the sandbox."""

from __future__ import annotations

import time
import uuid

from executions.models import Execution
from sandbox.client import start, wait_for_status


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
