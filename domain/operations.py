"""Rules that belong to one operation, whatever shape it comes in (a model row, a node of
the tree fold, a dict given to the visualizer): what it is called, whether it is a
pending callback, whether it fans out."""

from __future__ import annotations

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
