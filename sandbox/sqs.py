"""A local SQS-compatible server for the sandbox's status events: moto's server (from
PyPI), which speaks the real SQS protocol to boto3.

`make run` starts one at SQS_ENDPOINT_URL when none answers there, the way it starts
Redis; the tests use that one when it answers and start their own on a free port when it
does not (so a port held by something else, a stale server say, does not stop them).
`ensure_queue` creates the queue the sandbox publishes to and a source reads from.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from sandbox.catalog import REGION
from sandbox.runner import free_port

DEFAULT_ENDPOINT_URL = "http://127.0.0.1:9324"
# The console reads a message again after this long if it did not delete it (a consumer
# died between reading and deleting).
VISIBILITY_TIMEOUT_SECONDS = 30


def client(endpoint_url: str) -> Any:
    return boto3.client(
        "sqs",
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id="sandbox",
        aws_secret_access_key="sandbox",
        config=Config(connect_timeout=1, read_timeout=30, retries={"max_attempts": 2}),
    )


def answers(endpoint_url: str) -> bool:
    try:
        client(endpoint_url).list_queues()
    except Exception:
        return False
    return True


def ensure_queue(endpoint_url: str, name: str) -> str:
    """The URL of the queue `name`, created if need be."""
    return client(endpoint_url).create_queue(
        QueueName=name,
        Attributes={"VisibilityTimeout": str(VISIBILITY_TIMEOUT_SECONDS)},
    )["QueueUrl"]


class LocalSqs:
    """moto's server on a port of its own, in its own process group."""

    def __init__(self, port: int | None = None, log_path: Path | None = None) -> None:
        self.port = port or free_port()
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> LocalSqs:
        log = open(self.log_path or os.devnull, "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while not answers(self.endpoint_url):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the local SQS server did not start on {self.endpoint_url}")
            time.sleep(0.2)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None

    def __enter__(self) -> LocalSqs:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
