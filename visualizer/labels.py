"""The words of a graph: node labels, second lines and tooltips, from an operation
given as plain data (a dict of executions.tree.nested()). The rules themselves (an
operation's name, a status's word, a duration) come from domain/."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from domain import durations, operations, status
from visualizer.style import operation_state

LABEL_LIMIT = 60
TOOLTIP_LIMIT = 500
# A label's line, in ems of the graph's font (Helvetica, or Liberation Sans where it is
# missing): about 26 average characters. Longer names wrap, at most NAME_LINES lines, and
# are cut with an ellipsis beyond that (the tooltip keeps the whole name).
LINE_EMS = 14.0
NAME_LINES = 2

KIND_WORDS = {
    "Parallel": "parallel",
    "ParallelBranch": "branch",
    "Map": "map",
    "MapIteration": "iteration",
    "WaitForCallback": "wait for callback",
    "RunInChildContext": "child context",
}


def clip(text: Any, limit: int) -> str:
    """One line of at most `limit` characters: newlines and tabs become spaces, other
    control characters go (graphviz and XML have no use for them)."""
    text = " ".join(str(text).split())
    if not text.isprintable():
        text = "".join(ch for ch in text if ch >= " " and ch != "\x7f")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def duration(op: dict[str, Any]) -> str:
    span = durations.between(op.get("started_at"), op.get("ended_at"))
    return durations.format_duration(span.total_seconds()) if span is not None else ""


def when(value: Any) -> str:
    """A timestamp (datetime or ISO text) as `2026-11-22 22:43:16 UTC`."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return clip(value, 40)
    if not isinstance(value, datetime):
        return ""
    if value.tzinfo is None:
        return f"{value:%Y-%m-%d %H:%M:%S}"
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def plural(count: int, word: str, words: str = "") -> str:
    return f"{count:,} {word if count == 1 else words or word + 's'}"


def name(op: dict[str, Any]) -> str:
    return operations.label(op.get("name"), op.get("subtype"), op.get("type"), op["id"])


def second_line(op: dict[str, Any]) -> str:
    """The second line of an operation's label: what kind of thing it is."""
    kind, sub = op.get("type"), op.get("subtype")
    attempts = op.get("attempt_count") or 0
    if sub == "WaitForCondition":
        return f"condition · {plural(attempts, 'attempt')}"
    if kind == "WAIT":
        if op.get("wait_seconds") is not None:
            try:
                return f"wait {durations.format_duration(float(op['wait_seconds']))}"
            except (TypeError, ValueError):
                pass
        end = when(op.get("wait_scheduled_end"))
        return f"wait until {end}" if end else "wait"
    if kind == "CHAINED_INVOKE":
        return clip(f"invoke {op.get('invoke_function') or ''}".strip(), LABEL_LIMIT)
    if kind == "CALLBACK":
        return "callback"
    # A plain step, a custom step subtype as it is, or an unknown type's subtype.
    word = "step" if sub in (None, "", "Step") else KIND_WORDS.get(sub, clip(sub, 30))
    return f"{word} · {attempts:,} attempts" if kind == "STEP" and attempts > 1 else word


def tooltip(op: dict[str, Any]) -> str:
    facts = [str(op.get("subtype") or op.get("type") or "operation"), status_word(op)]
    if duration(op):
        facts.append(duration(op))
    if (op.get("attempt_count") or 0) > 1:
        facts.append(f"{op['attempt_count']:,} attempts")
    lines = [clip(name(op), 200), " · ".join(facts)]
    if op.get("started_at"):
        lines.append(f"started {when(op['started_at'])}")
    if op.get("type") == "WAIT" and op.get("wait_scheduled_end"):
        lines.append(f"until {when(op['wait_scheduled_end'])}")
    if op.get("invoke_function"):
        lines.append(clip(f"function {op['invoke_function']}", 200))
    if op.get("child_execution_arn"):
        lines.append(clip(f"child execution {op['child_execution_arn']}", 200))
    error = op.get("error")
    if isinstance(error, dict) and (error.get("ErrorType") or error.get("ErrorMessage")):
        message = ": ".join(str(error[k]) for k in ("ErrorType", "ErrorMessage") if error.get(k))
        lines.append(clip(f"error {message}", 200))
    return clip_lines(lines, TOOLTIP_LIMIT)


def status_word(op: dict[str, Any]) -> str:
    status_ = op.get("status") or ""
    state = operation_state(op)
    if status_ == "PENDING":
        polled = op.get("subtype") == "WaitForCondition"
        return "next poll scheduled" if polled else "retry scheduled"
    if state == "waiting":
        return "waiting"  # a pending callback or a running timer, not "running"
    return status.word(status_) or "not started"


def clip_lines(lines: list[str], limit: int) -> str:
    text = "\n".join(clip(line, limit) for line in lines if line)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def end_lines(execution_status: str, error: Any) -> tuple[list[str], str]:
    """The End node's label and tooltip. An execution that ended badly says why: the
    error type's last dotted part ("StepError", not the module path) on the node, the
    whole type and the message in the tooltip."""
    word = status.word(execution_status) or "running"
    error = error if isinstance(error, dict) else {}
    error_type = str(error.get("ErrorType") or "")
    message = str(error.get("ErrorMessage") or "")
    ended_badly = execution_status in status.ENDED_BADLY
    short_type = error_type.rsplit(".", 1)[-1]
    label = ["End", f"{word}: {clip(short_type, 40)}" if ended_badly and error_type else word]
    tip = [f"Execution {word}"]
    if ended_badly and (error_type or message):
        tip.append(": ".join(filter(None, [error_type, message])))
    return label, clip_lines(tip, TOOLTIP_LIMIT)


# Helvetica's advance widths in ems, by kind of character: close enough to wrap a label
# before graphviz measures it with the real font (which sizes the shape around it).
_NARROW = set("fijlrtI.,:;'!|()[]{} /\\-")
_WIDE = set("mwM%")


def _ems(text: str) -> float:
    total = 0.0
    for ch in text:
        if ch in _NARROW:
            total += 0.3
        elif ch in _WIDE:
            total += 0.86
        elif ch in "W@":
            total += 1.0
        elif ch.isupper():
            total += 0.68
        elif ch.isascii():
            total += 0.56
        else:
            total += 1.0  # CJK and the like are about one em wide
    return total


def _chunks(text: str) -> list[str]:
    """`text` cut where a line may break: after a space or one of - _ . / : and before
    an upper-case letter that follows a lower-case one (camelCase)."""
    chunks, start = [], 0
    for index in range(1, len(text)):
        before, ch = text[index - 1], text[index]
        if before in " -_./:" or (ch.isupper() and before.islower()):
            chunks.append(text[start:index])
            start = index
    chunks.append(text[start:])
    return [chunk for chunk in chunks if chunk]


def _cut(text: str, ems: float) -> str:
    """The longest start of `text` that fits in `ems`, with an ellipsis when cut."""
    if _ems(text) <= ems:
        return text
    while text and _ems(text + "…") > ems:
        text = text[:-1]
    return text.rstrip() + "…"


def wrap(text: str, ems: float = LINE_EMS, lines: int = NAME_LINES) -> list[str]:
    """A label's text as at most `lines` lines of at most `ems` wide each, broken where
    words and camelCase parts meet (mid-word only when one part is longer than a line);
    the last line cut with an ellipsis when the text does not fit."""
    text = clip(text, LABEL_LIMIT)
    raw: list[str] = []  # the lines as cut from the text, so that "".join(raw) == text
    line = ""
    for chunk in _chunks(text):
        while chunk:
            if _ems((line + chunk).rstrip()) <= ems:
                line, chunk = line + chunk, ""
            elif line:
                raw.append(line)
                line = ""
            else:  # one part longer than a line: break it where the line is full
                head = chunk
                while len(head) > 1 and _ems(head) > ems:
                    head = head[:-1]
                raw.append(head)
                chunk = chunk[len(head) :]
    if line:
        raw.append(line)
    if len(raw) > lines:
        raw = raw[: lines - 1] + [_cut("".join(raw[lines - 1 :]).strip(), ems)]
    return [item.strip() for item in raw] or [""]
