"""The operations tab's open and closed groups, kept in the query string so that a reload,
the tab's own reload when the execution changes, and a shared link all show the same tree.

- `expand=<id>` (repeated): a large map or parallel, which starts collapsed with its
  children not rendered (optree.COLLAPSE_CHILDREN), rendered open;
- `collapse=<id>` (repeated): a group the person closed: its rows are rendered, its
  descendants hidden, the markup static/console.js writes when a toggle is clicked;
- `collapse=all` ("Collapse all"): every group starts closed, and `expand` names the
  ones the person opened again.

static/console.js keeps the URL in step (history.replaceState) as groups are opened and
closed, and sends the state along when it asks for more rows (`tree_rows`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from django.http import QueryDict
from django.utils.http import urlencode

from browser import optree
from web import params

# Operations named by each of `expand` and `collapse`, at most (static/console.js reads
# the same figure from the table's data-tree-limit).
LIMIT = 50
ALL = "all"


@dataclass(frozen=True)
class TreeState:
    expand: tuple[str, ...] = ()
    collapse: tuple[str, ...] = ()
    all_closed: bool = False

    @classmethod
    def from_query(cls, query: QueryDict) -> TreeState:
        collapse = params.operation_ids(query, "collapse", limit=LIMIT, words=[ALL])
        return cls(
            expand=tuple(params.operation_ids(query, "expand", limit=LIMIT)),
            collapse=tuple(c for c in collapse if c != ALL),
            all_closed=ALL in collapse,
        )

    def opened(self, op_id: str) -> TreeState:
        """The state once the person opened `op_id` (what console.js writes in the URL)."""
        others = sorted(e for e in self.expand if e != op_id)[: LIMIT - 1]
        expand = tuple(sorted([*others, op_id]))
        collapse = tuple(c for c in self.collapse if c != op_id)
        return TreeState(expand, collapse, self.all_closed)

    def is_closed(self, op_id: str) -> bool:
        return op_id in self.collapse or (self.all_closed and op_id not in self.expand)

    def query(self) -> list[tuple[str, str]]:
        collapse = [ALL] if self.all_closed else []
        return [("expand", e) for e in self.expand] + [
            ("collapse", c) for c in [*collapse, *self.collapse]
        ]

    def urlencoded(self) -> str:
        return urlencode(self.query())

    def cache_part(self) -> str:
        """A short cache key part for fragments rendered in this state."""
        text = self.urlencoded()
        return hashlib.sha1(text.encode()).hexdigest()[:16] if text else "-"

    def visibility(self, rows: Iterable[optree.TreeRow | optree.MoreRow]) -> dict[str, set[str]]:
        """For the rows (browser/tree_html.py): `closed`, the rendered groups shown closed, and
        `shut`, the operations whose children are hidden (closed, or hidden themselves).
        Rows come depth first, so a parent is always seen before its children."""
        closed: set[str] = set()
        shut: set[str] = set()
        for row in rows:
            if not isinstance(row, optree.TreeRow):
                continue
            node = row.node
            if (node.parent_operation_id or "") in shut:
                shut.add(node.id)
            if row.expanded and self.is_closed(node.id):
                closed.add(node.id)
                shut.add(node.id)
        return {"closed": closed, "shut": shut}
