/* Claude Runner dashboard: confirmations, cron preview, live run view. No inline script (CSP). */
"use strict";
(function () {
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    var msg = form.getAttribute && form.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) { ev.preventDefault(); }
  });

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }

  // Cron preview: validate as you type, show the schedule in words and the next fires.
  var cron = document.getElementById("cron");
  var tz = document.getElementById("timezone");
  var out = document.getElementById("cron-preview");
  if (cron && out) {
    var timer = null;
    var seq = 0;
    var update = function () {
      var expr = cron.value.trim();
      out.textContent = "";
      out.className = "preview";
      if (!expr) { out.textContent = "Manual only (no schedule)."; return; }
      var mine = ++seq;
      fetch(cron.getAttribute("data-preview"), {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify({ cron: expr, timezone: (tz && tz.value.trim()) || "UTC", count: 3 })
      }).then(function (r) { return r.json().then(function (d) { return [r.ok, d]; }); })
        .then(function (res) {
          if (mine !== seq) { return; }
          var ok = res[0], d = res[1];
          if (ok) {
            out.appendChild(el("strong", "", d.description));
            var ul = el("ul");
            d.next.forEach(function (n) { ul.appendChild(el("li", "", n)); });
            out.appendChild(ul);
          } else {
            out.className = "preview field-error";
            out.textContent = (d.error && d.error.message) || "invalid";
          }
        }).catch(function () {});
    };
    var serverError = document.getElementById("err-cron");
    var later = function () {
      if (serverError) { serverError.hidden = true; }  // the preview speaks for the field now
      clearTimeout(timer);
      timer = setTimeout(update, 250);
    };
    cron.addEventListener("input", later);
    if (tz) { tz.addEventListener("input", later); }
    if (!serverError) { update(); }  // else the server's message is already next to the field
  }

})();
/* Job filter type-ahead: suggestions from the server as you type (scales to any number of jobs). */
(function () {
  var input = document.getElementById("job-filter");
  var list = document.getElementById("job-options");
  if (!input || !list || !window.fetch) { return; }
  var timer = null, seq = 0;
  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () {
      var mine = ++seq;
      fetch(input.getAttribute("data-suggest") + "?q=" + encodeURIComponent(input.value.trim()),
        { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (d) {
          if (mine !== seq) { return; }
          list.textContent = "";
          (d.jobs || []).forEach(function (j) {
            var o = document.createElement("option");
            o.value = j.id;
            o.textContent = j.name;
            list.appendChild(o);
          });
        }).catch(function () {});
    }, 200);
  });
})();
