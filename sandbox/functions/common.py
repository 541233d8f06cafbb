"""What the sample functions share: reading a callback's answer, and the time."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any


def _callback_value(raw: Any) -> Any:
    """A callback's result arrives as the text the sender sent; most senders send JSON."""
    if isinstance(raw, (str, bytes)):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def _accepted(raw: Any, key: str) -> bool:
    """Anything but an explicit `{key: false}` counts as yes."""
    value = _callback_value(raw)
    return not (isinstance(value, dict) and value.get(key) is False)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
