"""Colours, shapes and the legend of execution graphs, in the spirit of the Step
Functions console. Pure data; no Django."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StateStyle:
    label: str
    fill: str
    border: str
    text: str = "#1f2328"


# One visual state per meaning, not per API status.
STATES: dict[str, StateStyle] = {
    "succeeded": StateStyle("Succeeded", "#e7f5ea", "#2e7d32"),
    "failed": StateStyle("Failed", "#fdecec", "#c62828"),
    "running": StateStyle("In progress", "#e6f0fd", "#1565c0"),
    "waiting": StateStyle("Waiting (callback, timer, retry)", "#fff6dc", "#c98a00"),
    "ended": StateStyle("Cancelled, stopped or timed out", "#eeebf3", "#6d5f86"),
    "not_started": StateStyle("Not started", "#f3f4f6", "#9aa0a6", "#5f6368"),
}

# The order of the legend.
LEGEND = ["succeeded", "failed", "running", "waiting", "ended", "not_started"]


def operation_state(op: dict) -> str:
    """The visual state of an operation (a node of executions.tree.nested())."""
    status = op.get("status") or ""
    if status == "SUCCEEDED":
        return "succeeded"
    if status == "FAILED":
        return "failed"
    if status in ("CANCELLED", "STOPPED", "TIMED_OUT"):
        return "ended"
    if status == "PENDING":
        return "waiting"  # a retry or the next poll is scheduled
    if status in ("STARTED", "READY"):
        # A pending callback and a running timer wait on the world, not on compute.
        if op.get("type") in ("CALLBACK", "WAIT") or op.get("subtype") == "WaitForCallback":
            return "waiting"
        return "running"
    return "not_started"


def execution_state(status: str) -> str:
    return {
        "SUCCEEDED": "succeeded",
        "FAILED": "failed",
        "TIMED_OUT": "ended",
        "STOPPED": "ended",
        "RUNNING": "not_started",
        "PAUSING": "waiting",
        "PAUSED": "waiting",
    }.get(status, "not_started")


# Node shapes per operation type.
SHAPES = {
    "STEP": "box",
    "WAIT": "box",
    "CALLBACK": "box",
    "CHAINED_INVOKE": "box",
    "CONTEXT": "box",
}

FONT = "Helvetica,Arial,sans-serif"
