"""The archive: an execution written whole (its record, operations, history events and
audit entries) as gzip-compressed JSON to the archive bucket before the prune deletes it
from the mirror, and read back for the archived execution's page.

Where: `{ARCHIVE_PREFIX}/{source}/{function}/{YYYY}/{MM}/{DD}/{name}--{id}.json.gz`, the
day being the day it ended (UTC) and `id` the last part of its ARN, so a bucket listing finds
it by source, function, day and name; the `ArchivedExecution` table indexes it by name and
ARN so that the console's search never lists the bucket. The bytes are moved by
`lambda_api.archive_store` (the only S3 code)."""

from __future__ import annotations

import gzip
import json
import re
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from executions.bucket_names import bucket_name_problem
from executions.lambda_api import archive_store
from executions.lambda_api.archive_store import ArchiveError
from executions.models import ArchivedExecution, AuditEntry, Execution, HistoryEvent, Operation

FORMAT = "durable-console-archive/1"
_UNSAFE = re.compile(r"[^A-Za-z0-9._=-]+")

__all__ = ["FORMAT", "ArchiveError", "bucket_name_problem", "enabled", "read", "write"]


def enabled() -> bool:
    return bool(settings.ARCHIVE_BUCKET)


def _part(text: str, limit: int = 120) -> str:
    return _UNSAFE.sub("_", text or "").strip("_")[:limit] or "_"


def key_for(execution: Execution) -> str:
    ended = execution.ended_at or execution.started_at or timezone.now()
    ended = ended.astimezone(UTC)
    prefix = settings.ARCHIVE_PREFIX.strip("/")
    return "/".join(
        part
        for part in (
            prefix,
            _part(execution.source.name),
            _part(execution.function.name),
            f"{ended:%Y}",
            f"{ended:%m}",
            f"{ended:%d}",
            f"{_part(execution.name)}--{_part(execution.arn.rsplit('/', 1)[-1], 80)}.json.gz",
        )
        if part
    )


def document(execution: Execution) -> dict[str, Any]:
    """Everything the mirror holds of one execution, as plain JSON-able values."""
    record = Execution.objects.filter(pk=execution.pk).values().get()
    function = execution.function
    return {
        "format": FORMAT,
        "archived_at": timezone.now(),
        "source": {
            "name": execution.source.name,
            "region": execution.source.region,
            "endpoint_url": execution.source.endpoint_url,
        },
        "function": {
            "name": function.name,
            "qualifier": function.qualifier,
            "arn": function.arn,
            "durable_config": function.durable_config,
        },
        "execution": record,
        "operations": list(
            Operation.objects.filter(execution_id=execution.pk).order_by("position", "id").values()
        ),
        "events": list(
            HistoryEvent.objects.filter(execution_id=execution.pk).order_by("event_id").values()
        ),
        "audit": list(
            AuditEntry.objects.filter(execution_arn=execution.arn)
            .order_by("created_at", "id")
            .values()
        ),
    }


def encode(doc: dict[str, Any]) -> bytes:
    text = json.dumps(doc, cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":"))
    # mtime=0: the same execution archives to the same bytes.
    return gzip.compress(text.encode(), compresslevel=6, mtime=0)


def write(execution: Execution) -> ArchivedExecution:
    """Archive one execution and index it; raises ArchiveError (nothing indexed then).
    The bytes are read back from the bucket and compared before this returns."""
    doc = document(execution)
    body = encode(doc)
    bucket, key = settings.ARCHIVE_BUCKET, key_for(execution)
    digest = archive_store.put(bucket, key, body)
    archived, _ = ArchivedExecution.objects.update_or_create(
        arn=execution.arn,
        defaults={
            "name": execution.name,
            "source_id": execution.source_id,
            "source_name": execution.source.name,
            "function_id": execution.function_id,
            "function_name": execution.function.name,
            "qualifier": execution.qualifier,
            "status": execution.status,
            "started_at": execution.started_at,
            "ended_at": execution.ended_at,
            "operation_count": len(doc["operations"]),
            "event_count": len(doc["events"]),
            "bucket": bucket,
            "key": key,
            "size_bytes": len(body),
            "sha256": digest,
            "archived_at": timezone.now(),
            "pruned_at": None,
        },
    )
    return archived


def _moment(value: Any) -> datetime | None:
    if not value:
        return None
    parsed = parse_datetime(value) if isinstance(value, str) else value
    return parsed


def read(archived: ArchivedExecution) -> dict[str, Any]:
    """The archived document, its timestamps parsed back; raises ArchiveError."""
    body = archive_store.get(archived.bucket, archived.key)
    try:
        doc = json.loads(gzip.decompress(body))
    except (OSError, ValueError) as exc:
        raise ArchiveError(
            f"s3://{archived.bucket}/{archived.key} is not a readable archive: {exc}"
        ) from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ArchiveError(f"s3://{archived.bucket}/{archived.key} is not in the format {FORMAT}.")
    for row in [doc["execution"], *doc["operations"], *doc["events"], *doc["audit"]]:
        for name, value in row.items():
            if isinstance(value, str) and (
                name.endswith("_at") or name in ("timestamp", "wait_scheduled_end", "waiting_until")
            ):
                row[name] = _moment(value)
    return doc
