"""The graph model (visualizer/model.py) as graphviz DOT text. Every label, tooltip and
id is quoted and escaped here; see visualizer/graph.py's docstring for the rules."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

from domain.operations import is_fanout
from visualizer.labels import wrap
from visualizer.model import Cluster, Graph, Node
from visualizer.style import FONT, LIGHT, SHAPES, STATES


def _escape(value: Any, backslashes: int) -> str:
    value = "".join(ch for ch in str(value) if ch >= " " and ch != "\x7f")
    return value.replace("\\", "\\" * backslashes).replace('"', '\\"')


def q(value: Any) -> str:
    """A DOT double-quoted string that graphviz reads back as exactly this text, for
    names and for attributes graphviz reads as escStrings (ids, labels).

    Backslashes are doubled (graphviz would read \\n, \\N, \\G… as escapes), quotes are
    escaped, and control characters dropped (a raw newline or NUL has no business in
    an id and graphviz treats some of them specially).
    """
    return '"' + _escape(value, 2) + '"'


def ident(value: str) -> str:
    """An `id` attribute: graphviz writes it into the SVG with HTML entities left as
    they are, so & is written as &amp; to come out as itself."""
    return q(str(value).replace("&", "&amp;"))


def text(value: str, left: bool = False) -> str:
    """A label people read: like `ident()` (graphviz decodes HTML entities in labels,
    so `&lt;` would show as `<`); lines split on "\\n" become graphviz's centred line
    breaks, or left-justified ones (\\l) with `left`."""
    lines = [_escape(line, 2) for line in str(value).replace("&", "&amp;").split("\n")]
    if left:
        return '"' + "".join(line + "\\l" for line in lines) + '"'
    return '"' + "\\n".join(lines) + '"'


def tip(value: str) -> str:
    """A tooltip: like `text()`, but graphviz unescapes a tooltip twice (once for \\n
    and the like, then for \\N, \\G, \\L substitutions), so a literal backslash takes
    four."""
    lines = [_escape(line, 4) for line in str(value).replace("&", "&amp;").split("\n")]
    return '"' + "\\n".join(lines) + '"'


_SAFE_URL = "/?=&#:;%.-_~+,@!$*()[]"


def url_attr(url: str) -> str:
    """Make a URL safe for graphviz, which writes URL attributes into SVG unescaped.

    Only relative URLs and http(s) pass (no javascript:); everything but URL syntax is
    percent-encoded (so no quote, <, > or space survives), and & becomes the XML entity
    it must be inside an attribute."""
    url = str(url).strip()
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return ""
    if scheme not in ("", "http", "https"):
        return ""
    return quote(url, safe=_SAFE_URL).replace("&", "&amp;")


def _classes(*names: str) -> str:
    # Class names from our own vocabulary only: lower case, no spaces inside one.
    return q(" ".join(name.lower().replace(" ", "-") for name in names if name))


def _path(item: Node | Cluster) -> str:
    return "failed-path" if item.failed_path else ""


def _node_dot(node: Node, indent: str) -> str:
    colours = STATES[node.state]
    attrs: dict[str, str] = {"id": ident(node.id)}
    if node.kind == "join":
        attrs.update(
            shape="point",
            width="0.08",
            color=q(colours.border),
            label='""',
            **{"class": _classes("join", f"state-{node.state}")},
        )
    else:
        shape = SHAPES[node.shape]
        kind = "op" if node.kind == "operation" else node.kind
        # A collapsed group is not an operation: drawn neutral, with a dashed border in
        # the colour of the worst state it hides.
        neutral = node.shape == "summary"
        attrs.update(
            {"class": _classes(kind, node.shape, f"state-{node.state}", _path(node))},
            shape=shape.shape,
            margin=q(shape.margin),
            style=q(",".join(filter(None, ["filled", shape.style]))),
            fillcolor=q(LIGHT.neutral_fill if neutral else colours.fill),
            color=q(colours.border),
            fontcolor=q(LIGHT.neutral_text if neutral else colours.text),
            label=text("\n".join(_lines(node.label))),
        )
        if neutral:
            attrs["penwidth"] = "1.6"
        if node.failed_path:
            # The way to what went wrong stands out: a heavier rim.
            attrs["penwidth"] = "3"
        if shape.peripheries > 1:
            attrs["peripheries"] = str(shape.peripheries)
    if node.tooltip:
        attrs["tooltip"] = tip(node.tooltip)
    url = url_attr(node.url) if node.url else ""
    if url:
        attrs["URL"] = q(url)
        attrs["target"] = q("_top")
    body = ", ".join(f"{k}={v}" for k, v in attrs.items())
    return f"{indent}{q(node.id)} [{body}];"


def _lines(label: list[str]) -> list[str]:
    """A label's lines as drawn: each wrapped to fit a node of a readable width (a long
    name on two lines, cut with an ellipsis beyond; the tooltip has it whole)."""
    return [line for part in label if part for line in wrap(part)]


def label_id(cluster: Cluster) -> str:
    """The id of the node that carries a context's label."""
    return f"label-{cluster.id}"


def _label_dot(cluster: Cluster, indent: str, across: bool) -> list[str]:
    """A context's label as a node of its own, on the rank of the node its flow begins
    with and before it: left of it top to bottom, above it left to right (`across`).

    Graphviz draws a cluster's own label in a band across its top, and the edge into the
    cluster runs through that band, over the label whenever the two meet. Edges are
    routed around nodes, so a label drawn as a node is never crossed."""
    node_id = label_id(cluster)
    lines = wrap(cluster.label) + wrap(cluster.detail, lines=1)
    attrs = {
        "id": ident(node_id),
        # No state class: a selector of nodes by state finds operations, not labels.
        "class": _classes("context-label", cluster.kind),
        "shape": "plaintext",
        "margin": q("0.04,0.02"),
        "fontcolor": q(LIGHT.label),
        "label": text("\n".join(lines), left=True),
    }
    if cluster.tooltip:
        attrs["tooltip"] = tip(cluster.tooltip)
    url = url_attr(cluster.url) if cluster.url else ""
    if url:
        attrs["URL"] = q(url)
        attrs["target"] = q("_top")
    body = ", ".join(f"{k}={v}" for k, v in attrs.items())
    result = [f"{indent}{q(node_id)} [{body}];"]
    if cluster.entry:
        # An edge within a rank puts its tail first (left; left to right, below).
        first, second = (cluster.entry, node_id) if across else (node_id, cluster.entry)
        result += [
            f"{indent}{{rank=same; {q(node_id)}; {q(cluster.entry)};}}",
            f"{indent}{q(first)} -> {q(second)} [style=invis];",
        ]
    return result


def _cluster_dot(cluster: Cluster, indent: str, across: bool) -> list[str]:
    colours = STATES[cluster.state]
    # A context on the way to a failure is framed in the failure's colour, heavier.
    frame = STATES["failed"].border if cluster.failed_path else colours.border
    fanout = is_fanout(cluster.kind)
    width = "2.5" if cluster.failed_path else ("1.6" if fanout else "1")
    inner = indent + "  "
    lines = [
        f"{indent}subgraph {q(cluster.id)} {{",
        f"{inner}id={ident(cluster.id)};",
        f"{inner}class="
        f"{_classes('context', cluster.kind, f'state-{cluster.state}', _path(cluster))};",
        # The label is a node inside (_label_dot), so the frame has none of its own.
        f'{inner}label="";',
        # Fan-outs are solid: they are the structure; other contexts are dashed wrappers.
        f"{inner}style={q('rounded' if fanout else 'rounded,dashed')}; penwidth={width};",
        # The frame takes the state's colour; the label is written on the canvas.
        f"{inner}color={q(frame)};",
    ]
    if cluster.tooltip:
        lines.append(f"{inner}tooltip={tip(cluster.tooltip)};")
    url = url_attr(cluster.url) if cluster.url else ""
    if url:
        lines.append(f"{inner}URL={q(url)}; target={q('_top')};")
    for item in cluster.items:
        lines.extend(_item_dot(item, inner, across))
    lines.extend(_label_dot(cluster, inner, across))
    lines.append(f"{indent}}}")
    return lines


def _item_dot(item: Node | Cluster, indent: str, across: bool) -> list[str]:
    if isinstance(item, Cluster):
        return _cluster_dot(item, indent, across)
    return [_node_dot(item, indent)]


def to_dot(graph: Graph) -> str:
    lines = [
        "digraph execution {",
        f"  graph [rankdir={graph.rankdir}, fontname={q(FONT)}, fontsize=11, nodesep=0.3,"
        f' ranksep=0.35, newrank=true, bgcolor="transparent",'
        f" id={q('execution-graph')}, tooltip={tip(graph.title or 'Execution graph')}];",
        f'  node [fontname={q(FONT)}, fontsize=11, margin="0.15,0.06", height=0.4];',
        f"  edge [color={q(LIGHT.edge)}, arrowsize=0.6];",
    ]
    for item in graph.items:
        lines.extend(_item_dot(item, "  ", graph.rankdir in ("LR", "RL")))
    for source, target in graph.edges:
        lines.append(f"  {q(source)} -> {q(target)};")
    lines.append("}")
    return "\n".join(lines) + "\n"
