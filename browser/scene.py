"""What a tab shows of an execution: as the mirror holds it now, or as it stood at a moment
of its history (the replay's `?at=`). Every tab reads its tree, its clock, its counts and
its cache through a Scene, so "now" and "at a moment" are one code path, differing only
where the Scene says so:

- now, the tree is read a part at a time (optree.visible_tree: what the table shows, not
  the 10,000 operations behind a collapsed map) and the counts come from the execution's
  row; what is rendered is cached by the mirror's state;
- at a moment, the tree is the replay's fold up to that event (browser/replay.py), read
  whole once per request, the counts come from it, running operations end at the moment
  rather than at the clock, and what is rendered is cached by the moment, which never
  changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from functools import cached_property
from typing import Any, TypeVar

from django.http import HttpRequest

from browser import optree, replay
from executions import nodes, tree
from executions.models import Execution

T = TypeVar("T")


class Scene:
    def __init__(self, execution: Execution, moment: replay.Moment | None = None) -> None:
        self.execution = execution
        self.moment = moment

    @classmethod
    def from_request(cls, request: HttpRequest, execution: Execution) -> Scene:
        return cls(execution, replay.moment_from_request(request, execution))

    @property
    def at(self) -> int | None:
        """The moment's event id, for links that must stay at it (None: now)."""
        return self.moment.event_id if self.moment else None

    @property
    def now(self) -> datetime | None:
        """Where running operations' durations end: the moment, or None for the clock."""
        return self.moment.timestamp if self.moment else None

    @property
    def live(self) -> bool:
        """Still changing as one looks: now, and the execution has not ended."""
        return self.moment is None and not self.execution.is_terminal

    @cached_property
    def _replayed(self) -> replay.Replayed:
        assert self.moment is not None
        return replay.replay(self.execution, self.moment)

    @cached_property
    def _replayed_tree(self) -> optree.OperationTree:
        return replay.operation_tree(self._replayed)

    @property
    def shown(self) -> Execution:
        """The execution as it stood (at a moment: its status and end then)."""
        return self._replayed.execution if self.moment else self.execution

    def tree(
        self,
        *,
        expand: Iterable[str] = (),
        parent_id: str = "",
        offset: int = 0,
        failed_only: bool = False,
    ) -> optree.OperationTree:
        """The tree a table or chart of these arguments needs (at a moment, all of it)."""
        if self.moment is not None:
            op_tree = self._replayed_tree
        elif failed_only:
            op_tree = optree.failure_tree(self.execution)
        else:
            op_tree = optree.visible_tree(
                self.execution, expand=expand, parent_id=parent_id, offset=offset
            )
            optree.load_pending_retries(self.execution, op_tree)
        optree.show_ended(op_tree.by_id.values(), self.shown.status, self._ended_at)
        return op_tree

    def nested(self, columns: tuple[str, ...]) -> list[dict[str, Any]]:
        """The whole tree as the visualizer takes it (nested plain dicts), each operation
        with the status it is shown with (domain.status.shown_status)."""
        if self.moment is None:
            operations = nodes.load_nested(self.execution, columns)
        else:
            operations = tree.nested(self._replayed.nodes)
        optree.show_ended_nested(operations, self.shown.status, self._ended_at)
        return operations

    @property
    def _ended_at(self) -> datetime | None:
        """When the shown execution ended (at a moment, then or not at all)."""
        return self.shown.ended_at if self.shown.is_terminal else None

    def operation_counts(self) -> dict[str, int]:
        """Operations by status, as they stood."""
        if self.moment is None:
            return self.execution.operation_counts
        return dict(tree.counts_by_status(self._replayed_tree.by_id.values()))

    def cached(
        self,
        kind: str,
        parts: Iterable[Any],
        compute: Callable[[], T],
        seconds: int = optree.CACHE_SECONDS,
    ) -> T:
        if self.moment is not None:
            return replay.cached(self.execution, self.moment, kind, parts, compute, seconds)
        return optree.cached(self.execution, kind, parts, compute, seconds)

    def bar(self, tab: str) -> dict[str, Any]:
        """The replay bar's context for a tab."""
        return replay.bar_context(self.execution, tab, self.moment)
