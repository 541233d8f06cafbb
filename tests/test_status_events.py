"""Status events from EventBridge through SQS, against the sandbox (which publishes them
in EventBridge's envelope) and a local SQS server, through the real SQS protocol."""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from executions import events, lambda_api, schedule, sync
from executions.models import Execution, Function, SetAsideMessage
from sandbox import sqs
from sandbox.client import lambda_client, quotas, start, wait_for, wait_for_status
from tests.conftest import start_celery_worker, stop_process_group

ACCOUNT = "123456789012"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _event(arn: str, status: str, at: datetime, function: str = "order-processor") -> str:
    detail: dict[str, Any] = {
        "durableExecutionArn": arn,
        "durableExecutionName": arn.rsplit("/", 2)[-2],
        "functionArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{function}",
        "status": status,
        "startTimestamp": _iso(at - timedelta(seconds=5)),
    }
    if status in ("SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED"):
        detail["endTimestamp"] = _iso(at)
    return json.dumps(
        {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Durable Execution Status Change",
            "source": "aws.lambda",
            "account": ACCOUNT,
            "time": _iso(at),
            "region": "us-east-1",
            "resources": [arn],
            "detail": detail,
        }
    )


def _arn(name: str, function: str = "order-processor") -> str:
    return (
        f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{function}:$LATEST"
        f"/durable-execution/{name}/{uuid.uuid4()}"
    )


def _queue(local_sqs: str, visibility: int = 30) -> str:
    """A queue of this test's own, so nothing else publishes into it."""
    client = sqs.client(local_sqs)
    return client.create_queue(
        QueueName=f"test-{uuid.uuid4().hex[:10]}",
        Attributes={"VisibilityTimeout": str(visibility)},
    )["QueueUrl"]


def _send(local_sqs: str, queue_url: str, bodies: list[str]) -> None:
    client = sqs.client(local_sqs)
    for body in bodies:
        client.send_message(QueueUrl=queue_url, MessageBody=body)


def _counts(local_sqs: str, queue_url: str) -> tuple[int, int]:
    """Messages in the queue: (visible, invisible while a consumer holds them)."""
    attributes = sqs.client(local_sqs).get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return (
        int(attributes["ApproximateNumberOfMessages"]),
        int(attributes["ApproximateNumberOfMessagesNotVisible"]),
    )


def _waiting(local_sqs: str, queue_url: str) -> int:
    return sum(_counts(local_sqs, queue_url))


def _drain(source: Any) -> dict[str, int]:
    totals: dict[str, int] = {}
    for _ in range(50):
        result = events.consume(source, wait_seconds=0)
        assert not result.error, result.error
        for name, n in {**result.outcomes, "consumed": result.consumed}.items():
            if n:
                totals[name] = totals.get(name, 0) + n
        if not result.received:
            return totals
    raise AssertionError("the queue did not drain")


@pytest.fixture
def own_queue_source(events_source: Any, local_sqs: str) -> Any:
    """The events source reading a queue of the test's own, with order-processor watched."""
    events_source.events_queue_url = _queue(local_sqs)
    events_source.save()
    Function.objects.create(source=events_source, name="order-processor")
    return events_source


def test_duplicated_reordered_unknown_and_malformed_messages_change_nothing_and_lose_nothing(
    own_queue_source, local_sqs
):
    source = own_queue_source
    arn = _arn("ordered")
    now = datetime.now(UTC)
    _send(
        local_sqs,
        source.events_queue_url,
        [
            _event(arn, "RUNNING", now - timedelta(seconds=3)),
            _event(arn, "SUCCEEDED", now),
            _event(arn, "SUCCEEDED", now),  # EventBridge delivers at least once
            _event(arn, "RUNNING", now - timedelta(seconds=3)),  # late, out of order
            _event(_arn("elsewhere", "not-watched"), "RUNNING", now, function="not-watched"),
            "this is not JSON {",
            json.dumps({"source": "aws.s3", "detail-type": "Object Created", "detail": {}}),
            json.dumps(
                {
                    "source": "aws.lambda",
                    "detail-type": "Durable Execution Status Change",
                    "detail": {"durableExecutionArn": arn, "status": "EXPLODED"},
                }
            ),  # fmt: skip
        ],
    )
    totals = _drain(source)
    assert totals["consumed"] == 8
    assert totals["set_aside"] == 3 and totals["ignored"] == 1
    assert totals["inserted"] == 1 and totals["updated"] == 1
    assert totals["duplicate"] + totals["stale"] == 2
    execution = Execution.objects.get(arn=arn)
    assert execution.status == "SUCCEEDED"  # a terminal status is final
    assert execution.ended_at is not None and not execution.history_complete
    assert execution.next_check_at == schedule.URGENT  # its final read goes first
    assert Execution.objects.filter(source=source).count() == 1
    reasons = sorted(SetAsideMessage.objects.filter(source=source).values_list("reason", flat=True))
    assert [r.split(":")[0] for r in reasons] == [
        "detail.status 'EXPLODED' is not an execution status",
        "not JSON",
        "not a durable execution status event (source 'aws.s3', detail-type 'Object Created')",
    ]
    assert _waiting(local_sqs, source.events_queue_url) == 0  # nothing left to loop on
    figures = events.figures(source)
    assert figures["set_aside"] == 3 and figures["lag_max_seconds"] is not None


@pytest.mark.django_db(transaction=True)
def test_two_consumers_at_once_apply_each_messages_effect_once(own_queue_source, local_sqs):
    source = own_queue_source
    now = datetime.now(UTC)
    arns = [_arn(f"pair-{n}") for n in range(15)]
    bodies = [_event(a, "RUNNING", now - timedelta(seconds=2)) for a in arns] + [
        _event(a, "SUCCEEDED", now) for a in arns
    ]
    random.Random(5).shuffle(bodies)
    _send(local_sqs, source.events_queue_url, bodies)
    results: list[dict[str, int]] = []

    def consumer() -> None:
        from django.db import connection

        try:
            results.append(_drain(source))
        finally:
            connection.close()

    threads = [threading.Thread(target=consumer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sum(r.get("consumed", 0) for r in results) == len(bodies)
    assert sum(r.get("inserted", 0) for r in results) == len(arns)  # each once
    assert set(Execution.objects.filter(arn__in=arns).values_list("status", flat=True)) == {
        "SUCCEEDED"
    }
    assert Execution.objects.filter(arn__in=arns).count() == len(arns)
    assert _waiting(local_sqs, source.events_queue_url) == 0


def test_a_consumer_that_dies_between_reading_and_deleting_loses_nothing(
    own_queue_source, local_sqs
):
    source = own_queue_source
    source.events_queue_url = _queue(local_sqs, visibility=1)
    source.save()
    arn = _arn("survivor")
    _send(local_sqs, source.events_queue_url, [_event(arn, "RUNNING", datetime.now(UTC))])
    # A consumer reads the message, then dies before it applies or deletes it.
    read = lambda_api.receive_status_events(lambda_api.Endpoint.of(source), wait_seconds=1)
    assert len(read) == 1
    assert events.consume(source, wait_seconds=0).received == 0  # invisible while leased
    # The visibility timeout (1 s) passes: the message is back for the next consumer.
    wait_for(
        lambda: _counts(local_sqs, source.events_queue_url) == (1, 0),
        10,
        0.1,
        "the message visible again",
    )
    assert _drain(source)["inserted"] == 1
    assert Execution.objects.get(arn=arn).status == "RUNNING"
    assert _waiting(local_sqs, source.events_queue_url) == 0


@pytest.mark.django_db(transaction=True)
def test_a_run_started_and_finished_is_mirrored_terminal_within_seconds_without_listing(
    events_sandbox, events_source, tmp_path
):
    client = lambda_client(events_sandbox.endpoint_url)
    worker = start_celery_worker(tmp_path / "worker.log")
    try:
        # The first listing (the reconciliation) happens at once; the next in ten minutes.
        wait_for(
            lambda: _listed(events_source),
            60,
            interval=0.5,
            what="the first listing",
        )
        quotas(events_sandbox.endpoint_url, reset=True)
        name = f"evented-{uuid.uuid4().hex[:6]}"
        arn = start(client, "order-processor", {"orderId": name}, name)
        # Inserted from its RUNNING event, before any listing could have found it.
        wait_for(lambda: Execution.objects.filter(arn=arn).exists(), 15, 0.2, "the new execution")
        wait_for_status(client, arn)
        ended = time.monotonic()
        execution = wait_for(
            lambda: Execution.objects.filter(
                arn=arn, status="SUCCEEDED", history_complete=True
            ).first(),
            30,
            0.2,
            "the run mirrored as succeeded",
        )
        seen_after = time.monotonic() - ended
    finally:
        stop_process_group(worker)
    console = quotas(events_sandbox.endpoint_url)["accounts"].get("unsigned", {})
    assert console.get("ListDurableExecutionsByFunction", {}).get("calls", 0) == 0
    assert execution.operations.filter(name="finalize-order", status="SUCCEEDED").exists()
    assert execution.ended_at is not None
    # Reported, not asserted as a timing: the status event carried it within seconds.
    print(f"terminal status mirrored {seen_after:.1f} s after the backend's")
    figures = events.figures(events_source)
    assert figures["consumed"] >= 2 and figures["set_aside"] == 0


def _listed(source: Any) -> bool:
    source.refresh_from_db()
    return source.last_synced_at is not None


def test_a_reconciliation_listing_counts_what_the_events_did_not_say(events_sandbox, events_source):
    client = lambda_client(events_sandbox.endpoint_url)
    sync.poll_source(events_source)  # the first listing: everything is new, not "missed"
    assert events.figures(events_source)["reconciled"] == 0
    arn = start(client, "order-processor", {}, f"missed-{uuid.uuid4().hex[:6]}")
    wait_for_status(client, arn)
    events_source.refresh_from_db()
    sync.poll_source(events_source)  # no consumer ran: only the listing found it
    assert Execution.objects.filter(arn=arn).exists()
    assert events.figures(events_source)["reconciled"] >= 1


def test_the_aws_template_routes_status_events_to_a_queue_the_console_reads(
    events_source, local_sqs
):
    """deploy/aws/status-events.yaml, deployed to the local server's CloudFormation: an
    event put on its bus by "Lambda" reaches the queue, and the console applies it."""
    import boto3

    from tests.conftest import REPO

    local = {
        "endpoint_url": local_sqs, "region_name": "us-east-1",
        "aws_access_key_id": "sandbox", "aws_secret_access_key": "sandbox",
    }  # fmt: skip
    stack = f"status-events-{uuid.uuid4().hex[:8]}"
    cloudformation = boto3.client("cloudformation", **local)
    cloudformation.create_stack(
        StackName=stack,
        TemplateBody=(REPO / "deploy" / "aws" / "status-events.yaml").read_text(),
        Parameters=[{"ParameterKey": "QueueName", "ParameterValue": stack}],
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
    assert described["StackStatus"] == "CREATE_COMPLETE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]}
    events_source.events_queue_url = outputs["QueueUrl"]
    events_source.save()
    Function.objects.create(source=events_source, name="order-processor")
    arn = _arn("from-the-bus")
    detail = json.loads(_event(arn, "RUNNING", datetime.now(UTC)))["detail"]
    boto3.client("events", **local).put_events(
        Entries=[
            {
                "Source": "aws.lambda",
                "DetailType": "Durable Execution Status Change",
                "Detail": json.dumps(detail),
            },
            {"Source": "aws.s3", "DetailType": "Object Created", "Detail": "{}"},  # filtered
        ]
    )
    totals = _drain(events_source)
    assert totals == {"consumed": 1, "inserted": 1}
    assert Execution.objects.get(arn=arn).status == "RUNNING"
