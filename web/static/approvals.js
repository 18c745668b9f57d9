/* The approvals panel of a run page: refresh it while the run is live (no inline script: CSP). */
"use strict";
(function () {
  function panel() { return document.getElementById("approvals-panel"); }
  function busy(p) {
    var a = document.activeElement;
    return a && p.contains(a) && (a.tagName === "INPUT" || a.tagName === "TEXTAREA");
  }
  function tick() {
    var p = panel();
    if (!p || !p.hasAttribute("data-live")) { return; }
    if (busy(p)) { window.setTimeout(tick, 2500); return; }
    fetch(p.getAttribute("data-panel"), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html !== null && !busy(p)) {
          var box = document.createElement("div");
          box.innerHTML = html;
          var fresh = box.querySelector("#approvals-panel");
          if (fresh && fresh.innerHTML !== p.innerHTML) { p.replaceWith(fresh); }
        }
        window.setTimeout(tick, 2500);
      })
      .catch(function () { window.setTimeout(tick, 5000); });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", tick);
  } else { tick(); }
})();
