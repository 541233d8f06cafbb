"""Compare two runs: their operation trees side by side, matched by operation path.

An operation's path is where it sits in the tree: the names (else subtype or type) of the
operations above it and its own, each with its rank among the siblings of that name (the
third `post` of a map is `post#2`). Operation ids are the backend's hashes, different in
every run, so they match nothing. For each pair the page says what ran in one run only,
and where status, attempts, duration, result or error differ (results as a JSON diff).
A subtree the same in both runs is one collapsed row, so two 10,000-operation runs that
differ in a few places read as those places.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from access import scope
from browser import optree
from domain import operations
from executions import nodes, tree
from executions.models import Execution
from web import params
from web.shortcuts import not_found, with_execution

# What a comparison reads of each operation: the tables' columns, the result and the error.
COMPARE_COLUMNS = (*nodes.LIGHT_COLUMNS, "result_payload", "result_truncated", "error")
# Rows written at most (a differing row and the same-subtree rows around it count).
MAX_ROWS = 2000
# Per pair of payloads, the differences listed at most.
MAX_JSON_DIFFS = 50
# Durations differ when they differ by more than this share of the longer one, and by at
# least MIN_DURATION_GAP: runs never take the same milliseconds.
DURATION_SHARE = 0.5
MIN_DURATION_GAP = timedelta(milliseconds=500)
_MISSING = object()


@dataclass
class Pair:
    """One operation path, and its operation in each run (None where it did not run)."""

    label: str
    a: tree.OperationNode | None
    b: tree.OperationNode | None
    depth: int
    differences: list[str] = field(default_factory=list)
    result_diff: list[tuple[str, str, str]] = field(default_factory=list)
    error_diff: list[tuple[str, str, str]] = field(default_factory=list)
    children: list[Pair] = field(default_factory=list)
    # Operations at and below this path (in either run), and whether all are the same.
    size: int = 1
    same: bool = True

    @property
    def diff_count(self) -> int:
        return len(self.result_diff) + len(self.error_diff)

    @property
    def sides(self) -> tuple[tree.OperationNode | None, tree.OperationNode | None]:
        return self.a, self.b

    @property
    def only(self) -> str:
        return "a" if self.b is None else "b" if self.a is None else ""


@dataclass
class Row:
    """A row of the page: one pair (`pair`), or a run of neighbouring subtrees that are the
    same in both runs (`same`: how many pairs, `size`: how many operations in all)."""

    depth: int
    pair: Pair | None = None
    # The pair's subtree is the same in both runs: one row stands for all of it.
    folded: bool = False
    same: list[Pair] = field(default_factory=list)

    @property
    def last(self) -> Pair | None:
        return self.same[-1] if self.same else None

    @property
    def size(self) -> int:
        return sum(p.size for p in self.same) if self.same else (self.pair.size if self.pair else 0)


@dataclass
class Comparison:
    a: Execution
    b: Execution
    roots: list[Pair]
    counts: dict[str, int]
    rows: list[Row]
    truncated: int


def _key(node: tree.OperationNode) -> str:
    return operations.label(node.name, node.subtype, node.type)


def _matched(
    left: list[tree.OperationNode], right: list[tree.OperationNode]
) -> Iterator[tuple[str, tree.OperationNode | None, tree.OperationNode | None]]:
    """Children of two matched operations, paired by (label, rank among that label), in
    the order they ran in A, then B's that A does not have."""

    def ranked(children: list[tree.OperationNode]) -> dict[tuple[str, int], tree.OperationNode]:
        seen: dict[str, int] = {}
        out = {}
        for node in children:
            label = _key(node)
            rank = seen.get(label, 0)
            seen[label] = rank + 1
            out[(label, rank)] = node
        return out

    a, b = ranked(left), ranked(right)
    for key, node in a.items():
        yield _name(key), node, b.get(key)
    for key, node in b.items():
        if key not in a:
            yield _name(key), None, node


def _name(key: tuple[str, int]) -> str:
    label, rank = key
    return f"{label} #{rank + 1}" if rank else label


def _short(value: Any) -> str:
    if value is _MISSING:
        return "—"
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 200 else text[:199] + "…"


def json_diff(
    a: Any, b: Any, path: str = "$", out: list | None = None
) -> list[tuple[str, str, str]]:
    """Where two JSON values differ: (path, A's value, B's value), at most MAX_JSON_DIFFS,
    a missing key or item shown as —."""
    out = [] if out is None else out
    if len(out) >= MAX_JSON_DIFFS:
        return out
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            json_diff(a.get(key, _MISSING), b.get(key, _MISSING), f"{path}.{key}", out)
    elif isinstance(a, list) and isinstance(b, list):
        for index in range(max(len(a), len(b))):
            left = a[index] if index < len(a) else _MISSING
            right = b[index] if index < len(b) else _MISSING
            json_diff(left, right, f"{path}[{index}]", out)
    elif a != b or type(a) is not type(b):
        out.append((path, _short(a), _short(b)))
    return out


def _durations_differ(a: tree.OperationNode, b: tree.OperationNode) -> bool:
    if a.started_at is None or b.started_at is None or a.ended_at is None or b.ended_at is None:
        return False
    left, right = a.ended_at - a.started_at, b.ended_at - b.started_at
    gap = abs(left - right)
    return gap >= MIN_DURATION_GAP and gap > max(left, right) * DURATION_SHARE


def _compare(pair: Pair) -> None:
    a, b = pair.a, pair.b
    if a is None or b is None:
        pair.same = False
        return
    if a.status != b.status:
        pair.differences.append("status")
    if (a.attempt_count or 0) != (b.attempt_count or 0):
        pair.differences.append("attempts")
    if _durations_differ(a, b):
        pair.differences.append("duration")
    # The same text is the same result: most pairs are decided without parsing.
    if a.result_payload != b.result_payload or a.result_truncated != b.result_truncated:
        left, right = tree.decode_payload(a.result_payload), tree.decode_payload(b.result_payload)
        if left != right or a.result_truncated != b.result_truncated:
            pair.differences.append("result")
            pair.result_diff = json_diff(left, right)
    if (a.error or None) != (b.error or None):
        pair.differences.append("error")
        pair.error_diff = json_diff(a.error or {}, b.error or {})
    pair.same = not pair.differences


def _pairs(
    left: list[tree.OperationNode], right: list[tree.OperationNode], depth: int
) -> list[Pair]:
    pairs = []
    for label, a, b in _matched(left, right):
        pair = Pair(label, a, b, depth)
        _compare(pair)
        pair.children = _pairs(a.children if a else [], b.children if b else [], depth + 1)
        pair.size += sum(child.size for child in pair.children)
        pair.same = pair.same and all(child.same for child in pair.children)
        pairs.append(pair)
    return pairs


def _rows(pairs: list[Pair], limit: int) -> tuple[list[Row], int]:
    """Rows in tree order. A pair that differs is a row and its children follow; a subtree
    the same in both runs is one folded row, and neighbouring ones make one row together.
    Past `limit` rows, what is left is counted (in operations), not written."""
    rows: list[Row] = []
    left_out = 0

    def walk(children: list[Pair]) -> None:
        nonlocal left_out
        index = 0
        while index < len(children):
            pair = children[index]
            if pair.same:
                run = [pair]
                while index + len(run) < len(children) and children[index + len(run)].same:
                    run.append(children[index + len(run)])
                index += len(run)
                if len(rows) >= limit:
                    left_out += sum(p.size for p in run)
                elif len(run) == 1:
                    rows.append(Row(pair.depth, pair, folded=bool(pair.children)))
                else:
                    rows.append(Row(pair.depth, same=run))
                continue
            index += 1
            if len(rows) >= limit:
                left_out += pair.size
                continue
            rows.append(Row(pair.depth, pair))
            walk(pair.children)

    walk(pairs)
    return rows, left_out


def _count(pairs: list[Pair], counts: dict[str, int]) -> None:
    for pair in pairs:
        if pair.only:
            counts[f"only_{pair.only}"] += 1
        elif pair.differences:
            counts["differ"] += 1
        else:
            counts["same"] += 1
        _count(pair.children, counts)


def compare(a: Execution, b: Execution, limit: int = MAX_ROWS) -> Comparison:
    with tree.gc_paused():
        left = tree.link(nodes.load_nodes(a, COMPARE_COLUMNS))
        right = tree.link(nodes.load_nodes(b, COMPARE_COLUMNS))
        roots = _pairs(left, right, 0)
    counts = {"only_a": 0, "only_b": 0, "differ": 0, "same": 0}
    _count(roots, counts)
    rows, truncated = _rows(roots, limit)
    return Comparison(a, b, roots, counts, rows, truncated)


def execution_diffs(a: Execution, b: Execution) -> list[tuple[str, list[tuple[str, str, str]]]]:
    """The two executions' own input, result and error, where they differ: (what, diff)."""
    out = []
    for what, left, right in (
        ("input", tree.decode_payload(a.input_payload), tree.decode_payload(b.input_payload)),
        ("result", tree.decode_payload(a.result_payload), tree.decode_payload(b.result_payload)),
        ("error", a.error, b.error),
    ):
        diff = json_diff(left, right, what)
        if diff:
            out.append((what, diff))
    return out


# ---- views -------------------------------------------------------------------------------


def _pick(request: HttpRequest) -> tuple[int, int]:
    """The two executions: ?a=&b=, or two ?ids= (the list's selection)."""
    ids = request.GET.getlist("ids")
    if ids:
        if len(ids) != 2:
            raise params.BadQuery(
                f"“ids” must select exactly two executions to compare; {len(ids)} were selected."
            )
        first, second = (params.whole_number("ids", value.strip(), minimum=1) for value in ids)
        return first, second
    a = params.integer(request.GET, "a", minimum=1)
    b = params.integer(request.GET, "b", minimum=1)
    if a is None or b is None:
        raise params.BadQuery(
            "Name the two executions to compare with “a” and “b” (?a=&b=), or select two in "
            "the list."
        )
    return a, b


@require_GET
def compare_view(request: HttpRequest) -> HttpResponse:
    first, second = _pick(request)
    visible = scope.of_request(request)
    if request.GET.getlist("ids"):
        # The list's selection becomes the page's own, shareable address, the run that
        # started first as A.
        ordered = list(
            visible.executions(Execution.objects)
            .filter(pk__in=[first, second])
            .order_by("started_at", "pk")
            .values_list("pk", flat=True)
        )
        if len(ordered) == 2:
            first, second = ordered
        return redirect(reverse("browser:compare") + "?" + urlencode({"a": first, "b": second}))
    if first == second:
        raise params.BadQuery("“a” and “b” are the same execution: choose two different ones.")
    found = visible.executions(Execution.objects.select_related("function", "source")).in_bulk(
        [first, second]
    )
    missing = [pk for pk in (first, second) if pk not in found]
    if missing:
        return not_found(
            request,
            "Execution not found",
            f"The mirror holds no execution {missing[0]} (it may have been deleted).",
        )
    a, b = found[first], found[second]
    # The comparison is cached by both runs' mirror states (the key carries A's; B's is a
    # part): a new event in either makes a new key.
    table = optree.cached(a, "compare", [b.pk, b.mirror_state], lambda: _table(a, b))
    return render(
        request,
        "browser/compare.html",
        {
            **table,
            "a": a,
            "b": b,
            "sides": [("a", a), ("b", b)],
            "execution_diffs": execution_diffs(a, b),
            "swap_url": reverse("browser:compare") + "?" + urlencode({"a": b.pk, "b": a.pk}),
        },
    )


def _table(a: Execution, b: Execution) -> dict[str, Any]:
    """The comparison's rows as HTML, and its counts: what the page caches (no user's
    data in it, so any viewer can be served it)."""
    comparison = compare(a, b)
    html = render_to_string(
        "browser/_compare_rows.html",
        {"rows": comparison.rows, "a": a, "b": b, "truncated": comparison.truncated},
    )
    return {"rows_html": html, "counts": comparison.counts, "truncated": comparison.truncated}


@require_GET
@with_execution
def compare_previous(request: HttpRequest, execution: Execution) -> HttpResponse:
    """This execution beside the run of its function that started before it."""
    previous = (
        Execution.objects.filter(
            function_id=execution.function_id, started_at__lt=execution.started_at
        )
        .order_by("-started_at", "-pk")
        .first()
        if execution.started_at
        else None
    )
    if previous is None:
        return not_found(
            request,
            "No previous run",
            f"The mirror holds no run of {execution.function} that started before "
            f"“{execution.name}”.",
            execution=execution,
        )
    return redirect(
        reverse("browser:compare") + "?" + urlencode({"a": previous.pk, "b": execution.pk})
    )
