"""Status events: Lambda's 'Durable Execution Status Change' events, from EventBridge
through the source's SQS queue (deploy/aws/status-events.yaml)."""

from __future__ import annotations

from typing import Any

from executions.lambda_api.calls import sqs_call
from executions.lambda_api.endpoint import Endpoint


def receive_status_events(
    endpoint: Endpoint, *, max_messages: int = 10, wait_seconds: int = 1
) -> list[dict[str, Any]]:
    """Up to 10 messages of the status-event queue (long polling `wait_seconds`), each
    with its MessageId, ReceiptHandle, Body and SentTimestamp (epoch ms)."""
    response = sqs_call(
        endpoint,
        "ReceiveMessage",
        QueueUrl=endpoint.queue_url,
        MaxNumberOfMessages=max(1, min(max_messages, 10)),
        WaitTimeSeconds=max(0, min(wait_seconds, 20)),
        MessageSystemAttributeNames=["SentTimestamp", "ApproximateReceiveCount"],
    )
    return response.get("Messages", [])


def delete_status_events(endpoint: Endpoint, receipts: dict[str, str]) -> list[str]:
    """Delete messages by {message id: receipt handle}; returns the ids that failed."""
    failed: list[str] = []
    items = list(receipts.items())
    for start in range(0, len(items), 10):
        batch = items[start : start + 10]
        response = sqs_call(
            endpoint,
            "DeleteMessageBatch",
            QueueUrl=endpoint.queue_url,
            Entries=[
                {"Id": str(n), "ReceiptHandle": handle} for n, (_, handle) in enumerate(batch)
            ],
        )
        failed.extend(batch[int(f["Id"])][0] for f in response.get("Failed", []))
    return failed
