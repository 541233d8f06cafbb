"""The archive bucket (S3, or moto's S3 server locally): put, read back and get one
archived execution. The only S3 code of the console; executions/archive.py says what is
written and where, this module only moves bytes.

Every failure is an `ArchiveError` with a sentence a person can act on (the bucket does not
exist, access denied, the endpoint does not answer): the prune stops on it and the sync
health page shows it."""

from __future__ import annotations

import hashlib
import threading
from typing import Any

import boto3
import botocore.exceptions
from botocore.config import Config
from django.conf import settings

_client: tuple[tuple[Any, ...], Any] | None = None
_lock = threading.Lock()


class ArchiveError(Exception):
    """The archive could not be written or read; nothing was deleted because of it."""


def _config_key() -> tuple[Any, ...]:
    return (
        settings.ARCHIVE_ENDPOINT_URL,
        settings.ARCHIVE_REGION,
        settings.ARCHIVE_CREDENTIALS,
        settings.ARCHIVE_TIMEOUT_SECONDS,
    )


def client() -> Any:
    """One S3 client per configuration (the tests point it at a server they start and stop)."""
    global _client
    key = _config_key()
    with _lock:
        if _client is None or _client[0] != key:
            endpoint, region, credentials, timeout = key
            config = Config(
                connect_timeout=timeout,
                read_timeout=timeout,
                retries={"max_attempts": 2, "mode": "standard"},
                s3={"addressing_style": "path"},
            )
            # "none": a local S3 server (moto's), which takes any keys but refuses an
            # unsigned read; so requests are signed with placeholder keys, never real ones.
            keys = (
                {"aws_access_key_id": "local", "aws_secret_access_key": "local"}
                if credentials == "none"
                else {}
            )
            _client = (
                key,
                boto3.session.Session().client(
                    "s3", endpoint_url=endpoint or None, region_name=region, config=config, **keys
                ),
            )
        return _client[1]


def _explain(exc: Exception, bucket: str, what: str) -> ArchiveError:
    where = settings.ARCHIVE_ENDPOINT_URL or "AWS S3"
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        message = error.get("Message") or code
        if code in ("NoSuchBucket", "404") and what != "read":
            return ArchiveError(
                f"The archive bucket {bucket!r} does not exist at {where}: create it, "
                "or set ARCHIVE_BUCKET to one that does."
            )
        if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            return ArchiveError(
                f"The archive bucket {bucket!r} refused to {what}: {code}: {message}. "
                "Give the console's role s3:PutObject and s3:GetObject on it."
            )
        return ArchiveError(f"The archive bucket {bucket!r} refused to {what}: {code}: {message}")
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return ArchiveError(
            "No AWS credentials for the archive bucket: give the console a role, or set "
            "ARCHIVE_CREDENTIALS=none for a local S3 server."
        )
    if isinstance(exc, botocore.exceptions.BotoCoreError):
        return ArchiveError(f"The archive at {where} does not answer ({what}): {exc}")
    return ArchiveError(f"The archive at {where} failed to {what}: {exc}")


def put(bucket: str, key: str, body: bytes) -> str:
    """Write `body` and read it back; its SHA-256 when the stored bytes are the same."""
    digest = hashlib.sha256(body).hexdigest()
    try:
        client().put_object(
            Bucket=bucket,
            Key=key,
            Body=body,
            ContentType="application/json",
            ContentEncoding="gzip",
            Metadata={"sha256": digest},
        )
        stored = client().get_object(Bucket=bucket, Key=key)["Body"].read()
    except Exception as exc:
        raise _explain(exc, bucket, "write") from exc
    if hashlib.sha256(stored).hexdigest() != digest:
        raise ArchiveError(
            f"The archive bucket {bucket!r} gave back other bytes than were written to {key}."
        )
    return digest


def get(bucket: str, key: str) -> bytes:
    try:
        return client().get_object(Bucket=bucket, Key=key)["Body"].read()
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            raise ArchiveError(
                f"s3://{bucket}/{key} is no longer in the archive (the bucket's lifecycle "
                "may have expired it)."
            ) from exc
        raise _explain(exc, bucket, "read") from exc
    except Exception as exc:
        raise _explain(exc, bucket, "read") from exc


def ensure_bucket(bucket: str) -> None:
    """Create the bucket if it is not there (the local S3 server of `make run` and tests)."""
    try:
        client().head_bucket(Bucket=bucket)
        return
    except botocore.exceptions.ClientError:
        pass
    except Exception as exc:
        raise _explain(exc, bucket, "answer") from exc
    try:
        client().create_bucket(Bucket=bucket)
    except Exception as exc:
        raise _explain(exc, bucket, "be created") from exc
