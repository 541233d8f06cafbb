// Durable Console front-end behaviour, on every page. Loaded in <head> without `defer`, so
// the saved colour theme is applied before the first paint; the rest waits for the DOM.
// Times arrive as <time datetime="...Z"> holding UTC text and are shown in the browser's
// zone (or in UTC, a choice remembered in localStorage); durations of running things and the
// deadlines of callbacks tick; copy buttons, the collapsible operation tree (its state kept
// in the URL) and the operation panel live here too.
// No inline scripts or handlers anywhere, so a strict Content-Security-Policy can be used;
// and nothing on `window`: what the parts share stays inside this function.
(function () {
  "use strict";

  // One listener per behaviour, on the document: elements that htmx swaps in later behave
  // like the ones the page came with. `handler(element, event)` gets the element matched.
  function on(type, selector, handler) {
    document.addEventListener(type, function (event) {
      var element = event.target instanceof Element ? event.target.closest(selector) : null;
      if (element) {
        handler(element, event);
      }
    });
  }

  function stored(key) {
    try {
      return window.localStorage.getItem(key);
    } catch (e) {
      return null; // storage disabled (private mode, policy): fall back to the default
    }
  }

  function store(key, value) {
    try {
      window.localStorage.setItem(key, value);
    } catch (e) {
      // Not remembered, but still switched for this page.
    }
  }

  // ---- colour theme ----
  // The system's choice (prefers-color-scheme), followed as it changes, until the person
  // picks light or dark from the header's menu; that choice is remembered, and "Follow the
  // system" forgets it again.

  var THEME_KEY = "durable-console-theme";
  var THEME_MARKS = { system: "\u25D0", light: "\u2600", dark: "\u263E" }; // ◐ ☀ ☾
  var root = document.documentElement;
  var systemDark = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;

  function themeChoice() {
    var saved = stored(THEME_KEY);
    return saved === "light" || saved === "dark" ? saved : "system";
  }

  function systemTheme() {
    return systemDark && systemDark.matches ? "dark" : "light";
  }

  function applyTheme() {
    var choice = themeChoice();
    var theme = choice === "system" ? systemTheme() : choice;
    root.setAttribute("data-bs-theme", theme);
    document.querySelectorAll("[data-theme-toggle]").forEach(function (button) {
      button.textContent = THEME_MARKS[choice] + " " + choice.charAt(0).toUpperCase() + choice.slice(1);
      button.setAttribute("aria-label", "Colour theme: " + choice);
      button.setAttribute(
        "title",
        choice === "system"
          ? "Follows your system's setting (" + theme + " now) until you choose one"
          : "Always " + theme + ", whatever your system says"
      );
    });
    document.querySelectorAll("[data-theme-choice]").forEach(function (item) {
      var chosen = item.getAttribute("data-theme-choice") === choice;
      item.classList.toggle("active", chosen);
      item.setAttribute("aria-pressed", chosen ? "true" : "false");
    });
  }

  function chooseTheme(item) {
    var choice = item.getAttribute("data-theme-choice");
    if (choice === "system") {
      try {
        window.localStorage.removeItem(THEME_KEY);
      } catch (e) {
        // Storage disabled: nothing was remembered either.
      }
    } else {
      store(THEME_KEY, choice);
    }
    applyTheme();
  }

  applyTheme();
  if (systemDark) {
    // Followed live: a system that turns dark at dusk turns the open pages dark too.
    var followSystem = function () {
      if (themeChoice() === "system") {
        applyTheme();
      }
    };
    if (systemDark.addEventListener) {
      systemDark.addEventListener("change", followSystem);
    } else if (systemDark.addListener) {
      systemDark.addListener(followSystem);
    }
  }
  // Chosen in another tab: this one follows.
  window.addEventListener("storage", function (event) {
    if (event.key === THEME_KEY || event.key === null) {
      applyTheme();
    }
  });

  // ---- times: in the browser's zone or in UTC ----

  var TZ_KEY = "durable-console-tz";

  function tzMode() {
    return stored(TZ_KEY) === "utc" ? "utc" : "local";
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

  function renderTimes(container) {
    var mode = tzMode();
    var other = mode === "utc" ? "local" : "utc";
    (container || document).querySelectorAll("time.js-time").forEach(function (el) {
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

  function toggleTimeZone() {
    store(TZ_KEY, tzMode() === "utc" ? "local" : "utc");
    renderTimes(document);
    renderZoneInputs();
  }

  // ---- date and time inputs in the zone the page's times are shown in ----
  // The URL holds UTC (what the server reads, and what a shared link must mean to anyone);
  // the person types in the zone the page shows times in, in their browser's date format.
  // Each <input type="datetime-local" data-zone-input> gives its name to a hidden input that
  // carries the UTC value; the label ([data-zone-label]) and the help ([data-zone-help])
  // name the zone. Without this script the inputs are plain and the labels say UTC.

  var BARE_DATE = /^(\d{4,})-(\d{2})-(\d{2})$/;
  var LOCAL_MOMENT = /^(\d{4,})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?$/;

  // A value of the URL (UTC, a bare date, or a moment with an offset) as a Date.
  function urlMoment(value, end) {
    var day = BARE_DATE.exec(value);
    if (day) {
      // A bare date as the upper bound means up to the end of that day: the next midnight.
      return utcMoment([+day[1], +day[2] - 1, +day[3] + (end ? 1 : 0), 0, 0, 0]);
    }
    var moment = LOCAL_MOMENT.exec(value);
    if (moment) {
      return utcMoment(momentParts(moment));
    }
    return new Date(value); // with an offset, or NaN
  }

  function momentParts(match) {
    return [+match[1], +match[2] - 1, +match[3], +match[4], +match[5], +(match[6] || 0)];
  }

  // Date.UTC and new Date(y, ...) read the years 0 to 99 as 1900 to 1999: set the year apart.
  function utcMoment(parts) {
    var date = new Date(Date.UTC(2000, parts[1], parts[2], parts[3], parts[4], parts[5]));
    date.setUTCFullYear(parts[0], parts[1], parts[2]);
    return date;
  }

  function localMoment(parts) {
    var date = new Date(2000, parts[1], parts[2], parts[3], parts[4], parts[5]);
    date.setFullYear(parts[0], parts[1], parts[2]);
    return date;
  }

  function inputValue(date, mode) {
    var utc = mode === "utc";
    var seconds = utc ? date.getUTCSeconds() : date.getSeconds();
    return (
      pad(utc ? date.getUTCFullYear() : date.getFullYear(), 4) + "-" +
      pad((utc ? date.getUTCMonth() : date.getMonth()) + 1) + "-" +
      pad(utc ? date.getUTCDate() : date.getDate()) + "T" +
      pad(utc ? date.getUTCHours() : date.getHours()) + ":" +
      pad(utc ? date.getUTCMinutes() : date.getMinutes()) +
      (seconds ? ":" + pad(seconds) : "")
    );
  }

  // What the person typed (the input's value, in `mode`'s zone) as the URL's UTC value.
  function typedToUrl(value, mode) {
    var moment = LOCAL_MOMENT.exec(value);
    if (!moment) {
      return "";
    }
    var parts = momentParts(moment);
    var date = mode === "utc" ? utcMoment(parts) : localMoment(parts);
    return isNaN(date.getTime()) ? "" : inputValue(date, "utc");
  }

  function zoneHidden(input) {
    var next = input.nextElementSibling;
    return next && next.hasAttribute("data-zone-hidden") ? next : null;
  }

  function renderZoneInputs() {
    var inputs = document.querySelectorAll("input[data-zone-input]");
    if (!inputs.length) {
      return;
    }
    var mode = tzMode();
    var now = new Date();
    var zone = mode === "utc" ? "UTC" : zoneName(now);
    inputs.forEach(function (input) {
      var hidden = zoneHidden(input);
      if (!hidden) {
        hidden = document.createElement("input");
        hidden.type = "hidden";
        hidden.name = input.name;
        // The attribute, not .value: the browser empties a value it cannot show (a bare date).
        hidden.value = input.getAttribute("value") || "";
        hidden.setAttribute("data-zone-hidden", "");
        input.removeAttribute("name");
        input.insertAdjacentElement("afterend", hidden);
      }
      var moment = hidden.value ? urlMoment(hidden.value, input.hasAttribute("data-zone-end")) : null;
      input.value = moment && !isNaN(moment.getTime()) ? inputValue(moment, mode) : "";
    });
    document.querySelectorAll("[data-zone-label]").forEach(function (label) {
      label.textContent = "(" + zone + ")";
    });
    var example;
    try {
      example = new Intl.DateTimeFormat(undefined, {
        year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
        timeZone: mode === "utc" ? "UTC" : undefined,
      }).format(now);
    } catch (e) {
      example = inputValue(now, mode).replace("T", " ");
    }
    var where = mode === "utc" ? "UTC" : "your time zone (" + zone + ")";
    document.querySelectorAll("[data-zone-help]").forEach(function (help) {
      help.textContent =
        "Dates and times in " + where + ", as this page shows times; now is " + example + ".";
    });
  }

  // Before the form sees the change (a capture listener on the document runs first), the
  // hidden input takes the UTC value of what was typed.
  function zoneInputChanged(event) {
    var input = event.target;
    if (!(input instanceof Element) || !input.matches("input[data-zone-input]")) {
      return;
    }
    var hidden = zoneHidden(input);
    if (hidden) {
      hidden.value = typedToUrl(input.value, tzMode());
    }
  }

  // ---- durations that tick ----

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

  // A callback's deadline closer than this shows in red, as actions/_countdown.html renders it.
  var SOON_SECONDS = 300;

  // Every second: how long ago (time.js-ago), how long so far ([data-since]) and how long
  // left until a callback's deadline ([data-until], the approvals inbox).
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
    document.querySelectorAll("[data-until]").forEach(function (el) {
      var until = Date.parse(el.getAttribute("data-until"));
      if (isNaN(until)) {
        return;
      }
      var left = (until - now) / 1000;
      if (el.getAttribute("data-until-style") === "in") {
        // Something due, not a deadline (a retry's next attempt): "in 12 s", then "due now".
        el.textContent = left > 0 ? "in " + formatDuration(left) : "due now";
        return;
      }
      el.textContent = left > 0 ? formatDuration(left) + " left" : "time is up";
      el.classList.toggle("text-danger", left < SOON_SECONDS);
    });
  }

  // ---- copy buttons: data-copy="text" or data-copy-target="#element-id" ----

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

  // The element is found by its id (the target's "#" taken off), never by parsing page
  // data as a selector.
  function copySource(button) {
    var text = button.getAttribute("data-copy");
    if (text !== null) {
      return text;
    }
    var id = (button.getAttribute("data-copy-target") || "").replace(/^#/, "");
    var target = id ? document.getElementById(id) : null;
    return target ? target.textContent : "";
  }

  function copyClicked(button, event) {
    event.preventDefault();
    var label = button.getAttribute("data-label") || button.textContent;
    button.setAttribute("data-label", label);
    copyText(copySource(button)).then(
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

  function labelToggle(row, toggle, expanded) {
    var name = (row.querySelector(".op-link") || {}).textContent || "";
    toggle.setAttribute("aria-expanded", expanded ? "true" : "false");
    toggle.setAttribute("aria-label", (expanded ? "Collapse " : "Expand ") + name.trim());
  }

  function setExpanded(row, expanded) {
    var toggle = row.querySelector("[data-tree-toggle]");
    if (!toggle) {
      return;
    }
    labelToggle(row, toggle, expanded);
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
        labelToggle(row, toggle, expanded);
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

  function toggleGroup(toggle) {
    var row = toggle.closest("tr");
    var expand = toggle.getAttribute("aria-expanded") !== "true";
    setExpanded(row, expand);
    recordToggle(row.getAttribute("data-op"), expand);
  }

  function toggleAllGroups(button) {
    var tbody = document.getElementById("tree-body");
    if (tbody) {
      var expand = button.getAttribute("data-tree-all") === "expand";
      setAll(tbody, expand);
      recordAll(expand);
    }
  }

  // ---- the operation panel (a Bootstrap offcanvas filled by htmx) ----

  function markSelected(op) {
    document.querySelectorAll(".op-selected").forEach(function (el) {
      el.classList.remove("op-selected");
    });
    if (op) {
      document.querySelectorAll('[data-op="' + CSS.escape(op) + '"]').forEach(function (el) {
        if (!el.classList.contains("operation-panel")) {
          el.classList.add("op-selected");
        }
      });
    }
  }

  function panelContent() {
    return document.querySelector("#operation-panel-body .operation-panel");
  }

  function showPanel() {
    var panel = document.getElementById("operation-panel");
    if (panel && window.bootstrap) {
      window.bootstrap.Offcanvas.getOrCreateInstance(panel).show();
    }
    var content = panelContent();
    markSelected(content ? content.getAttribute("data-op") : null);
  }

  // ---- htmx: what its requests carry, and what follows its swaps ----

  // The tab area reloads itself (execution-changed) with the URL's state as it is now, not
  // as it was rendered; its answer carries the header, the buttons and the open panel.
  function reloadTabWithCurrentQuery(event) {
    var elt = event.detail.elt;
    var trigger = event.detail.triggeringEvent;
    if (!elt || elt.id !== "tab-area" || !trigger || trigger.type !== "execution-changed") {
      return;
    }
    var path = event.detail.path.split("?")[0];
    if (path === window.location.pathname) {
      event.detail.path = path + window.location.search;
    }
    // The answer brings the open operation panel too, from the same moment as the tab.
    var offcanvas = document.getElementById("operation-panel");
    var content = panelContent();
    if (offcanvas && content && offcanvas.classList.contains("show")) {
      event.detail.parameters.panel = content.getAttribute("data-op");
    }
  }

  // More rows of the tree come open or closed as the URL says.
  function sendTreeState(event) {
    var elt = event.detail.elt;
    if (!elt || !elt.matches || !elt.matches("[data-tree-expand], [data-tree-more]")) {
      return;
    }
    var query = treeQuery();
    if (query) {
      event.detail.path += (event.detail.path.indexOf("?") === -1 ? "?" : "&") + query;
    }
  }

  // Forms marked data-drop-empty leave blank fields out of the URL they push, so a
  // bookmarked filter reads `?status=FAILED` rather than `?source=&function=&...`.
  function dropEmptyFields(event) {
    var elt = event.detail.elt;
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
  }

  function showFilledPanel(event) {
    var target = event.detail.target;
    if (target && target.id === "operation-panel-body") {
      showPanel();
    }
  }

  // A large group's rows arrived: the URL now names it open. (Its link is gone from the
  // page by now, but still knows its row.)
  function recordExpandedGroup(event) {
    var elt = event.detail.requestConfig && event.detail.requestConfig.elt;
    if (event.detail.successful && elt && elt.matches && elt.matches("[data-tree-expand]")) {
      recordExpand(elt.closest("tr").getAttribute("data-op"));
    }
  }

  // The rows swapped in (a tab reloaded) mark the operation whose panel is open.
  function keepSelectionMarked() {
    var content = panelContent();
    if (content && document.getElementById("operation-panel").classList.contains("show")) {
      markSelected(content.getAttribute("data-op"));
    }
  }

  // A form loaded when its menu opens (a needs-attention row's Stop… and Pause…) says so
  // when it could not be loaded, and where else to act, instead of "Loading…" for ever.
  function lazyFormFailed(event) {
    var elt = event.detail.elt;
    if (event.detail.successful || !elt || !elt.matches || !elt.matches("[data-lazy-form]")) {
      return;
    }
    var placeholder = elt.querySelector("[data-lazy-placeholder]");
    var status = event.detail.xhr && event.detail.xhr.status;
    if (!placeholder) {
      return;
    }
    if (status === 403) {
      placeholder.textContent =
        "The console refused the form: your roles no longer let you act on this " +
        "execution. Reload the page to see what you may do.";
    } else if (status === 404) {
      placeholder.textContent =
        "This execution is no longer in the console, or no longer yours to see. " +
        "Reload the page.";
    } else {
      placeholder.textContent =
        "The form did not load" + (status ? " (the console answered " + status + ")" : "") +
        ". Reload the page to try again, or open the execution and act from its page.";
    }
  }

  // ---- wiring: each behaviour registered once ----

  on("click", "[data-theme-choice]", chooseTheme);
  on("click", "[data-tz-toggle]", toggleTimeZone);
  on("click", "[data-copy], [data-copy-target]", copyClicked);
  on("click", "[data-tree-toggle]", toggleGroup);
  on("click", "[data-tree-all]", toggleAllGroups);

  document.addEventListener("htmx:load", function (event) {
    renderTimes(event.detail.elt);
  });
  document.addEventListener("htmx:historyRestore", renderZoneInputs);
  document.addEventListener("input", zoneInputChanged, true);
  document.addEventListener("change", zoneInputChanged, true);
  document.addEventListener("htmx:configRequest", reloadTabWithCurrentQuery);
  document.addEventListener("htmx:configRequest", sendTreeState);
  document.addEventListener("htmx:configRequest", dropEmptyFields);
  document.addEventListener("htmx:afterSwap", showFilledPanel);
  document.addEventListener("htmx:afterRequest", recordExpandedGroup);
  document.addEventListener("htmx:afterRequest", lazyFormFailed);
  document.addEventListener("htmx:afterSettle", keepSelectionMarked);

  document.addEventListener("DOMContentLoaded", function () {
    applyTheme(); // the theme menu exists now
    renderTimes(document);
    renderZoneInputs();
    tick();
    window.setInterval(tick, 1000);
    var panel = document.getElementById("operation-panel");
    if (panel) {
      panel.addEventListener("hidden.bs.offcanvas", function () {
        markSelected(null);
      });
    }
  });
})();
