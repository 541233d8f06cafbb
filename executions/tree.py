"""History events -> operation tree. Pure Python: no Django, no boto3.

The tree is built from GetDurableExecutionHistory events, never from the state API (which
leaves out the children of completed operations). `apply_events` folds events into a
dict of `OperationNode`s keyed by operation id; it is incremental, so the sync engine can
load the nodes it mirrored before, apply only the new events, and save what changed.

Rules, following the API:
- nesting is by ParentId; an operation's type comes from its event family
  (Step*/Wait*/Callback*/Context*/ChainedInvoke*) and SubType says what kind of context
  or step it is (Parallel, ParallelBranch, Map, MapIteration, WaitForCallback,
  WaitForCondition, RunInChildContext, ...);
- an operation's status is that of its latest event;
- a StepFailed (or a WaitForCondition poll's StepSucceeded) whose RetryDetails carry a
  non-zero NextAttemptDelaySeconds schedules another attempt: the operation is PENDING,
  not done (the final failure carries none, or 0);
- attempts are counted from the StepStarted events and the RetryDetails' CurrentAttempt;
- a chained invoke records its target function and, when the history gives one, the
  child execution's ARN.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Any

from domain import operations, status

# Operation types (the API's OperationType) by event family.
EVENT_FAMILIES = {
    "Step": "STEP",
    "Wait": "WAIT",
    "Callback": "CALLBACK",
    "Context": "CONTEXT",
    "ChainedInvoke": "CHAINED_INVOKE",
}

# Event suffix -> operation status (the API's OperationStatus vocabulary).
STATUS_BY_SUFFIX = {
    "Started": "STARTED",
    "Succeeded": "SUCCEEDED",
    "Failed": "FAILED",
    "TimedOut": "TIMED_OUT",
    "Stopped": "STOPPED",
    "Cancelled": "CANCELLED",
}

EXECUTION_EVENT_PREFIX = "Execution"


@dataclass(slots=True)
class OperationNode:
    """One operation of an execution, as plain data: what the fold builds, what the sync
    stores (executions/nodes.py maps it to an Operation row, field for field) and what the
    pages read. Attribute names are the Operation model's."""

    id: str
    type: str
    subtype: str | None = None
    name: str | None = None
    parent_operation_id: str | None = None
    status: str = "STARTED"
    started_at: datetime | None = None
    ended_at: datetime | None = None
    attempt_count: int = 0
    callback_id: str | None = None
    wait_seconds: int | None = None
    wait_scheduled_end: datetime | None = None
    invoke_function: str | None = None
    child_execution_arn: str | None = None
    input_payload: str | None = None
    result_payload: str | None = None
    result_truncated: bool = False
    error: dict[str, Any] | None = None
    retries: list[dict[str, Any]] = field(default_factory=list)
    first_event_id: int = 0
    last_event_id: int = 0
    # Order in which operations first appeared in the history (for stable display).
    position: int = 0
    # Filled in by link(): the children in start order, their number per status, and
    # whether this operation or one below it failed or timed out.
    children: list[OperationNode] = field(default_factory=list, repr=False)
    child_counts: dict[str, int] = field(default_factory=dict, repr=False)
    has_failure: bool = False
    # What the pages show is not always the API's status: an operation still unfinished
    # when its execution ended is shown as ended with it (domain.status.shown_status, applied
    # by browser/scene.py); then this holds the status the history gave it.
    api_status: str = ""

    @property
    def label(self) -> str:
        return operations.label(self.name, self.subtype, self.type, self.id)

    @property
    def is_pending_callback(self) -> bool:
        return operations.is_pending_callback(self.type, self.status)

    @property
    def child_total(self) -> int:
        """How many children it has (known from child_counts even where the children
        themselves were not loaded)."""
        return sum(self.child_counts.values())

    @property
    def is_group(self) -> bool:
        return operations.is_fanout(self.subtype)

    @property
    def failed(self) -> bool:
        return self.status in status.FAILED_OPERATION_STATUSES

    @property
    def running(self) -> bool:
        return self.ended_at is None and not status.is_terminal_operation(self.status)

    def duration(self, now: datetime) -> timedelta | None:
        if self.started_at is None:
            return None
        return (self.ended_at or now) - self.started_at

    def to_dict(self) -> dict[str, Any]:
        """The node as plain data without its links (what the visualizer takes). A shallow
        copy: dataclasses.asdict deep-copies every value, which made the tree of a
        10,000-operation execution take over a second."""
        return dict(zip(_PLAIN_FIELDS, _plain_values(self), strict=True))


# The node's own data: every field but the links link() fills in.
_PLAIN_FIELDS = tuple(
    name
    for name in OperationNode.__dataclass_fields__
    if name not in ("children", "child_counts", "has_failure", "api_status")
)


_plain_values = attrgetter(*_PLAIN_FIELDS)


def split_event_type(event_type: str) -> tuple[str, str] | None:
    """`StepFailed` -> (`Step`, `Failed`); None for execution-level and other events."""
    for family in sorted(EVENT_FAMILIES, key=len, reverse=True):
        if event_type.startswith(family):
            suffix = event_type[len(family) :]
            if suffix in STATUS_BY_SUFFIX:
                return family, suffix
    return None


def _payload(details: dict[str, Any], key: str) -> tuple[str | None, bool]:
    value = details.get(key)
    if isinstance(value, dict):
        return value.get("Payload"), bool(value.get("Truncated"))
    return None, False


def _error(details: dict[str, Any]) -> dict[str, Any] | None:
    value = details.get("Error")
    if isinstance(value, dict):
        payload = value.get("Payload", value)
        return payload if isinstance(payload, dict) else {"ErrorMessage": str(payload)}
    return None


def event_details(event: dict[str, Any]) -> dict[str, Any]:
    """The event's *Details object (each event type has its own key), or {}."""
    for key, value in event.items():
        if key.endswith("Details") and isinstance(value, dict):
            return value
    return {}


def apply_event(nodes: dict[str, OperationNode], event: dict[str, Any]) -> str | None:
    """Fold one history event into `nodes`; return the id of the operation it changed."""
    split = split_event_type(event.get("EventType", ""))
    op_id = event.get("Id")
    if split is None or not op_id:
        return None
    family, suffix = split
    event_id = int(event.get("EventId") or 0)
    node = nodes.get(op_id)
    if node is None:
        node = OperationNode(
            id=op_id,
            type=EVENT_FAMILIES[family],
            first_event_id=event_id,
            position=len(nodes),
        )
        nodes[op_id] = node
    if event_id and event_id < node.last_event_id:
        return None  # an event we have already applied
    node.last_event_id = max(node.last_event_id, event_id)
    node.subtype = event.get("SubType") or node.subtype
    node.name = event.get("Name") if event.get("Name") is not None else node.name
    node.parent_operation_id = event.get("ParentId") or node.parent_operation_id
    timestamp = event.get("EventTimestamp")
    details = event_details(event)
    status = STATUS_BY_SUFFIX[suffix]

    if suffix == "Started":
        if node.started_at is None:
            node.started_at = timestamp
        node.ended_at = None
        if family == "Step":
            node.attempt_count += 1
        if family == "Wait":
            node.wait_seconds = details.get("Duration", node.wait_seconds)
            node.wait_scheduled_end = details.get("ScheduledEndTimestamp")
        if family == "Callback":
            node.callback_id = details.get("CallbackId") or node.callback_id
        if family == "ChainedInvoke":
            node.invoke_function = details.get("FunctionName") or node.invoke_function
            node.input_payload, _ = _payload(details, "Input")
    else:
        node.ended_at = timestamp
        result, truncated = _payload(details, "Result")
        if result is not None or truncated:
            node.result_payload, node.result_truncated = result, truncated
        node.error = _error(details) or (node.error if status == "SUCCEEDED" else None)
        if status == "SUCCEEDED":
            node.error = None

    # A chained invoke's child execution, wherever the history reports it.
    for key in ("DurableExecutionArn", "ChildExecutionArn", "ExecutionArn"):
        if details.get(key):
            node.child_execution_arn = details[key]

    retry = details.get("RetryDetails")
    if isinstance(retry, dict):
        attempt = int(retry.get("CurrentAttempt") or 0)
        node.attempt_count = max(node.attempt_count, attempt)
        if suffix == "Failed":
            node.retries.append(
                {
                    "attempt": attempt,
                    "at": timestamp,
                    "error": _error(details),
                    "next_attempt_delay_seconds": retry.get("NextAttemptDelaySeconds"),
                }
            )
        if retry.get("NextAttemptDelaySeconds"):
            # Another attempt (or poll) is scheduled: the operation is not done. The
            # runner reports the last failure with a delay of 0, so 0 means final.
            status = "PENDING"
            node.ended_at = None
    node.status = status
    return op_id


# ---- an operation's state, from wherever it is told --------------------------------


@dataclass(frozen=True, slots=True)
class OperationState:
    """An operation's state as a source other than its history tells it (a telemetry
    record: executions/telemetry.py), in the node's vocabulary. None: not told.

    `attempts` counts attempts started, as the fold does (one per StepStarted), so
    both tell progress on one scale."""

    id: str
    type: str | None = None
    subtype: str | None = None
    name: str | None = None
    parent_operation_id: str | None = None
    status: str | None = None
    attempts: int | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    error: dict[str, Any] | None = None
    result_payload: str | None = None


# Within one attempt count, how far along a not-yet-finished operation is: the attempt
# runs (STARTED), failed and waits for its retry (PENDING), may run again (READY).
_PHASE = {"STARTED": 0, "PENDING": 1, "READY": 2}


def progress(
    status_: str | None, attempts: int | None, ended_at: datetime | None
) -> tuple[int, int, int, float]:
    """How far along an operation is, by its own progress rather than by when it was
    told: done beats not done, more attempts started beats fewer, then the phase of the
    attempt, then a later end. Two tellings compare by this, whatever order they came in."""
    done = 1 if status_ in status.TERMINAL_OPERATION_STATUSES else 0
    phase = 3 if done else _PHASE.get(status_ or "", -1)
    return (done, attempts or 0, phase, ended_at.timestamp() if ended_at else 0.0)


def node_progress(node: OperationNode) -> tuple[int, int, int, float]:
    return progress(node.status, node.attempt_count, node.ended_at)


def apply_state(nodes: dict[str, OperationNode], state: OperationState) -> bool:
    """Apply one operation's state to `nodes` (adding the operation if it is new), never
    going backwards: the state's status, attempts, end and error replace the node's only
    when the state is further along (`progress`); what the node lacks (a name, a parent,
    a start, a result) is filled in whatever the order. Returns whether anything changed.

    The history fold and the telemetry records meet here: the telemetry path applies each
    record's operations with it, and a history read applies the telemetry state that is
    still ahead of the events it folded (executions/history.py)."""
    node = nodes.get(state.id)
    created = node is None
    if node is None:
        node = OperationNode(
            id=state.id,
            type=state.type or "STEP",
            status=state.status or "STARTED",
            position=len(nodes),
        )
        nodes[state.id] = node
    before = None if created else node.to_dict()
    node.type = node.type or state.type or "STEP"
    node.subtype = node.subtype or state.subtype
    node.name = node.name if node.name is not None else state.name
    node.parent_operation_id = node.parent_operation_id or state.parent_operation_id
    if node.started_at is None and state.started_at is not None:
        node.started_at = state.started_at
    ahead = progress(state.status, state.attempts, state.ended_at) > node_progress(node)
    if state.status and (created or ahead):
        node.status = state.status
        node.attempt_count = max(node.attempt_count, state.attempts or 0)
        done = state.status in status.TERMINAL_OPERATION_STATUSES
        node.ended_at = state.ended_at if done else None
        if state.status == "SUCCEEDED":
            node.error = None
        elif state.error is not None:
            node.error = state.error
    elif state.error is not None and node.error is None and node.failed:
        node.error = state.error
    if state.result_payload is not None and node.result_payload is None:
        if node.status == "SUCCEEDED" or state.status == "SUCCEEDED":
            node.result_payload = state.result_payload
    return created or node.to_dict() != before


# Execution-level events -> the execution's status after them.
EXECUTION_STATUS_BY_EVENT = {
    "ExecutionSucceeded": "SUCCEEDED",
    "ExecutionFailed": "FAILED",
    "ExecutionTimedOut": "TIMED_OUT",
    "ExecutionStopped": "STOPPED",
    "ExecutionPaused": "PAUSED",
    "ExecutionResumed": "RUNNING",
}


def execution_status(events: list[dict[str, Any]], current: str) -> tuple[str, Any]:
    """The execution's status after `events` (in order), and when it ended if it did;
    `current` where no event tells it."""
    for event in reversed(events):
        found = EXECUTION_STATUS_BY_EVENT.get(event.get("EventType", ""))
        if found:
            ended = (
                event.get("EventTimestamp") if found in status.TERMINAL_EXECUTION_STATUSES else None
            )
            return found, ended
    return current, None


def apply_events(nodes: dict[str, OperationNode], events: Iterable[dict[str, Any]]) -> set[str]:
    """Fold events (in EventId order) into `nodes`; return the ids of changed operations."""
    changed: set[str] = set()
    for event in events:
        op_id = apply_event(nodes, event)
        if op_id:
            changed.add(op_id)
    return changed


def build_tree(events: Iterable[dict[str, Any]]) -> dict[str, OperationNode]:
    nodes: dict[str, OperationNode] = {}
    apply_events(nodes, sorted(events, key=lambda e: int(e.get("EventId") or 0)))
    return nodes


def link(nodes: dict[str, OperationNode]) -> list[OperationNode]:
    """Hang every node under its parent and return the top-level operations.

    Children come in the order they started; an orphan (its parent not known) hangs off
    the root. Each node also gets its children's count per status, and every node on the
    way down to a failed or timed-out operation is marked `has_failure`.
    """
    roots: list[OperationNode] = []
    ordered = sorted(nodes.values(), key=attrgetter("first_event_id", "position"))
    for node in ordered:
        node.children, node.child_counts, node.has_failure = [], {}, False
    for node in ordered:
        parent = nodes.get(node.parent_operation_id) if node.parent_operation_id else None
        if parent is None:
            roots.append(node)
        else:
            parent.children.append(node)
            parent.child_counts[node.status] = parent.child_counts.get(node.status, 0) + 1
    for node in ordered:
        if node.failed:
            _mark_failure(node, nodes)
    return roots


def _mark_failure(node: OperationNode, nodes: dict[str, OperationNode]) -> None:
    steps = 0
    current: OperationNode | None = node
    while current is not None and not current.has_failure and steps < 1000:
        current.has_failure = True
        parent_id = current.parent_operation_id
        current = nodes.get(parent_id) if parent_id else None
        steps += 1


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a whole tree is built. Building 10,000 nodes (and
    as many dicts, lists and tuples) triggers dozens of collections, and the older
    generations' ones scan every object the process holds (Django's included): that took
    longer than reading the rows. Nothing built here is a cycle to collect later."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def nested(nodes: dict[str, OperationNode]) -> list[dict[str, Any]]:
    """The tree as nested dicts (each with `children`), top-level operations first: the
    plain data the visualizer draws."""

    def walk(node: OperationNode) -> dict[str, Any]:
        data = node.to_dict()
        data["children"] = [walk(child) for child in node.children]
        return data

    with gc_paused():
        return [walk(node) for node in link(nodes)]


def counts_by_status(nodes: Iterable[OperationNode]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for node in nodes:
        counts[node.status] = counts.get(node.status, 0) + 1
    return counts


def decode_payload(text: str | None) -> Any:
    """Parse a payload for display.

    Payloads are JSON text. The Python SDK checkpoints step results in a typed envelope
    (`{"t": "m", "v": {...}}`); unwrap it so people read the value they returned.
    Anything that is not JSON is returned as the text it is.
    """
    if text is None:
        return None
    try:
        value = json.loads(text)
    except (TypeError, ValueError, RecursionError):
        # Not JSON, or nested deeper than the parser goes: show it as the text it is.
        return text
    return _unwrap(value)


_SCALAR_TAGS = {"s", "i", "f", "b", "n", "d", "dt", "dec", "u", "bytes"}


def _unwrap(value: Any, depth: int = 0) -> Any:
    if depth > 200:
        return value
    if isinstance(value, dict) and set(value) <= {"t", "v"} and "t" in value:
        tag, inner = value.get("t"), value.get("v")
        if tag in ("m", "br") and isinstance(inner, dict):
            return {k: _unwrap(v, depth + 1) for k, v in inner.items()}
        if tag in ("l", "t", "set", "tuple") and isinstance(inner, list):
            return [_unwrap(v, depth + 1) for v in inner]
        if tag in _SCALAR_TAGS or not isinstance(inner, (dict, list)):
            return inner
        return _unwrap(inner, depth + 1)
    if isinstance(value, dict):
        return {k: _unwrap(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap(v, depth + 1) for v in value]
    return value
