"""Colours, shapes and the legend of execution graphs, in the spirit of the Step
Functions console. Pure data (plus small HTML and CSS snippets); no Django.

Colours are defined once here. The graph (visualizer/dot.py) writes them into the DOT as
graphviz attributes, which end up as SVG presentation attributes (fill=, stroke=), not
as style= attributes, so a strict Content-Security-Policy (no 'unsafe-inline' styles)
does not block them. The legend is rendered as an HTML snippet (`legend_html()`) whose
swatches are tiny inline SVGs with the same presentation attributes: its text is real
text for screen readers. A legend drawn inside the graph would pan and zoom away with
it, so it is kept outside.

Status colours are solid, as in the Step Functions console, and the same in the light
and the dark theme (Bootstrap's success, danger, primary, warning and secondary, so the
graph agrees with the page's badges). What is drawn on the canvas itself follows the
theme (`THEMES`: not-started nodes, collapsed groups, context labels, edges): the SVG
carries the light colours (a downloaded graph is light), and static/graph.css switches
to the dark ones through CSS custom properties that `theme_css()` writes from here
(`python -m visualizer.style static/graph.css`; a test checks the file is current).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, fields
from html import escape
from pathlib import Path
from typing import Any

from domain import status


@dataclass(frozen=True)
class Theme:
    """The colours that follow the page's colour theme."""

    neutral_fill: str  # not-started nodes, collapsed groups, the legend's shapes
    neutral_text: str  # text on neutral_fill
    neutral_border: str
    label: str  # a context's label, written on the canvas
    edge: str


THEMES: dict[str, Theme] = {
    "light": Theme("#f8f9fa", "#495057", "#8c959f", "#212529", "#8c959f"),
    "dark": Theme("#2b3035", "#dee2e6", "#8c959f", "#dee2e6", "#8c959f"),
}
# What the SVG itself carries.
LIGHT = THEMES["light"]
# The page backgrounds the canvas takes (Bootstrap's --bs-body-bg), for the contrast tests.
BACKGROUNDS = {"light": "#ffffff", "dark": "#212529"}


@dataclass(frozen=True)
class StateStyle:
    label: str
    fill: str  # a node's fill
    border: str  # a node's border; a context's frame and its fork and join points
    text: str = "#ffffff"  # text on the fill


# One visual state per meaning, not per API status: people read "is it done, broken,
# busy, or waiting on someone", not the eight operation statuses (domain/status.py).
STATES: dict[str, StateStyle] = {
    status.SUCCEEDED: StateStyle("Succeeded", "#198754", "#198754"),
    status.FAILED: StateStyle("Failed", "#dc3545", "#dc3545"),
    status.RUNNING: StateStyle("Running", "#0d6efd", "#0d6efd"),
    # Amber needs dark text, and a darker rim to stand out from a white canvas.
    status.WAITING: StateStyle("Waiting (callback, timer, retry)", "#ffc107", "#b98900", "#212529"),
    status.ENDED: StateStyle("Cancelled, stopped or timed out", "#6c757d", "#6c757d"),
    status.NOT_STARTED: StateStyle(
        "Not started", LIGHT.neutral_fill, LIGHT.neutral_border, LIGHT.neutral_text
    ),
}

# The order of the legend.
LEGEND = ["succeeded", "failed", "running", "waiting", "ended", "not_started"]

# How much a state needs someone's attention; used to choose which collapsed children
# to draw first and the colour of a summary node (the worst state it hides).
SEVERITY = {
    "failed": 0,
    "ended": 1,
    "running": 2,
    "waiting": 3,
    "not_started": 4,
    "succeeded": 5,
}


def operation_state(op: dict[str, Any]) -> str:
    """The visual state of an operation (a node of executions.tree.nested())."""
    return status.operation_state(op.get("type"), op.get("subtype"), op.get("status"))


def execution_state(execution_status: str) -> str:
    """The End node's state: a running execution has not reached its end (grey)."""
    return status.end_state(execution_status)


@dataclass(frozen=True)
class Shape:
    label: str  # for the legend
    shape: str  # graphviz node shape
    style: str = ""  # graphviz styles added to "filled"
    peripheries: int = 1
    # Room around the label, "x,y" in inches (graphviz's `margin`): the pointed shapes
    # need more across, or a name runs into their points.
    margin: str = "0.15,0.06"


# Node shapes per kind of operation, so a glance tells work from waiting from calls out.
SHAPES: dict[str, Shape] = {
    "step": Shape("Step", "box", "rounded"),
    "condition": Shape("Wait for condition (polls)", "box", "rounded", peripheries=2),
    "wait": Shape("Wait (timer)", "hexagon", margin="0.2,0.06"),
    "callback": Shape("Callback", "cds", margin="0.3,0.14"),
    "invoke": Shape("Chained invoke", "component"),
    "context": Shape("Context drawn as a node", "box", "rounded,bold"),
    "summary": Shape("Collapsed: click to expand", "box", "rounded,dashed"),
    "terminal": Shape("Start, End", "box", "rounded,bold"),
}

# The shapes shown in the legend, in order.
SHAPE_LEGEND = ["step", "condition", "wait", "callback", "invoke", "summary"]


def shape_key(op: dict[str, Any]) -> str:
    """The SHAPES key of an operation drawn as a node."""
    kind = op.get("type")
    if op.get("subtype") == "WaitForCondition":
        return "condition"
    if kind == "WAIT":
        return "wait"
    if kind == "CALLBACK":
        return "callback"
    if kind == "CHAINED_INVOKE":
        return "invoke"
    if kind == "CONTEXT":
        return "context"
    return "step"


FONT = "Helvetica,Arial,sans-serif"

# Tiny SVG drawings of the legend's swatches (14 x 14 view box); {f} fill, {b} border.
_SWATCHES = {
    "state": '<rect x="0.5" y="0.5" width="13" height="13" rx="3" fill="{f}" stroke="{b}"/>',
    "step": '<rect x="0.5" y="2.5" width="13" height="9" rx="3" fill="{f}" stroke="{b}"/>',
    "condition": '<rect x="0.5" y="1.5" width="13" height="11" rx="3" fill="{f}" stroke="{b}"/>'
    '<rect x="2.5" y="3.5" width="9" height="7" rx="2" fill="none" stroke="{b}"/>',
    "wait": '<polygon points="0.5,7 3.5,2.5 10.5,2.5 13.5,7 10.5,11.5 3.5,11.5"'
    ' fill="{f}" stroke="{b}"/>',
    "callback": '<polygon points="0.5,2.5 10.5,2.5 13.5,7 10.5,11.5 0.5,11.5"'
    ' fill="{f}" stroke="{b}"/>',
    "invoke": '<rect x="2.5" y="2.5" width="11" height="9" fill="{f}" stroke="{b}"/>'
    '<rect x="0.5" y="4" width="4" height="2" fill="{f}" stroke="{b}"/>'
    '<rect x="0.5" y="8" width="4" height="2" fill="{f}" stroke="{b}"/>',
    "summary": '<rect x="0.5" y="2.5" width="13" height="9" rx="3" fill="{f}" stroke="{b}"'
    ' stroke-dasharray="2,1.5"/>',
}


def legend_entries() -> list[dict[str, str]]:
    """The legend as data: colours first, then shapes. Each entry has kind ("state" or
    "shape"), key, label, fill and border."""
    entries = [
        {
            "kind": "state",
            "key": key,
            "label": STATES[key].label,
            "fill": STATES[key].fill,
            "border": STATES[key].border,
        }
        for key in LEGEND
    ]
    plain = STATES["not_started"]
    entries += [
        {
            "kind": "shape",
            "key": key,
            "label": SHAPES[key].label,
            "fill": plain.fill,
            "border": plain.border,
        }
        for key in SHAPE_LEGEND
    ]
    return entries


def legend_html(
    list_class: str = "graph-legend list-inline small mb-0",
    item_class: str = "list-inline-item",
) -> str:
    """The legend as an HTML <ul>, safe to mark_safe() and inline: every swatch is an
    inline SVG with presentation attributes (no style attributes, no CSS needed)."""
    items = []
    for entry in legend_entries():
        drawing = _SWATCHES["state" if entry["kind"] == "state" else entry["key"]]
        # The shapes are drawn in the not-started colours, which follow the theme.
        state = entry["key"] if entry["kind"] == "state" else status.NOT_STARTED
        swatch = (
            f'<svg class="graph-legend-swatch state-{escape(state)}" width="14" height="14"'
            ' viewBox="0 0 14 14"'
            ' aria-hidden="true" focusable="false">'
            + drawing.format(f=escape(entry["fill"]), b=escape(entry["border"]))
            + "</svg>"
        )
        items.append(
            f'<li class="{escape(item_class)} graph-legend-{entry["kind"]}"'
            f' data-legend="{escape(entry["key"])}">{swatch} {escape(entry["label"])}</li>'
        )
    return f'<ul class="{escape(list_class)}" aria-label="Legend">' + "".join(items) + "</ul>"


# ---- the theme's colours as CSS custom properties (static/graph.css) ---------------------

CSS_BEGIN = "/* BEGIN theme colours, written by `python -m visualizer.style static/graph.css` */"
CSS_END = "/* END theme colours */"
_THEME_SELECTORS = {"light": ':root, [data-bs-theme="light"]', "dark": '[data-bs-theme="dark"]'}


def theme_css() -> str:
    """`--graph-<field>` custom properties of each theme, between CSS_BEGIN and CSS_END."""
    lines = [CSS_BEGIN]
    for name, selector in _THEME_SELECTORS.items():
        lines.append(selector + " {")
        for field in fields(Theme):
            value = getattr(THEMES[name], field.name)
            lines.append(f"  --graph-{field.name.replace('_', '-')}: {value};")
        lines.append("}")
    lines.append(CSS_END)
    return "\n".join(lines)


def with_theme_css(css: str) -> str:
    """`css` with its theme block replaced by `theme_css()` (or the block put first)."""
    start, end = css.find(CSS_BEGIN), css.find(CSS_END)
    if start < 0 or end < start:
        return theme_css() + "\n" + css
    return css[:start] + theme_css() + css[end + len(CSS_END) :]


if __name__ == "__main__":  # python -m visualizer.style static/graph.css
    if len(sys.argv) != 2:
        sys.exit("usage: python -m visualizer.style PATH_OF_GRAPH_CSS")
    target = Path(sys.argv[1])
    target.write_text(with_theme_css(target.read_text()))
