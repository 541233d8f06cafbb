"""The operations and timeline tabs at a past moment (`?at=`): the same rows and chart as
now (browser/detail.py), drawn from the tree folded up to the moment (browser/replay.py)
and cached by the moment."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.template.loader import render_to_string

from browser import optree, replay, timeline, tree_html, treestate
from domain.status import FAILED_OPERATION_STATUSES
from executions import tree
from executions.models import Execution
from web import params


def operations_context(
    execution: Execution,
    moment: replay.Moment,
    state: treestate.TreeState,
    failed_only: bool,
) -> dict[str, Any]:
    def render() -> dict[str, Any]:
        op_tree = replay.operation_tree(replay.replay(execution, moment))
        rows = optree.tree_rows(op_tree, expand=state.expand, failed_only=failed_only)
        html = tree_html.render_rows(
            execution, rows, **state.visibility(rows), now=moment.timestamp
        )
        counts = tree.counts_by_status(op_tree.by_id.values())
        return {
            "rows_html": replay.link_rows_to_moment(html, execution, moment),
            "operation_count": len(op_tree),
            "failed_count": sum(n for s, n in counts.items() if s in FAILED_OPERATION_STATUSES),
        }

    parts = [int(failed_only), state.cache_part()]
    shown = replay.cached(execution, moment, "ops-html", parts, render)
    return {
        "failed_only": failed_only,
        "first_failure": None,
        "tree_limit": treestate.LIMIT,
        **shown,
        **replay.bar_context(execution, "operations", moment),
    }


def more_rows(execution: Execution, moment: replay.Moment, query: Any) -> str:
    """More rows of the table at a moment (what detail.tree_rows answers for now)."""
    parent_id = params.operation_id(query, "parent")
    offset = params.integer(query, "offset", minimum=0) or 0
    state = treestate.TreeState.from_query(query)
    if parent_id:
        state = state.opened(parent_id)

    def render() -> str:
        op_tree = replay.operation_tree(replay.replay(execution, moment))
        parent = op_tree.by_id.get(parent_id) if parent_id else None
        if parent_id and parent is None:
            return ""
        depth = optree.node_depth(op_tree, parent) + 1 if parent else 0
        rows: list[Any] = []
        if parent is not None and offset == 0:
            rows.append(optree.TreeRow(parent, depth - 1, expanded=True))
        rows.extend(
            optree.tree_rows(
                op_tree, parent_id=parent_id, depth=depth, offset=offset, expand=state.expand
            )
        )
        html = tree_html.render_rows(
            execution, rows, **state.visibility(rows), now=moment.timestamp
        )
        return replay.link_rows_to_moment(html, execution, moment)

    parts = [parent_id, offset, state.cache_part()]
    return replay.cached(execution, moment, "rows-html", parts, render)


def timeline_context(
    execution: Execution,
    moment: replay.Moment,
    expand: Iterable[str],
    legend: Callable[[Iterable[tree.OperationNode]], list[tuple[str, str]]],
) -> dict[str, Any]:
    expand = list(expand)

    def render() -> str:
        replayed = replay.replay(execution, moment)
        # Bars still running at the moment end at its event, not at the clock.
        chart = timeline.timeline(
            replayed.execution,
            replay.operation_tree(replayed),
            now=moment.timestamp,
            expand=expand,
        )
        return render_to_string(
            "browser/_timeline_chart.html",
            {
                "execution": replayed.execution,
                "moment": moment,
                "chart": chart,
                "expand": expand,
                "legend": legend(bar.row.node for bar in chart.bars),
                "max_rows": timeline.TIMELINE_MAX_ROWS,
            },
        )

    html = replay.cached(execution, moment, "timeline-html", expand, render)
    return {"timeline_html": html, **replay.bar_context(execution, "timeline", moment)}
