// The execution list's "Compare selected" (browser/templates/browser/list.html): offered
// once two rows are ticked (the server says why otherwise, for a page without this script).
// The ticked rows' checkboxes belong to the bulk-stop form, so their ids are copied into the
// comparison's query when it is sent. Bound once on the document: htmx swaps the rows.
(function () {
  "use strict";

  var TICKED = "input[name='ids']:checked";

  function syncCompare() {
    var button = document.querySelector("[data-compare-form] button[type='submit']");
    if (!button) {
      return;
    }
    var ticked = document.querySelectorAll(TICKED).length;
    button.disabled = ticked !== 2;
    button.title =
      ticked === 2
        ? "Compare the two ticked executions side by side"
        : "Tick two executions to compare them (" + ticked + " ticked)";
  }

  function rowTicked(event) {
    var box = event.target;
    if (box instanceof Element && box.matches("input[name='ids']")) {
      syncCompare();
    }
  }

  function sendTickedIds(event) {
    var form = event.target;
    if (!(form instanceof Element) || !form.matches("[data-compare-form]")) {
      return;
    }
    form.querySelectorAll("input[data-compare-id]").forEach(function (input) {
      input.remove();
    });
    document.querySelectorAll(TICKED).forEach(function (box) {
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = "ids";
      input.value = box.value;
      input.setAttribute("data-compare-id", "");
      form.appendChild(input);
    });
  }

  document.addEventListener("change", rowTicked);
  document.addEventListener("submit", sendTickedIds);
  document.addEventListener("DOMContentLoaded", syncCompare);
  document.addEventListener("htmx:afterSettle", syncCompare);
})();
