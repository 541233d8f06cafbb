// Durable Console front-end behaviour. Loaded in <head> without `defer`, so the saved colour
// theme is applied before the first paint; everything else waits for the DOM.
// No inline scripts or handlers anywhere, so a strict Content-Security-Policy can be used.
(function () {
  "use strict";

  var STORAGE_KEY = "durable-console-theme";
  var root = document.documentElement;

  function savedTheme() {
    try {
      return window.localStorage.getItem(STORAGE_KEY);
    } catch (e) {
      return null; // storage disabled (private mode, policy): fall back to the default
    }
  }

  function preferredTheme() {
    var saved = savedTheme();
    if (saved === "light" || saved === "dark") {
      return saved;
    }
    return root.getAttribute("data-bs-theme") || "light";
  }

  function applyTheme(theme) {
    root.setAttribute("data-bs-theme", theme);
    document.querySelectorAll("[data-theme-toggle]").forEach(function (button) {
      // The button names the theme it switches to.
      button.textContent = theme === "dark" ? "Light" : "Dark";
      button.setAttribute("aria-pressed", theme === "dark" ? "true" : "false");
    });
  }

  applyTheme(preferredTheme());

  document.addEventListener("DOMContentLoaded", function () {
    applyTheme(preferredTheme());
    document.addEventListener("click", function (event) {
      var button = event.target.closest("[data-theme-toggle]");
      if (!button) {
        return;
      }
      var next = root.getAttribute("data-bs-theme") === "dark" ? "light" : "dark";
      try {
        window.localStorage.setItem(STORAGE_KEY, next);
      } catch (e) {
        // Not remembered, but still switched for this page.
      }
      applyTheme(next);
    });
  });
})();
