"""Started again: which execution one was started again from, and which were started
again from it (Execution.started_from), as an execution's page says them."""

from __future__ import annotations

from dataclasses import dataclass, field

from access.scope import Scope
from actions import input_diff
from executions.models import Execution

# The page lists this many executions started again from one, newest first.
SHOWN = 5


@dataclass
class Lineage:
    origin: Execution | None = None
    change: str = ""  # "input changed: 2 fields", "same input", …
    again: list[Execution] = field(default_factory=list)
    more: int = 0  # started again from it, beyond those listed

    def __bool__(self) -> bool:
        return self.origin is not None or bool(self.again)


def input_change(old: Execution, new: Execution) -> str:
    """How the input of `new` differs from that of `old`, in a few words."""
    if old.input_truncated or new.input_truncated:
        return "input not compared: cut short when it was read"
    if new.input_payload is None:
        return "input not read yet"
    diff = input_diff.diff(old.input_payload, new.input_payload)
    return "same input" if diff.identical else f"input changed: {diff.size}"


def of(execution: Execution, scope: Scope) -> Lineage:
    """The execution's lineage, as far as `scope` lets the person see."""
    lineage = Lineage()
    if execution.started_from_id is not None:
        origin = Execution.objects.select_related("function").filter(pk=execution.started_from_id)
        origin = scope.executions(origin).first()
        if origin is not None:
            lineage.origin = origin
            lineage.change = input_change(origin, execution)
    again = scope.executions(Execution.objects.filter(started_from=execution))
    rows = list(again.order_by("-started_at", "-id").only("pk", "name", "started_at")[: SHOWN + 1])
    if len(rows) > SHOWN:
        lineage.more = again.count() - SHOWN
    lineage.again = rows[:SHOWN]
    return lineage
