/* The graph tab: pan and zoom (vendored svg-pan-zoom), toolbar buttons, and node clicks
   routed by the kind of node clicked: an operation or context opens its panel beside the
   graph, a summary node ("27 more") draws the graph again with its fan-out expanded. No
   inline script: the page's Content-Security-Policy allows only files like this one. */
(function () {
  "use strict";

  function setUp(root) {
    root.querySelectorAll("[data-graph]").forEach(function (canvas) {
      if (canvas.dataset.graphReady) return;
      var svg = canvas.querySelector("svg");
      if (!svg || typeof window.svgPanZoom !== "function") return;
      canvas.dataset.graphReady = "1";
      svg.removeAttribute("width");
      svg.removeAttribute("height");
      // svg-pan-zoom writes style="overflow: hidden" unless the SVG already says
      // overflow; a style attribute is refused by the CSP, a CSSOM property is not.
      svg.style.overflow = "hidden";
      var panZoom = window.svgPanZoom(svg, {
        zoomEnabled: true, controlIconsEnabled: false, fit: true, center: true,
        minZoom: 0.1, maxZoom: 20, dblClickZoomEnabled: false,
      });
      canvas._panZoom = panZoom;
      var pane = canvas.closest("#graph-pane") || document;
      pane.querySelectorAll("[data-graph-action]").forEach(function (button) {
        button.addEventListener("click", function () {
          var action = button.dataset.graphAction;
          if (action === "fit") { panZoom.resize(); panZoom.fit(); panZoom.center(); }
          if (action === "zoom-in") panZoom.zoomIn();
          if (action === "zoom-out") panZoom.zoomOut();
        });
      });
      svg.addEventListener("click", function (event) {
        var link = event.target.closest("a");
        var href = link && (link.getAttribute("href") || link.getAttribute("xlink:href"));
        if (!href) return;
        event.preventDefault();
        route(canvas, svg, link.closest("g.node, g.cluster"), href);
      });
    });
  }

  // graphviz writes a node as <g id="op-…" class="node op step state-…"> and a context as
  // <g id="cluster-op-…" class="cluster context map state-…">: its own class first, then
  // the visualizer's kind (visualizer/graph.py, _node_dot and _cluster_dot).
  function kindOf(group) {
    var classes = group ? (group.getAttribute("class") || "").split(/\s+/) : [];
    return classes[1] || "";
  }

  function operationId(group) {
    var id = group.getAttribute("id") || "";
    var prefix = id.indexOf("cluster-op-") === 0 ? "cluster-op-" : "op-";
    return id.indexOf(prefix) === 0 ? id.slice(prefix.length) : "";
  }

  function route(canvas, svg, group, href) {
    var kind = kindOf(group);
    if (kind === "summary" && window.htmx) {
      // "27 more": the server draws the graph again with this fan-out expanded.
      window.htmx.ajax("GET", href, { target: "#tab-area", swap: "outerHTML", push: "true" });
      return;
    }
    if ((kind === "op" || kind === "context") && window.htmx) {
      var op = operationId(group);
      var template = canvas.getAttribute("data-operation-url") || "";
      if (op && template) {
        window.htmx.ajax("GET", template.replace("__op__", encodeURIComponent(op)), {
          target: "#graph-panel", swap: "innerHTML",
        });
        svg.querySelectorAll(".selected").forEach(function (n) { n.classList.remove("selected"); });
        group.classList.add("selected");
        return;
      }
    }
    // Anything else is followed as a link: a chained invoke whose child execution is
    // mirrored (kind "child") goes to that execution's page.
    window.location.assign(href);
  }

  document.addEventListener("DOMContentLoaded", function () { setUp(document); });
  document.addEventListener("htmx:afterSettle", function (event) { setUp(event.target); });
})();
