"""Records as the API returns them, made storable. Pure Python."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any


def split_function_arn(arn: str) -> tuple[str, str, str]:
    """`arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]` -> (region, name,
    qualifier); blanks for what is not there."""
    parts = (arn or "").split(":")
    return (
        parts[3] if len(parts) > 3 else "",
        parts[6] if len(parts) > 6 else "",
        parts[7] if len(parts) > 7 else "",
    )


def jsonable(value: Any) -> Any:
    """A boto3 record with datetimes as ISO strings and bytes as text, for JSONField."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


def dumps(value: Any) -> str:
    return json.dumps(jsonable(value))
