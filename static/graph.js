/* The graph tab: pan and zoom (vendored svg-pan-zoom) starting from a view people can
   read (a graph too big to fit readable shows what failed, waits or runs, else its
   beginning; "Fit" never goes below readable either), toolbar buttons, and node clicks
   routed by the kind of node clicked: an operation or context (or its label) opens its
   panel beside the graph, a summary node ("27 more") draws the graph again with its
   fan-out expanded. A graph drawn again (it grew) keeps the node the person looked at
   where it was. No inline script: the page's Content-Security-Policy allows only files
   like this one. */
(function () {
  "use strict";

  // Sizes of the labels' text on screen, in CSS pixels. Fitting a big graph into the
  // canvas shrinks its text to nothing (a 500-iteration map becomes a one-pixel strip),
  // and fitting a two-node graph blows it up: the first view fits only when the text
  // stays readable, and never grows it past AT_MOST_FIRST.
  var FIT_AT_LEAST = 11; // a fit with smaller text shows the part that matters instead...
  var READABLE = 13.5; // ...with text this size at first, at FIT_AT_LEAST on "Fit"
  var AT_MOST_FIRST = 15; // the first view of a small graph
  var SMALLEST = 4; // zoom limits: smaller text is a blur (the whole shape of a big
  var LARGEST = 32; // graph still shows), larger is absurd
  var MARGIN = 16; // between the canvas's edge and what the first view puts near it
  var STEP = 1.25; // the + and − buttons

  // The view of the graph on screen when htmx replaced it (the execution changed, or
  // the tab was left): the same graph comes back where it was, its panel open again.
  var saved = null;

  // Each canvas's graph (its svg-pan-zoom, panel, selection), found again from the canvas.
  // Weak: a canvas that htmx swapped out takes its graph with it.
  var graphOf = new WeakMap();

  function setUp(root) {
    root.querySelectorAll("[data-graph]").forEach(function (canvas) {
      if (graphOf.has(canvas)) return;
      var svg = canvas.querySelector("svg");
      if (!svg || typeof window.svgPanZoom !== "function") return;
      var pane = canvas.closest("#graph-pane") || document;
      var graph = {
        canvas: canvas,
        svg: svg,
        pane: pane,
        side: pane.querySelector("[data-graph-side]"),
        layout: pane.querySelector("[data-graph-layout]"),
        selected: "",
      };
      graphOf.set(canvas, graph);
      svg.removeAttribute("width");
      svg.removeAttribute("height");
      // svg-pan-zoom writes style="overflow: hidden" unless the SVG already says
      // overflow; a style attribute is refused by the CSP, a CSSOM property is not.
      svg.style.overflow = "hidden";
      var restore = saved && saved.key === canvas.getAttribute("data-graph-key") ? saved : null;
      saved = null;
      if (restore && restore.op) showSide(graph); // the canvas's final width first
      graph.panZoom = window.svgPanZoom(svg, {
        zoomEnabled: true, controlIconsEnabled: false, fit: true, center: true,
        minZoom: 1e-3, maxZoom: 1e3, dblClickZoomEnabled: false,
      });
      if (restore) restoreView(graph, restore);
      else firstView(graph);
      graph.moved = Boolean(restore && restore.moved);
      if (restore && restore.op) openOperation(graph, restore.op);
      wire(graph);
      // Ready once svg-pan-zoom has drawn the first view (it draws on the next frame).
      window.requestAnimationFrame(function () {
        canvas.setAttribute("data-graph-ready", "1");
      });
    });
  }

  // ---- zoom ----
  //
  // svg-pan-zoom draws a change on the next animation frame, so what is on screen lags
  // behind: views are computed from its state (zoom, pan) and from boxes in the graph's
  // own units, never from the boxes on screen. Its viewport maps a graph unit to
  // `realZoom` pixels of the SVG, shifted by the pan.

  function viewportOf(graph) {
    return graph.svg.querySelector(".svg-pan-zoom_viewport");
  }

  // An element's box in the viewport's own units (whatever the pan and zoom). A node's
  // or a context's is its outline's: its text's box can differ while the page's fonts
  // are still being settled, and a view centred on it would be off.
  function localBox(graph, element) {
    var outline = element.classList && (element.classList.contains("node") ||
      element.classList.contains("cluster")) && element.querySelector("polygon, path, ellipse");
    if (outline) element = outline;
    var viewport = viewportOf(graph);
    var matrix = viewport.getCTM().inverse().multiply(element.getCTM());
    var box = element.getBBox();
    var a = new DOMPoint(box.x, box.y).matrixTransform(matrix);
    var b = new DOMPoint(box.x + box.width, box.y + box.height).matrixTransform(matrix);
    return {
      x: Math.min(a.x, b.x), y: Math.min(a.y, b.y),
      width: Math.abs(b.x - a.x), height: Math.abs(b.y - a.y),
    };
  }

  // The labels' text size on screen per unit of zoom: a label's font size in the
  // viewport's units (graphviz writes 11).
  function textUnit(graph) {
    var text = graph.svg.querySelector("g.node text") || graph.svg.querySelector("text");
    if (!text || !viewportOf(graph)) return 0;
    var size = parseFloat(text.getAttribute("font-size")) || 14;
    var matrix = viewportOf(graph).getCTM().inverse().multiply(text.getCTM());
    return size * Math.sqrt(matrix.a * matrix.a + matrix.b * matrix.b);
  }

  // The canvas's size and the zoom limits, after the canvas changed size. svg-pan-zoom's
  // zoom is relative to a fit of the canvas's current size; the limits are set in it.
  // Returns what the views need, or null when the graph is not on screen.
  function measure(graph) {
    var panZoom = graph.panZoom;
    panZoom.resize();
    var sizes = panZoom.getSizes();
    var unit = textUnit(graph);
    if (!unit || !sizes.width || !sizes.height || !sizes.viewBox.width) return null;
    var original = sizes.realZoom / panZoom.getZoom();
    panZoom.setMinZoom(SMALLEST / unit / original);
    panZoom.setMaxZoom(LARGEST / unit / original);
    return { sizes: sizes, unit: unit, original: original, box: sizes.viewBox };
  }

  function setView(graph, m, zoom, pan) {
    graph.panZoom.zoom(zoom / m.original);
    graph.panZoom.pan(pan);
  }

  // The graph centred in the canvas at this zoom.
  function centred(m, zoom) {
    return {
      x: (m.sizes.width - m.box.width * zoom) / 2 - m.box.x * zoom,
      y: (m.sizes.height - m.box.height * zoom) / 2 - m.box.y * zoom,
    };
  }

  // The beginning of the flow: the graph centred where it fits in the canvas; where it
  // does not, near the canvas's top (its left, left to right) along the flow, and the
  // Start node in the middle across it.
  function atStart(graph, m, zoom) {
    var box = m.box;
    var start = graph.svg.querySelector("#start");
    var anchor = start ? localBox(graph, start) : box;
    var centre = centred(m, zoom);
    var x = box.width * zoom <= m.sizes.width;
    var y = box.height * zoom <= m.sizes.height;
    if (graph.canvas.getAttribute("data-graph-rankdir") === "LR") {
      return {
        x: x ? centre.x : MARGIN - box.x * zoom,
        y: y ? centre.y : m.sizes.height / 2 - (anchor.y + anchor.height / 2) * zoom,
      };
    }
    return {
      x: x ? centre.x : m.sizes.width / 2 - (anchor.x + anchor.width / 2) * zoom,
      y: y ? centre.y : MARGIN - box.y * zoom,
    };
  }

  // The part of the graph a person looks for first: what failed (the first failed
  // operation on the way to the failure), else what waits (a callback, a timer, a
  // retry), else what runs; null when none of that is drawn (then the Start node).
  function focusOf(graph) {
    var svg = graph.svg;
    return svg.querySelector("g.node.op.state-failed.failed-path") ||
      svg.querySelector("g.node.summary.failed-path") ||
      svg.querySelector("g.node.op.state-waiting") ||
      svg.querySelector("g.node.summary.state-waiting") ||
      svg.querySelector("g.node.op.state-running") ||
      (svg.querySelector("g.node.end.failed-path") || null);
  }

  // The pan that puts a node's centre at (x, y) on the canvas at this zoom.
  function panTo(graph, group, zoom, x, y) {
    var box = localBox(graph, group);
    return { x: x - (box.x + box.width / 2) * zoom, y: y - (box.y + box.height / 2) * zoom };
  }

  // Where a view starts when the graph does not fit: its focus in the middle of the
  // canvas, or, when nothing failed, waits or runs, its beginning.
  function atFocus(graph, m, zoom) {
    var focus = focusOf(graph);
    if (!focus) return atStart(graph, m, zoom);
    var seen = seenHeight(graph, m);
    var pan = panTo(graph, focus, zoom, m.sizes.width / 2, seen / 2);
    // Along an axis on which the whole graph fits, the whole graph, in the middle.
    if (m.box.width * zoom <= m.sizes.width) pan.x = centred(m, zoom).x;
    if (m.box.height * zoom <= seen) {
      pan.y = (seen - m.box.height * zoom) / 2 - m.box.y * zoom;
    } else {
      // No blank beyond the graph's first or last node while more of it could show.
      var top = pan.y + m.box.y * zoom, bottom = top + m.box.height * zoom;
      if (bottom < seen - MARGIN) pan.y += seen - MARGIN - bottom;
      else if (top > MARGIN) pan.y -= top - MARGIN;
    }
    return pan;
  }

  // How much of the canvas's height is in the window: a canvas that runs past the
  // window's bottom on the first screen has what it shows first where it can be seen.
  function seenHeight(graph, m) {
    var rect = graph.canvas.getBoundingClientRect();
    var seen = Math.min(m.sizes.height, window.innerHeight - rect.top);
    return seen > 120 && rect.top >= 0 ? seen : m.sizes.height;
  }

  // Fit the graph when its text stays at least `floor` pixels high, and a small graph
  // no larger than AT_MOST_FIRST; otherwise show its focus with text `below` high.
  function fitted(graph, floor, below) {
    var m = measure(graph);
    if (!m) return;
    var fit = Math.min(m.sizes.width / m.box.width, m.sizes.height / m.box.height);
    if (fit * m.unit < floor) {
      var readable = below / m.unit;
      setView(graph, m, readable, atFocus(graph, m, readable));
    } else {
      var zoom = Math.min(fit, AT_MOST_FIRST / m.unit);
      var pan = centred(m, zoom);
      // Down the flow, in the middle of what is in the window, or from its top.
      var seen = seenHeight(graph, m);
      if (graph.canvas.getAttribute("data-graph-rankdir") !== "LR") {
        var tall = m.box.height * zoom;
        pan.y = (tall <= seen ? (seen - tall) / 2 : Math.min(MARGIN, (m.sizes.height - tall) / 2)) -
          m.box.y * zoom;
        // What failed, waits or runs is in the window too, when the canvas runs past it.
        var focus = focusOf(graph);
        if (focus) {
          var box = localBox(graph, focus);
          var below = pan.y + (box.y + box.height) * zoom - (seen - MARGIN);
          if (below > 0) pan.y -= below;
        }
      }
      setView(graph, m, zoom, pan);
    }
  }

  function firstView(graph) {
    fitted(graph, FIT_AT_LEAST, READABLE);
  }

  // "Fit": as much of the graph as stays readable; a graph too big for that shows its
  // focus (or its beginning) at the smallest readable size, to be panned from there.
  function fitView(graph) {
    fitted(graph, FIT_AT_LEAST, FIT_AT_LEAST);
  }

  // The view before htmx swapped the graph for a new drawing, which may have grown
  // (new operations move every node). The zoom stays; the node the person was looking
  // at (the one nearest the middle of the canvas) stays where it was on screen. Someone
  // who had not moved the view follows the work: the new drawing's focus takes the old
  // focus's place.
  function restoreView(graph, view) {
    var m = measure(graph);
    if (!m) return;
    var pan = view.pan;
    var anchor = view.anchor;
    var group = null;
    if (anchor) {
      group = (!view.moved && focusOf(graph)) ||
        graph.svg.querySelector("#" + CSS.escape(anchor.id));
    }
    if (group) pan = panTo(graph, group, view.realZoom, anchor.x, anchor.y);
    setView(graph, m, view.realZoom, pan);
  }

  // The node a view is anchored on, and where its centre is on the canvas.
  function anchorOf(graph) {
    var sizes = graph.panZoom.getSizes(), pan = graph.panZoom.getPan();
    var zoom = sizes.realZoom;
    var at = function (group) {
      var box = localBox(graph, group);
      return {
        id: group.getAttribute("id"),
        x: pan.x + (box.x + box.width / 2) * zoom,
        y: pan.y + (box.y + box.height / 2) * zoom,
      };
    };
    var focus = focusOf(graph);
    if (!graph.moved && focus) return at(focus);
    var best = null, distance = Infinity;
    graph.svg.querySelectorAll("g.node[id]").forEach(function (group) {
      var point = at(group);
      var d = Math.hypot(point.x - sizes.width / 2, point.y - sizes.height / 2);
      if (d < distance) { best = point; distance = d; }
    });
    return best;
  }

  // After the canvas changed size (a panel opened or closed, the window resized): new
  // limits, what was in the middle of the canvas still there, and the selected node
  // kept in sight.
  function relayout(graph) {
    var before = graph.panZoom.getSizes();
    var m = measure(graph);
    if (!m) return;
    if (before.width) {
      graph.panZoom.panBy({
        x: (m.sizes.width - before.width) / 2, y: (m.sizes.height - before.height) / 2,
      });
    }
    reveal(graph, groupOf(graph, graph.selected));
  }

  // Pan a node into the middle of the canvas when it is out of sight (a context, larger
  // than the canvas, when none of it shows).
  function reveal(graph, group) {
    if (!group) return;
    var sizes = graph.panZoom.getSizes(), pan = graph.panZoom.getPan();
    var zoom = sizes.realZoom, width = sizes.width, height = sizes.height;
    var local = localBox(graph, group);
    var box = {
      left: pan.x + local.x * zoom, top: pan.y + local.y * zoom,
      right: pan.x + (local.x + local.width) * zoom,
      bottom: pan.y + (local.y + local.height) * zoom,
    };
    var small = box.right - box.left < width - 2 * MARGIN &&
      box.bottom - box.top < height - 2 * MARGIN;
    var hidden = small
      ? box.left < 0 || box.right > width || box.top < 0 || box.bottom > height
      : box.right < MARGIN || box.left > width - MARGIN ||
        box.bottom < MARGIN || box.top > height - MARGIN;
    if (hidden) {
      graph.panZoom.panBy({
        x: width / 2 - (box.left + box.right) / 2,
        y: height / 2 - (box.top + box.bottom) / 2,
      });
    }
  }

  // ---- the side panel ----

  function groupOf(graph, op) {
    if (!op) return null;
    return graph.svg.querySelector("#op-" + CSS.escape(op) + ", #cluster-op-" + CSS.escape(op));
  }

  function select(graph, op) {
    graph.selected = op || "";
    graph.svg.querySelectorAll(".selected").forEach(function (n) { n.classList.remove("selected"); });
    var group = groupOf(graph, op);
    if (group) group.classList.add("selected");
  }

  function showSide(graph) {
    if (!graph.side || !graph.side.hidden) return false;
    graph.side.hidden = false;
    if (graph.layout) graph.layout.classList.add("has-panel");
    return true;
  }

  function openOperation(graph, op) {
    var template = graph.canvas.getAttribute("data-operation-url") || "";
    var panel = graph.pane.querySelector("#graph-panel");
    if (!template || !panel || !window.htmx) return false;
    window.htmx.ajax("GET", template.replace("__op__", encodeURIComponent(op)), {
      target: panel, swap: "innerHTML",
    });
    select(graph, op);
    showSide(graph);
    if (graph.panZoom) relayout(graph);
    panel.scrollTop = 0;
    // Below the graph (a narrow screen), the panel may open out of sight.
    var side = graph.side.getBoundingClientRect();
    if (side.top > window.innerHeight - 48) graph.side.scrollIntoView({ block: "start" });
    return true;
  }

  function closePanel(graph) {
    if (!graph.side || graph.side.hidden) return;
    graph.side.hidden = true;
    if (graph.layout) graph.layout.classList.remove("has-panel");
    var panel = graph.pane.querySelector("#graph-panel");
    if (panel) panel.replaceChildren();
    select(graph, "");
    relayout(graph);
  }

  // ---- events ----

  // The toolbar's and the panel's buttons, by their data-graph-action.
  var ACTIONS = {
    "fit": fitView,
    "zoom-in": function (graph) { graph.panZoom.zoomBy(STEP); },
    "zoom-out": function (graph) { graph.panZoom.zoomBy(1 / STEP); },
    "close-panel": closePanel,
  };

  function wire(graph) {
    graph.pane.querySelectorAll("[data-graph-action]").forEach(function (button) {
      var action = ACTIONS[button.getAttribute("data-graph-action")];
      if (action) {
        button.addEventListener("click", function () {
          if (button.getAttribute("data-graph-action") !== "close-panel") graph.moved = true;
          action(graph);
        });
      }
    });
    // Whether the person moved the view (a redrawn graph keeps what they looked at) or
    // not (it follows the work).
    graph.svg.addEventListener("wheel", function () { graph.moved = true; }, { passive: true });
    graph.svg.addEventListener("touchstart", function () { graph.moved = true; }, { passive: true });
    graph.svg.addEventListener("mousemove", function (event) {
      if (event.buttons) graph.moved = true;
    });
    // A node reached with the Tab key comes into sight (the canvas itself never scrolls:
    // the browser would scroll it to show the node, under svg-pan-zoom's feet).
    graph.svg.addEventListener("focusin", function (event) {
      reveal(graph, event.target.closest && event.target.closest("g.node, g.cluster"));
    });
    graph.canvas.addEventListener("scroll", function () {
      graph.canvas.scrollTop = 0;
      graph.canvas.scrollLeft = 0;
    });
    // A drag that ends over a node pans; it does not open the node.
    var down = null;
    graph.svg.addEventListener("mousedown", function (event) {
      down = { x: event.clientX, y: event.clientY };
    });
    graph.svg.addEventListener("click", function (event) {
      var link = event.target.closest("a");
      var href = link && (link.getAttribute("href") || link.getAttribute("xlink:href"));
      if (!href) return;
      event.preventDefault();
      var moved = down && Math.abs(event.clientX - down.x) + Math.abs(event.clientY - down.y);
      down = null;
      if (moved > 4) return;
      route(graph, link.closest("g.node, g.cluster"), href);
    });
  }

  // graphviz writes a node as <g id="op-…" class="node op step state-…"> and a context as
  // <g id="cluster-op-…" class="cluster context map state-…">: its own class first, then
  // the visualizer's kind (visualizer/dot.py, _node_dot and _cluster_dot).
  function kindOf(group) {
    var classes = group ? (group.getAttribute("class") || "").split(/\s+/) : [];
    return classes[1] || "";
  }

  function operationId(group) {
    var id = group.getAttribute("id") || "";
    // A context's label is a node of its own: "label-cluster-op-…".
    var prefix = ["label-cluster-op-", "cluster-op-", "op-"].find(function (p) {
      return id.indexOf(p) === 0;
    });
    return prefix ? id.slice(prefix.length) : "";
  }

  function route(graph, group, href) {
    var kind = kindOf(group);
    if (kind === "summary" && window.htmx) {
      // "27 more": the server draws the graph again with this fan-out expanded.
      window.htmx.ajax("GET", href, { target: "#tab-area", swap: "outerHTML", push: "true" });
      return;
    }
    if ((kind === "op" || kind === "context" || kind === "context-label") && operationId(group)) {
      if (openOperation(graph, operationId(group))) return;
    }
    // Anything else is followed as a link: a chained invoke whose child execution is
    // mirrored (kind "child") goes to that execution's page.
    window.location.assign(href);
  }

  function graphs() {
    var found = [];
    document.querySelectorAll("[data-graph]").forEach(function (canvas) {
      var graph = graphOf.get(canvas);
      if (graph && graph.panZoom) found.push(graph);
    });
    return found;
  }

  document.addEventListener("DOMContentLoaded", function () { setUp(document); });
  document.addEventListener("htmx:afterSettle", function (event) {
    setUp(event.target);
    // The panel moved to another operation (a breadcrumb): select its node.
    graphs().forEach(function (graph) {
      var content = graph.pane.querySelector("#graph-panel .operation-panel");
      var op = content && content.getAttribute("data-op");
      if (op && op !== graph.selected) select(graph, op);
    });
  });
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    var canvas = target && target.querySelector && target.querySelector("[data-graph]");
    var graph = canvas && graphOf.get(canvas);
    if (!graph || !graph.panZoom) return;
    saved = {
      key: canvas.getAttribute("data-graph-key"),
      realZoom: graph.panZoom.getSizes().realZoom,
      pan: graph.panZoom.getPan(),
      anchor: anchorOf(graph),
      moved: graph.moved,
      op: graph.side && !graph.side.hidden ? graph.selected : "",
    };
  });
  var resizing = 0;
  window.addEventListener("resize", function () {
    window.clearTimeout(resizing);
    resizing = window.setTimeout(function () { graphs().forEach(relayout); }, 150);
  });
})();
