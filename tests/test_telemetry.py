"""The SDK's telemetry records through SQS (executions/telemetry.py): against a local SQS
server through the real SQS protocol, and a sandbox whose sample functions run with the
Durable Execution Telemetry plugin sending to it."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from executions import history, lambda_api, schedule, sync, telemetry
from executions.models import (
    Execution,
    Function,
    HeldTelemetryRecord,
    Operation,
    SetAsideMessage,
)
from sandbox import sqs
from sandbox.client import history as read_history
from sandbox.client import (
    lambda_client,
    quotas,
    start,
    wait_for,
    wait_for_callback,
    wait_for_status,
)
from sandbox.runner import Sandbox
from tests.conftest import _source_for

ACCOUNT = "123456789012"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _arn(name: str) -> str:
    return (
        f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:order-processor:$LATEST"
        f"/durable-execution/{name}/{uuid.uuid4()}"
    )


def _op(op_id: str, status: str, **fields: Any) -> dict[str, Any]:
    op = {"id": op_id, "name": fields.pop("name", op_id), "type": "STEP", "subType": "Step"}
    op["status"] = status
    op.update(fields)
    return op


def _record(arn: str, at: datetime, operations: list[dict[str, Any]], **fields: Any) -> str:
    record = {
        "recordType": "DurableExecutionTelemetry",
        "schemaVersion": "1.0",
        "emittedAt": _iso(at),
        "executionArn": arn,
        "executionName": arn.rsplit("/", 2)[-2],
        "functionName": "order-processor",
        "functionQualifier": "$LATEST",
        "region": "us-east-1",
        "accountId": ACCOUNT,
        "status": "RUNNING",
        "startTime": _iso(T0),
        "operations": operations,
    }
    record.update(fields)
    return json.dumps(record)


# A step that fails twice and succeeds on its third attempt, then a wait, as records tell it.
def _story(arn: str) -> list[str]:
    started = _iso(T0 + timedelta(seconds=1))
    return [
        _record(arn, T0 + timedelta(seconds=1), [_op("charge", "STARTED", startTime=started)]),
        _record(
            arn,
            T0 + timedelta(seconds=2),
            [
                _op(
                    "charge",
                    "PENDING",
                    startTime=started,
                    attempt=1,
                    error={"name": "GatewayDown", "message": "503 (attempt 1)"},
                )
            ],
        ),
        _record(
            arn,
            T0 + timedelta(seconds=4),
            [
                _op(
                    "charge",
                    "PENDING",
                    startTime=started,
                    attempt=2,
                    error={"name": "GatewayDown", "message": "503 (attempt 2)"},
                )
            ],
        ),
        _record(
            arn,
            T0 + timedelta(seconds=6),
            [
                _op(
                    "charge",
                    "SUCCEEDED",
                    startTime=started,
                    endTime=_iso(T0 + timedelta(seconds=6)),
                    attempt=3,
                ),
                _op(
                    "pause",
                    "STARTED",
                    type="WAIT",
                    subType="Wait",
                    startTime=_iso(T0 + timedelta(seconds=6)),
                ),
            ],
        ),
        _record(
            arn,
            T0 + timedelta(seconds=9),
            [
                _op(
                    "charge",
                    "SUCCEEDED",
                    startTime=started,
                    endTime=_iso(T0 + timedelta(seconds=6)),
                    attempt=3,
                ),
                _op(
                    "pause",
                    "SUCCEEDED",
                    type="WAIT",
                    subType="Wait",
                    startTime=_iso(T0 + timedelta(seconds=6)),
                    endTime=_iso(T0 + timedelta(seconds=9)),
                ),
            ],
            status="SUCCEEDED",
            endTime=_iso(T0 + timedelta(seconds=9)),
            output={"charged": True},
        ),
    ]


def _queue(local_sqs: str) -> str:
    return sqs.client(local_sqs).create_queue(
        QueueName=f"test-telemetry-{uuid.uuid4().hex[:10]}",
        Attributes={"VisibilityTimeout": "30"},
    )["QueueUrl"]


def _send(local_sqs: str, queue_url: str, bodies: list[str]) -> None:
    client = sqs.client(local_sqs)
    for body in bodies:
        client.send_message(QueueUrl=queue_url, MessageBody=body)


def _drain(source: Any) -> dict[str, int]:
    totals: dict[str, int] = {}
    for _ in range(50):
        result = telemetry.consume(source, wait_seconds=0)
        assert not result.error, result.error
        for name, n in {**result.outcomes, "consumed": result.consumed}.items():
            if n:
                totals[name] = totals.get(name, 0) + n
        if not result.received:
            return totals
    raise AssertionError("the queue did not drain")


@pytest.fixture
def source(db: Any, sandbox: Sandbox, local_sqs: str) -> Any:
    """A source reading a telemetry queue of the test's own, order-processor watched."""
    source = _source_for(
        "with-telemetry",
        sandbox,
        telemetry_queue_url=_queue(local_sqs),
        events_endpoint_url=local_sqs,
    )
    Function.objects.create(source=source, name="order-processor")
    return source


def _mirror(arn: str) -> dict[str, tuple[Any, ...]]:
    return {
        op.operation_id: (op.status, op.attempt_count, op.started_at, op.ended_at, op.error)
        for op in Operation.objects.filter(execution__arn=arn)
    }


def _expected_end_state(arn: str) -> None:
    execution = Execution.objects.get(arn=arn)
    assert execution.status == "SUCCEEDED"
    assert execution.ended_at == T0 + timedelta(seconds=9)
    assert json.loads(execution.result_payload) == {"charged": True}
    assert execution.operation_count == 2
    assert execution.operation_counts == {"SUCCEEDED": 2}
    ops = {op.operation_id: op for op in Operation.objects.filter(execution=execution)}
    assert ops["charge"].status == "SUCCEEDED"
    assert ops["charge"].attempt_count == 3
    assert ops["charge"].error is None
    assert ops["charge"].ended_at == T0 + timedelta(seconds=6)
    assert ops["pause"].type == "WAIT"
    assert ops["pause"].ended_at == T0 + timedelta(seconds=9)


def test_records_in_order_and_out_of_order_give_the_same_mirror(source, local_sqs):
    in_order, shuffled = _arn("in-order"), _arn("shuffled")
    _send(local_sqs, source.telemetry_queue_url, _story(in_order))
    story = _story(shuffled)
    _send(local_sqs, source.telemetry_queue_url, [story[i] for i in (3, 1, 4, 0, 2)])
    totals = _drain(source)

    assert totals["consumed"] == 10
    assert totals.get("set_aside", 0) == 0
    for arn in (in_order, shuffled):
        _expected_end_state(arn)
    normalise = lambda mirror: sorted(mirror.values(), key=repr)  # noqa: E731
    assert normalise(_mirror(in_order)) == normalise(_mirror(shuffled))
    # The records told everything: the terminal status's one history read is not urgent.
    assert Execution.objects.get(arn=shuffled).next_check_at != schedule.URGENT


def test_the_steps_of_a_record_count_attempts_as_the_history_does(source, local_sqs):
    arn = _arn("attempts")
    story = _story(arn)
    _send(local_sqs, source.telemetry_queue_url, story[:3])
    _drain(source)
    charge = Operation.objects.get(execution__arn=arn, operation_id="charge")
    # Two attempts made, the third not started: PENDING after two StepStarted events.
    assert (charge.status, charge.attempt_count) == ("PENDING", 2)
    assert charge.error == {"ErrorType": "GatewayDown", "ErrorMessage": "503 (attempt 2)"}
    assert Execution.objects.get(arn=arn).waiting_for == "retry"


def test_duplicates_change_nothing(source, local_sqs):
    arn = _arn("duplicated")
    story = _story(arn)
    _send(local_sqs, source.telemetry_queue_url, story[:4])
    _drain(source)
    before = _mirror(arn)
    _send(local_sqs, source.telemetry_queue_url, [story[3], story[3], story[2]])
    totals = _drain(source)
    assert totals == {"duplicate": 2, "stale": 1, "consumed": 3}
    assert _mirror(arn) == before


def test_a_backlog_applies_only_the_newest_record_of_each_execution_in_a_batch(source, local_sqs):
    """A queue that fell behind holds several records of each execution; each tells the
    whole execution, so of one batch only the furthest along is applied, with the same
    mirror as applying them all. A truncated record is applied all the same."""
    first, second = _arn("backlog-1"), _arn("backlog-2")
    one, two = _story(first), _story(second)
    truncated = json.loads(two[2])
    truncated.update(truncated=True, droppedOperations=0)
    _send(
        local_sqs,
        source.telemetry_queue_url,
        [one[0], two[0], one[1], *one[2:], json.dumps(truncated)],
    )
    totals = _drain(source)
    assert totals == {"inserted": 2, "applied": 1, "stale": 4, "consumed": 7}
    _expected_end_state(first)
    assert Execution.objects.get(arn=second).telemetry_truncated


def test_an_older_record_does_not_take_the_mirror_back_nor_does_an_older_history_read(
    source, local_sqs
):
    """The mirror read from the history is further along than a late record; a record is
    further along than the history read that follows it: each keeps the newest."""
    arn = _arn("history-first")
    execution = Execution.objects.create(
        arn=arn,
        name="history-first",
        source=source,
        function=Function.objects.get(source=source),
        status="RUNNING",
        started_at=T0,
    )

    def event(event_id: int, kind: str, at: int, **details: Any) -> dict[str, Any]:
        found = {
            "EventId": event_id,
            "EventType": kind,
            "Id": "charge",
            "Name": "charge",
            "SubType": "Step",
            "EventTimestamp": T0 + timedelta(seconds=at),
        }
        if details:
            found[f"{kind}Details"] = details
        return found

    retry = {"CurrentAttempt": 1, "NextAttemptDelaySeconds": 2}
    error = {"Payload": {"ErrorType": "GatewayDown", "ErrorMessage": "503 (attempt 1)"}}
    history.store_events(
        execution,
        [
            event(1, "StepStarted", 1),
            event(2, "StepFailed", 2, RetryDetails=retry, Error=error),
        ],
    )
    assert _mirror(arn)["charge"][:2] == ("PENDING", 1)

    # A late record from before the failure: the mirror keeps the failure.
    story = _story(arn)
    _send(local_sqs, source.telemetry_queue_url, [story[0]])
    assert _drain(source) == {"duplicate": 1, "consumed": 1}
    assert _mirror(arn)["charge"][:2] == ("PENDING", 1)

    # Records further along than the history: the mirror follows them.
    _send(local_sqs, source.telemetry_queue_url, [story[3]])
    _drain(source)
    assert _mirror(arn)["charge"][:2] == ("SUCCEEDED", 3)
    assert _mirror(arn)["pause"][0] == "STARTED"

    # The next history read has only the second attempt: it adds its events, and the
    # operation stays where the record put it.
    retry2 = {"CurrentAttempt": 2, "NextAttemptDelaySeconds": 2}
    history.store_events(
        Execution.objects.get(pk=execution.pk),
        [
            event(3, "StepStarted", 3),
            event(4, "StepFailed", 4, RetryDetails=retry2, Error=error),
        ],
    )
    charge = Operation.objects.get(execution=execution, operation_id="charge")
    assert (charge.status, charge.attempt_count) == ("SUCCEEDED", 3)
    assert charge.last_event_id == 4
    assert [r["attempt"] for r in charge.retries] == [1, 2]  # what only the history has
    assert charge.telemetry is not None  # still ahead of the history

    # The history catches up: its own state, with its details, and the mark is dropped.
    history.store_events(
        Execution.objects.get(pk=execution.pk),
        [
            event(5, "StepStarted", 5),
            event(6, "StepSucceeded", 6, Result={"Payload": '{"t":"m","v":{"ok":true}}'}),
        ],
    )
    charge.refresh_from_db()
    assert (charge.status, charge.attempt_count) == ("SUCCEEDED", 3)
    assert charge.result_payload == '{"t":"m","v":{"ok":true}}'
    assert charge.ended_at == T0 + timedelta(seconds=6)
    assert charge.telemetry is None
    assert charge.first_event_id == 1


def test_a_truncated_record_is_applied_marked_and_checked_first(source, local_sqs):
    arn = _arn("truncated")
    story = json.loads(_story(arn)[3])
    story["operations"] = story["operations"][1:]  # the oldest dropped to fit
    story.update(truncated=True, droppedOperations=1)
    _send(local_sqs, source.telemetry_queue_url, [json.dumps(story)])
    assert _drain(source)["inserted"] == 1
    execution = Execution.objects.get(arn=arn)
    assert execution.telemetry_truncated
    assert execution.next_check_at == schedule.URGENT
    assert set(_mirror(arn)) == {"pause"}


def test_poison_messages_are_set_aside_with_their_reason_and_the_rest_applied(
    source, local_sqs, settings
):
    settings.TELEMETRY_MAX_RECORD_BYTES = 50_000
    arn = _arn("after-poison")
    too_big = _record(arn, T0, [_op("x" * 200, "STARTED", name="y" * 200)] * 200)
    assert 50_000 < len(too_big) < 250_000  # what SQS takes, more than the console does
    _send(
        local_sqs,
        source.telemetry_queue_url,
        [
            "not json {",
            json.dumps(["a", "list"]),
            json.dumps({"recordType": "SomethingElse", "executionArn": arn}),
            json.dumps({"recordType": "DurableExecutionTelemetry"}),
            too_big,
            _story(arn)[0],
        ],
    )
    totals = _drain(source)
    assert totals["set_aside"] == 5
    assert totals["inserted"] == 1
    assert totals["consumed"] == 6
    reasons = sorted(SetAsideMessage.objects.filter(source=source).values_list("reason", flat=True))
    assert all(reason.startswith("Telemetry record: ") for reason in reasons)
    joined = " | ".join(reasons)
    for words in ("not JSON", "not a JSON object", "recordType 'SomethingElse'", "executionArn"):
        assert words in joined
    assert "larger than" in joined
    assert _mirror(arn)["charge"][0] == "STARTED"

    # The sync health page shows them with their reasons.
    from django.test import Client

    from tests import factories

    page = factories.signed_in(Client(), "admin", staff=True).get("/sync/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="health-telemetry"' in html
    assert 'data-testid="telemetry-set-aside">5<' in html
    assert "Telemetry record: not JSON" in html


def test_unknown_fields_from_a_newer_sdk_are_ignored(source, local_sqs):
    arn = _arn("newer-sdk")
    record = json.loads(_story(arn)[4])
    record.update(schemaVersion="1.7", costEstimate={"usd": 0.01}, traceId="1-abc")
    for op in record["operations"]:
        op.update(memoryMb=512, tags=["x"])
    _send(local_sqs, source.telemetry_queue_url, [json.dumps(record)])
    assert _drain(source) == {"inserted": 1, "consumed": 1}
    _expected_end_state(arn)


def test_a_record_for_an_unknown_execution_is_held_and_applied_once_it_is_mirrored(
    source, local_sqs
):
    # A function the source does not watch: nothing to insert it under, so it is held.
    arn = _arn("not-watched").replace("order-processor", "fraud-detection")
    story = [body.replace("order-processor", "fraud-detection") for body in _story(arn)]
    _send(local_sqs, source.telemetry_queue_url, [story[1], story[0]])
    # Read in one batch: the older is superseded by the newer there (each record tells the
    # whole execution), which is held.
    assert _drain(source) == {"held": 1, "stale": 1, "consumed": 2}
    held = HeldTelemetryRecord.objects.get(source=source)
    assert held.execution_arn == arn
    assert held.emitted_at == _iso(T0 + timedelta(seconds=2))  # the newest is kept
    assert not Execution.objects.filter(arn=arn).exists()

    # The function is watched now and a listing finds the execution: the held record
    # is applied at the next read of the queue.
    function = Function.objects.create(source=source, name="fraud-detection")
    Execution.objects.create(
        arn=arn, name="not-watched", source=source, function=function, status="RUNNING"
    )
    assert _drain(source) == {"held_applied": 1}
    assert _mirror(arn)["charge"][:2] == ("PENDING", 1)
    assert not HeldTelemetryRecord.objects.exists()


# ---- what the records save of the read quota ----------------------------------------------


def _callback_story(arn: str) -> list[str]:
    """A step, then a callback that starts and is answered, as records tell it."""
    step = _op("prepare", "SUCCEEDED", startTime=_iso(T0), endTime=_iso(T0))
    callback = {"type": "CALLBACK", "subType": "Callback", "startTime": _iso(T0)}
    return [
        _record(arn, T0, [step]),
        _record(arn, T0 + timedelta(seconds=1), [step, _op("approval", "STARTED", **callback)]),
        _record(
            arn,
            T0 + timedelta(seconds=2),
            [step, _op("approval", "SUCCEEDED", endTime=_iso(T0), **callback)],
        ),
    ]


@pytest.fixture(autouse=True)
def _fresh_schedule() -> Any:
    """What an earlier test marked watched, and the count of executions that can still
    change a process reuses, are not this test's (ids are reused)."""
    from executions.locks import redis_client

    redis_client().delete(schedule._watched_key())
    schedule._changing.clear()
    yield
    redis_client().delete(schedule._watched_key())
    schedule._changing.clear()


def _read_a_while_ago(arn: str, seconds: float) -> Execution:
    """The execution as a history read `seconds` ago left it (next read at the
    reconciliation)."""
    now = timezone.now()
    Execution.objects.filter(arn=arn).update(
        last_synced_at=now - timedelta(seconds=seconds),
        check_interval=schedule.TELEMETRY_RECONCILE_SECONDS,
        next_check_at=now + timedelta(seconds=schedule.TELEMETRY_RECONCILE_SECONDS - seconds),
    )
    return Execution.objects.get(arn=arn)


def test_a_new_callback_a_record_tells_of_is_read_when_someone_is_shown_it(source, local_sqs):
    """Its id is only in the history; nobody has it open or in front of them: no read yet.
    Shown to someone (the inbox, the API, a notification): read first."""
    arn = _arn("new-callback")
    story = _callback_story(arn)
    _send(local_sqs, source.telemetry_queue_url, story[:1])
    _drain(source)
    _read_a_while_ago(arn, 10)

    _send(local_sqs, source.telemetry_queue_url, story[1:2])
    assert _drain(source)["applied"] == 1
    execution = Execution.objects.get(arn=arn)
    callback = Operation.objects.get(execution=execution, operation_id="approval")
    assert (callback.status, callback.callback_id) == ("STARTED", "")
    assert callback in Operation.objects.awaiting_answer()
    # The read waits for the reconciliation, its interval after the record.
    assert execution.next_check_at > timezone.now() + timedelta(seconds=200)
    assert schedule.pick(source, 10, timezone.now(), set()) == []

    assert schedule.want_callback_ids([callback]) == 1
    assert Execution.objects.get(pk=execution.pk).next_check_at == schedule.URGENT
    assert schedule.pick(source, 10, timezone.now(), set()) == [execution.pk]
    # A callback whose id is known asks for nothing.
    Operation.objects.filter(pk=callback.pk).update(callback_id="known")
    _read_a_while_ago(arn, 10)
    assert schedule.want_callback_ids(Operation.objects.filter(pk=callback.pk)) == 0


def test_an_execution_someone_has_open_is_read_when_a_record_changes_it(source, local_sqs):
    arn = _arn("watched")
    story = _callback_story(arn)
    _send(local_sqs, source.telemetry_queue_url, story[:1])
    _drain(source)
    execution = _read_a_while_ago(arn, 30)
    assert schedule.watch(execution.pk)
    now = timezone.now()
    # Open, but its records flow and none came: not read every few seconds.
    assert schedule.pick(source, 10, now, set()) == []

    _send(local_sqs, source.telemetry_queue_url, story[1:2])
    _drain(source)
    due = Execution.objects.get(pk=execution.pk).next_check_at
    assert now < due <= timezone.now() + timedelta(seconds=schedule.TELEMETRY_SETTLE_SECONDS)
    assert schedule.pick(source, 10, due, set()) == [execution.pk]

    # The records of one invocation are read once: a record while its first record's
    # read is due changes nothing.
    _send(local_sqs, source.telemetry_queue_url, story[2:3])
    _drain(source)
    assert Execution.objects.get(pk=execution.pk).next_check_at == due
    # A record soon after a read waits WATCH_SECONDS after it, at least.
    execution = _read_a_while_ago(arn, 0.5)
    Operation.objects.filter(execution=execution).delete()  # the record changes it again
    _send(local_sqs, source.telemetry_queue_url, story[2:3])
    before = timezone.now()
    _drain(source)
    execution.refresh_from_db()
    assert execution.next_check_at >= execution.last_synced_at + timedelta(
        seconds=schedule.WATCH_SECONDS
    )
    assert execution.next_check_at >= before + timedelta(seconds=schedule.TELEMETRY_SETTLE_SECONDS)
    # Should a record be lost, it is read every TELEMETRY_WATCH_SECONDS all the same.
    execution = _read_a_while_ago(arn, schedule.TELEMETRY_WATCH_SECONDS + 1)
    assert schedule.pick(source, 10, timezone.now(), set()) == [execution.pk]
    # Without records, an open execution is read every WATCH_SECONDS, as before.
    Execution.objects.filter(pk=execution.pk).update(telemetry_at=None)
    _read_a_while_ago(arn, schedule.WATCH_SECONDS + 0.5)
    assert schedule.pick(source, 10, timezone.now(), set()) == [execution.pk]


def test_the_reconciliation_backs_off_while_the_history_tells_nothing_the_records_had_not(
    source,
):
    base = schedule.TELEMETRY_RECONCILE_SECONDS
    cap = schedule.TELEMETRY_RECONCILE_MAX_SECONDS
    now = timezone.now()

    def interval(previous: float, changed: bool) -> float:
        execution = Execution(pk=0, source=source, telemetry_at=now, check_interval=previous)
        return schedule.next_check(
            execution, changed=changed, now=now, wake_at=None, min_interval=5
        )[1]

    assert interval(0, False) == base  # the first read
    assert interval(base, False) == 2 * base
    assert interval(2 * base, False) == 4 * base
    assert interval(cap, False) == cap
    assert interval(cap, True) == base  # the history told what the records had not
    # What "told" means: an event after the newest record.
    newest = T0 + timedelta(seconds=10)
    before = [{"EventTimestamp": newest - timedelta(seconds=1)}, {"EventTimestamp": newest}]
    after = [*before, {"EventTimestamp": newest + timedelta(milliseconds=5)}]
    assert not history.told_after(before, newest)
    assert history.told_after(after, newest)
    assert history.told_after([{"EventType": "no time"}], newest)
    # An invocation's end comes after its last record, which cannot tell of it.
    ended = {"EventType": "InvocationCompleted", "EventTimestamp": newest + timedelta(seconds=1)}
    assert not history.told_after([*before, ended], newest)
    assert history.told_after(before, None) and not history.told_after([], None)
    # Without records, the history's moments still bring a read forward.
    wake = now + timedelta(seconds=3)
    plain = Execution(pk=0, source=source, telemetry_at=None, check_interval=40)
    assert (
        schedule.next_check(plain, changed=False, now=now, wake_at=wake, min_interval=5)[0] == wake
    )
    flowing = Execution(pk=0, source=source, telemetry_at=now, check_interval=base)
    assert schedule.next_check(flowing, changed=False, now=now, wake_at=wake, min_interval=5)[
        0
    ] == now + timedelta(seconds=2 * base)


def test_an_execution_the_records_told_of_first_waits_for_its_reconciliation(source, local_sqs):
    """Seen first in a record, it is not read at once (the records told what a first read
    would); its reconciliation comes reconcile_seconds after the record."""
    arn = _arn("told-first")
    _send(local_sqs, source.telemetry_queue_url, _callback_story(arn)[:2])
    before = timezone.now()
    _drain(source)
    execution = Execution.objects.get(arn=arn)
    assert execution.last_synced_at is None
    base = schedule.reconcile_seconds(source)
    assert execution.next_check_at >= before + timedelta(seconds=base)
    assert schedule.pick(source, 10, timezone.now(), set()) == []
    # Opened by someone, it is read at once all the same.
    assert schedule.watch(execution.pk)
    assert schedule.pick(source, 10, timezone.now(), set()) == [execution.pk]


def test_reconciliations_take_at_most_their_share_of_the_budget(source, settings):
    """Counted over every execution of the source that can still change, those whose
    records have not arrived yet too: a console that has just started hears from its
    executions one by one, and counting only those heard from reconciled the first of
    them at the shortest interval, all in one wave. Ended ones are not counted."""
    rate = lambda_api.Endpoint.of(source).budget_rate(schedule.HISTORY_API)
    function = Function.objects.get(source=source)
    many = int(schedule.TELEMETRY_RECONCILE_SECONDS * schedule.TELEMETRY_RECONCILE_SHARE * rate)
    assert schedule.reconcile_seconds(source) == schedule.TELEMETRY_RECONCILE_SECONDS

    def executions(prefix: str, count: int, **fields: Any) -> None:
        Execution.objects.bulk_create(
            Execution(
                arn=_arn(f"{prefix}-{n}"), name=f"{prefix}-{n}", source=source,
                function=function, **fields,
            )
            for n in range(count)
        )  # fmt: skip

    executions("flowing", many, status="RUNNING", telemetry_at=T0)
    executions("not-heard-from-yet", 3 * many, status="RUNNING")
    executions("ended", 5 * many, status="SUCCEEDED", history_complete=True)
    schedule._changing.pop(source.pk, None)  # the count a process reuses for a while
    spread = schedule.reconcile_seconds(source)
    assert spread == pytest.approx(4 * many / (schedule.TELEMETRY_RECONCILE_SHARE * rate))
    assert spread > 3 * schedule.TELEMETRY_RECONCILE_SECONDS


def test_a_record_never_puts_off_the_final_read_of_an_ended_execution(source, local_sqs):
    """Listed as ended before any read: its one final read is due, and a record (even a
    late one that tells its operations for the first time) does not put it off."""
    arn = _arn("listed-ended")
    Execution.objects.create(
        arn=arn,
        name="listed-ended",
        source=source,
        function=Function.objects.get(source=source),
        status="SUCCEEDED",
        started_at=T0,
        ended_at=T0 + timedelta(seconds=9),
    )
    _send(local_sqs, source.telemetry_queue_url, _story(arn))
    _drain(source)
    execution = Execution.objects.get(arn=arn)
    assert execution.next_check_at is None
    assert execution.pk in schedule.pick(source, 10, timezone.now(), set())


# ---- the sandbox's functions with the plugin --------------------------------------------


@pytest.fixture(scope="module")
def telemetry_sandbox(tmp_path_factory: pytest.TempPathFactory, local_sqs: str) -> Any:
    """A sandbox whose sample functions run with the telemetry plugin, sending to a queue
    of its own."""
    queue_url = sqs.ensure_queue(local_sqs, f"test-telemetry-sandbox-{uuid.uuid4().hex[:8]}")
    with Sandbox(
        data_dir=tmp_path_factory.mktemp("telemetry-sandbox"),
        throttle=False,
        telemetry_queue_url=queue_url,
        sqs_endpoint_url=local_sqs,
    ) as running:
        running.telemetry_queue_url = queue_url
        yield running


def _tree(events: list[dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
    """The tree the history makes: each named operation's parent, type, status, attempts."""
    nodes = history.tree.build_tree(events)
    return {
        op_id: (n.parent_operation_id or "", n.type, n.status, n.attempt_count, n.name)
        for op_id, n in nodes.items()
        if n.name
    }


def _telemetry_source(name: str, telemetry_sandbox: Sandbox, local_sqs: str) -> Any:
    """The telemetry sandbox as a source that reads its records and status events."""
    return _source_for(
        name,
        telemetry_sandbox,
        telemetry_queue_url=telemetry_sandbox.telemetry_queue_url,
        events_endpoint_url=local_sqs,
    )


def rounds_told_by_records(
    source: Any, client: Any, rounds: int, name: str | None = None
) -> tuple[str, str, Execution]:
    """approval-rounds started, listed, and its first records applied: its ARN, round 1's
    callback id and its execution in the mirror."""
    arn = start(client, "approval-rounds", {"rounds": rounds}, name)
    first = wait_for_callback(client, arn, "round-1")
    sync.poll_source(source)
    execution = Execution.objects.get(arn=arn)
    wait_for(
        lambda: _drain(source) or Execution.objects.get(pk=execution.pk).telemetry_at,
        timeout=30,
        what="its first records",
    )
    return arn, first, execution


def test_a_sandbox_function_is_mirrored_from_its_telemetry_alone(
    telemetry_sandbox, local_sqs, api_calls, db
):
    source = _telemetry_source("sandbox-telemetry", telemetry_sandbox, local_sqs)
    client = lambda_client(telemetry_sandbox.endpoint_url)
    # Every kind of operation: steps, a callback, a wait, parallel branches, map items,
    # child contexts, a condition's polls, an invoke.
    arn = start(client, "durable-function-example", {"workflowId": "telemetry", "waitSeconds": 1})
    callback_id = wait_for_callback(client, arn, "waitForExternalApproval")
    client.send_durable_execution_callback_success(
        CallbackId=callback_id, Result=json.dumps({"approved": True}).encode()
    )
    wait_for_status(client, arn, {"SUCCEEDED"}, timeout=90)

    # Its records arrive before the console knows it: held, not lost.
    def consumed() -> dict[str, int]:
        return _drain(source)

    first = wait_for(consumed, timeout=30, what="telemetry records")
    assert first.get("held", 0) >= 1, first
    # A listing brings it in (no history read); the held record is applied.
    sync.poll_source(source)
    execution = Execution.objects.get(arn=arn)
    wait_for(
        lambda: _drain(source) or Execution.objects.get(pk=execution.pk).status == "SUCCEEDED",
        timeout=30,
        what="the held record applied",
    )
    execution.refresh_from_db()
    assert execution.status == "SUCCEEDED"
    assert execution.telemetry_at is not None
    assert api_calls.count("GetDurableExecutionHistory") == 0
    # The sandbox counted the console's calls (unsigned) apart from this test's own.
    console = quotas(telemetry_sandbox.endpoint_url)["accounts"]["unsigned"]
    assert console["ListDurableExecutionsByFunction"]["calls"] >= 1
    assert console.get("GetDurableExecutionHistory", {"calls": 0})["calls"] == 0

    # What the mirror has, from the records alone, is what the history says.
    expected = _tree(read_history(client, arn))
    mirrored = {
        op.operation_id: (
            op.parent_operation_id,
            op.type,
            op.status,
            op.attempt_count,
            op.name,
        )
        for op in Operation.objects.filter(execution=execution)
    }
    assert mirrored == expected
    assert execution.operation_count == len(expected)
    assert {"Map", "Parallel", "ParallelBranch", "MapIteration"} <= {
        op.subtype for op in Operation.objects.filter(execution=execution)
    }
    assert json.loads(execution.result_payload)

    # The final history read changes nothing the records told, and completes the mirror.
    assert sync.sync_execution(execution.pk).error == ""
    execution.refresh_from_db()
    assert execution.history_complete
    after = {
        op.operation_id: (op.parent_operation_id, op.type, op.status, op.attempt_count, op.name)
        for op in Operation.objects.filter(execution=execution)
    }
    assert after == expected
    assert not Operation.objects.filter(execution=execution, telemetry__isnull=False).exists()


def test_with_records_flowing_a_callback_workflow_reads_its_history_only_when_asked(
    telemetry_sandbox, local_sqs, api_calls, db
):
    """approval-rounds, answered round after round: the records tell each answer and each
    new callback without a history read; the new callback's id is read once someone is
    shown it; a reconciliation that finds nothing new backs off, one that finds what the
    records missed does not."""
    source = _telemetry_source("sandbox-telemetry-rounds", telemetry_sandbox, local_sqs)
    client = lambda_client(telemetry_sandbox.endpoint_url)
    arn, first, execution = rounds_told_by_records(source, client, 4)
    base = schedule.TELEMETRY_RECONCILE_SECONDS
    execution.refresh_from_db()
    # Told by its records first: its first read waits for the reconciliation.
    assert execution.last_synced_at is None
    assert execution.next_check_at > timezone.now() + timedelta(seconds=base - 30)
    assert sync.sync_execution(execution.pk).error == ""  # its first read, forced
    execution.refresh_from_db()
    # It told nothing the records had not: the next comes twice as late.
    assert execution.check_interval == 2 * base
    assert Operation.objects.get(execution=execution, callback_id=first).status == "STARTED"
    reads = api_calls.count("GetDurableExecutionHistory")

    def callbacks() -> dict[str, tuple[str, str]]:
        """Round -> (status, callback id) of its callback ("round-2 create callback id")."""
        return {
            op.name.split()[0]: (op.status, op.callback_id)
            for op in Operation.objects.filter(execution_id=execution.pk, type="CALLBACK")
        }

    # Round 1 answered: the records tell it, and round 2 waiting, with no history read.
    client.send_durable_execution_callback_success(CallbackId=first, Result=b'"yes"')
    second = wait_for_callback(client, arn, "round-2")

    def told() -> bool:
        _drain(source)
        found = callbacks()
        return found.get("round-1", ("",))[0] == "SUCCEEDED" and "round-2" in found

    wait_for(told, timeout=30, what="round 2 told by a record")
    assert callbacks()["round-2"] == ("STARTED", "")
    execution.refresh_from_db()
    assert execution.next_check_at > timezone.now() + timedelta(seconds=200)
    assert api_calls.count("GetDurableExecutionHistory") == reads

    # Someone is shown it: read first; the id is the one AWS gave.
    waiting = Operation.objects.filter(execution=execution, name__startswith="round-2 ")
    assert schedule.want_callback_ids(waiting) == 1
    assert execution.pk in schedule.pick(source, 10, timezone.now(), set())
    assert sync.sync_execution(execution.pk).error == ""
    assert callbacks()["round-2"] == ("STARTED", second)
    # That read found nothing after the newest record either: twice as late again.
    execution.refresh_from_db()
    assert execution.check_interval == 4 * base

    # Round 2 answered, its records lost (never consumed): the next reconciliation finds
    # what they missed, and the interval is back to its start.
    client.send_durable_execution_callback_success(CallbackId=second, Result=b'"yes"')
    third = wait_for_callback(client, arn, "round-3")
    assert sync.sync_execution(execution.pk).error == ""
    assert callbacks()["round-3"] == ("STARTED", third)
    execution.refresh_from_db()
    assert execution.check_interval == base


def test_the_aws_template_makes_a_telemetry_queue_the_exporter_sends_to_and_the_console_reads(
    source, local_sqs
):
    """deploy/aws/status-events.yaml with Telemetry=yes, deployed to the local server's
    CloudFormation: the plugin's own SQSExporter sends a record to its queue, and the
    console applies it."""
    import boto3
    from aws_durable_execution_sdk_python_telemetry_exporter import SQSExporter

    from tests.conftest import REPO

    local = {
        "endpoint_url": local_sqs, "region_name": "us-east-1",
        "aws_access_key_id": "sandbox", "aws_secret_access_key": "sandbox",
    }  # fmt: skip
    stack = f"telemetry-{uuid.uuid4().hex[:8]}"
    cloudformation = boto3.client("cloudformation", **local)
    cloudformation.create_stack(
        StackName=stack,
        TemplateBody=(REPO / "deploy" / "aws" / "status-events.yaml").read_text(),
        Parameters=[
            {"ParameterKey": "QueueName", "ParameterValue": stack},
            {"ParameterKey": "Telemetry", "ParameterValue": "yes"},
        ],
        Capabilities=["CAPABILITY_IAM"],
    )
    described = wait_for(
        lambda: next(
            (
                s
                for s in cloudformation.describe_stacks(StackName=stack)["Stacks"]
                if s["StackStatus"] in ("CREATE_COMPLETE", "CREATE_FAILED", "ROLLBACK_COMPLETE")
            ),
            None,
        ),
        30,
        0.2,
        "the stack",
    )
    assert described["StackStatus"] == "CREATE_COMPLETE", described
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]}
    assert outputs["TelemetrySenderPolicyArn"]
    source.telemetry_queue_url = outputs["TelemetryQueueUrl"]
    source.save()

    arn = _arn("exported")
    exporter = SQSExporter(
        queue_url=outputs["TelemetryQueueUrl"], client=boto3.client("sqs", **local)
    )
    exporter.export(json.loads(_story(arn)[4]))
    assert _drain(source) == {"inserted": 1, "consumed": 1}
    _expected_end_state(arn)
