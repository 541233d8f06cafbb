"""Sync benchmarks against a live sandbox (not a test).

    .venv/bin/python -m bench.bench_sync [--executions 1000] [--entries 1000] [--repeat 5]

1. Mirror N sandbox executions from an empty mirror (one `sync_once` pass), then a second
   pass when nothing changed.
2. An incremental sync after a few new events, against a full re-read of a ~4,000-event
   history: API calls, bytes received, and seconds, as medians over --repeat executions.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import git_revision, machine, median, use_throwaway_database


class Meter:
    """Counts calls, events and response bytes through botocore event hooks."""

    def __init__(self) -> None:
        self.calls = 0
        self.history_calls = 0
        self.events = 0
        self.bytes = 0

    def listener(self, operation: str, params: dict, response: dict) -> None:
        self.calls += 1
        if operation == "GetDurableExecutionHistory":
            self.history_calls += 1
            self.events += len(response.get("Events", []))

    def on_response(self, http_response: Any = None, **_: Any) -> None:
        if http_response is not None:
            self.bytes += len(http_response.content or b"")

    def reset(self) -> None:
        self.calls = self.history_calls = self.events = self.bytes = 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--executions", type=int, default=1000)
    parser.add_argument("--entries", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    use_throwaway_database()

    from executions import lambda_api, sync
    from executions.budget import READ_QUOTAS
    from executions.models import Credentials, Execution, HistoryEvent, Operation, Source
    from sandbox.client import lambda_client, start, wait_for_callback, wait_for_event
    from sandbox.runner import Sandbox

    meter = Meter()
    lambda_api.add_call_listener(meter.listener)
    # The cost of the sync itself, without Lambda's quotas (bench_freshness measures the
    # sync within them): a sandbox that does not throttle, and a source told so.
    sandbox = Sandbox(data_dir=Path(tempfile.mkdtemp()), throttle=False)
    with sandbox:
        client = lambda_client(sandbox.endpoint_url)
        source = Source.objects.create(
            name="bench",
            region=sandbox.region,
            endpoint_url=sandbox.endpoint_url,
            credentials=Credentials.NONE,
            function_names=["coffee-order", "bulk-ledger"],
            api_quotas={api: 5000 for api in READ_QUOTAS},
        )
        endpoint = lambda_api.Endpoint.of(source)
        lambda_api.client(endpoint).meta.events.register("after-call.lambda", meter.on_response)

        # ---- 1. mirror N executions ---------------------------------------------------
        t0 = time.perf_counter()
        arns = [
            start(client, "coffee-order", {"orderId": f"b-{i}"}) for i in range(args.executions)
        ]
        wait_for_event(client, arns[-1], "CallbackStarted", timeout=300)
        started_in = time.perf_counter() - t0
        meter.reset()
        t0 = time.perf_counter()
        summary = sync.sync_once(source)
        first = time.perf_counter() - t0
        first_calls, first_bytes, first_events = meter.calls, meter.bytes, meter.events
        assert Execution.objects.count() >= args.executions, summary["errors"][:3]
        meter.reset()
        t0 = time.perf_counter()
        sync.sync_once(source)
        second = time.perf_counter() - t0
        second_calls, second_history = meter.calls, meter.history_calls
        print(f"started {args.executions} executions in {started_in:.1f} s")
        print(
            f"first pass: {first:.1f} s, {first_calls} calls, {first_events} events, "
            f"{first_bytes / 1e6:.1f} MB; second pass (nothing new): {second:.1f} s, "
            f"{second_calls} calls ({second_history} history pages)"
        )

        # ---- 2. incremental vs full re-read ------------------------------------------
        ledgers = [
            start(client, "bulk-ledger", {"entries": args.entries}) for _ in range(args.repeat)
        ]
        callbacks = [wait_for_callback(client, arn, "auditorSignOff", 300) for arn in ledgers]
        sync.poll_source(source)
        full: list[tuple[float, int, int, int]] = []
        incremental: list[tuple[float, int, int, int, int]] = []
        for arn, callback in zip(ledgers, callbacks, strict=True):
            execution = Execution.objects.get(arn=arn)
            meter.reset()
            t0 = time.perf_counter()
            sync.sync_execution(execution.pk)
            full.append((time.perf_counter() - t0, meter.history_calls, meter.bytes, meter.events))
            before = Execution.objects.get(pk=execution.pk).last_event_id
            client.send_durable_execution_callback_success(CallbackId=callback, Result=b"{}")
            wait_for_event(client, arn, "ExecutionSucceeded", timeout=60)
            meter.reset()
            t0 = time.perf_counter()
            result = sync.sync_execution(execution.pk)
            incremental.append(
                (
                    time.perf_counter() - t0,
                    meter.history_calls,
                    meter.bytes,
                    meter.events,
                    result.new_events,
                )
            )
            assert Execution.objects.get(pk=execution.pk).last_event_id > before
        history_len = HistoryEvent.objects.filter(execution__arn=ledgers[0]).count()
        ops = Operation.objects.filter(execution__arn=ledgers[0]).count()

    def med(rows: list, i: int) -> float:
        return median([r[i] for r in rows])

    print(f"history of {history_len} events, {ops} operations; medians of {args.repeat}:")
    print(
        f"full read: {med(full, 0) * 1000:.0f} ms, {med(full, 1):.0f} history calls, "
        f"{med(full, 2) / 1e3:.0f} kB, {med(full, 3):.0f} events"
    )
    print(
        f"incremental ({med(incremental, 4):.0f} new events): {med(incremental, 0) * 1000:.0f} ms, "
        f"{med(incremental, 1):.0f} history calls, {med(incremental, 2) / 1e3:.1f} kB, "
        f"{med(incremental, 3):.0f} events"
    )
    print(f"machine: {machine()}; revision {git_revision()}")


if __name__ == "__main__":
    main()
