"""Reliability: faults injected into the real stack (the sandbox, a flaky proxy, workers).

No mocks: the sandbox is stopped for real, the proxy answers real HTTP with Lambda's own
throttling and 5xx errors, and the mirror is compared event for event with the backend.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from executions import lambda_api, locks, sync
from executions.models import TERMINAL_STATUSES, Credentials, Execution, HistoryEvent, Source
from sandbox.client import history, lambda_client, start, wait_for_callback, wait_for_status
from sandbox.runner import Sandbox
from tests.browserless import Browserless
from tests.conftest import REPO, database_url, start_celery_worker, stop_process_group
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
    monkeypatch.setattr(lambda_api.calls, "BACKOFF_BASE_SECONDS", 0.02)
    monkeypatch.setattr(lambda_api.calls, "BACKOFF_CAP_SECONDS", 0.5)


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
    # Every execution of the sandbox that has settled, not only ours, must match its
    # backend history. One that still runs (other tests leave some waiting on timers and
    # callbacks) may add an event between the sync and the comparison.
    mirrored = list(Execution.objects.values_list("arn", flat=True))
    assert set(arns) <= set(mirrored)
    settled = set(
        Execution.objects.filter(status__in=TERMINAL_STATUSES).values_list("arn", flat=True)
    )
    assert_mirror_equals_backend(lambda_sandbox, sorted(settled | set(arns)))


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_sync_leaves_no_half_applied_mirror_and_a_restart_completes_it(
    lambda_sandbox, sandbox, tmp_path
):
    arn = start(lambda_sandbox, "bulk-ledger", {"entries": 1000}, f"kill-{uuid.uuid4().hex[:6]}")
    wait_for_callback(lambda_sandbox, arn, "auditorSignOff", timeout=180)
    backend_events = history(lambda_sandbox, arn)
    _source("killed", sandbox.endpoint_url, ["bulk-ledger"])
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "SYNC_SWEEP_SECONDS": "1",
        "SYNC_LOCK_SECONDS": "3",
    }
    redis = locks.redis_client()
    worker = start_celery_worker(tmp_path / "worker1.log", **env)
    try:
        # Wait until a worker holds the execution's lock, i.e. is in the middle of its sync.
        def syncing():
            execution = Execution.objects.filter(arn=arn).first()
            return execution and redis.exists(locks.lock_key(f"execution:{execution.pk}"))

        from sandbox.client import wait_for

        wait_for(syncing, 60, interval=0.02, what="the worker to start syncing")
    finally:
        stop_process_group(worker, signal.SIGKILL)
    execution = Execution.objects.get(arn=arn)
    stored = execution.events.count()
    # All or nothing: either the transaction committed or nothing of it is visible.
    assert stored in (0, len(backend_events)), stored
    assert execution.operations.count() == (0 if stored == 0 else len(derive_tree(backend_events)))

    worker = start_celery_worker(tmp_path / "worker2.log", **env)
    try:
        from sandbox.client import wait_for

        wait_for(
            lambda: Execution.objects.get(arn=arn).last_event_id == backend_events[-1]["EventId"],
            120,
            interval=0.5,
            what="the restarted worker to complete the mirror",
        )
    finally:
        stop_process_group(worker)
    assert_mirror_equals_backend(lambda_sandbox, [arn])


@pytest.mark.django_db(transaction=True)
def test_pages_keep_serving_while_redis_restarts_and_polling_recovers(
    lambda_sandbox, sandbox, tmp_path
):
    from django.contrib.auth.models import User

    from sandbox.client import wait_for
    from sandbox.runner import free_port

    redis_port, web_port = free_port(), free_port()

    def start_redis() -> subprocess.Popen:
        proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],  # fmt: skip
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        import redis as redis_lib

        wait_for(
            lambda: _pings(redis_lib, redis_port), 10, interval=0.1, what="private redis-server"
        )
        return proc

    User.objects.create_user("rita", password="a-long-test-password")
    _source("restart", sandbox.endpoint_url, ["order-processor"])
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "SYNC_SWEEP_SECONDS": "1",
    }
    redis_proc = start_redis()
    web = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{web_port}", "--noreload"],
        cwd=REPO, env=env, stdout=open(tmp_path / "web.log", "wb"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    worker = start_celery_worker(tmp_path / "worker.log", **env)
    session = Browserless(f"http://127.0.0.1:{web_port}")
    try:
        wait_for(lambda: session.get("/healthz")[0] == 200, 30, interval=0.2, what="web")
        session.log_in("rita", "a-long-test-password")
        first = start(lambda_sandbox, "order-processor", {"orderId": "R-1"}, f"r1-{web_port}")
        wait_for(
            lambda: Execution.objects.filter(arn=first, history_complete=True).exists(),
            60, interval=0.5, what="the first execution mirrored",
        )  # fmt: skip

        stop_process_group(redis_proc, signal.SIGKILL)  # Redis goes away under the running console
        status, body = session.get("/healthz")
        assert status == 503 and '"redis": "error' in body
        for path in ("/", "/approvals/", "/audit/"):
            status, body = session.get(path)
            assert status == 200, (path, body[:500])

        redis_proc = start_redis()  # back, empty: no locks, no queue, no cache
        assert session.get("/healthz")[0] == 200
        second = start(lambda_sandbox, "order-processor", {"orderId": "R-2"}, f"r2-{web_port}")
        try:
            wait_for(
                lambda: Execution.objects.filter(arn=second, history_complete=True).exists(),
                90, interval=0.5, what="the worker to reconnect and mirror a new execution",
            )  # fmt: skip
        except TimeoutError as exc:  # say what the worker did meanwhile, and where it is
            mirrored = Execution.objects.filter(arn=second).values(
                "status", "last_synced_at", "next_check_at", "history_complete"
            ).first()  # fmt: skip
            log = (tmp_path / "worker.log").read_text(errors="replace").splitlines()
            words = ("WARNING", "ERROR", "Connected", "poll_source[", "sync_execution[")
            telling = [line[:300] for line in log if any(w in line for w in words)][-60:]
            raise AssertionError(
                f"{exc}; the mirror has {mirrored}; the worker's log, what tells:\n"
                + "\n".join(telling)
                + "\nthe worker's threads now:\n"
                + _worker_stacks(worker, tmp_path / "worker.log", len(log))
            ) from exc
        assert_mirror_equals_backend(lambda_sandbox, [first, second])
    finally:
        stop_process_group(worker)
        stop_process_group(web)
        stop_process_group(redis_proc)


def _worker_stacks(worker: subprocess.Popen, log_path: Path, after_line: int) -> str:
    """Where a Celery worker's main process is: on SIGUSR1 it writes every thread's stack
    to its log (each followed by its local variables, left out here)."""
    from sandbox.client import wait_for

    def dump() -> list[str]:
        return log_path.read_text(errors="replace").splitlines()[after_line:]

    os.kill(worker.pid, signal.SIGUSR1)
    try:
        wait_for(lambda: any("LOCAL VARIABLES" in line for line in dump()), 10, interval=0.2)
    except TimeoutError:
        return "(the worker wrote no stacks within 10 s of SIGUSR1)"
    stacks, skipping = [], False
    for line in dump():
        if line == "LOCAL VARIABLES":
            skipping = True
        elif skipping and not line.strip():
            skipping = False
        elif not skipping and not line.startswith("====="):
            stacks.append(line[:300])
    return "\n".join(stacks[-150:])


def _pings(redis_lib, port: int) -> bool:
    try:
        return bool(redis_lib.Redis(port=port, socket_connect_timeout=0.5).ping())
    except redis_lib.exceptions.ConnectionError:
        return False
