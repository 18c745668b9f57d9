/* The assistant's conversation page: while a message is being answered, reload when its turn has
   ended (run.js already reloads on the live stream's end; this also covers a lost stream). */
"use strict";
(function () {
  var turns = document.getElementById("turns");
  if (!turns || !turns.hasAttribute("data-state")) { return; }
  var url = turns.getAttribute("data-state");
  function tick() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) {
        if (d && !d.active_run) { window.location.reload(); return; }
        window.setTimeout(tick, 3000);
      })
      .catch(function () { window.setTimeout(tick, 6000); });
  }
  window.setTimeout(tick, 3000);
})();
