"""The sandbox's EventBridge status events, delivered to an SQS queue.

Lambda emits an EventBridge event whenever a durable execution changes status (source
`aws.lambda`, detail-type `Durable Execution Status Change`), and an EventBridge rule
can deliver them to an SQS queue (deploy/aws/status-events.yaml). The sandbox does the
same, straight into a queue of a local SQS-compatible server (moto's), in EventBridge's
envelope, so the console reads them through the real SQS protocol.

The host does not see the runner change an execution's status; it sees what leads to a
change (a start, a handler invocation returning, a stop) and checks the execution's
status at the runner shortly after. A slow sweep over the executions it knows to be
running catches the rest (an execution timing out on its own).
"""

from __future__ import annotations

import heapq
import http.client
import json
import logging
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import boto3

logger = logging.getLogger("sandbox.events")

DETAIL_TYPE = "Durable Execution Status Change"
TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED"}
# After something that may change a status, look at these delays (seconds).
CHECK_DELAYS = (0.05, 0.3, 1.0, 3.0)
SWEEP_SECONDS = 15


def iso(value: Any) -> str | None:
    """The runner's timestamps (epoch seconds or ISO text) as EventBridge writes them."""
    if value in (None, ""):
        return None
    if isinstance(value, (int, float)):
        moment = datetime.fromtimestamp(float(value), UTC)
    else:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def envelope(record: dict[str, Any], account: str, region: str) -> dict[str, Any]:
    """An EventBridge event for one GetDurableExecution record."""
    detail = {
        "durableExecutionArn": record["DurableExecutionArn"],
        "durableExecutionName": record.get("DurableExecutionName", ""),
        "functionArn": record.get("FunctionArn", ""),
        "status": record["Status"],
        "startTimestamp": iso(record.get("StartTimestamp")),
    }
    if record["Status"] in TERMINAL:
        detail["endTimestamp"] = iso(record.get("EndTimestamp")) or iso(time.time())
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": DETAIL_TYPE,
        "source": "aws.lambda",
        "account": account,
        "time": iso(time.time()),
        "region": region,
        "resources": [record["DurableExecutionArn"]],
        "detail": detail,
    }


class StatusPublisher:
    """Publishes a status event for every status change it sees, once."""

    def __init__(
        self,
        runner_url: str,
        queue_url: str,
        sqs_endpoint_url: str,
        account: str,
        region: str,
    ) -> None:
        parts = urlsplit(runner_url)
        self.runner = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.queue_url = queue_url
        self.account = account
        self.region = region
        self.sqs = boto3.client(
            "sqs",
            endpoint_url=sqs_endpoint_url,
            region_name=region,
            aws_access_key_id="sandbox",
            aws_secret_access_key="sandbox",
        )
        self.known: dict[str, str] = {}  # arn -> status last published
        self.due: list[tuple[float, str]] = []
        self.lock = threading.Condition()
        self.published = 0
        self.stopped = threading.Event()

    # ---- what the host tells us --------------------------------------------------

    def poke(self, arn: str) -> None:
        """Something may change `arn`'s status: look at it a few times soon."""
        now = time.monotonic()
        with self.lock:
            for delay in CHECK_DELAYS:
                heapq.heappush(self.due, (now + delay, arn))
            self.lock.notify()

    def start(self) -> StatusPublisher:
        self._seed()
        for target in (self._work, self._sweep):
            threading.Thread(target=target, daemon=True).start()
        return self

    def stop(self) -> None:
        self.stopped.set()
        with self.lock:
            self.lock.notify_all()

    # ---- the runner ----------------------------------------------------------------

    def _get(self, path: str) -> dict[str, Any] | None:
        conn = http.client.HTTPConnection(*self.runner, timeout=30)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read()
            return json.loads(body) if response.status == 200 else None
        except (OSError, ValueError):
            return None
        finally:
            conn.close()

    def _all(self) -> list[dict[str, Any]]:
        """Every execution the runner holds (one listing, paged), or [] if it is down."""
        records: list[dict[str, Any]] = []
        marker = ""
        while True:
            page = self._get(
                "/2025-12-01/durable-executions?MaxItems=1000"
                + (f"&Marker={quote(marker)}" if marker else "")
            )
            if not page:
                return records
            records.extend(page.get("DurableExecutions", []))
            marker = page.get("NextMarker") or ""
            if not marker:
                return records

    def _seed(self) -> None:
        """What the runner already holds (after a restart) is not news."""
        for record in self._all():
            self.known[record["DurableExecutionArn"]] = record.get("Status", "")

    def _check(self, arn: str) -> None:
        record = self._get(f"/2025-12-01/durable-executions/{quote(arn, safe='')}")
        if record:
            self._publish_if_changed(record)

    def _publish_if_changed(self, record: dict[str, Any]) -> None:
        arn, status = record.get("DurableExecutionArn"), record.get("Status")
        if not arn or not status or self.known.get(arn) == status:
            return
        message = envelope(record, self.account, self.region)
        try:
            self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=json.dumps(message))
        except Exception as exc:  # the queue's server is down: the next sweep retries
            logger.warning("could not publish %s %s: %s", arn, status, exc)
            return
        self.known[arn] = status
        self.published += 1

    def _work(self) -> None:
        while not self.stopped.is_set():
            with self.lock:
                while not self.due and not self.stopped.is_set():
                    self.lock.wait(1)
                if self.stopped.is_set():
                    return
                when, arn = self.due[0]
                wait = when - time.monotonic()
                if wait > 0:
                    self.lock.wait(wait)
                    continue
                heapq.heappop(self.due)
            try:
                self._check(arn)
            except Exception:  # one bad record must not stop the publisher
                logger.exception("status check of %s failed", arn)

    def _sweep(self) -> None:
        """One listing of everything now and then: changes nothing led up to (an
        execution timing out on its own), and publications that failed."""
        while not self.stopped.wait(SWEEP_SECONDS):
            for record in self._all():
                try:
                    self._publish_if_changed(record)
                except Exception:
                    logger.exception("sweep of %s failed", record.get("DurableExecutionArn"))
