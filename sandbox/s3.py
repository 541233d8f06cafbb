"""A local S3-compatible server for the archive (ARCHIVE_ENDPOINT_URL): moto's server, as
for SQS (sandbox/sqs.py), on a port of its own. `make run` starts one when none answers at
ARCHIVE_ENDPOINT_URL and creates ARCHIVE_BUCKET in it; the tests start their own
(tests/conftest.py, local_s3), and stop it to see the prune stop."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from sandbox.catalog import REGION
from sandbox.sqs import LocalSqs

DEFAULT_ENDPOINT_URL = "http://127.0.0.1:9325"


def client(endpoint_url: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=REGION,
        # moto takes any keys, and refuses an unsigned read.
        aws_access_key_id="sandbox",
        aws_secret_access_key="sandbox",
        config=Config(
            connect_timeout=1,
            read_timeout=10,
            retries={"max_attempts": 1},
            s3={"addressing_style": "path"},
        ),
    )


def answers(endpoint_url: str) -> bool:
    try:
        client(endpoint_url).list_buckets()
    except Exception:
        return False
    return True


def ensure_bucket(endpoint_url: str, name: str) -> None:
    s3 = client(endpoint_url)
    try:
        s3.head_bucket(Bucket=name)
    except Exception:
        s3.create_bucket(Bucket=name)


class LocalS3(LocalSqs):
    """moto's server (one process serves every service) on a port of its own."""

    def start(self, timeout: float = 30) -> LocalS3:
        super().start(timeout)
        return self

    def __enter__(self) -> LocalS3:
        return self.start()


if __name__ == "__main__":  # `make s3`: python -m sandbox.s3 ENDPOINT BUCKET
    import sys

    ensure_bucket(sys.argv[1], sys.argv[2])
