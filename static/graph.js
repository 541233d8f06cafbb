/* The graph tab: pan and zoom (vendored svg-pan-zoom), toolbar buttons, and node clicks
   that open the operation panel beside the graph through htmx. No inline script: the
   page's Content-Security-Policy allows only files like this one. */
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
        if (!link) return;
        var href = link.getAttribute("href") || link.getAttribute("xlink:href");
        if (!href) return;
        event.preventDefault();
        if (href.indexOf("/operations/") !== -1 && window.htmx) {
          window.htmx.ajax("GET", href, { target: "#graph-panel", swap: "innerHTML" });
          svg.querySelectorAll(".selected").forEach(function (n) { n.classList.remove("selected"); });
          var node = link.closest("g.node");
          if (node) node.classList.add("selected");
        } else if (href.indexOf("expand=") !== -1 && window.htmx) {
          window.htmx.ajax("GET", href, { target: "#tab-area", swap: "outerHTML" });
          window.history.pushState({}, "", href);
        } else {
          window.location.assign(href);
        }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () { setUp(document); });
  document.addEventListener("htmx:afterSettle", function (event) { setUp(event.target); });
})();
