// Operator actions' pages. The start form shows an example input for the function chosen
// (the input of one of its recent runs, rendered into each <option data-example>) and
// fills the input with it only when asked: it may be a real order. No inline scripts: the
// Content-Security-Policy refuses them.
(function () {
  "use strict";

  function showExample(form) {
    var select = form.querySelector("[data-example-select]");
    var panel = form.querySelector("[data-example-panel]");
    if (!select || !panel) {
      return;
    }
    var option = select.options[select.selectedIndex];
    var example = option ? option.getAttribute("data-example") : null;
    panel.hidden = !example;
    if (example) {
      panel.querySelector("[data-example-text]").textContent = example;
      panel.querySelector("[data-example-from]").textContent = option.getAttribute("data-example-from") || "";
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-start-form]").forEach(function (form) {
      showExample(form);
      form.addEventListener("change", function (event) {
        if (event.target.matches("[data-example-select]")) {
          showExample(form);
        }
      });
      form.addEventListener("click", function (event) {
        if (!event.target.closest("[data-use-example]")) {
          return;
        }
        var input = form.querySelector("[data-example-target]");
        input.value = form.querySelector("[data-example-text]").textContent;
        input.focus();
      });
    });
  });
})();

// The approvals inbox's bulk answer bar counts the callbacks selected (or all that match
// the filter) and turns its buttons on only when there is something to answer. (The
// deadlines count down in console.js, with every other duration that ticks.)
(function () {
  "use strict";

  function setUpBulk(form) {
    var checks = function () {
      return Array.prototype.slice.call(document.querySelectorAll("[data-bulk-check]"));
    };
    var all = document.querySelector("[data-bulk-all]");
    var matching = form.querySelector("[data-bulk-matching]");
    var scope = form.querySelector("[data-bulk-scope]");
    var count = form.querySelector("[data-bulk-count]");
    var buttons = form.querySelectorAll("[data-bulk-submit]");

    function update() {
      var boxes = checks();
      var chosen = boxes.filter(function (box) { return box.checked; }).length;
      var byFilter = scope.value === "filter";
      var total = byFilter ? Number(matching.getAttribute("data-total")) : chosen;
      if (byFilter) {
        count.textContent = "All " + total + " callbacks that match the filter are selected.";
      } else if (chosen) {
        count.textContent = chosen + " selected.";
      } else {
        count.textContent = "Select callbacks to answer several at once.";
      }
      buttons.forEach(function (button) { button.disabled = total === 0; });
      if (all) {
        all.checked = boxes.length > 0 && chosen === boxes.length;
        all.indeterminate = chosen > 0 && chosen < boxes.length;
      }
    }

    // The box in the table's head ticks or clears every row.
    function selectAll(box) {
      checks().forEach(function (check) { check.checked = box.checked; });
      scope.value = "selected";
      update();
    }

    function selectOne() {
      scope.value = "selected";
      update();
    }

    // "Select all that match": the answer goes to every callback the filter matches, not
    // only to the rows shown.
    function selectMatching() {
      checks().forEach(function (box) { box.checked = true; });
      scope.value = "filter";
      update();
    }

    document.addEventListener("change", function (event) {
      if (event.target.matches("[data-bulk-all]")) {
        selectAll(event.target);
      }
    });
    document.addEventListener("change", function (event) {
      if (event.target.matches("[data-bulk-check]")) {
        selectOne();
      }
    });
    if (matching) {
      matching.addEventListener("click", selectMatching);
    }
    update();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-bulk-form]").forEach(setUpBulk);
  });
})();
