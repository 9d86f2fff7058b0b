/* The privacy page's switches: saved as soon as they change, with the
   result announced in the status region. Without this script each
   switch is a form with a Save button. */
(function () {
  "use strict";
  var main = document.querySelector("main");
  var status = document.getElementById("status");
  if (!main || !status || !window.fetch) return;
  var text = function (k) { return main.getAttribute("data-text-" + k) || ""; };
  function say(message, error) {
    status.textContent = message;
    status.className = error ? "status error" : "status";
  }
  function allowedNow() {
    var list = [];
    document.querySelectorAll("section.category").forEach(function (s) {
      var box = s.querySelector("form.choice input[type=checkbox]");
      if (box ? box.checked : s.querySelector(".exempt")) list.push(s.getAttribute("data-category"));
    });
    return list;
  }
  document.querySelectorAll("form.choice").forEach(function (form) {
    var box = form.querySelector("input[type=checkbox]");
    var save = form.querySelector("button.save");
    if (!box) return;
    if (save) save.hidden = true;
    // While a change is saved the box stays focusable (keyboard users keep
    // their place) and further changes wait for the answer.
    var busy = false;
    box.addEventListener("click", function (ev) { if (busy) ev.preventDefault(); });
    box.addEventListener("change", function () {
      busy = true;
      box.setAttribute("aria-busy", "true");
      var body = new URLSearchParams();
      body.set("category", form.getAttribute("data-category"));
      if (box.checked) body.set("allow", "true");
      fetch(form.action, { method: "POST", body: body, credentials: "same-origin",
        headers: { Accept: "application/json" } })
        .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.json(); })
        .then(function (res) {
          box.checked = !!res.allowed;
          var state = document.getElementById(box.getAttribute("aria-describedby"));
          if (state) state.textContent = text(res.allowed ? "allowed" : "not-allowed");
          say(text("saved").replace("{category}", res.category), false);
          if (window.telemetry) window.telemetry.setAllowed(allowedNow());
        })
        .catch(function () {
          box.checked = !box.checked;
          if (save) save.hidden = false;
          say(text("save-failed"), true);
        })
        .then(function () { busy = false; box.removeAttribute("aria-busy"); });
    });
  });
})();
