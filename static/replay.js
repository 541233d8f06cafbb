// Replay (browser/replay.py): the slider of the detail page's replay bar
// (browser/templates/browser/_replay_bar.html) loads the open tab as it stood after the
// chosen event, with ?at=<event id> in the URL so that the moment can be shared. While it is
// dragged the label says which event; once let go (or after a key press settles) the tab
// loads. Bound once on the document: the bar is swapped with the tab area.
(function () {
  "use strict";

  var timer = null;

  function bar(elt) {
    return elt && elt.closest ? elt.closest("[data-replay]") : null;
  }

  function label(slider) {
    var area = bar(slider);
    var text = area && area.querySelector("[data-replay-label]");
    if (text) {
      text.textContent = "event " + slider.value + " / " + slider.max;
    }
  }

  // The tab's URL at this moment, keeping the tab's own state (layout, expanded groups, filters).
  function momentUrl(slider) {
    var area = bar(slider);
    var path = area.getAttribute("data-replay-url");
    var params = new URLSearchParams(window.location.search);
    params.set("at", slider.value);
    return path + "?" + params.toString();
  }

  function load(slider) {
    var url = momentUrl(slider);
    if (!window.htmx) {
      window.location.assign(url);
      return;
    }
    window.htmx
      .ajax("GET", url, { target: "#tab-area", swap: "outerHTML" })
      .then(function () {
        window.history.pushState({ htmx: true }, "", url);
      });
  }

  document.addEventListener("input", function (event) {
    var slider = event.target;
    if (slider && slider.matches && slider.matches("[data-replay-slider]")) {
      label(slider);
    }
  });

  document.addEventListener("change", function (event) {
    var slider = event.target;
    if (!slider || !slider.matches || !slider.matches("[data-replay-slider]")) {
      return;
    }
    // Arrow keys change the value one event at a time: load once they stop.
    window.clearTimeout(timer);
    timer = window.setTimeout(function () {
      load(slider);
    }, 250);
  });

  // The list's "Compare selected" is offered once two rows are ticked (the server says why
  // otherwise, for a page without this script).
  function syncCompare() {
    var button = document.querySelector("[data-compare-form] button[type='submit']");
    if (!button) {
      return;
    }
    var ticked = document.querySelectorAll("input[name='ids']:checked").length;
    button.disabled = ticked !== 2;
    button.title =
      ticked === 2
        ? "Compare the two ticked executions side by side"
        : "Tick two executions to compare them (" + ticked + " ticked)";
  }

  document.addEventListener("change", function (event) {
    var box = event.target;
    if (box && box.matches && box.matches("input[name='ids']")) {
      syncCompare();
    }
  });
  document.addEventListener("DOMContentLoaded", syncCompare);
  document.addEventListener("htmx:afterSettle", syncCompare);

  // The list's "Compare selected": the ticked rows' checkboxes belong to the bulk-stop
  // form, so their ids are copied into the comparison's query when it is sent.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form || !form.matches || !form.matches("[data-compare-form]")) {
      return;
    }
    form.querySelectorAll("input[data-compare-id]").forEach(function (input) {
      input.remove();
    });
    document.querySelectorAll("input[name='ids']:checked").forEach(function (box) {
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = "ids";
      input.value = box.value;
      input.setAttribute("data-compare-id", "");
      form.appendChild(input);
    });
  });
})();
