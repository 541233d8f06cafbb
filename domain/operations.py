"""Rules that belong to one operation, whatever shape it comes in (a model row, a node of
the tree fold, a dict given to the visualizer): what it is called, whether it is a
pending callback, whether it fans out."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from domain.status import TERMINAL_OPERATION_STATUSES as _DONE

# The Python SDK names a wait_for_callback's callback "<name> create callback id"; the
# context around it already carries <name>, so the callback is shown as <name>.
CALLBACK_NAME_SUFFIX = " create callback id"
# Contexts that fan out to many children (branches or iterations).
FANOUT_SUBTYPES = frozenset({"Map", "Parallel"})
CALLBACK = "CALLBACK"
PENDING_CALLBACK_STATUS = "STARTED"


def label(name: str | None, subtype: str | None, type_: str | None, op_id: str = "") -> str:
    """What an operation is called: its name, else its subtype, else its type."""
    if name and type_ == CALLBACK:
        name = name.removesuffix(CALLBACK_NAME_SUFFIX)
    return name or subtype or (type_ or "").title() or op_id


def is_pending_callback(type_: str | None, status: str | None) -> bool:
    """A callback waiting for someone to answer it (success, failure or heartbeat)."""
    return type_ == CALLBACK and status == PENDING_CALLBACK_STATUS


def is_fanout(subtype: str | None) -> bool:
    return subtype in FANOUT_SUBTYPES


# ---- what a running execution is waiting for ------------------------------------------

# An execution that runs is either computing or waiting on the world. It waits when no
# step or invoke is running and at least one operation waits: for a callback's answer, a
# timer, a retry's next attempt, or a condition's next poll. The words are the ones the
# list, the header and the operations tab show.
WAITING_CALLBACK, WAITING_TIMER, WAITING_RETRY, WAITING_POLL = "callback", "timer", "retry", "poll"
WAITING_WORDS = {
    WAITING_CALLBACK: "for a callback",
    WAITING_TIMER: "for a timer",
    WAITING_RETRY: "to retry a step",
    WAITING_POLL: "to poll a condition",
}
# When several operations wait, the one a person can act on comes first.
_WAITING_ORDER = (WAITING_CALLBACK, WAITING_TIMER, WAITING_RETRY, WAITING_POLL)
_CONTAINERS = frozenset({"CONTEXT", "EXECUTION"})


def waiting_kind(type_: str | None, subtype: str | None, status: str | None) -> str:
    """What one unfinished operation waits for, or "" when it runs (or is done)."""
    if status in _DONE or type_ in _CONTAINERS:
        return ""
    if type_ == CALLBACK or subtype == "WaitForCallback":
        return WAITING_CALLBACK if status in ("STARTED", "READY") else ""
    if type_ == "WAIT":
        return WAITING_TIMER
    if status == "PENDING":
        return WAITING_POLL if subtype == "WaitForCondition" else WAITING_RETRY
    return ""


def waiting_for(operations: Iterable[tuple[Any, ...]]) -> tuple[str, Any]:
    """(kind, until) for an execution from its unfinished operations, given as
    (type, subtype, status, until) with `until` a timer's end (or None); ("", None) while
    anything runs or nothing waits."""
    kinds: set[str] = set()
    until = None
    for type_, subtype, status, end in operations:
        if status in _DONE or type_ in _CONTAINERS:
            continue
        kind = waiting_kind(type_, subtype, status)
        if not kind:
            return "", None  # a step or an invoke is running: the execution computes
        kinds.add(kind)
        if kind == WAITING_TIMER and end is not None and (until is None or end < until):
            until = end
    for kind in _WAITING_ORDER:
        if kind in kinds:
            return kind, until if kind == WAITING_TIMER else None
    return "", None
