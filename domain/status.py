"""What a status means: which statuses are final, which count as failures, the visual
state each one is drawn in, their order and their words. The one home of these rules:
the models' choices, the sync, the tables' badges, the timeline's legend and the graph's
colours (visualizer/style.py gives each state its colours) all read them from here.

Statuses are the API's: an execution's (ExecutionStatus) and an operation's
(OperationStatus).
"""

from __future__ import annotations

EXECUTION_STATUSES = (
    "RUNNING",
    "SUCCEEDED",
    "FAILED",
    "TIMED_OUT",
    "STOPPED",
    "PAUSING",
    "PAUSED",
    "DELETING",
)
OPERATION_STATUSES = (
    "STARTED",
    "PENDING",
    "READY",
    "SUCCEEDED",
    "FAILED",
    "CANCELLED",
    "TIMED_OUT",
    "STOPPED",
)

# An execution in one of these has ended and never changes again.
TERMINAL_EXECUTION_STATUSES = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED"})
# An operation in one of these is done (a retry makes a failed step PENDING instead).
TERMINAL_OPERATION_STATUSES = frozenset(
    {"SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED", "CANCELLED"}
)
# What "failed" means when looking for what went wrong, for an operation or an
# execution: failed or timed out.
FAILED_STATUSES = frozenset({"FAILED", "TIMED_OUT"})
FAILED_OPERATION_STATUSES = FAILED_STATUSES
# An execution that ended without succeeding: its header and its graph's End node say why.
ENDED_BADLY = TERMINAL_EXECUTION_STATUSES - {"SUCCEEDED"}

# The order in which statuses are listed (counts, summaries, legends): what is done, what
# went wrong, then what is still going.
ORDER = (
    "SUCCEEDED",
    "FAILED",
    "TIMED_OUT",
    "STOPPED",
    "CANCELLED",
    "RUNNING",
    "STARTED",
    "READY",
    "PENDING",
    "PAUSING",
    "PAUSED",
    "DELETING",
)

# One visual state per meaning, not per API status: people read "is it done, broken,
# busy, or waiting on someone", not the eight operation statuses.
SUCCEEDED, FAILED, RUNNING, WAITING, ENDED, NOT_STARTED = (
    "succeeded",
    "failed",
    "running",
    "waiting",
    "ended",
    "not_started",
)
STATES = (SUCCEEDED, FAILED, RUNNING, WAITING, ENDED, NOT_STARTED)

# Statuses as words in sentences ("9,950 succeeded, 20 failed").
WORDS = {
    "SUCCEEDED": "succeeded",
    "FAILED": "failed",
    "TIMED_OUT": "timed out",
    "STOPPED": "stopped",
    "CANCELLED": "cancelled",
    "STARTED": "running",
    "READY": "ready",
    "PENDING": "pending",
    "RUNNING": "running",
    "PAUSING": "pausing",
    "PAUSED": "paused",
    "DELETING": "deleting",
}


# ---- what an unfinished operation waits for ------------------------------------------

# An operation that has not finished either computes or waits on the world: for a
# callback's answer, a timer, a retry's next attempt, or a condition's next poll. The one
# rule behind an operation's badge and colour (operation_state) and what a running
# execution is said to wait for (domain.operations.waiting_for). The words are the ones
# the list, the header and the operations tab show.
WAITING_CALLBACK, WAITING_TIMER, WAITING_RETRY, WAITING_POLL = "callback", "timer", "retry", "poll"
WAITING_WORDS = {
    WAITING_CALLBACK: "for a callback",
    WAITING_TIMER: "for a timer",
    WAITING_RETRY: "to retry a step",
    WAITING_POLL: "to poll a condition",
}
CONTAINER_TYPES = frozenset({"CONTEXT", "EXECUTION"})


def waiting_kind(type_: str | None, subtype: str | None, status: str | None) -> str:
    """What one unfinished operation waits for, or "" when it computes (or is done).

    A context waits only as a wait_for_callback's group (its callback waits inside it);
    other contexts are as busy as their children, which speak for themselves.
    """
    if status in TERMINAL_OPERATION_STATUSES:
        return ""
    if subtype == "WaitForCallback" or type_ == "CALLBACK":
        return WAITING_CALLBACK if status in ("STARTED", "READY") else ""
    if type_ in CONTAINER_TYPES:
        return ""
    if type_ == "WAIT":
        return WAITING_TIMER
    if status == "PENDING":
        return WAITING_POLL if subtype == "WaitForCondition" else WAITING_RETRY
    return ""


# ---- what an execution's end makes of what was still pending ------------------------

# An execution that ends (stopped, failed, timed out) leaves in its history the operations
# that were pending as they were: a callback STARTED, a wait STARTED, a retry PENDING. None
# of them will ever go on, so every page shows them as ended with the execution, never as
# "Waiting". The history keeps the API's status; this is what is shown (the graph, the
# operations table, the timeline and the panel all ask here, through browser/scene.py).
ENDED_WITH_EXECUTION = "CANCELLED"


def shown_status(op_status: str | None, execution_status: str | None) -> str:
    """The status an operation is shown with: its own, or CANCELLED when its execution has
    ended while it was still unfinished."""
    op_status = op_status or ""
    if ended_with_execution(op_status, execution_status):
        return ENDED_WITH_EXECUTION
    return op_status


def ended_with_execution(op_status: str | None, execution_status: str | None) -> bool:
    """Whether the operation was still unfinished when its execution ended."""
    return (
        execution_status in TERMINAL_EXECUTION_STATUSES
        and (op_status or "") not in TERMINAL_OPERATION_STATUSES
    )


def shown_counts(counts: dict[str, int], execution_status: str | None) -> dict[str, int]:
    """Operations per status as shown (shown_status applied to each status's count)."""
    shown: dict[str, int] = {}
    for op_status, n in counts.items():
        key = shown_status(op_status, execution_status)
        shown[key] = shown.get(key, 0) + n
    return shown


def is_terminal_operation(status: str) -> bool:
    return status in TERMINAL_OPERATION_STATUSES


def label(status: str) -> str:
    """'TIMED_OUT' -> 'Timed out' (a badge's text)."""
    return (status or "").replace("_", " ").capitalize()


def execution_label(status: str | None, waiting: str = "") -> str:
    """An execution's badge: its status, or "Waiting" for a running one that waits."""
    return "Waiting" if status == "RUNNING" and waiting else label(status or "")


def operation_label(type_: str | None, subtype: str | None, status: str | None) -> str:
    """An operation's badge, in the words the graph uses: "Waiting" for a pending callback,
    a timer, a retry or a condition's next poll, "Running" for what runs."""
    state = operation_state(type_, subtype, status)
    if state == WAITING:
        return "Waiting"
    if state == RUNNING:
        return "Running"
    return label(status or "")


def word(status: str) -> str:
    """'TIMED_OUT' -> 'timed out' (in a sentence)."""
    return WORDS.get(status, (status or "").replace("_", " ").lower())


def sort_key(status: str) -> int:
    return ORDER.index(status) if status in ORDER else len(ORDER)


def operation_state(type_: str | None, subtype: str | None, status: str | None) -> str:
    """The visual state of an operation: waiting exactly when waiting_kind says it waits."""
    status = status or ""
    if status == "SUCCEEDED":
        return SUCCEEDED
    if status == "FAILED":
        return FAILED
    if status in ("CANCELLED", "STOPPED", "TIMED_OUT"):
        return ENDED
    if waiting_kind(type_, subtype, status):
        return WAITING
    if status in ("STARTED", "READY", "PENDING"):
        return RUNNING
    return NOT_STARTED


def execution_state(status: str | None, waiting: str = "") -> str:
    """The visual state of an execution (its badge). `waiting` says what a running one
    waits for (domain.operations.waiting_for), "" while it computes."""
    if status in ("PAUSING", "PAUSED") or (status == "RUNNING" and waiting):
        return WAITING
    if status in ("TIMED_OUT", "STOPPED", "DELETING"):
        return ENDED
    return {"SUCCEEDED": SUCCEEDED, "FAILED": FAILED, "RUNNING": RUNNING}.get(
        status or "", NOT_STARTED
    )


def end_state(status: str | None) -> str:
    """The state of a graph's End node: not reached until the execution has ended (or
    waiting while it is paused)."""
    state = execution_state(status)
    return state if status in TERMINAL_EXECUTION_STATUSES or state == WAITING else NOT_STARTED
