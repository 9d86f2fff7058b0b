/* telemetry.js: web vitals and declared clicks (data-telemetry-click,
   data-telemetry-fields), batched with sendBeacon, only for allowed
   categories. <script src="/privacy/telemetry.js" data-page="NAME" defer> */
(function () {
  "use strict";
  var me = document.currentScript;
  var attr = function (n) { return me && me.getAttribute(n); };
  var base = me && me.src ? me.src.replace(/[^/]*$/, "") : "/privacy/";
  var choices = { allowed: [], events: {}, endpoint: base + "events" };
  var ready = false, queue = [], pending = [], MAX = 20;
  function load(c) {
    if (!c || !c.allowed || !c.events || !c.endpoint || ready) return;
    choices = c; ready = true;
    var early = pending.splice(0);
    for (var i = 0; i < early.length; i++) track(early[i][0], early[i][1]);
    if (document.visibilityState === "hidden") flush();
  }
  var el = document.getElementById("telemetry-choices");
  if (el) { try { load(JSON.parse(el.textContent)); } catch (e) { /* fetched below */ } }
  if (!ready && window.fetch) {
    fetch(attr("data-choices") || base + "choices.json", { credentials: "same-origin" })
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
    if (!ready) { if (pending.length < MAX) pending.push([name, fields]); return false; }
    if (!allowed(name)) return false;
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
    } catch (e) { /* unsupported */ }
  }
  // CLS: largest session window (gaps < 1 s, at most 5 s)
  var win = 0, winStart = 0, winLast = 0;
  observe("layout-shift", function (e) {
    if (e.hadRecentInput) return;
    if (e.startTime - winLast < 1000 && e.startTime - winStart < 5000) win += e.value;
    else { win = e.value; winStart = e.startTime; }
    winLast = e.startTime;
    vitals.CLS = Math.max(vitals.CLS || 0, win);
  });
  observe("largest-contentful-paint", function (e) { vitals.LCP = e.startTime; });
  observe("paint", function (e) { if (e.name === "first-contentful-paint") vitals.FCP = e.startTime; });
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
