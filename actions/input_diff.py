"""What changed between two inputs of a function: the old execution's and the one about to
be started again (the review step of Start again, and the "input changed: 2 fields" of an
execution started again).

JSON-aware first: the paths added, removed or changed, with their old and new values (an
object's keys by name, an array's items by position), whatever the layout of the text.
When either side is not JSON (or nests too deeply to compare), a line diff of the texts.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from typing import Any

ADDED, REMOVED, CHANGED = "added", "removed", "changed"
# At most this many changes (or diff lines) are listed; the rest are counted.
MAX_SHOWN = 200
# A value is shown up to this many characters.
VALUE_CHARS = 300
_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_ABSENT = object()


@dataclass(frozen=True)
class Change:
    kind: str  # ADDED, REMOVED or CHANGED
    path: str  # "orderId", "items[0].qty", '["a key"]'; "(the whole input)" at the top
    old: str = ""  # the value, as compact JSON, cut to VALUE_CHARS
    new: str = ""


@dataclass
class InputDiff:
    """`changes` (JSON-aware) or `lines` (a unified line diff); `identical` when the two
    are the same JSON value (or, not JSON, the same text)."""

    changes: list[Change] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    total: int = 0  # changes (or changed lines) in all, listed or not
    json_aware: bool = True

    @property
    def identical(self) -> bool:
        return self.total == 0

    @property
    def more(self) -> int:
        """How many were left off the list."""
        return self.total - (len(self.changes) if self.json_aware else self._changed_lines)

    @property
    def _changed_lines(self) -> int:
        return sum(1 for line in self.lines if line[:1] in "+-" and line[:3] not in "+++---")

    def counts(self) -> dict[str, int]:
        return {
            kind: sum(1 for c in self.changes if c.kind == kind)
            for kind in (ADDED, REMOVED, CHANGED)
        }

    @property
    def size(self) -> str:
        """How many changed, in words: "2 fields", "5 lines"."""
        what = "field" if self.json_aware else "line"
        return f"{self.total:,} {what}{'s' if self.total != 1 else ''}"

    @property
    def summary(self) -> str:
        """In words: "no change", "2 fields changed", "5 lines changed"."""
        return "no change" if self.identical else f"{self.size} changed"


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= VALUE_CHARS else text[: VALUE_CHARS - 1] + "…"


def _key(path: str, key: str) -> str:
    if _IDENTIFIER.fullmatch(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


def _same_scalar(a: Any, b: Any) -> bool:
    # By their JSON text: True is not 1, 1 is not 1.0, NaN is NaN.
    return json.dumps(a) == json.dumps(b)


def _walk(old: Any, new: Any, path: str, out: list[tuple[str, str, Any, Any]]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in old:
            if key not in new:
                out.append((REMOVED, _key(path, key), old[key], _ABSENT))
            else:
                _walk(old[key], new[key], _key(path, key), out)
        for key in new:
            if key not in old:
                out.append((ADDED, _key(path, key), _ABSENT, new[key]))
    elif isinstance(old, list) and isinstance(new, list):
        for index in range(max(len(old), len(new))):
            where = f"{path}[{index}]"
            if index >= len(new):
                out.append((REMOVED, where, old[index], _ABSENT))
            elif index >= len(old):
                out.append((ADDED, where, _ABSENT, new[index]))
            else:
                _walk(old[index], new[index], where, out)
    elif isinstance(old, (dict, list)) or isinstance(new, (dict, list)):
        out.append((CHANGED, path, old, new))  # an object for an array, a value for either
    elif not _same_scalar(old, new):
        out.append((CHANGED, path, old, new))


def json_changes(old: Any, new: Any) -> list[Change]:
    """Every path added, removed or changed from `old` to `new` (parsed JSON values)."""
    found: list[tuple[str, str, Any, Any]] = []
    _walk(old, new, "", found)
    return [
        Change(
            kind,
            path or "(the whole input)",
            "" if before is _ABSENT else _shown(before),
            "" if after is _ABSENT else _shown(after),
        )
        for kind, path, before, after in found
    ]


def _line_diff(old_text: str, new_text: str) -> InputDiff:
    lines = list(
        difflib.unified_diff(
            old_text.splitlines(),
            new_text.splitlines(),
            fromfile="old input",
            tofile="new input",
            lineterm="",
        )
    )
    changed = [line for line in lines if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    shown = lines[: MAX_SHOWN + 3]
    return InputDiff(lines=shown, total=len(changed), json_aware=False)


def pretty(text: str) -> str:
    """JSON text laid out with indents (as it is, when it is not JSON)."""
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False, sort_keys=False)
    except (ValueError, RecursionError):
        return text


def diff(old_text: str | None, new_text: str | None) -> InputDiff:
    """The change from one input (JSON text; None or "" as {}) to another."""
    old_text = (old_text or "").strip() or "{}"
    new_text = (new_text or "").strip() or "{}"
    try:
        changes = json_changes(json.loads(old_text), json.loads(new_text))
    except (ValueError, RecursionError):
        if old_text == new_text:
            return InputDiff(json_aware=False)
        return _line_diff(pretty(old_text), pretty(new_text))
    return InputDiff(changes=changes[:MAX_SHOWN], total=len(changes))
