"""The operations table and the timeline read only the part of the tree they show
(browser.optree.visible_tree); their rows must be the ones the whole tree gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from browser import optree
from executions.models import Operation
from tests import factories

START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def big(db):
    """Roots; a parallel of 3 branches, one holding a 40-item map; a 60-item map of one
    step each; a child context of 250 steps (more than a chunk); a failed step."""
    execution = factories.running_execution(
        factories.offline_source("t"), "t", function="f", started_at=START
    )
    rows: list[Operation] = []

    def add(op_id, parent="", type_="STEP", subtype="Step", status="SUCCEEDED"):
        n = len(rows) + 1
        rows.append(
            Operation(
                execution=execution,
                operation_id=op_id,
                parent_operation_id=parent,
                name=op_id,
                type=type_,
                subtype=subtype,
                status=status,
                started_at=START + timedelta(seconds=n),
                ended_at=START + timedelta(seconds=n + 1),
                first_event_id=n,
                position=n,
            )
        )

    add("first")
    add("fan", type_="CONTEXT", subtype="Parallel", status="STARTED")
    for b in range(3):
        add(f"branch-{b}", "fan", "CONTEXT", "ParallelBranch", "STARTED")
        add(f"branch-{b}-step", f"branch-{b}")
    add("inner-map", "branch-1", "CONTEXT", "Map", "STARTED")
    for i in range(40):
        add(f"inner-{i}", "inner-map", "CONTEXT", "MapIteration")
    add("map", type_="CONTEXT", subtype="Map")
    for i in range(60):
        add(f"item-{i}", "map", "CONTEXT", "MapIteration", "FAILED" if i == 7 else "SUCCEEDED")
        add(f"item-{i}-step", f"item-{i}", status="FAILED" if i == 7 else "SUCCEEDED")
    add("child", type_="CONTEXT", subtype="RunInChildContext", status="STARTED")
    for i in range(250):
        add(f"child-step-{i}", "child", status="STARTED" if i == 249 else "SUCCEEDED")
    add("last", status="FAILED")
    Operation.objects.bulk_create(rows)
    return execution


def _shape(rows):
    out = []
    for row in rows:
        if isinstance(row, optree.MoreRow):
            out.append(("more", row.parent_id, row.depth, row.offset, row.remaining))
        else:
            node = row.node
            # Counts are shown (and so compared) on collapsed rows only.
            counts = sorted(node.child_counts.items()) if row.collapsed else None
            out.append(("row", node.id, row.depth, row.collapsed, row.expanded, counts))
    return out


@pytest.mark.parametrize(
    "expand", [(), ("map",), ("inner-map",), ("map", "inner-map", "fan")], ids=str
)
def test_the_first_view_is_the_whole_trees(big, expand):
    whole = optree.tree_rows(optree.operation_tree(big), expand=expand)
    part_tree = optree.visible_tree(big, expand=expand)
    part = optree.tree_rows(part_tree, expand=expand)
    assert _shape(part) == _shape(whole)
    # What a collapsed map holds stays in the database.
    assert ("item-0" in part_tree.by_id) == ("map" in expand)
    assert ("inner-0" in part_tree.by_id) == ("inner-map" in expand)
    # The map starts collapsed with its counts, unless opened.
    assert ("map" in expand) != any(r[0] == "row" and r[1] == "map" and r[3] for r in _shape(part))


@pytest.mark.parametrize(
    ("parent", "offset", "chunk"),
    [("map", 0, 200), ("map", 0, 25), ("map", 50, 25), ("child", 200, 200), ("child", 0, 200)],
)
def test_more_rows_of_one_parent_are_the_whole_trees(big, parent, offset, chunk):
    whole_tree = optree.operation_tree(big)
    part_tree = optree.visible_tree(big, parent_id=parent, offset=offset, chunk=chunk)
    depth = optree.node_depth(whole_tree, whole_tree.by_id[parent]) + 1
    assert optree.node_depth(part_tree, part_tree.by_id[parent]) + 1 == depth
    args = {"parent_id": parent, "depth": depth, "offset": offset, "chunk": chunk}
    whole = optree.tree_rows(whole_tree, **args)
    part = optree.tree_rows(part_tree, **args)
    assert _shape(part) == _shape(whole)
    assert len(part_tree) < len(whole_tree) / 2  # it did not read the rest


def test_an_orphan_makes_it_read_the_whole_tree(big):
    Operation.objects.filter(execution=big, operation_id="last").update(parent_operation_id="gone")
    whole = optree.tree_rows(optree.operation_tree(big))
    part = optree.tree_rows(optree.visible_tree(big))
    assert _shape(part) == _shape(whole)
    assert any(r[1] == "last" for r in _shape(part))


def test_the_graphs_nested_tree_is_the_folds(big):
    """nodes.load_nested (the graph's reader) gives what tree.nested makes of the nodes,
    orphans at the top level included."""
    from executions import nodes, tree

    Operation.objects.filter(execution=big, operation_id="last").update(parent_operation_id="gone")
    columns = nodes.GRAPH_COLUMNS
    expected = tree.nested(nodes.load_nodes(big, columns))
    got = nodes.load_nested(big, columns)

    def plain(ops):
        keys = ("id", *columns)
        return [({k: op.get(k) for k in keys}, plain(op["children"])) for op in ops]

    assert plain(got) == plain(expected)
    assert [op["id"] for op in got][-1] == "last"


def test_failed_only_reads_the_failures_and_what_holds_them(big):
    whole = optree.tree_rows(optree.operation_tree(big), failed_only=True)
    part_tree = optree.failure_tree(big)
    part = optree.tree_rows(part_tree, failed_only=True)
    assert _shape(part) == _shape(whole)
    assert [r[1] for r in _shape(part)] == ["map", "item-7", "item-7-step", "last"]
    assert len(part_tree) == 4
