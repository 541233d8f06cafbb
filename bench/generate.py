"""The generated mirror of bench/bench_browser.py: executions with the bench's mix, and
one execution of many operations shaped like the bulk-ledger sample."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

STATUS_MIX = [
    ("SUCCEEDED", 0.85),
    ("FAILED", 0.08),
    ("RUNNING", 0.05),
    ("TIMED_OUT", 0.01),
    ("STOPPED", 0.01),
]
BATCH = 5000


def _status(rng: random.Random) -> str:
    roll, total = rng.random(), 0.0
    for status, share in STATUS_MIX:
        total += share
        if roll < total:
            return status
    return "SUCCEEDED"


def make_functions() -> list:
    from executions.models import Credentials, Function, Source

    sources = [
        Source.objects.create(
            name=f"bench-{n}", endpoint_url="http://127.0.0.1:9", credentials=Credentials.NONE
        )
        for n in range(2)
    ]
    return [
        Function.objects.create(source=sources[i % 2], name=f"service-{i:02d}", qualifier="$LATEST")
        for i in range(20)
    ]


def generate_executions(
    functions: list, start: int, count: int, now: datetime, rng: random.Random
) -> None:
    """Executions number start .. start + count - 1, started over the 30 days before now."""
    from executions.models import Execution

    rows = []
    for i in range(start, start + count):
        status = _status(rng)
        started = now - timedelta(seconds=rng.uniform(0, 30 * 86400))
        ended = None if status == "RUNNING" else started + timedelta(seconds=rng.uniform(1, 3600))
        function = functions[i % len(functions)]
        ops = rng.randint(3, 40)
        rows.append(
            Execution(
                arn=f"arn:aws:lambda:us-east-1:123456789012:function:{function.name}:$LATEST"
                f"/durable-execution/order-{i}/{uuid.UUID(int=rng.getrandbits(128))}",
                name=f"order-{i}",
                source_id=function.source_id,
                function=function,
                qualifier="$LATEST",
                status=status,
                started_at=started,
                input_payload=f'{{"orderId": "ORD-{i:07d}", "customer": "c-{i % 5000}"}}',
                ended_at=ended,
                operation_count=ops,
                operation_counts={"SUCCEEDED": ops},
                pending_callbacks=1 if status == "RUNNING" and i % 3 == 0 else 0,
                last_event_id=ops * 2,
                history_complete=status != "RUNNING",
                last_synced_at=now,
            )
        )
        if len(rows) == BATCH:
            Execution.objects.bulk_create(rows)
            rows = []
    Execution.objects.bulk_create(rows)


def generate_big_execution(function, operations: int, rng: random.Random):
    """One execution shaped like the bulk-ledger sample, with `operations` operations."""
    from executions.models import Execution, HistoryEvent, Operation

    start = datetime.now(UTC) - timedelta(hours=2)
    execution = Execution.objects.create(
        arn=f"arn:aws:lambda:us-east-1:123456789012:function:{function.name}:$LATEST"
        f"/durable-execution/ledger-big/{uuid.uuid4()}",
        name="ledger-big",
        source=function.source,
        function=function,
        qualifier="$LATEST",
        status="SUCCEEDED",
        started_at=start,
        ended_at=start + timedelta(minutes=50),
        input_payload=f'{{"entries": {operations}}}',
        result_payload=f'{{"posted": {operations}}}',
        history_complete=True,
        last_synced_at=datetime.now(UTC),
    )
    ops: list[Operation] = []
    events: list[HistoryEvent] = []
    clock = [start]

    def add(
        op_id: str,
        parent: str,
        name: str,
        type_: str,
        subtype: str,
        status: str,
        seconds: float,
        retries: list | None = None,
    ) -> None:
        begin = clock[0]
        end = begin + timedelta(seconds=seconds)
        clock[0] = begin + timedelta(milliseconds=rng.randint(1, 400))
        first = len(events) + 1
        family = {"STEP": "Step", "CONTEXT": "Context", "WAIT": "Wait", "CALLBACK": "Callback"}[
            type_
        ]
        outcome = "Succeeded" if status == "SUCCEEDED" else "Failed"
        for kind, moment in (("Started", begin), (outcome, end)):
            event_id = len(events) + 1
            raw = {
                "EventType": f"{family}{kind}",
                "SubType": subtype,
                "EventId": event_id,
                "Id": op_id,
                "Name": name,
                "ParentId": parent or None,
                "EventTimestamp": moment.isoformat(),
                f"{family}{kind}Details": {
                    "Result": {"Payload": '{"ok": true}', "Truncated": False}
                }
                if kind == "Succeeded"
                else {},
            }
            events.append(
                HistoryEvent(
                    execution=execution,
                    event_id=event_id,
                    event_type=raw["EventType"],
                    sub_type=subtype,
                    operation_id=op_id,
                    name=name,
                    parent_id=parent,
                    timestamp=moment,
                    details=raw[f"{family}{kind}Details"],
                    raw=raw,
                )
            )
        ops.append(
            Operation(
                execution=execution,
                operation_id=op_id,
                parent_operation_id=parent,
                name=name,
                type=type_,
                subtype=subtype,
                status=status,
                started_at=begin,
                ended_at=end,
                attempt_count=len(retries or []) + 1 if type_ == "STEP" else 0,
                result_payload='{"t":"m","v":{"ok":{"t":"b","v":true}}}',
                retries=retries or [],
                first_event_id=first,
                last_event_id=len(events),
                position=len(ops),
            )
        )

    def hexid() -> str:
        return f"{rng.getrandbits(256):064x}"

    add(hexid(), "", "validateBatch", "STEP", "Step", "SUCCEEDED", 0.2)
    map_id = hexid()
    iterations = (operations - 6) // 2
    add(map_id, "", "postEntries", "CONTEXT", "Map", "SUCCEEDED", 2400)
    for i in range(iterations):
        item = hexid()
        failed = i % 500 == 7
        status = "FAILED" if failed else "SUCCEEDED"
        retries = (
            [
                {
                    "attempt": a,
                    "at": start.isoformat(),
                    "error": {"ErrorType": "LedgerLocked"},
                    "next_attempt_delay_seconds": 0 if a == 3 else 2**a,
                }
                for a in (1, 2, 3)
            ]
            if failed
            else []
        )
        add(item, map_id, f"map-item-{i}", "CONTEXT", "MapIteration", status, 0.5)
        add(hexid(), item, f"post-{i + 1}", "STEP", "Step", status, 0.3, retries)
    callback_ctx = hexid()
    add(callback_ctx, "", "auditorSignOff", "CONTEXT", "WaitForCallback", "SUCCEEDED", 600)
    add(hexid(), callback_ctx, "auditorSignOff callback", "CALLBACK", "Callback", "SUCCEEDED", 600)
    add(hexid(), "", "sumEntries", "STEP", "Step", "SUCCEEDED", 0.4)
    add(hexid(), "", "closePeriod", "STEP", "Step", "SUCCEEDED", 0.3)
    Operation.objects.bulk_create(ops, batch_size=2000)
    HistoryEvent.objects.bulk_create(events, batch_size=2000)
    counts: dict[str, int] = {}
    for op in ops:
        counts[op.status] = counts.get(op.status, 0) + 1
    Execution.objects.filter(pk=execution.pk).update(
        operation_count=len(ops), operation_counts=counts, last_event_id=len(events)
    )
    execution.refresh_from_db()
    return execution, map_id, ops
