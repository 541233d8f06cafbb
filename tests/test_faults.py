"""Reliability: faults injected into the real stack (the sandbox, a flaky proxy, workers).

No mocks: the sandbox is stopped for real, the proxy answers real HTTP with Lambda's own
throttling and 5xx errors, and the mirror is compared event for event with the backend.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from executions import lambda_api, sync
from executions.models import Credentials, Execution, HistoryEvent, Source
from sandbox.client import history, lambda_client, start, wait_for_callback, wait_for_status
from sandbox.runner import Sandbox
from tests.conftest import REPO, database_url
from tests.faults import FaultPlan, FlakyProxy
from tests.test_sync import derive_tree, mirrored_tree

pytestmark = pytest.mark.django_db


def _source(name: str, url: str, functions: list[str]) -> Source:
    return Source.objects.create(
        name=name, region="us-east-1", endpoint_url=url, credentials=Credentials.NONE,
        function_names=functions,
    )  # fmt: skip


def assert_mirror_equals_backend(client, arns: list[str]) -> None:
    for arn in arns:
        execution = Execution.objects.get(arn=arn)
        backend = history(client, arn)
        ids = list(
            HistoryEvent.objects.filter(execution=execution).values_list("event_id", flat=True)
        )
        assert ids == [e["EventId"] for e in backend], arn  # none lost, none duplicated
        assert mirrored_tree(execution) == derive_tree(backend), arn


@pytest.fixture
def fast_retries(monkeypatch):
    # Keep the backoff's shape (full jitter, doubling) but scale it down for the tests.
    monkeypatch.setattr(lambda_api, "BACKOFF_BASE_SECONDS", 0.02)
    monkeypatch.setattr(lambda_api, "BACKOFF_CAP_SECONDS", 0.5)


def test_sync_resumes_after_the_backend_dies_mid_sync_and_then_matches_it(
    tmp_path: Path, fast_retries
):
    data = tmp_path / "sandbox"
    backend = Sandbox(data_dir=data).start()
    try:
        client = lambda_client(backend.endpoint_url)
        ledger = start(client, "bulk-ledger", {"entries": 300}, "ledger-outage")
        wait_for_callback(client, ledger, "auditorSignOff", timeout=120)
        order = start(client, "order-processor", {"orderId": "OUT-1"}, "order-outage")
        wait_for_status(client, order)
        source = _source("outage", backend.endpoint_url, ["bulk-ledger", "order-processor"])
        sync.poll_source(source)
        execution = Execution.objects.get(arn=ledger)

        pages = []

        def kill_after_first_page(operation, params, response):
            if operation == "GetDurableExecutionHistory":
                pages.append(params)
                if len(pages) == 1:
                    backend.stop()  # the sandbox dies between two pages of one history

        lambda_api.add_call_listener(kill_after_first_page)
        try:
            result = sync.sync_execution(execution.pk)
        finally:
            lambda_api.remove_call_listener(kill_after_first_page)
        assert result.error and "cannot reach" in result.error
        execution.refresh_from_db()
        # Nothing half-applied: the first page was not stored without the rest.
        assert execution.last_event_id == 0 and not execution.events.exists()
        assert execution.last_sync_error
        source.refresh_from_db()
        assert source.stale_since is not None
        assert sync.poll_source(source).error  # polling fails cleanly while it is down

        backend = Sandbox(port=backend.port, runner_port=backend.runner_port, data_dir=data)
        backend.start()
        summary = sync.sync_once(source)
        assert summary["errors"] == []
        source.refresh_from_db()
        assert source.stale_since is None
        assert_mirror_equals_backend(client, [ledger, order])
        assert Execution.objects.get(arn=ledger).last_sync_error == ""
    finally:
        backend.stop()


def test_sync_converges_through_throttling_5xx_and_delays_within_a_bound_of_calls(
    sandbox, lambda_sandbox, fast_retries, api_calls
):
    tag = uuid.uuid4().hex[:6]
    arns = [
        start(lambda_sandbox, "order-processor", {"orderId": f"T-{tag}"}, f"thr-o-{tag}"),
        start(lambda_sandbox, "fraud-detection", {"amount": 5}, f"thr-f-{tag}"),
        start(lambda_sandbox, "coffee-order", {}, f"thr-c-{tag}"),
    ]
    wait_for_status(lambda_sandbox, arns[0])
    wait_for_status(lambda_sandbox, arns[1])
    wait_for_callback(lambda_sandbox, arns[2])
    functions = ["order-processor", "fraud-detection", "coffee-order"]

    # The clean baseline: the calls one pass needs with nothing going wrong.
    clean = _source("clean", sandbox.endpoint_url, functions)
    api_calls.clear()
    assert sync.sync_once(clean)["errors"] == []
    ideal = len(api_calls.calls)
    clean.delete()

    plan = FaultPlan(throttle=0.25, server_error=0.10, delay=0.10, delay_seconds=0.2)
    with FlakyProxy(sandbox.endpoint_url, plan) as proxy:
        flaky = _source("flaky", proxy.url, functions)
        passes = 0
        while passes < 5:
            passes += 1
            summary = sync.sync_once(flaky)
            if not summary["errors"]:
                break
        assert not summary["errors"], summary["errors"]
        log = proxy.log

    assert_mirror_equals_backend(lambda_sandbox, arns)
    assert log.count("throttled") > 0 and log.count("server_error") > 0
    # Stated bound: with 35% of calls failing, each call needs 1/0.65 ≈ 1.5 tries on
    # average; allow 2.5 tries per ideal call per pass.
    assert log.count() <= 2.5 * ideal * passes, (log.count(), ideal, passes)

    # Retries back off with jitter: the waits before retrying differ from one another.
    gaps = []
    last_failure: dict[str, float] = {}
    for at, path, outcome in log.requests:
        if path in last_failure:
            gaps.append(at - last_failure.pop(path))
        if outcome in ("throttled", "server_error"):
            last_failure[path] = at
    assert len(gaps) >= 3 and all(g >= 0 for g in gaps)
    assert len({round(g, 3) for g in gaps}) > 1


@pytest.mark.django_db(transaction=True)
def test_four_sync_processes_at_once_leave_the_same_mirror_as_one(sandbox_source, lambda_sandbox):
    tag = uuid.uuid4().hex[:6]
    arns = [
        start(lambda_sandbox, "order-processor", {"orderId": f"C-{i}"}, f"cc-{tag}-{i}")
        for i in range(3)
    ]
    arns.append(start(lambda_sandbox, "coffee-order", {}, f"cc-{tag}-coffee"))
    for arn in arns[:3]:
        wait_for_status(lambda_sandbox, arn)
    wait_for_callback(lambda_sandbox, arns[3])
    env = {**os.environ, "DATABASE_URL": database_url()}
    command = [sys.executable, "manage.py", "sync", "--once", "--source", "sandbox"]
    workers = [
        subprocess.Popen(
            command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        for _ in range(4)
    ]
    outputs = [w.communicate(timeout=240)[0].decode() for w in workers]
    assert all(w.returncode == 0 for w in workers), outputs
    # Every execution of the sandbox, not only ours, must match its backend history.
    mirrored = list(Execution.objects.values_list("arn", flat=True))
    assert set(arns) <= set(mirrored)
    assert_mirror_equals_backend(lambda_sandbox, mirrored)
