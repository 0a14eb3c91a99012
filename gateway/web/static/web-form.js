// Progressive enhancement of the web form (issue 16): identifiers checked as the person types, and the print
// button. Everything works without this file: the server checks every field on submit with the same rules.
(function () {
  "use strict";
  var form = document.getElementById("formulario");
  if (form) {
    var csrf = form.getAttribute("data-csrf");
    var timers = {};
    var check = function (input) {
      var out = document.getElementById(input.id + "-verificacao");
      var value = input.value.trim();
      if (!out) { return; }
      if (!value) { out.textContent = ""; input.removeAttribute("aria-invalid"); return; }
      fetch("/web/identificador", {
        method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
        body: JSON.stringify({tipo: input.getAttribute("data-verificar"), valor: value})
      }).then(function (r) { return r.ok ? r.json() : null; }).then(function (v) {
        if (!v) { return; }
        out.textContent = v.mensagem || "";
        if (v.valido) { input.removeAttribute("aria-invalid"); } else { input.setAttribute("aria-invalid", "true"); }
      }).catch(function () { /* the server checks again on submit */ });
    };
    Array.prototype.forEach.call(form.querySelectorAll("[data-verificar]"), function (input) {
      input.addEventListener("input", function () {
        clearTimeout(timers[input.id]);
        timers[input.id] = setTimeout(function () { check(input); }, 300);
      });
      input.addEventListener("blur", function () { check(input); });
    });
    var summary = document.getElementById("resumo-erros");
    if (summary) { summary.focus(); }
  }
  Array.prototype.forEach.call(document.querySelectorAll("[data-imprimir]"), function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { window.print(); });
  });
})();
