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


def test_closing_a_channel_after_its_connection_was_collected_is_a_connection_error():
    """What a worker's consumer does when Redis goes while it holds a message it has not
    acknowledged (console/celery.py's mend of kombu): the channel's close, after the
    connection was collected, gives the message back through a detached transport. That
    must be a connection error, which the close ignores, not an AttributeError, which
    stopped the consumer for good."""
    import redis
    from django.conf import settings
    from kombu import Connection
    from kombu.common import ignore_errors

    prefix = f"mend-{uuid.uuid4().hex[:8]}:"  # its queue and unacknowledged set, apart
    options = {"global_keyprefix": prefix}
    with Connection(settings.CELERY_BROKER_URL, transport_options=options) as connection:
        channel = connection.channel()
        queue = "tasks"
        channel.queue_declare(queue)
        channel.basic_publish(channel.prepare_message("a task"), "", queue)
        held = channel.basic_get(queue, no_ack=False)  # delivered, not acknowledged
        assert held is not None and len(channel.qos._delivered) == 1
        connection.transport.client = None  # what Connection.collect() leaves
        try:
            ignore_errors(connection, channel.close)  # no AttributeError escapes
        finally:
            client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
            for key in client.scan_iter(f"{prefix}*"):
                client.delete(key)
        assert channel.closed
