"""The drawn graph's geometry, measured on the SVG that graphviz lays out: no edge runs
through a label (a context's name, an operation's), and every operation's name fits
inside its shape with room to spare.

Every recorded history (tests/fixtures/histories), top to bottom and left to right, and
the same histories with every operation renamed to a long name, are drawn as the page
draws them. Positions come from the SVG (edges' Bézier curves, shapes' outlines, each
text's anchor point and font size); a text's width is the one graphviz measured with the
font it laid the graph out with (`dot -Tjson` of the same DOT), which is the font the
browser draws it in (tests/browser/test_graph_first.py measures it on screen)."""

from __future__ import annotations

import copy
import json
import re
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from executions.tree import build_tree, nested
from visualizer.graph import build_dot
from visualizer.render import render_svg

HISTORIES = Path(__file__).parent / "fixtures" / "histories"
SAMPLES = sorted(p.stem for p in HISTORIES.glob("*.json"))
SVG = "{http://www.w3.org/2000/svg}"
# Room between a name and its shape's outline, in the graph's units (CSS pixels at 100 %).
PADDING_X, PADDING_Y = 4.0, 1.5
# Long names: what a person may call an operation (and has, in the issue).
LONG_NAMES = [
    "waitForFinanceDirectorApprovalOfTheQuarterlyBudgetReallocation",
    "notify-the-customer-that-the-order-has-shipped-and-send-tracking",
    "charge card and reserve inventory in the regional warehouse",
    "WWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWW",
]


@dataclass(frozen=True)
class Box:
    left: float
    top: float
    right: float
    bottom: float

    def grown(self, dx: float, dy: float) -> Box:
        return Box(self.left - dx, self.top - dy, self.right + dx, self.bottom + dy)

    def holds(self, x: float, y: float) -> bool:
        return self.left <= x <= self.right and self.top <= y <= self.bottom

    def corners(self) -> list[tuple[float, float]]:
        return [
            (self.left, self.top),
            (self.right, self.top),
            (self.right, self.bottom),
            (self.left, self.bottom),
        ]


@dataclass
class Text:
    owner: str  # the id of the node or cluster it belongs to
    value: str
    box: Box


@dataclass
class Drawing:
    texts: list[Text]
    edges: dict[str, list[tuple[float, float]]]  # edge title -> points along it
    shapes: dict[str, list[list[tuple[float, float]]]]  # node id -> its outlines
    classes: dict[str, list[str]]  # node or cluster id -> its classes
    frames: dict[str, Box]  # cluster id -> its frame


# ---- drawing and measuring --------------------------------------------------------------


def recorded(name: str) -> tuple[list[dict[str, Any]], str]:
    data = json.loads((HISTORIES / f"{name}.json").read_text())
    for event in data["events"]:
        event["EventTimestamp"] = datetime.fromisoformat(event["EventTimestamp"])
    return nested(build_tree(data["events"])), data["execution"]["Status"]


def renamed(operations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same tree, every operation (contexts too) under a long name."""
    operations = copy.deepcopy(operations)
    stack, index = list(operations), 0
    while stack:
        op = stack.pop()
        op["name"] = LONG_NAMES[index % len(LONG_NAMES)]
        index += 1
        stack.extend(op.get("children") or [])
    return operations


def text_widths(dot: str) -> dict[tuple[str, float], float]:
    """How wide graphviz measured each text it drew, by (text, font size)."""
    out = subprocess.run(
        ["dot", "-Tjson"], input=dot.encode(), capture_output=True, check=True, timeout=60
    )
    widths: dict[tuple[str, float], float] = {}
    for obj in json.loads(out.stdout).get("objects", []):
        size = 14.0
        for op in obj.get("_ldraw_", []):
            if op["op"] == "F":
                size = float(op["size"])
            elif op["op"] == "T":
                widths[(op["text"], size)] = float(op["width"])
    return widths


def _numbers(text: str) -> list[float]:
    return [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", text)]


def _pairs(values: list[float]) -> list[tuple[float, float]]:
    return list(zip(values[::2], values[1::2], strict=True))


def _bezier(points: list[tuple[float, float]], steps: int = 60) -> list[tuple[float, float]]:
    """Points along graphviz's path: a start, then cubic Béziers three points each."""
    sampled = [points[0]]
    for i in range(1, len(points) - 2, 3):
        p0, p1, p2, p3 = points[i - 1], points[i], points[i + 1], points[i + 2]
        for step in range(1, steps + 1):
            t = step / steps
            u = 1 - t
            sampled.append(
                (
                    u**3 * p0[0] + 3 * u * u * t * p1[0] + 3 * u * t * t * p2[0] + t**3 * p3[0],
                    u**3 * p0[1] + 3 * u * u * t * p1[1] + 3 * u * t * t * p2[1] + t**3 * p3[1],
                )
            )
    return sampled


def _segment(a: tuple[float, float], b: tuple[float, float], steps: int = 20):
    return [
        (a[0] + (b[0] - a[0]) * i / steps, a[1] + (b[1] - a[1]) * i / steps)
        for i in range(steps + 1)
    ]


def _outline(element: ElementTree.Element) -> list[tuple[float, float]]:
    if element.tag == f"{SVG}ellipse":
        cx, cy = float(element.get("cx")), float(element.get("cy"))
        rx, ry = float(element.get("rx")), float(element.get("ry"))
        return [(cx - rx, cy), (cx, cy - ry), (cx + rx, cy), (cx, cy + ry)]
    if element.tag == f"{SVG}polygon":
        return _pairs(_numbers(element.get("points")))
    return _pairs(_numbers(element.get("d")))


def _box_of(points: list[tuple[float, float]]) -> Box:
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return Box(min(xs), min(ys), max(xs), max(ys))


def _text_box(element: ElementTree.Element, widths: dict[tuple[str, float], float]) -> Box:
    value = element.text or ""
    size = float(element.get("font-size"))
    width = widths[(value, size)]
    x, y = float(element.get("x")), float(element.get("y"))
    anchor = element.get("text-anchor", "start")
    left = x - {"start": 0.0, "middle": width / 2, "end": width}[anchor]
    # From the tallest capital's top to the lowest descender (Helvetica's metrics).
    return Box(left, y - 0.75 * size, left + width, y + 0.22 * size)


def draw(operations: list[dict[str, Any]], status: str, rankdir: str = "TB") -> Drawing:
    dot = build_dot(operations, execution_status=status, rankdir=rankdir)
    widths = text_widths(dot)
    root = ElementTree.fromstring(render_svg(dot))
    drawing = Drawing([], {}, {}, {}, {})
    for group in root.iter(f"{SVG}g"):
        classes = (group.get("class") or "").split()
        if not classes or classes[0] not in ("node", "edge", "cluster"):
            continue
        gid = group.get("id") or ""
        drawing.classes[gid] = classes
        if classes[0] == "edge":
            title = group.findtext(f"{SVG}title") or gid
            points: list[tuple[float, float]] = []
            for path in group.iter(f"{SVG}path"):
                points += _bezier(_pairs(_numbers(path.get("d"))))
            for polygon in group.iter(f"{SVG}polygon"):  # the arrowhead
                corners = _pairs(_numbers(polygon.get("points")))
                for a, b in zip(corners, corners[1:], strict=False):
                    points += _segment(a, b)
            if points:  # an invisible edge (a label's place) draws nothing
                drawing.edges[title] = points
            continue
        outlines = [
            _outline(element)
            for element in group.iter()
            if element.tag in (f"{SVG}polygon", f"{SVG}path", f"{SVG}ellipse")
            and element.get("stroke") not in (None, "none", "transparent")
        ]
        if classes[0] == "cluster":
            drawing.frames[gid] = _box_of(outlines[0])
        else:
            drawing.shapes[gid] = outlines
        for text in group.iter(f"{SVG}text"):
            drawing.texts.append(Text(gid, text.text or "", _text_box(text, widths)))
    return drawing


def _inside_polygon(x: float, y: float, polygon: list[tuple[float, float]]) -> bool:
    inside = False
    for (x1, y1), (x2, y2) in zip(polygon, polygon[1:] + polygon[:1], strict=True):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def _innermost(outlines: list[list[tuple[float, float]]]) -> list[tuple[float, float]]:
    """A node's own outline: the innermost of a double border, the body of a component
    (not its two small tabs)."""

    def area(points: list[tuple[float, float]]) -> float:
        box = _box_of(points)
        return (box.right - box.left) * (box.bottom - box.top)

    bodies = [o for o in outlines if len(o) > 2]
    largest = max(area(o) for o in bodies)
    # A tab is far smaller than the body; a second border is nearly as large.
    candidates = [o for o in bodies if area(o) > largest * 0.5]
    return min(candidates, key=area)


def crossings(drawing: Drawing) -> list[str]:
    found = []
    for text in drawing.texts:
        box = text.box.grown(1, 1)
        for title, points in drawing.edges.items():
            if any(box.holds(x, y) for x, y in points):
                found.append(f"edge {title} crosses {text.value!r} of {text.owner}")
    return found


def misfits(drawing: Drawing) -> list[str]:
    """Names that do not fit inside their shapes (or their context's frame) with room."""
    found = []
    for text in drawing.texts:
        classes = drawing.classes[text.owner]
        padded = text.box.grown(PADDING_X, PADDING_Y)
        if "context-label" in classes:
            # A context's label: inside its own frame (the label node is named after it).
            frame = drawing.frames[text.owner.removeprefix("label-")]
            if not all(frame.holds(x, y) for x, y in padded.corners()):
                found.append(f"{text.value!r} sticks out of its frame {text.owner}")
            continue
        outline = _innermost(drawing.shapes[text.owner])
        if len(outline) > 8:  # a rounded box: graphviz's path, corners and all
            fits = all(_box_of(outline).holds(x, y) for x, y in padded.corners())
        else:
            fits = all(_inside_polygon(x, y, outline) for x, y in padded.corners())
        if not fits:
            found.append(f"{text.value!r} does not fit in {text.owner} ({classes[1:3]})")
    return found


# ---- the tests ---------------------------------------------------------------------------

CASES = [(name, rankdir) for name in SAMPLES for rankdir in ("TB", "LR")]


@pytest.mark.parametrize("name, rankdir", CASES, ids=[f"{n}-{r}" for n, r in CASES])
def test_no_edge_crosses_a_label_in_a_recorded_history(name, rankdir):
    operations, status = recorded(name)
    drawing = draw(operations, status, rankdir)
    assert drawing.edges and drawing.texts
    assert crossings(drawing) == []


@pytest.mark.parametrize("name, rankdir", CASES, ids=[f"{n}-{r}" for n, r in CASES])
def test_no_edge_crosses_a_label_when_every_name_is_long(name, rankdir):
    operations, status = recorded(name)
    assert crossings(draw(renamed(operations), status, rankdir)) == []


@pytest.mark.parametrize("name, rankdir", CASES, ids=[f"{n}-{r}" for n, r in CASES])
def test_names_fit_inside_their_shapes_with_room_to_spare(name, rankdir):
    operations, status = recorded(name)
    assert misfits(draw(operations, status, rankdir)) == []


@pytest.mark.parametrize("name, rankdir", CASES, ids=[f"{n}-{r}" for n, r in CASES])
def test_long_names_wrap_inside_their_shapes_and_stay_readable_wide(name, rankdir):
    operations, status = recorded(name)
    drawing = draw(renamed(operations), status, rankdir)
    assert misfits(drawing) == []
    # Wrapped rather than stretched: no line of a name is wider than a readable line.
    widest = max(text.box.right - text.box.left for text in drawing.texts)
    assert widest <= 160, widest
    # Cut names end with an ellipsis (the tooltip has them whole).
    assert any(text.value.endswith("…") for text in drawing.texts)


def test_every_context_kind_has_its_label_clear_of_edges():
    """The recorded histories between them hold every kind of context: a callback's
    wait-for-callback group, parallel branches, map iterations and a child context."""
    kinds = set()
    for name in SAMPLES:
        operations, status = recorded(name)
        drawing = draw(operations, status)
        kinds |= {
            classes[2]
            for gid, classes in drawing.classes.items()
            if "context-label" in classes and any(t.owner == gid for t in drawing.texts)
        }
        assert crossings(drawing) == []
    assert {"waitforcallback", "parallel", "parallelbranch", "map", "mapiteration"} <= kinds
    assert "runinchildcontext" in kinds


def test_the_measure_finds_an_edge_through_a_label():
    """The measure itself: graphviz's own cluster label (a band across the top that the
    edge into the cluster runs through) is caught crossing."""
    operations, status = recorded("durable-function-example")
    dot = build_dot(operations, execution_status=status)
    # The label as graphviz draws it on a frame, the way this visualizer used to.
    dot = re.sub(
        r'label="";', 'label="waitForExternalApproval\\\\nwait for callback"; labeljust=l;', dot
    )
    widths = text_widths(dot)
    root = ElementTree.fromstring(render_svg(dot))
    texts = [
        Text(g.get("id"), t.text, _text_box(t, widths))
        for g in root.iter(f"{SVG}g")
        if "cluster" in (g.get("class") or "").split()
        for t in g.iter(f"{SVG}text")
    ]
    edges = {}
    for g in root.iter(f"{SVG}g"):
        if (g.get("class") or "") == "edge":
            for path in g.iter(f"{SVG}path"):
                edges[g.findtext(f"{SVG}title")] = _bezier(_pairs(_numbers(path.get("d"))))
    assert crossings(Drawing(texts, edges, {}, {}, {})), "the old drawing should cross"
