"""What the Durable Execution Telemetry plugin costs: SQS messages (and bytes) per execution
of each sample function, run once in a sandbox with the plugin on (on-change, full tree),
callbacks answered as a person would. Also checks that the last record of each execution
names every named operation its history has (what the console can mirror from records).

    .venv/bin/python -m bench.bench_telemetry_messages [--json out.json]

Starts its own local SQS server and sandbox; figures in docs/DEPLOYMENT.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from typing import Any

from sandbox import sqs
from sandbox.client import (
    history,
    lambda_client,
    start,
    wait_for_callback,
    wait_for_status,
)
from sandbox.runner import Sandbox

# Each function with its input and the callbacks to answer, in order (name prefix, answer).
RUNS: list[tuple[str, dict[str, Any], list[tuple[str, dict[str, Any]]]]] = [
    ("order-processor", {"orderId": "bench-1"}, []),
    ("echo-steps", {"names": ["first", "second", "third"]}, []),
    ("fraud-detection", {"transactionId": "t-low", "amount": 50, "forceRisk": "low"}, []),
    (
        "fraud-detection",
        {"transactionId": "t-medium", "amount": 4200, "forceRisk": "medium"},
        [("humanVerification", {"approved": True})],
    ),
    (
        "coffee-order",
        {"orderId": "c-1"},
        [("baristaAccepts", {"accepted": True}), ("orderCompleted", {})],
    ),
    (
        "durable-function-example",
        {"workflowId": "bench", "waitSeconds": 1},
        [("waitForExternalApproval", {"approved": True})],
    ),
    (
        "approval-rounds",
        {"rounds": 3},
        [("round-1", {"approved": True}), ("round-2", {"approved": True}), ("round-3", {})],
    ),
    ("bulk-ledger", {"entries": 20}, [("auditorSignOff", {"approved": True})]),
]


def _receive_all(client: Any, queue_url: str, quiet_seconds: float = 2.0) -> list[str]:
    bodies: list[str] = []
    last = time.monotonic()
    while time.monotonic() - last < quiet_seconds:
        page = client.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for message in page.get("Messages", []):
            bodies.append(message["Body"])
            client.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            last = time.monotonic()
    return bodies


def measure(sandbox: Sandbox, sqs_url: str, queue_url: str) -> list[dict[str, Any]]:
    client = lambda_client(sandbox.endpoint_url)
    queue = sqs.client(sqs_url)
    results = []
    for function, payload, callbacks in RUNS:
        _receive_all(queue, queue_url, quiet_seconds=0.5)
        arn = start(client, function, payload, name=f"bench-{uuid.uuid4().hex[:8]}")
        for name, answer in callbacks:
            callback_id = wait_for_callback(client, arn, name, timeout=60)
            client.send_durable_execution_callback_success(
                CallbackId=callback_id, Result=json.dumps(answer).encode()
            )
        final = wait_for_status(client, arn, timeout=120)
        bodies = _receive_all(queue, queue_url)
        mine = [json.loads(b) for b in bodies if json.loads(b).get("executionArn") == arn]
        events = history(client, arn)
        # The execution's own events carry its id too; they are not an operation.
        ops = [e for e in events if e.get("Id") and not e["EventType"].startswith("Execution")]
        named = {e["Id"] for e in ops if e.get("Name")}
        all_ops = {e["Id"] for e in ops}
        last = max(mine, key=lambda r: r["emittedAt"]) if mine else {}
        told = {op["id"] for op in last.get("operations", [])}
        results.append(
            {
                "function": function,
                "input": payload,
                "status": final["Status"],
                "messages": len(mine),
                "bytes_total": sum(len(json.dumps(r, separators=(",", ":"))) for r in mine),
                "largest_bytes": max(
                    (len(json.dumps(r, separators=(",", ":"))) for r in mine), default=0
                ),
                "operations": len(all_ops),
                "named_operations": len(named),
                "in_last_record": len(told),
                "named_missing_from_last_record": sorted(named - told),
                "history_events": len(events),
            }
        )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="write the results here too")
    args = parser.parse_args(argv)
    with sqs.LocalSqs() as server, tempfile.TemporaryDirectory() as data:
        queue_url = sqs.ensure_queue(server.endpoint_url, "bench-telemetry")
        with Sandbox(
            data_dir=data,
            throttle=False,
            telemetry_queue_url=queue_url,
            sqs_endpoint_url=server.endpoint_url,
        ) as sandbox:
            results = measure(sandbox, server.endpoint_url, queue_url)
    print(
        f"{'function':26} {'status':10} {'msgs':>5} {'ops':>5} {'named':>5} {'told':>5} {'KB':>7}"
    )
    for r in results:
        print(
            f"{r['function']:26} {r['status']:10} {r['messages']:5} {r['operations']:5} "
            f"{r['named_operations']:5} {r['in_last_record']:5} {r['bytes_total'] / 1024:7.1f}"
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(results, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
