/* Claude Runner run page: steps (call + result + denial), copy / raw / collapse, and the live view
   (blocks, state, usage over SSE; elapsed time and an activity indicator). No inline script (CSP). */
"use strict";
(function () {
  var trace = document.getElementById("trace");
  if (!trace) { return; }
  var facts = document.getElementById("facts");
  var pending = [];  // denials that arrived before the call they refused

  function $(id) { return document.getElementById(id); }
  function text(id, value) { var e = $(id); if (e) { e.textContent = value; } }
  function num(n) { return Number(n || 0).toLocaleString("en-US"); }
  function money(x) { return "$" + Number(x || 0).toFixed(4); }
  function span(s) {
    s = Math.max(0, s);
    if (s < 60) { return s.toFixed(s < 10 ? 1 : 0) + " s"; }
    if (s < 3600) { return Math.floor(s / 60) + " min " + Math.floor(s % 60) + " s"; }
    return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
  }
  function timeOf(node) {
    var t = node.querySelector(":scope > summary time, :scope > time");
    return t ? Date.parse(t.getAttribute("datetime")) : 0;
  }
  function stepFor(use) {
    if (!use) { return null; }
    var all = trace.querySelectorAll(".step");
    for (var i = 0; i < all.length; i++) { if (all[i].getAttribute("data-use") === use) { return all[i]; } }
    return null;
  }
  function attach(step, node) {
    var box = step.querySelector(".res");
    if (!box) { return; }
    box.appendChild(node);
    if (node.classList.contains("blk-denied")) { step.classList.add("denied"); return; }
    var a = timeOf(step), b = timeOf(node), dur = step.querySelector(".dur");
    if (dur && a && b) { dur.textContent = "· " + span((b - a) / 1000); }
    step.classList.add(node.classList.contains("blk-err") ? "failed" : "done");
  }
  function place(node) {
    if (!node.classList) { return; }
    var cls = node.classList;
    if (cls.contains("blk-result")) {
      var step = stepFor(node.getAttribute("data-use"));
      if (step) { attach(step, node); }
    } else if (cls.contains("blk-denied")) {
      var target = stepFor(node.getAttribute("data-use"));
      if (target) { attach(target, node); } else { pending.push(node); }
    } else if (cls.contains("step")) {
      var use = node.getAttribute("data-use"), tool = node.getAttribute("data-tool");
      pending = pending.filter(function (d) {
        var du = d.getAttribute("data-use");
        if (du ? du === use : d.getAttribute("data-tool") === tool) { attach(node, d); return false; }
        return true;
      });
    }
  }
  Array.prototype.slice.call(trace.children).forEach(place);

  // Copy, raw JSON, collapse / expand.
  trace.addEventListener("click", function (ev) {
    var b = ev.target.closest && ev.target.closest("button[data-act]");
    if (!b) { return; }
    var blk = b.closest(".blk");
    var raw = blk.querySelector(":scope > .raw"), view = blk.querySelector(":scope > .view");
    if (b.getAttribute("data-act") === "raw") {
      var on = b.getAttribute("aria-pressed") !== "true";
      b.setAttribute("aria-pressed", on ? "true" : "false");
      raw.hidden = !on;
      view.hidden = on;
    } else {
      var src = raw.hidden ? view.querySelector("pre") : raw;
      var value = src ? src.textContent : "";
      var done = function () { b.textContent = "Copied"; setTimeout(function () { b.textContent = "Copy"; }, 1500); };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(value).then(done, function () {});
      } else {
        var range = document.createRange();
        range.selectNodeContents(src);
        var sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
        try { document.execCommand("copy"); done(); } catch (e) { /* selected: the user copies */ }
      }
    }
  });
  function openAll(open) {
    trace.querySelectorAll("details").forEach(function (d) { d.open = open; });
  }
  var ca = $("collapse-all"), ea = $("expand-all");
  if (ca) { ca.addEventListener("click", function () { openAll(false); }); }
  if (ea) { ea.addEventListener("click", function () { openAll(true); }); }

  // Elapsed time while the run goes.
  var started = facts && facts.getAttribute("data-started") ? parseInt(facts.getAttribute("data-started"), 10) / 1000 : 0;
  var finished = facts && facts.getAttribute("data-finished");
  var budget = facts ? parseFloat(facts.getAttribute("data-budget") || "") : NaN;
  var lastActivity = Date.now();
  var ended = !trace.getAttribute("data-stream");
  var current = "";
  function tick() {
    if (ended) { return; }
    if (started && !finished) { text("f-elapsed", span((Date.now() - started) / 1000)); }
    var act = $("act-text");
    if (act && current === "running") {
      act.textContent = "Model working · " + span((Date.now() - lastActivity) / 1000) + " since the last step";
    }
  }
  if (!ended) { setInterval(tick, 1000); tick(); }

  if (!trace.getAttribute("data-stream") || !window.EventSource) { return; }
  var last = parseInt(trace.getAttribute("data-after") || "0", 10);
  var status = $("live-status");
  var stateBox = $("run-state");
  var usage = {};
  var src = new EventSource(trace.getAttribute("data-stream") + "?after=" + last);
  function nearBottom() { return window.innerHeight + window.scrollY >= document.body.scrollHeight - 120; }
  function setState(s, at) {
    current = s;
    if (stateBox) {
      stateBox.textContent = "";
      var b = document.createElement("span");
      b.className = "state st-" + s;
      b.textContent = s;
      stateBox.appendChild(b);
    }
    if (s === "running" && at && !started) {
      started = at / 1000;
      var f = $("f-started");
      if (f) {
        f.textContent = "";
        var t = document.createElement("time");
        t.className = "rel";
        t.setAttribute("datetime", new Date(started).toISOString());
        f.appendChild(t);
        if (window.runnerTimes) { window.runnerTimes(f); }
      }
      var q = $("queue-reason");
      if (q) { q.hidden = true; }
    }
    var act = $("act-text");
    if (act && s === "claimed") { act.textContent = "Starting Claude Code…"; }
    if (act && s === "cancelling") { act.textContent = "Stopping…"; }
  }
  function seen(ev) {
    var pos = parseInt(ev.lastEventId || "0", 10);
    if (pos && pos <= last) { return true; }
    if (pos) { last = pos; }
    return false;
  }
  src.addEventListener("open", function () { if (status) { status.textContent = "Live"; } });
  src.addEventListener("error", function () { if (status) { status.textContent = "Reconnecting…"; } });
  src.addEventListener("block", function (ev) {
    if (seen(ev)) { return; }
    lastActivity = Date.now();
    var stick = nearBottom();
    var d = JSON.parse(ev.data);
    trace.insertAdjacentHTML("beforeend", d.html);  // sanitized on the server
    var node = trace.lastElementChild;
    if (window.runnerTimes) { window.runnerTimes(node); }
    place(node);
    if (stick) { window.scrollTo(0, document.body.scrollHeight); }
  });
  src.addEventListener("usage", function (ev) {
    if (seen(ev)) { return; }
    lastActivity = Date.now();
    var d = JSON.parse(ev.data);
    usage[d.message || ev.lastEventId] = d;
    var t = { input: 0, output: 0, cache_write: 0, cache_read: 0, cost: 0 }, turns = 0;
    Object.keys(usage).forEach(function (k) {
      var u = usage[k];
      turns += 1;
      Object.keys(t).forEach(function (f) { t[f] += u[f] || 0; });
    });
    var base = window.runnerBase || (window.runnerBase = {
      input: num0("f-in"), output: num0("f-out"), cache_write: num0("f-cw"), cache_read: num0("f-cr"),
      cost: parseFloat(($("f-cost") || {}).textContent.replace(/[^0-9.]/g, "") || "0"), turns: num0("f-turns")
    });
    text("f-in", num(base.input + t.input));
    text("f-out", num(base.output + t.output));
    text("f-cw", num(base.cache_write + t.cache_write));
    text("f-cr", num(base.cache_read + t.cache_read));
    text("f-turns", String(base.turns + turns));
    var cost = base.cost + t.cost;
    text("f-cost", "≈ " + money(cost) + (isNaN(budget) || !budget ? "" : " (" + Math.round(100 * cost / budget) + "%)"));
    if (d.model) { text("f-model", d.model); }
  });
  function num0(id) { var e = $(id); return e ? parseInt(e.textContent.replace(/[^0-9]/g, "") || "0", 10) : 0; }
  src.addEventListener("state", function (ev) {
    if (seen(ev)) { return; }
    var d = JSON.parse(ev.data);
    setState(d.state, d.at);
  });
  src.addEventListener("end", function (ev) {
    src.close();
    var d = JSON.parse(ev.data);
    setState(d.state);
    ended = true;
    var act = $("activity");
    if (act) { act.hidden = true; }
    if (status) { status.textContent = "Finished: " + d.state; }
    var kill = $("kill");
    if (kill) { kill.disabled = true; }
    setTimeout(function () { window.location.reload(); }, 800);
  });
  if (stateBox) {
    var first = stateBox.querySelector(".state");
    current = first ? first.textContent : "";
  }
})();
