/* telemetry.js: web vitals and declared interaction events, sent in
   batches with sendBeacon, and only for categories the person allows.
   Load it with <script src="/privacy/telemetry.js" data-page="TEMPLATE" defer>.
   Mark an element <button data-telemetry-click="EVENT"
   data-telemetry-fields='{"FIELD":"VALUE"}'> to send EVENT when clicked.
   window.telemetry: track(name, fields), flush(), report(), setAllowed(list). */
(function () {
  "use strict";
  var me = document.currentScript;
  var attr = function (n) { return me && me.getAttribute(n); };
  var choices = { allowed: [], events: {}, endpoint: "/privacy/events" };
  var ready = false, queue = [], MAX = 20;
  function load(c) {
    if (c && c.allowed && c.events && c.endpoint) { choices = c; ready = true; }
  }
  var el = document.getElementById("telemetry-choices");
  if (el) { try { load(JSON.parse(el.textContent)); } catch (e) { /* fetched below */ } }
  if (!ready && window.fetch) {
    fetch(attr("data-choices") || "/privacy/choices.json", { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(load, function () {});
  }
  function allowed(name) {
    var c = choices.events[name];
    return !!c && choices.allowed.indexOf(c) >= 0;
  }
  function flush() {
    while (queue.length) {
      var body = JSON.stringify({ events: queue.splice(0, MAX) });
      if (!(navigator.sendBeacon && navigator.sendBeacon(choices.endpoint, body)) && window.fetch) {
        fetch(choices.endpoint, { method: "POST", body: body, keepalive: true, credentials: "same-origin" })
          .catch(function () {});
      }
    }
  }
  function track(name, fields) {
    if (!ready || !allowed(name)) return false;
    queue.push({ name: name, fields: fields || {} });
    if (queue.length >= MAX) flush();
    return true;
  }
  var page = attr("data-page") || "unknown";
  var vitals = {}, limits = { LCP: [2500, 4000], FCP: [1800, 3000], CLS: [0.1, 0.25], INP: [200, 500], TTFB: [800, 1800] };
  function observe(type, fn, opts) {
    try {
      var o = { type: type, buffered: true };
      for (var k in opts) o[k] = opts[k];
      new PerformanceObserver(function (l) { l.getEntries().forEach(fn); }).observe(o);
    } catch (e) { /* not supported by this browser */ }
  }
  observe("largest-contentful-paint", function (e) { vitals.LCP = e.startTime; });
  observe("paint", function (e) { if (e.name === "first-contentful-paint") vitals.FCP = e.startTime; });
  observe("layout-shift", function (e) { if (!e.hadRecentInput) vitals.CLS = (vitals.CLS || 0) + e.value; });
  observe("event", function (e) { if (e.interactionId) vitals.INP = Math.max(vitals.INP || 0, e.duration); }, { durationThreshold: 40 });
  observe("navigation", function (e) { vitals.TTFB = e.responseStart; });
  var reported = false;
  function report() {
    if (!reported) {
      reported = true;
      for (var m in vitals) {
        var v = vitals[m], t = limits[m];
        track("web.vital", { metric: m, value: v, page: page,
          rating: v <= t[0] ? "good" : v <= t[1] ? "needs-improvement" : "poor" });
      }
    }
    flush();
  }
  addEventListener("visibilitychange", function () { if (document.visibilityState === "hidden") report(); });
  addEventListener("pagehide", report);
  document.addEventListener("click", function (ev) {
    var t = ev.target && ev.target.closest && ev.target.closest("[data-telemetry-click]");
    if (!t) return;
    var fields = {};
    try { fields = JSON.parse(t.getAttribute("data-telemetry-fields") || "{}"); } catch (e) { return; }
    track(t.getAttribute("data-telemetry-click"), fields);
  }, true);
  window.telemetry = {
    track: track, flush: flush, report: report, allowed: allowed,
    setAllowed: function (list) { choices.allowed = list.slice(); }
  };
})();
