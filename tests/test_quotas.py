"""The sync within Lambda's API quotas, against a sandbox that throttles like AWS.

Calls are counted at the sandbox (GET /_sandbox/quotas), per stand-in account: the
console's sources sign nothing ("unsigned"), the test harness signs with its own key, so
the harness's own reads never count against the console.
"""

from __future__ import annotations

import math
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import botocore.exceptions
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from django.utils import timezone

from executions import budget, lambda_api, schedule, sync
from executions.models import Execution, Operation
from sandbox.client import (
    lambda_client,
    per_second,
    quotas,
    start,
    wait_for,
    wait_for_callback,
    wait_for_status,
)
from tests import factories
from tests.conftest import start_celery_worker, stop_process_group
from tests.test_faults import assert_mirror_equals_backend

CONSOLE = "unsigned"  # the stand-in account of the console's unsigned calls
HISTORY = "GetDurableExecutionHistory"
GET = "GetDurableExecution"
LIST = "ListDurableExecutionsByFunction"


def _raw_client(endpoint_url: str) -> Any:
    """A boto3 client with no retries, so every throttle shows."""
    return boto3.client(
        "lambda",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        config=Config(signature_version=UNSIGNED, retries={"total_max_attempts": 1}),
    )


def _console_calls(endpoint_url: str) -> dict[str, dict[str, Any]]:
    return quotas(endpoint_url)["accounts"].get(CONSOLE, {})


def _max_in_window(counts: dict[int, int], seconds: int) -> int:
    if not counts:
        return 0
    first, last = min(counts), max(counts)
    return max(
        sum(counts.get(s, 0) for s in range(start, start + seconds))
        for start in range(first, last + 1)
    )


def test_the_sandbox_answers_over_a_read_quota_with_the_429_boto3_knows(throttled_sandbox):
    client = _raw_client(throttled_sandbox.endpoint_url)
    quotas(throttled_sandbox.endpoint_url, reset=True)
    arn = start(lambda_client(throttled_sandbox.endpoint_url), "order-processor", {}, "q-429")

    def read(_: int) -> str:
        try:
            client.get_durable_execution_history(DurableExecutionArn=arn, MaxItems=1)
            return "ok"
        except botocore.exceptions.ClientError as exc:
            assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 429
            assert exc.response["Error"]["Code"] == "TooManyRequestsException"
            assert "Rate exceeded" in exc.response["Error"]["Message"]
            return "throttled"

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(read, range(60)))
    counts = _console_calls(throttled_sandbox.endpoint_url)[HISTORY]
    # A burst of one second's worth (15) plus what refilled while the burst went out.
    assert outcomes.count("throttled") > 0 and 15 <= outcomes.count("ok") < 60
    assert counts["calls"] == outcomes.count("ok")
    assert counts["throttled"] == outcomes.count("throttled")

    # Another account (the harness signs its calls) has its own quota.
    lambda_client(throttled_sandbox.endpoint_url).get_durable_execution_history(
        DurableExecutionArn=arn, MaxItems=1
    )
    # The switch: with quotas off every call is served (and still counted).
    quotas(throttled_sandbox.endpoint_url, enabled=False)
    try:
        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(read, range(40))) == {"ok"}
    finally:
        quotas(throttled_sandbox.endpoint_url, enabled=True)


def test_the_call_budget_paces_callers_across_processes_to_its_rate(throttled_source):
    """Two threads, one bucket in Redis: calls are spaced out at the budget's rate."""
    spent = lambda_api.get_budget()
    assert spent is not None
    scope = f"test-{uuid.uuid4().hex}"
    rate = 20.0
    started = time.monotonic()

    def take(_: int) -> float:
        return spent.acquire(scope, HISTORY, rate, max_wait=10).waited

    with ThreadPoolExecutor(4) as pool:
        waits = list(pool.map(take, range(40)))
    elapsed = time.monotonic() - started
    # 40 calls at 20/s with a burst of 10: about 1.5 s, not less.
    assert elapsed >= (40 - rate * budget.BURST_SECONDS) / rate * 0.9
    assert max(waits) > 0

    # Thirty callers at once, each willing to wait half a second: the bucket can promise
    # half a second's refill beyond what it holds; the rest are refused, not queued.
    def try_take(_: int) -> str:
        try:
            spent.acquire(scope, HISTORY, rate, max_wait=0.5)
        except budget.BudgetExhausted as exc:
            assert "left for a later poll" in str(exc)
            return "refused"
        return "taken"

    with ThreadPoolExecutor(30) as pool:
        outcomes = list(pool.map(try_take, range(30)))
    assert 0 < outcomes.count("taken") <= rate * budget.BURST_SECONDS + rate * 0.5 + 2
    assert outcomes.count("refused") > 0


def test_an_unchanged_running_execution_costs_one_small_history_read_per_check(
    sandbox, sandbox_source, lambda_sandbox
):
    arn = start(
        lambda_sandbox, "coffee-order", {"orderId": "one-call"}, f"one-{uuid.uuid4().hex[:6]}"
    )
    wait_for_callback(lambda_sandbox, arn, "baristaAccepts")
    sync.poll_source(sandbox_source)
    execution = Execution.objects.get(arn=arn)
    first = sync.sync_execution(execution.pk)  # first sight: the record and the history
    assert first.new_events > 0 and not first.error

    before = _console_calls(sandbox.endpoint_url)
    for _ in range(3):
        result = sync.sync_execution(execution.pk)
        assert result.new_events == 0 and not result.error
    after = _console_calls(sandbox.endpoint_url)
    spent = {
        api: after.get(api, {}).get("calls", 0) - before.get(api, {}).get("calls", 0)
        for api in set(after) | set(before)
    }
    assert {api: n for api, n in spent.items() if n} == {HISTORY: 3}
    execution.refresh_from_db()
    assert execution.status == "RUNNING" and execution.pending_callbacks == 1
    # Unchanged checks back off.
    assert execution.check_interval > sandbox_source.execution_interval_seconds


def test_the_final_check_of_an_ended_execution_reads_its_record_once_and_then_never_again(
    sandbox, sandbox_source, lambda_sandbox
):
    arn = start(lambda_sandbox, "coffee-order", {"orderId": "end"}, f"end-{uuid.uuid4().hex[:6]}")
    callback = wait_for_callback(lambda_sandbox, arn, "baristaAccepts")
    sync.poll_source(sandbox_source)
    execution = Execution.objects.get(arn=arn)
    sync.sync_execution(execution.pk)
    lambda_sandbox.send_durable_execution_callback_success(
        CallbackId=callback, Result=b'{"accepted": false}'
    )
    wait_for_status(lambda_sandbox, arn)

    before = _console_calls(sandbox.endpoint_url)
    sync.sync_execution(execution.pk)
    sync.sync_execution(execution.pk)
    after = _console_calls(sandbox.endpoint_url)
    assert after[GET]["calls"] - before[GET]["calls"] == 1
    assert after[HISTORY]["calls"] - before[HISTORY]["calls"] == 1
    execution.refresh_from_db()
    assert execution.status == "SUCCEEDED" and execution.history_complete
    assert execution.ended_at is not None and execution.next_check_at is None


def _start_fleet(endpoint_url: str, count: int, tag: str) -> list[str]:
    client = lambda_client(endpoint_url)
    with ThreadPoolExecutor(8) as pool:
        arns = list(
            pool.map(
                lambda n: start(client, "coffee-order", {"orderId": f"{tag}-{n}"}, f"{tag}-{n}"),
                range(count),
            )
        )
    return arns


@pytest.mark.django_db(transaction=True)
def test_four_workers_mirroring_hundreds_of_running_executions_stay_within_the_budget(
    throttled_sandbox, throttled_source, tmp_path
):
    url = throttled_sandbox.endpoint_url
    tag = f"fleet-{uuid.uuid4().hex[:5]}"
    arns = _start_fleet(url, 200, tag)
    client = lambda_client(url)
    wait_for_callback(client, arns[-1], "baristaAccepts", timeout=120)
    throttled_source.function_names = ["coffee-order"]
    throttled_source.discover = False
    throttled_source.save()
    quotas(url, reset=True)

    endpoint = lambda_api.Endpoint.of(throttled_source)
    workers = [
        start_celery_worker(tmp_path / f"worker{n}.log", beat=(n == 0), concurrency=1)
        for n in range(4)
    ]
    try:
        fleet = Execution.objects.filter(arn__in=arns)
        wait_for(
            lambda: (
                fleet.filter(pending_callbacks=1, last_synced_at__isnull=False).count() == len(arns)
            ),
            180,
            interval=1,
            what="the fleet mirrored",
        )
        # And the steady state on top: executions already mirrored are checked again when
        # due (their source's interval after the last check), through the same budget. Two
        # seconds of the budget's history reads spent on them show that those checks run;
        # the windows measured below take them in.
        mirrored = timezone.now()
        again = math.ceil(2 * endpoint.budget_rate(HISTORY))
        wait_for(
            lambda: fleet.filter(last_synced_at__gt=mirrored).count() >= again,
            60,
            interval=0.5,
            what=f"{again} executions of the fleet checked again",
        )
    finally:
        for worker in workers:
            stop_process_group(worker)
    snapshot = quotas(url)
    console = snapshot["accounts"][CONSOLE]
    for api in (HISTORY, GET, LIST):
        assert console.get(api, {}).get("throttled", 0) == 0, (api, console.get(api))
    for api in (HISTORY, GET):
        rate = endpoint.budget_rate(api)
        counts = per_second(snapshot, api)
        assert sum(counts.values()) >= len(arns), api  # every one was read
        # Over any ten seconds, no more than the budget's rate allows (plus its burst).
        assert _max_in_window(counts, 10) <= rate * 10 + rate * budget.BURST_SECONDS + 1, api
    assert Operation.objects.filter(
        execution__arn__in=arns, name__startswith="baristaAccepts", status="STARTED"
    ).count() >= len(arns)


@pytest.mark.django_db(transaction=True)
def test_throttles_injected_on_top_are_absorbed_with_no_event_lost_or_duplicated(
    throttled_sandbox, throttled_source
):
    url = throttled_sandbox.endpoint_url
    client = lambda_client(url)
    tag = uuid.uuid4().hex[:6]
    arns = [
        start(client, "order-processor", {"orderId": f"inj-{tag}"}, f"inj-o-{tag}"),
        start(client, "fraud-detection", {"amount": 5}, f"inj-f-{tag}"),
        start(client, "durable-function-example", {"workflowId": tag}, f"inj-d-{tag}"),
        start(client, "echo-steps", {"names": ["a", "b"], "callback": "hold"}, f"inj-e-{tag}"),
    ]
    callback = wait_for_callback(client, arns[2], "waitForExternalApproval")
    client.send_durable_execution_callback_success(CallbackId=callback, Result=b"{}")
    for arn in arns[:3]:
        wait_for_status(client, arn, timeout=120)
    wait_for_callback(client, arns[3])
    # Not coffee-order: the fleet of another test waits there, and is not the point here.
    throttled_source.function_names = [
        "order-processor", "fraud-detection", "durable-function-example", "echo-steps"
    ]  # fmt: skip
    throttled_source.discover = False
    throttled_source.save()

    endpoint = lambda_api.Endpoint.of(throttled_source)
    scope = lambda_api.scope(endpoint)
    quotas(url, inject=0.3, seed=11, reset=True)
    try:
        for _ in range(40):
            sync.sync_once(throttled_source)
            done = Execution.objects.filter(arn__in=arns[:3], history_complete=True).count()
            if done == 3 and Execution.objects.filter(arn=arns[3], last_event_id__gt=0).exists():
                break
    finally:
        quotas(url, inject=0)
    console = quotas(url)["accounts"][CONSOLE]
    assert sum(c["injected"] for c in console.values()) > 0
    assert_mirror_equals_backend(client, arns)
    # The throttles that got through shrank the budget's rate for a while.
    stats = lambda_api.get_budget().stats(scope, HISTORY, endpoint.budget_rate(HISTORY))
    assert stats["throttles_total"] > 0
    assert stats["effective"] <= stats["budget"]


def test_the_scheduler_serves_watched_and_urgent_executions_before_the_merely_due(
    sandbox, sandbox_source, lambda_sandbox
):
    tag = uuid.uuid4().hex[:6]
    arns = [start(lambda_sandbox, "coffee-order", {}, f"sched-{tag}-{n}") for n in range(4)]
    for arn in arns:
        wait_for_callback(lambda_sandbox, arn)
    sync.poll_source(sandbox_source)
    for execution in Execution.objects.filter(arn__in=arns):
        sync.sync_execution(execution.pk)
    rows = {e.arn: e for e in Execution.objects.filter(arn__in=arns)}
    watched, urgent, due, later = (rows[arn] for arn in arns)
    now = timezone.now()
    Execution.objects.filter(pk=due.pk).update(next_check_at=now - timezone.timedelta(seconds=5))
    Execution.objects.filter(pk=later.pk).update(next_check_at=now + timezone.timedelta(hours=1))
    Execution.objects.filter(pk=watched.pk).update(
        next_check_at=now + timezone.timedelta(hours=1),
        last_synced_at=now - timezone.timedelta(seconds=10),
    )
    schedule.watch(watched.pk)
    schedule.urgent([urgent.pk])
    mine = {watched.pk, urgent.pk, due.pk, later.pk}
    others = set(
        Execution.objects.filter(source=sandbox_source)
        .exclude(pk__in=mine)
        .values_list("pk", flat=True)
    )
    picked = [pk for pk in schedule.pick(sandbox_source, 50, now, others) if pk in mine]
    assert picked == [watched.pk, urgent.pk, due.pk]
    # What is already in flight is not queued again.
    assert due.pk not in schedule.pick(sandbox_source, 50, now, others | {due.pk})


def test_a_first_mirror_reads_the_newest_executions_first_and_urgent_ones_before_them(
    sandbox, sandbox_source, lambda_sandbox
):
    """A source with a long past (or a console that was down): the listing brings many
    executions never read. The one started a moment ago, maybe waiting for someone's
    approval, is read before last month's; one an action marked urgent before either."""
    tag = uuid.uuid4().hex[:6]
    arns = [start(lambda_sandbox, "coffee-order", {}, f"first-{tag}-{n}") for n in range(5)]
    for arn in arns:
        wait_for_callback(lambda_sandbox, arn)
    sync.poll_source(sandbox_source)
    rows = {e.arn: e for e in Execution.objects.filter(arn__in=arns)}
    assert all(row.last_synced_at is None for row in rows.values())
    # Started one minute apart, the oldest first, as AWS would list a long past.
    now = timezone.now()
    for n, arn in enumerate(arns):
        Execution.objects.filter(arn=arn).update(
            started_at=now - timezone.timedelta(minutes=len(arns) - n)
        )
    oldest = rows[arns[0]]
    schedule.urgent([oldest.pk])
    mine = {row.pk for row in rows.values()}
    others = set(
        Execution.objects.filter(source=sandbox_source)
        .exclude(pk__in=mine)
        .values_list("pk", flat=True)
    )
    picked = [pk for pk in schedule.pick(sandbox_source, 50, now, others) if pk in mine]
    newest_first = [rows[arn].pk for arn in reversed(arns[1:])]
    assert picked == [oldest.pk, *newest_first]
    # With room for two, the urgent one and the newest are read now, the rest later.
    assert schedule.pick(sandbox_source, 2, now, others) == [oldest.pk, newest_first[0]]


def test_a_wait_brings_the_next_check_forward_to_its_scheduled_end(
    sandbox, sandbox_source, lambda_sandbox
):
    arn = start(
        lambda_sandbox,
        "durable-function-example",
        {"workflowId": "wake", "waitSeconds": 120},
        f"wake-{uuid.uuid4().hex[:6]}",
    )
    callback = wait_for_callback(lambda_sandbox, arn, "waitForExternalApproval")
    lambda_sandbox.send_durable_execution_callback_success(CallbackId=callback, Result=b"{}")
    from sandbox.client import wait_for_event

    wait_for_event(lambda_sandbox, arn, "WaitStarted")
    sync.poll_source(sandbox_source)
    execution = Execution.objects.get(arn=arn)
    sync.sync_execution(execution.pk)
    execution.refresh_from_db()
    wait = Operation.objects.get(execution=execution, name="simpleWait")
    assert wait.status == "STARTED" and wait.wait_scheduled_end is not None
    assert execution.wake_at == wait.wait_scheduled_end + schedule.WAKE_MARGIN
    # Backing off never skips past the moment the wait ends.
    for _ in range(4):
        sync.sync_execution(execution.pk)
        execution.refresh_from_db()
        assert execution.next_check_at <= execution.wake_at


def test_the_sync_health_page_shows_staff_the_budget_and_the_lag_and_refuses_others(
    client, sandbox, sandbox_source, lambda_sandbox
):
    arn = start(lambda_sandbox, "coffee-order", {}, f"health-{uuid.uuid4().hex[:6]}")
    wait_for_callback(lambda_sandbox, arn)
    sync.sync_once(sandbox_source)
    factories.signed_in(client, "vera")
    assert client.get("/sync/").status_code == 403
    assert "Sync health (how the console spends the API quotas) is for staff" in (
        client.get("/sync/").content.decode()
    )
    assert client.get("/sync/health.json").status_code == 403

    factories.signed_in(client, "stan", staff=True)
    page = client.get("/sync/").content.decode()
    assert 'data-source="sandbox"' in page and "GetDurableExecutionHistory" in page
    data = client.get("/sync/health.json").json()
    (source,) = data["sources"]
    assert source["scope"] == f"{sandbox.endpoint_url}|us-east-1"
    history = next(api for api in source["apis"] if api["api"] == HISTORY)
    assert history["calls"] > 0 and history["budget"] == 2000 * 0.7
    assert source["executions"]["running"] >= 1 and source["behind"] is False
    assert 'href="/sync/"' in page  # staff see the link in the navigation bar


def test_the_list_says_when_a_source_is_behind_its_checks(client, sandbox_source, lambda_sandbox):
    arn = start(lambda_sandbox, "coffee-order", {}, f"late-{uuid.uuid4().hex[:6]}")
    wait_for_callback(lambda_sandbox, arn)
    sync.sync_once(sandbox_source)
    factories.signed_in(client, "lena")
    assert 'data-testid="behind-banner"' not in client.get("/executions/").content.decode()
    # The budget could not keep up: checks due long ago have not happened.
    Execution.objects.filter(source=sandbox_source, history_complete=False).update(
        next_check_at=timezone.now() - timezone.timedelta(minutes=5)
    )
    page = client.get("/executions/").content.decode()
    assert 'data-testid="behind-banner"' in page
    assert "is behind" in page and "history reads per second" in page
