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

// ---- Execution browser -----------------------------------------------------------------
// Times arrive as <time datetime="...Z"> holding UTC text and are shown in the browser's
// zone (or in UTC, a choice remembered in localStorage); durations of running things tick;
// copy buttons, the collapsible operation tree (its state kept in the URL) and the
// operation panel live here too.
(function () {
  "use strict";

  var TZ_KEY = "durable-console-tz";

  function tzMode() {
    try {
      return window.localStorage.getItem(TZ_KEY) === "utc" ? "utc" : "local";
    } catch (e) {
      return "local";
    }
  }

  function pad(n, width) {
    var s = String(n);
    while (s.length < (width || 2)) {
      s = "0" + s;
    }
    return s;
  }

  function zoneName(date) {
    try {
      var parts = new Intl.DateTimeFormat(undefined, { timeZoneName: "short" }).formatToParts(date);
      for (var i = 0; i < parts.length; i++) {
        if (parts[i].type === "timeZoneName") {
          return parts[i].value;
        }
      }
    } catch (e) {
      // Old browsers: no zone name, the offset below still tells the truth.
    }
    var offset = -date.getTimezoneOffset();
    return "UTC" + (offset >= 0 ? "+" : "-") + pad(Math.floor(Math.abs(offset) / 60)) + ":" + pad(Math.abs(offset) % 60);
  }

  function formatDate(date, mode, fmt) {
    var utc = mode === "utc";
    var y = utc ? date.getUTCFullYear() : date.getFullYear();
    var mo = (utc ? date.getUTCMonth() : date.getMonth()) + 1;
    var d = utc ? date.getUTCDate() : date.getDate();
    var h = utc ? date.getUTCHours() : date.getHours();
    var mi = utc ? date.getUTCMinutes() : date.getMinutes();
    var s = utc ? date.getUTCSeconds() : date.getSeconds();
    var clock = pad(h) + ":" + pad(mi) + ":" + pad(s);
    var zone = utc ? "UTC" : zoneName(date);
    if (fmt === "time") {
      return { text: clock, full: y + "-" + pad(mo) + "-" + pad(d) + " " + clock + " " + zone };
    }
    var text = y + "-" + pad(mo) + "-" + pad(d) + " " + clock + " " + zone;
    return { text: text, full: text };
  }

  function renderTimes(root) {
    var mode = tzMode();
    var other = mode === "utc" ? "local" : "utc";
    (root || document).querySelectorAll("time.js-time").forEach(function (el) {
      var date = new Date(el.getAttribute("datetime"));
      if (isNaN(date.getTime())) {
        return;
      }
      var shown = formatDate(date, mode, el.getAttribute("data-format"));
      el.textContent = shown.text;
      el.setAttribute("title", shown.full + "\n" + formatDate(date, other, "datetime").full);
    });
    document.querySelectorAll("[data-tz-toggle]").forEach(function (button) {
      button.textContent = mode === "utc" ? "Times: UTC" : "Times: local";
      button.setAttribute("aria-pressed", mode === "utc" ? "true" : "false");
    });
  }

  // The same wording as domain/durations.py format_duration on the server.
  function formatDuration(seconds) {
    seconds = Math.max(seconds, 0);
    // Cut, never rounded up, with the same slack as the server's rule.
    if (seconds < 1) {
      return Math.floor(seconds * 1000 + 1e-6) + " ms";
    }
    if (seconds < 10) {
      var tenths = Math.floor(seconds * 10 + 1e-6);
      return (tenths % 10 === 0 ? String(tenths / 10) : (tenths / 10).toFixed(1)) + " s";
    }
    var total = Math.floor(seconds);
    if (total < 60) {
      return total + " s";
    }
    var days = Math.floor(total / 86400);
    var hours = Math.floor((total % 86400) / 3600);
    var minutes = Math.floor((total % 3600) / 60);
    var secs = total % 60;
    if (days) {
      return hours ? days + " d " + hours + " h" : days + " d";
    }
    if (hours) {
      return minutes ? hours + " h " + minutes + " min" : hours + " h";
    }
    return secs ? minutes + " min " + secs + " s" : minutes + " min";
  }

  // For tests and other scripts: the one duration rule, as the server writes it.
  window.durableConsole = { formatDuration: formatDuration };

  function tick() {
    var now = Date.now();
    document.querySelectorAll("time.js-ago").forEach(function (el) {
      var then = Date.parse(el.getAttribute("datetime"));
      if (!isNaN(then)) {
        var seconds = (now - then) / 1000;
        el.textContent = seconds < 1 ? "just now" : formatDuration(seconds) + " ago";
      }
    });
    document.querySelectorAll("[data-since]").forEach(function (el) {
      var since = Date.parse(el.getAttribute("data-since"));
      if (!isNaN(since)) {
        el.textContent = formatDuration((now - since) / 1000);
      }
    });
  }

  // ---- copy buttons: data-copy="text" or data-copy-target="#element" ----

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.className = "copy-scratch";
      document.body.appendChild(area);
      area.select();
      try {
        document.execCommand("copy") ? resolve() : reject(new Error("copy refused"));
      } catch (e) {
        reject(e);
      } finally {
        area.remove();
      }
    });
  }

  function onCopy(button) {
    var text = button.getAttribute("data-copy");
    if (text === null) {
      var target = document.querySelector(button.getAttribute("data-copy-target"));
      text = target ? target.textContent : "";
    }
    var label = button.getAttribute("data-label") || button.textContent;
    button.setAttribute("data-label", label);
    copyText(text).then(
      function () {
        button.textContent = "Copied";
        button.setAttribute("data-copied", "");
      },
      function () {
        button.textContent = "Press Ctrl+C";
      }
    );
    window.setTimeout(function () {
      button.textContent = label;
      button.removeAttribute("data-copied");
    }, 1500);
  }

  // ---- the operation tree: rows in depth-first order, each with data-depth ----

  function descendants(row, fn) {
    var depth = Number(row.getAttribute("data-depth"));
    var next = row.nextElementSibling;
    while (next && Number(next.getAttribute("data-depth")) > depth) {
      fn(next);
      next = next.nextElementSibling;
    }
  }

  function setExpanded(row, expanded) {
    var toggle = row.querySelector("[data-tree-toggle]");
    if (!toggle) {
      return;
    }
    var name = (row.querySelector(".op-link") || {}).textContent || "";
    toggle.setAttribute("aria-expanded", expanded ? "true" : "false");
    toggle.setAttribute("aria-label", (expanded ? "Collapse " : "Expand ") + name.trim());
    if (!expanded) {
      descendants(row, function (r) {
        r.hidden = true;
      });
      return;
    }
    var skipBelow = null; // depth of a collapsed row whose children stay hidden
    descendants(row, function (r) {
      var depth = Number(r.getAttribute("data-depth"));
      if (skipBelow !== null && depth > skipBelow) {
        r.hidden = true;
        return;
      }
      skipBelow = null;
      r.hidden = false;
      var inner = r.querySelector("[data-tree-toggle]");
      if (inner && inner.getAttribute("aria-expanded") === "false") {
        skipBelow = depth;
      }
    });
  }

  function setAll(tbody, expanded) {
    tbody.querySelectorAll("tr[data-depth]").forEach(function (row) {
      var toggle = row.querySelector("[data-tree-toggle]");
      if (toggle) {
        var name = (row.querySelector(".op-link") || {}).textContent || "";
        toggle.setAttribute("aria-expanded", expanded ? "true" : "false");
        toggle.setAttribute("aria-label", (expanded ? "Collapse " : "Expand ") + name.trim());
      }
      row.hidden = !expanded && Number(row.getAttribute("data-depth")) > 0;
    });
  }

  // ---- the tree's state lives in the URL (browser/treestate.py reads it) ----
  // ?expand=<id>: a large map or parallel opened (its rows fetched from the server);
  // ?collapse=<id>: a group closed here; ?collapse=all: "Collapse all", after which
  // ?expand=<id> names the groups opened again. The server renders the tree from these,
  // so a reload, a shared link and the tab's own reload show what the person left.
  // The URL is replaced, not pushed: opening a group is no page to go back to.

  var ALL_CLOSED = "all";

  function treeLimit() {
    var tbody = document.getElementById("tree-body");
    return Number((tbody && tbody.getAttribute("data-tree-limit")) || 50);
  }

  function without(params, name, value) {
    var kept = params.getAll(name).filter(function (v) {
      return v !== value;
    });
    params.delete(name);
    kept.forEach(function (v) {
      params.append(name, v);
    });
  }

  function add(params, name, value) {
    without(params, name, value);
    // The server refuses more than the limit: the oldest choice makes room.
    var ids = params.getAll(name).filter(function (v) {
      return v !== ALL_CLOSED;
    });
    while (ids.length >= treeLimit()) {
      without(params, name, ids.shift());
    }
    params.append(name, value);
  }

  function updateTreeUrl(change) {
    var params = new URLSearchParams(window.location.search);
    change(params, params.getAll("collapse").indexOf(ALL_CLOSED) !== -1);
    var query = params.toString();
    var url = window.location.pathname + (query ? "?" + query : "") + window.location.hash;
    window.history.replaceState({ htmx: true }, "", url);
  }

  // A rendered group opened or closed by its toggle.
  function recordToggle(op, open) {
    updateTreeUrl(function (params, allClosed) {
      without(params, "collapse", op);
      if (allClosed) {
        // Every group starts closed: ?expand names the open ones.
        if (open) {
          add(params, "expand", op);
        } else {
          without(params, "expand", op);
        }
      } else if (!open) {
        add(params, "collapse", op);
      }
    });
  }

  // A large group's rows arrived from the server.
  function recordExpand(op) {
    updateTreeUrl(function (params) {
      without(params, "collapse", op);
      add(params, "expand", op);
    });
  }

  function recordAll(expanded) {
    updateTreeUrl(function (params) {
      params.delete("collapse");
      if (!expanded) {
        params.delete("expand");
        params.append("collapse", ALL_CLOSED);
      }
    });
  }

  // The tree's part of the page's query, for requests that render more of it.
  function treeQuery() {
    var current = new URLSearchParams(window.location.search);
    var state = new URLSearchParams();
    ["expand", "collapse"].forEach(function (name) {
      current.getAll(name).forEach(function (value) {
        state.append(name, value);
      });
    });
    return state.toString();
  }

  // ---- the operation panel (a Bootstrap offcanvas filled by htmx) ----

  function markSelected(op) {
    document.querySelectorAll(".op-selected").forEach(function (el) {
      el.classList.remove("op-selected");
    });
    if (op) {
      document.querySelectorAll('[data-op="' + op + '"]').forEach(function (el) {
        if (!el.classList.contains("operation-panel")) {
          el.classList.add("op-selected");
        }
      });
    }
  }

  function showPanel() {
    var panel = document.getElementById("operation-panel");
    if (panel && window.bootstrap) {
      window.bootstrap.Offcanvas.getOrCreateInstance(panel).show();
    }
    var content = document.querySelector("#operation-panel-body .operation-panel");
    markSelected(content ? content.getAttribute("data-op") : null);
  }

  document.addEventListener("DOMContentLoaded", function () {
    renderTimes(document);
    tick();
    window.setInterval(tick, 1000);

    document.addEventListener("click", function (event) {
      var tz = event.target.closest("[data-tz-toggle]");
      if (tz) {
        try {
          window.localStorage.setItem(TZ_KEY, tzMode() === "utc" ? "local" : "utc");
        } catch (e) {
          // Not remembered; nothing else to do.
        }
        renderTimes(document);
        return;
      }
      var copy = event.target.closest("[data-copy], [data-copy-target]");
      if (copy) {
        event.preventDefault();
        onCopy(copy);
        return;
      }
      var toggle = event.target.closest("[data-tree-toggle]");
      if (toggle) {
        var row = toggle.closest("tr");
        var expand = toggle.getAttribute("aria-expanded") !== "true";
        setExpanded(row, expand);
        recordToggle(row.getAttribute("data-op"), expand);
        return;
      }
      var all = event.target.closest("[data-tree-all]");
      if (all) {
        var tbody = document.getElementById("tree-body");
        if (tbody) {
          var expandAll = all.getAttribute("data-tree-all") === "expand";
          setAll(tbody, expandAll);
          recordAll(expandAll);
        }
      }
    });

    document.body.addEventListener("htmx:load", function (event) {
      renderTimes(event.detail.elt);
    });
    // Forms marked data-drop-empty leave blank fields out of the URL they push, so a
    // bookmarked filter reads `?status=FAILED` rather than `?source=&function=&...`.
    document.body.addEventListener("htmx:configRequest", function (event) {
      var elt = event.detail.elt;
      var trigger = event.detail.triggeringEvent;
      if (elt && elt.id === "tab-area" && trigger && trigger.type === "execution-changed") {
        // The tab reloads itself with the URL's state as it is now, not as it was rendered.
        var path = event.detail.path.split("?")[0];
        if (path === window.location.pathname) {
          event.detail.path = path + window.location.search;
        }
        return;
      }
      if (elt && elt.matches && elt.matches("[data-tree-expand], [data-tree-more]")) {
        // More rows of the tree come open or closed as the URL says.
        var query = treeQuery();
        if (query) {
          event.detail.path += (event.detail.path.indexOf("?") === -1 ? "?" : "&") + query;
        }
        return;
      }
      if (!elt || !elt.closest || !elt.closest("[data-drop-empty]")) {
        return;
      }
      var params = event.detail.parameters;
      Object.keys(params).forEach(function (key) {
        var value = params[key];
        if (value === "" || (Array.isArray(value) && value.length === 0)) {
          delete params[key];
        }
      });
    });
    document.body.addEventListener("htmx:afterSwap", function (event) {
      var target = event.detail.target;
      if (target && target.id === "operation-panel-body") {
        showPanel();
      }
    });
    document.body.addEventListener("htmx:afterRequest", function (event) {
      // A large group's rows arrived: the URL now names it open. (Its link is gone from
      // the page by now, but still knows its row.)
      var elt = event.detail.requestConfig && event.detail.requestConfig.elt;
      if (event.detail.successful && elt && elt.matches && elt.matches("[data-tree-expand]")) {
        recordExpand(elt.closest("tr").getAttribute("data-op"));
      }
    });
    document.body.addEventListener("htmx:afterSettle", function (event) {
      var content = document.querySelector("#operation-panel-body .operation-panel");
      if (content && document.getElementById("operation-panel").classList.contains("show")) {
        markSelected(content.getAttribute("data-op"));
      }
    });
    var panel = document.getElementById("operation-panel");
    if (panel) {
      panel.addEventListener("hidden.bs.offcanvas", function () {
        markSelected(null);
      });
    }
  });
})();
