from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from console.celery import WORKER_FLAGS
from sandbox.client import lambda_client
from sandbox.runner import Sandbox, stop_process_groups

# What the console is told the unthrottled sandbox allows (Source.api_quotas): its reads
# are not rationed by the call budget beyond what the machine can serve.
UNTHROTTLED_QUOTAS = {
    "GetDurableExecutionHistory": 2000,
    "ListDurableExecutionsByFunction": 2000,
    "GetDurableExecution": 2000,
}


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One real sandbox (AWS's local runner + our sample functions) for the test session.

    It does not enforce Lambda's API quotas: most tests are about what is mirrored, and
    re-mirror every execution the session has started. The tests about quotas use
    `throttled_sandbox`, which throttles like AWS."""
    data = tmp_path_factory.mktemp("sandbox")
    with Sandbox(data_dir=data, throttle=False) as running:
        yield running


@pytest.fixture(scope="session")
def throttled_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A second sandbox that enforces Lambda's read quotas (15 history and 15 list
    requests/s, 30 GetDurableExecution/s per account) and answers over them with 429
    TooManyRequestsException, as AWS does (sandbox/quotas.py)."""
    data = tmp_path_factory.mktemp("throttled-sandbox")
    with Sandbox(data_dir=data, throttle=True) as running:
        yield running


@pytest.fixture(scope="session")
def lambda_sandbox(sandbox: Sandbox) -> Any:
    """A boto3 Lambda client pointed at the sandbox, as an external system would hold one."""
    return lambda_client(sandbox.endpoint_url)


@pytest.fixture(scope="session")
def local_sqs() -> Any:
    """The local SQS server's endpoint: the one `make test` started, or one of our own."""
    from sandbox import sqs

    url = os.environ.get("SQS_ENDPOINT_URL", sqs.DEFAULT_ENDPOINT_URL)
    if sqs.answers(url):
        yield url
        return
    with sqs.LocalSqs() as server:
        yield server.endpoint_url


@pytest.fixture(scope="session")
def local_s3() -> Any:
    """A local S3 server for the archive (moto's): the one `make run` started at
    ARCHIVE_ENDPOINT_URL, or one of our own."""
    from sandbox import s3

    url = os.environ.get("ARCHIVE_ENDPOINT_URL") or s3.DEFAULT_ENDPOINT_URL
    if s3.answers(url):
        yield url
        return
    with s3.LocalS3() as server:
        yield server.endpoint_url


@pytest.fixture(scope="session")
def events_sandbox(tmp_path_factory: pytest.TempPathFactory, local_sqs: str) -> Any:
    """A sandbox that throttles like AWS and publishes Lambda's status events, in
    EventBridge's envelope, to a queue of the local SQS server (`.queue_url`)."""
    import uuid

    from sandbox import sqs

    queue_url = sqs.ensure_queue(local_sqs, f"test-status-events-{uuid.uuid4().hex[:8]}")
    data = tmp_path_factory.mktemp("events-sandbox")
    with Sandbox(
        data_dir=data, throttle=True, events_queue_url=queue_url, sqs_endpoint_url=local_sqs
    ) as running:
        running.queue_url = queue_url
        yield running


def _source_for(name: str, sandbox: Sandbox, **fields: Any) -> Any:
    """A sandbox registered as a source that discovers its durable functions."""
    from executions.models import Credentials, Source

    return Source.objects.create(
        name=name,
        region=sandbox.region,
        endpoint_url=sandbox.endpoint_url,
        credentials=Credentials.NONE,
        discover=True,
        **fields,
    )


@pytest.fixture
def events_source(db: Any, events_sandbox: Sandbox, local_sqs: str) -> Any:
    """The events sandbox as a source that reads its status events from the queue and
    lists only every ten minutes, as a reconciliation."""
    return _source_for(
        "with-events",
        events_sandbox,
        events_queue_url=events_sandbox.queue_url,
        events_endpoint_url=local_sqs,
        reconcile_interval_seconds=600,
    )


@pytest.fixture
def sandbox_source(db: Any, sandbox: Sandbox) -> Any:
    """The sandbox registered as a source, discovering its durable functions."""
    return _source_for("sandbox", sandbox, api_quotas=UNTHROTTLED_QUOTAS)


@pytest.fixture
def throttled_source(db: Any, throttled_sandbox: Sandbox) -> Any:
    """The throttling sandbox as a source with the default share of Lambda's quotas."""
    return _source_for("aws-like", throttled_sandbox)


class CallLog:
    """Every Lambda API call the console makes, seen through a botocore event hook."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any], dict[str, Any]]] = []

    def __call__(self, operation: str, params: dict[str, Any], response: dict[str, Any]) -> None:
        self.calls.append((operation, params, response))

    def count(self, operation: str) -> int:
        return sum(1 for op, _, _ in self.calls if op == operation)

    def events_fetched(self) -> int:
        return sum(
            len(response.get("Events", []))
            for op, _, response in self.calls
            if op == "GetDurableExecutionHistory"
        )

    def clear(self) -> None:
        self.calls.clear()


@pytest.fixture
def api_calls() -> Any:
    from executions import lambda_api

    log = CallLog()
    lambda_api.add_call_listener(log)
    yield log
    lambda_api.remove_call_listener(log)


@pytest.fixture(scope="session", autouse=True)
def _fresh_redis_keys() -> None:
    """Locks and queue markers left by an earlier run must not skip work in this one."""
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    for key in client.scan_iter("durable-console:*"):
        client.delete(key)


REPO = Path(__file__).resolve().parent.parent


def database_url() -> str:
    """The test database, as a DATABASE_URL a worker process can open."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{Path(s['NAME']).resolve()}"
    user = s.get("USER") or ""
    auth = f"{user}:{s['PASSWORD']}@" if s.get("PASSWORD") else (f"{user}@" if user else "")
    return f"postgres://{auth}{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{s['NAME']}"


def start_celery_worker(
    log_path: Path, *, beat: bool = True, concurrency: int = 2, **env: str
) -> subprocess.Popen:
    """A real Celery worker (with beat unless told otherwise), in its own process group,
    logging to `log_path`."""
    environment = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "SYNC_SWEEP_SECONDS": "1",
        "DJANGO_SETTINGS_MODULE": "console.settings",
        **env,
    }
    command = [
        sys.executable, "-m", "celery", "-A", "console", "worker", *WORKER_FLAGS,
        "--loglevel", "INFO", "--concurrency", str(concurrency),
        "--hostname", f"{log_path.stem}@%h",
        *(["--beat", "--schedule", str(log_path.with_suffix(".schedule"))] if beat else []),
    ]  # fmt: skip
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            command, cwd=REPO, env=environment, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


@pytest.fixture
def celery_worker(tmp_path: Path, transactional_db: Any) -> Any:
    """A real Celery worker with beat, on the real broker, sharing the test database.

    It starts on an empty queue: what earlier tests queued with no worker to run it (a bulk
    stop, a notification, a Slack answer) names rows of their own, which are gone, and
    whose ids this test's rows may reuse; run now, such a task would act on this test's
    executions (a stale bulk stop stopping the execution this test waits on).

    The console's other Redis state goes too (the scheduler's in-flight and due marks, the
    call budget, the cache): keyed by source and execution ids, which this test's rows
    reuse, an earlier test's marks would hold this test's source back as if busy.
    """
    import redis
    from django.conf import settings

    from console.celery import app as celery_app

    celery_app.control.purge()
    connection = redis.Redis.from_url(settings.REDIS_URL)
    for pattern in (f"{settings.REDIS_KEY_PREFIX}:*", "durable-console:budget:*"):
        for key in connection.scan_iter(pattern, count=1000):
            if b":celery:" not in key:
                connection.delete(key)
    proc = start_celery_worker(tmp_path / "worker.log")
    yield proc
    stop_process_group(proc)


def stop_process_group(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    """Stop a process started with start_new_session and everything in its group."""
    stop_process_groups([proc], sig)


@pytest.fixture(autouse=True)
def _no_sign_in_delays() -> None:
    """Every test starts with no sign-in counted: the test client always signs in from
    127.0.0.1, so one test's wrong passwords would delay the next test's users."""
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    for key in client.scan_iter(f"{settings.REDIS_KEY_PREFIX}:signin:*", count=1000):
        client.delete(key)
