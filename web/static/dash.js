/* Claude Runner on every page: times in the browser's zone (or UTC), relative with the absolute
   time on hover; lists that refresh when runs change; form errors wired for screen readers. */
"use strict";
(function () {
  var KEY = "runner-times-utc";
  function utc() { try { return window.localStorage.getItem(KEY) === "1"; } catch (e) { return false; } }
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function absolute(d) {
    if (utc()) {
      return d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) + " " +
        pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + ":" + pad(d.getUTCSeconds()) + " UTC";
    }
    var zone = "";
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { zone = ""; }
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()) + (zone ? " " + zone : "");
  }
  function clock(d) {
    return utc() ? pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + ":" + pad(d.getUTCSeconds())
      : pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  }
  function relative(d) {
    var s = (d.getTime() - Date.now()) / 1000, a = Math.abs(s), v;
    if (a < 45) { return s < 0 ? "just now" : "in a few seconds"; }
    if (a < 3600) { v = Math.round(a / 60) + " min"; }
    else if (a < 86400) { v = Math.round(a / 3600) + " h"; }
    else if (a < 86400 * 45) { v = Math.round(a / 86400) + " d"; }
    else { return absolute(d).slice(0, 10); }
    return s < 0 ? v + " ago" : "in " + v;
  }
  function render(root) {
    (root || document).querySelectorAll("time.rel, time.clock, time.abs").forEach(function (t) {
      var d = new Date(t.getAttribute("datetime"));
      if (isNaN(d.getTime())) { return; }
      t.title = absolute(d);
      if (t.classList.contains("rel")) { t.textContent = relative(d); }
      else if (t.classList.contains("clock")) { t.textContent = clock(d); }
      else { t.textContent = absolute(d).replace(/:\d\d( |$)/, "$1"); }
    });
  }
  window.runnerTimes = render;
  render(document);
  setInterval(function () { render(document); }, 30000);

  var toggle = document.getElementById("tz-toggle");
  if (toggle) {
    var label = function () {
      toggle.textContent = utc() ? "Times: UTC" : "Times: local";
      toggle.setAttribute("aria-pressed", utc() ? "true" : "false");
    };
    label();
    toggle.hidden = false;
    toggle.addEventListener("click", function () {
      try { window.localStorage.setItem(KEY, utc() ? "0" : "1"); } catch (e) { /* private mode */ }
      label();
      render(document);
    });
  }

  // Invalid fields: aria-invalid and aria-describedby pointing at the message next to them.
  document.querySelectorAll(".field-error[id^='err-']").forEach(function (p) {
    var name = p.id.slice(4);
    var field = document.querySelector("[name='" + name.replace(/'/g, "") + "']");
    if (!field || field.type === "hidden") { return; }
    field.setAttribute("aria-invalid", "true");
    field.setAttribute("aria-describedby", p.id);
  });
  var firstBad = document.querySelector("[aria-invalid='true']");
  if (firstBad) { firstBad.focus(); }

  // Lists that move: refetch this page's live regions when a run changes (debounced).
  var main = document.querySelector("main[data-live]");
  if (main && window.EventSource && window.fetch && window.DOMParser) {
    var busy = false, again = false, timer = null;
    var refresh = function () {
      if (busy) { again = true; return; }
      busy = true;
      fetch(window.location.href, { credentials: "same-origin", headers: { "X-Requested-With": "live" } })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (!html) { return; }
          var doc = new DOMParser().parseFromString(html, "text/html");
          document.querySelectorAll("[data-region]").forEach(function (old) {
            var fresh = doc.querySelector("[data-region='" + old.getAttribute("data-region") + "']");
            if (fresh && !old.contains(document.activeElement)) {
              old.replaceWith(fresh);
              render(fresh);
            }
          });
        })
        .catch(function () {})
        .then(function () {
          busy = false;
          if (again) { again = false; schedule(); }
        });
    };
    var schedule = function () { clearTimeout(timer); timer = setTimeout(refresh, 700); };
    var feed = new EventSource(main.getAttribute("data-live"));
    var broken = false;
    feed.addEventListener("change", schedule);
    feed.addEventListener("error", function () { broken = true; });
    feed.addEventListener("open", function () {  // back after a gap: catch up once
      if (broken) { broken = false; schedule(); }
    });
  }
})();
