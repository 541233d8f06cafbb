// Replay (browser/replay.py): the slider of the detail page's replay bar
// (browser/templates/browser/_replay_bar.html) loads the open tab as it stood after the
// chosen event, with ?at=<event id> in the URL so that the moment can be shared. While it is
// dragged the label says which event; once let go (or after a key press settles) the tab
// loads. Bound once on the document: the bar is swapped with the tab area.
(function () {
  "use strict";

  var SLIDER = "[data-replay-slider]";
  var timer = null;

  function bar(elt) {
    return elt.closest("[data-replay]");
  }

  function slider(event) {
    var target = event.target;
    return target instanceof Element && target.matches(SLIDER) ? target : null;
  }

  // The tab's URL at this moment, keeping the tab's own state (layout, expanded groups, filters).
  function momentUrl(range) {
    var path = bar(range).getAttribute("data-replay-url");
    var params = new URLSearchParams(window.location.search);
    params.set("at", range.value);
    return path + "?" + params.toString();
  }

  function load(range) {
    var url = momentUrl(range);
    if (!window.htmx) {
      window.location.assign(url);
      return;
    }
    // The same request as the bar's ‹ and › links make: htmx swaps the tab area and pushes
    // the moment's URL itself, so its history (the page it keeps for the back button, the
    // URL it knows the page by) follows.
    window.htmx.ajax("GET", url, { target: "#tab-area", swap: "outerHTML", push: url });
  }

  // While dragged: the label follows.
  function showMoment(event) {
    var range = slider(event);
    var area = range && bar(range);
    var text = area && area.querySelector("[data-replay-label]");
    if (text) {
      text.textContent = "event " + range.value + " / " + range.max;
    }
  }

  // Let go: the tab loads. Arrow keys change the value one event at a time: load once they stop.
  function loadMoment(event) {
    var range = slider(event);
    if (!range) {
      return;
    }
    window.clearTimeout(timer);
    timer = window.setTimeout(function () {
      load(range);
    }, 250);
  }

  document.addEventListener("input", showMoment);
  document.addEventListener("change", loadMoment);
})();
