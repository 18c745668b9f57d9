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
    var later = function () { clearTimeout(timer); timer = setTimeout(update, 250); };
    cron.addEventListener("input", later);
    if (tz) { tz.addEventListener("input", later); }
    update();
  }

  // Live view: blocks arrive over SSE; a reconnect resumes from Last-Event-ID.
  var trace = document.getElementById("trace");
  if (trace && trace.getAttribute("data-stream") && window.EventSource) {
    var last = parseInt(trace.getAttribute("data-after") || "0", 10);
    var status = document.getElementById("live-status");
    var stateBox = document.getElementById("run-state");
    var src = new EventSource(trace.getAttribute("data-stream") + "?after=" + last);
    var nearBottom = function () {
      return window.innerHeight + window.scrollY >= document.body.scrollHeight - 120;
    };
    var setState = function (s) {
      if (!stateBox) { return; }
      stateBox.textContent = "";
      stateBox.appendChild(el("span", "state st-" + s, s));
    };
    var seen = function (ev) {
      var pos = parseInt(ev.lastEventId || "0", 10);
      if (pos && pos <= last) { return true; }
      if (pos) { last = pos; }
      return false;
    };
    src.addEventListener("open", function () { if (status) { status.textContent = "Live"; } });
    src.addEventListener("error", function () {
      if (status) { status.textContent = "Reconnecting…"; }
    });
    src.addEventListener("block", function (ev) {
      if (seen(ev)) { return; }
      var stick = nearBottom();
      var d = JSON.parse(ev.data);
      trace.insertAdjacentHTML("beforeend", d.html);  // sanitized on the server
      if (stick) { window.scrollTo(0, document.body.scrollHeight); }
    });
    src.addEventListener("state", function (ev) {
      if (seen(ev)) { return; }
      setState(JSON.parse(ev.data).state);
    });
    src.addEventListener("end", function (ev) {
      src.close();
      var s = JSON.parse(ev.data).state;
      setState(s);
      if (status) { status.textContent = "Finished: " + s; }
      var kill = document.getElementById("kill");
      if (kill) { kill.disabled = true; }
      setTimeout(function () { window.location.reload(); }, 800);
    });
  }
})();
