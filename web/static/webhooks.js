/* Webhook pages: live prompt-template check, copy buttons. No inline script (CSP). */
"use strict";
(function () {
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  // Live check of the prompt template: the server's validator, as you type.
  var tpl = document.getElementById("prompt_template");
  var out = document.getElementById("template-check");
  if (tpl && out && tpl.getAttribute("data-check")) {
    var timer = null;
    var seq = 0;
    var check = function () {
      var mine = ++seq;
      fetch(tpl.getAttribute("data-check"), {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify({ template: tpl.value })
      }).then(function (r) { return r.json(); })
        .then(function (d) {
          if (mine !== seq) { return; }
          if (d.ok) {
            out.className = "preview template-ok";
            out.textContent = "Template OK.";
          } else {
            out.className = "preview field-error";
            out.textContent = (d.problems || ["invalid template"]).join("; ");
          }
        }).catch(function () {});
    };
    tpl.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(check, 250); });
    if (tpl.value) { check(); }
  }

  // Copy buttons next to the secret and the URL shown once.
  document.addEventListener("click", function (ev) {
    var btn = ev.target;
    var id = btn && btn.getAttribute && btn.getAttribute("data-copy");
    if (!id) { return; }
    var field = document.getElementById(id);
    if (!field) { return; }
    field.select();
    var done = function () { btn.textContent = "Copied"; };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(field.value).then(done, function () {
        document.execCommand("copy"); done();
      });
    } else {
      document.execCommand("copy"); done();
    }
  });
})();
