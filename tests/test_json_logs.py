"""LOG_FORMAT=json: one JSON line per event, with the request id and the execution ARN,
from the web, a sync and a Celery worker."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import os
import subprocess
import sys
import uuid
from typing import Any

import pytest
from django.conf import settings as django_settings

from executions import sync
from executions.models import Credentials, Execution, Source
from monitoring.logs import logging_config
from sandbox.client import start, wait_for, wait_for_status
from tests import factories
from tests.conftest import REPO, start_celery_worker, stop_process_group
from tests.faults import FaultPlan, FlakyProxy


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def json_log() -> Any:
    """The console's logging as LOG_FORMAT=json configures it, written to a buffer; the
    lines read back as parsed JSON objects."""
    logging.config.dictConfig(logging_config("json", "INFO", "INFO"))
    buffer = io.StringIO()
    logging.getLogger().handlers[0].setStream(buffer)

    def lines() -> list[dict[str, Any]]:
        text = buffer.getvalue()
        return [json.loads(line) for line in text.splitlines()]  # every line is JSON

    yield lines
    logging.config.dictConfig(django_settings.LOGGING)


def test_the_setting_switches_the_console_to_json_lines_and_refuses_anything_else():
    code = "import logging; logging.getLogger('console.test').warning('hello %s', 'there')"
    env = {**os.environ, "LOG_FORMAT": "json", "DJANGO_SETTINGS_MODULE": "console.settings"}
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    line = json.loads(done.stderr.strip().splitlines()[-1])
    assert line["message"] == "hello there" and line["level"] == "WARNING"
    assert line["logger"] == "console.test" and line["time"].endswith("+00:00")
    assert line["request_id"] is None and line["execution_arn"] is None

    env["LOG_FORMAT"] = "xml"
    refused = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert refused.returncode != 0
    assert "LOG_FORMAT: 'xml' is neither text nor json" in refused.stderr


@pytest.mark.django_db
def test_a_request_is_one_json_line_with_its_id_and_the_execution_it_is_about(
    client, sandbox_source, json_log
):
    function = sandbox_source.functions.create(name="orders", arn="arn:aws:lambda:x:1:function:o")
    execution = Execution.objects.create(
        arn=f"arn:aws:lambda:us-east-1:123456789012:function:orders/{_name('e')}",
        name="e",
        source=sandbox_source,
        function=function,
        status="RUNNING",
    )
    factories.signed_in(client, _name("ada"), "viewer")
    response = client.get(f"/executions/{execution.pk}/")
    assert response.status_code == 200
    request_id = response["X-Request-ID"]
    assert len(request_id) == 32

    lines = [line for line in json_log() if line["logger"] == "console.access"]
    assert len(lines) == 1
    line = lines[0]
    assert line["request_id"] == request_id
    assert line["execution_arn"] == execution.arn
    assert line["status"] == 200 and line["method"] == "GET" and line["view"] == "browser:detail"
    assert line["path"] == f"/executions/{execution.pk}/"

    # A page about no execution has no ARN, and a new id.
    other = client.get("/executions/")
    last = [line for line in json_log() if line["logger"] == "console.access"][-1]
    assert last["execution_arn"] is None
    assert last["request_id"] == other["X-Request-ID"] != request_id


@pytest.mark.django_db
def test_a_request_id_is_taken_from_the_trusted_proxy_only(client, settings, json_log):
    given = {"HTTP_X_REQUEST_ID": "proxy-7f3a9c"}
    assert client.get("/healthz", **given)["X-Request-ID"] != "proxy-7f3a9c"
    settings.TRUSTED_PROXY_HOPS = 1
    forwarded = {"HTTP_X_FORWARDED_FOR": "203.0.113.9", **given}
    assert client.get("/healthz", **forwarded)["X-Request-ID"] == "proxy-7f3a9c"
    # Not an id (a line break, to forge log lines): a new one is made instead.
    forged = {"HTTP_X_FORWARDED_FOR": "203.0.113.9", "HTTP_X_REQUEST_ID": "a\nb"}
    assert client.get("/healthz", **forged)["X-Request-ID"] not in ("a\nb", "a")
    ids = [line["request_id"] for line in json_log() if line["logger"] == "console.access"]
    assert ids[1] == "proxy-7f3a9c" and len(ids) == 3


@pytest.mark.django_db
def test_a_sync_that_retries_logs_json_lines_that_name_the_execution(
    sandbox, lambda_sandbox, json_log
):
    arn = start(lambda_sandbox, "order-processor", {"orderId": "LOG-1"}, _name("order"))
    wait_for_status(lambda_sandbox, arn)
    with FlakyProxy(sandbox.endpoint_url, FaultPlan(server_error=0.5, seed=3)) as proxy:
        execution = _flaky_source(sandbox, proxy, arn)
        json_log()  # the listing's lines are about no execution
        marker = len(json_log())
        for _ in range(5):
            sync.sync_execution(execution.pk, force=True)
            if any(line["execution_arn"] for line in json_log()[marker:]):
                break
    retried = [line for line in json_log()[marker:] if "retry" in line["message"]]
    assert retried, json_log()[marker:]
    assert all(line["execution_arn"] == arn for line in retried)
    assert all(line["logger"] == "executions.lambda_api.calls" for line in retried)


def _flaky_source(sandbox: Any, proxy: FlakyProxy, arn: str) -> Execution:
    """A source that reaches the sandbox through the fault proxy, listed until `arn` is
    mirrored (the listing may need a pass or two through the faults)."""
    source = Source.objects.create(
        name="flaky",
        region=sandbox.region,
        endpoint_url=proxy.url,
        credentials=Credentials.NONE,
        discover=True,
    )

    def listed() -> Execution | None:
        sync.poll_source(source)
        return Execution.objects.filter(arn=arn).first()

    return wait_for(listed, timeout=60, what="the execution listed through the proxy")


@pytest.mark.django_db(transaction=True)
def test_a_celery_worker_logs_json_lines_with_the_task_and_the_execution(
    sandbox, lambda_sandbox, tmp_path
):
    from executions import tasks

    arn = start(lambda_sandbox, "order-processor", {"orderId": "LOG-2"}, _name("order"))
    wait_for_status(lambda_sandbox, arn)
    log_path = tmp_path / "worker.log"

    def lines() -> list[dict[str, Any]]:
        assert worker.poll() is None, log_path.read_text()[-3000:]
        texts = log_path.read_text().splitlines()
        return [json.loads(text) for text in texts if text.startswith("{")]

    with FlakyProxy(sandbox.endpoint_url, FaultPlan(server_error=0.5, seed=5)) as proxy:
        execution = _flaky_source(sandbox, proxy, arn)
        worker = start_celery_worker(log_path, beat=False, concurrency=1, LOG_FORMAT="json")
        try:
            for _ in range(5):  # until a check meets a fault and retries
                task = tasks.sync_execution.delay(execution.pk, True)

                def finished(task_id: str = task.id) -> list[dict[str, Any]]:
                    return [
                        x
                        for x in lines()
                        if x.get("task_id") == task_id and "succeeded" in x["message"]
                    ]

                done = wait_for(finished, timeout=90, what="the task's success line")
                mine = [x for x in lines() if x.get("task_id") == task.id]
                retried = [x for x in mine if "retry" in x["message"]]
                if retried:
                    break
        finally:
            stop_process_group(worker)
    assert retried, mine
    # The lines of the check name the execution and the task that checked it.
    for line in retried:
        assert line["execution_arn"] == arn
        assert line["task_name"] == "executions.tasks.sync_execution"
        assert line["logger"] == "executions.lambda_api.calls" and line["level"] == "INFO"
    # The task's end is logged after the check: no ARN of a finished sync on it.
    assert done[0]["logger"] == "celery.app.trace" and done[0]["execution_arn"] is None
    # The worker's own lines are JSON too (Celery's text format is not used).
    texts = log_path.read_text().splitlines()
    assert not any(t.startswith("[20") for t in texts), texts[:20]
