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
