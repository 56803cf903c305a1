/*
 * leadlight tracking snippet.
 *
 *   <script src="https://HOST/t.js" data-site="SITE_KEY" defer></script>
 *
 * Optional attributes on the script tag:
 *   data-session-timeout="30"   minutes of inactivity before a new session starts
 *   data-respect-dnt="true"     send nothing when Do Not Track or Global Privacy Control is on
 *   data-capture="name,email"   canonical form fields to capture (default: all five)
 *   data-heartbeat="15"         seconds between engagement heartbeats
 *   data-flush="5"              seconds between queue flushes
 *
 * Events go to POST /track on the script's own origin (see the wire protocol). They wait in
 * localStorage ("ll_q") until the server has taken them, so a failed send is retried, also
 * after a reload; every event carries an id, which makes a repeated send harmless.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script || window.__leadlight) return;
  window.__leadlight = true;

  var data = script.dataset;
  var nav = navigator;
  if (data.respectDnt === "true" &&
      (nav.doNotTrack === "1" || window.doNotTrack === "1" || nav.globalPrivacyControl === true)) {
    return;
  }

  var ENDPOINT = new URL("/track", script.src).href;
  var SITE = data.site || "";
  var SESSION_TIMEOUT = (parseFloat(data.sessionTimeout) || 30) * 60000;
  var HEARTBEAT = (parseFloat(data.heartbeat) || 15) * 1000;
  var FLUSH_EVERY = (parseFloat(data.flush) || 5) * 1000;
  var CANONICAL = ["name", "email", "phone", "project", "message"];
  var CAPTURE = data.capture ? data.capture.split(",").map(function (s) { return s.trim(); }) : CANONICAL;
  var ACTIVE_WINDOW = 30000;
  var QUEUE_MAX = 200;
  var BATCH_MAX = 100;
  var FLUSH_AT = 10;
  // sendBeacon and keepalive fetch refuse bodies over 64 KiB; the server takes at most 64 KiB.
  var BODY_MAX = 60000;

  // Every handler the page can reach goes through this: the host page never sees our errors.
  function guard(fn) {
    return function () {
      try {
        return fn.apply(this, arguments);
      } catch (e) {
        return undefined;
      }
    };
  }

  function on(target, type, fn, capture) {
    target.addEventListener(type, guard(fn), { capture: !!capture, passive: true });
  }

  // -- storage (falls back to memory when localStorage is blocked) ---------------------------

  var memory = {};

  function load(key) {
    var raw;
    try {
      raw = localStorage.getItem(key);
    } catch (e) {
      raw = memory[key];
    }
    try {
      return raw ? JSON.parse(raw) : null;
    } catch (e) {
      return null;
    }
  }

  function save(key, value) {
    var raw = JSON.stringify(value);
    memory[key] = raw;
    try {
      localStorage.setItem(key, raw);
    } catch (e) {
      // Quota or privacy mode: the in-memory copy still serves this page.
    }
  }

  // -- identity -------------------------------------------------------------------------------

  var ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

  function randomId(length) {
    var bytes = new Uint8Array(length);
    if (window.crypto && crypto.getRandomValues) {
      crypto.getRandomValues(bytes);
    } else {
      for (var i = 0; i < length; i++) bytes[i] = Math.random() * 256;
    }
    var out = "";
    for (var j = 0; j < length; j++) out += ALPHABET[bytes[j] & 63];
    return out;
  }

  // cyrb53's two 32-bit lanes printed in full: a 64-bit non-cryptographic hash in 16 hex digits.
  function hash64(text) {
    var h1 = 0xdeadbeef;
    var h2 = 0x41c6ce57;
    for (var i = 0; i < text.length; i++) {
      var c = text.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 2654435761);
      h2 = Math.imul(h2 ^ c, 1597334677);
    }
    h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
    h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
    return (h2 >>> 0).toString(16).padStart(8, "0") + (h1 >>> 0).toString(16).padStart(8, "0");
  }

  function timezone() {
    try {
      return Intl.DateTimeFormat().resolvedOptions().timeZone || "";
    } catch (e) {
      return "";
    }
  }

  var visitorId = load("ll_vid");
  if (typeof visitorId !== "string") {
    visitorId = "v_" + randomId(22);
    save("ll_vid", visitorId);
  }

  var screenSize = screen.width + "x" + screen.height;
  var fingerprint = hash64([
    nav.userAgent, (nav.languages || []).join(","), screenSize + "x" + screen.colorDepth,
    timezone(), nav.platform, nav.hardwareConcurrency
  ].join("|"));

  function utmFromUrl() {
    var utm = {};
    var params = new URLSearchParams(location.search);
    ["source", "medium", "campaign", "term", "content"].forEach(function (key) {
      var value = params.get("utm_" + key);
      if (value) utm[key] = value;
    });
    return utm;
  }

  // The session lives in localStorage so every tab shares it; `t` is the last activity.
  function session() {
    var now = Date.now();
    var s = load("ll_sid");
    if (!s || typeof s.id !== "string" || !(now - s.t <= SESSION_TIMEOUT)) {
      s = { id: "s_" + randomId(22), r: document.referrer || "", u: utmFromUrl() };
    }
    s.t = now;
    save("ll_sid", s);
    return s;
  }

  // -- queue and transport --------------------------------------------------------------------

  var inflight = {};
  var sending = false;
  var backoff = 0;
  var retryAt = 0;
  var flushSoon = 0;

  function queue() {
    var q = load("ll_q");
    return Array.isArray(q) ? q : [];
  }

  function forget(ids) {
    save("ll_q", queue().filter(function (item) { return !ids[item.e.id]; }));
  }

  // The next request's worth of queued events: one session's, at most 100, under 60 KB.
  function nextBatch() {
    var items = queue().filter(function (item) { return !inflight[item.e.id]; });
    if (!items.length) return null;
    var ctx = JSON.stringify(items[0].x);
    items = items.filter(function (item) { return JSON.stringify(item.x) === ctx; }).slice(0, BATCH_MAX);
    for (;;) {
      var x = items[0].x;
      var body = JSON.stringify({
        site: x.site, visitor_id: visitorId, session_id: x.sid, fingerprint: fingerprint,
        timezone: timezone(), language: nav.language || "", screen: screenSize,
        referrer: x.ref, utm: x.utm, webdriver: !!nav.webdriver, sent_at: Date.now(),
        events: items.map(function (item) { return item.e; })
      });
      var ids = {};
      items.forEach(function (item) { ids[item.e.id] = true; });
      if (body.length <= BODY_MAX) return { body: body, ids: ids };
      if (items.length === 1) {
        // One event too large for any request would block the queue forever.
        forget(ids);
        return nextBatch();
      }
      items = items.slice(0, Math.ceil(items.length / 2));
    }
  }

  function post(body) {
    return fetch(ENDPOINT, {
      method: "POST", body: body, keepalive: true, credentials: "omit",
      headers: { "Content-Type": "text/plain;charset=UTF-8" }
    });
  }

  function beacon(body) {
    try {
      return !!(nav.sendBeacon &&
        nav.sendBeacon(ENDPOINT, new Blob([body], { type: "text/plain;charset=UTF-8" })));
    } catch (e) {
      return false;
    }
  }

  function settle(ids, delivered) {
    Object.keys(ids).forEach(function (id) { delete inflight[id]; });
    sending = false;
    if (delivered) {
      forget(ids);
      backoff = 0;
      flush();
    } else {
      backoff = Math.min(backoff ? backoff * 2 : 1000, 60000);
      retryAt = Date.now() + backoff;
      setTimeout(flush, backoff);
    }
  }

  // While the page lives we send with fetch so a failure is seen and retried with backoff.
  function flush() {
    if (sending || Date.now() < retryAt) return;
    var batch = nextBatch();
    if (!batch) return;
    sending = true;
    Object.assign(inflight, batch.ids);
    post(batch.body).then(function (response) {
      var status = response.status;
      // A 4xx batch will never be accepted: dropping it keeps the queue moving.
      settle(batch.ids, status >= 200 && status < 300 || status >= 400 && status < 500);
    }, function () {
      settle(batch.ids, false);
    });
  }

  // When the page goes away only a beacon is sure to leave; keepalive fetch is the fallback.
  function flushAll() {
    for (var batch = nextBatch(); batch; batch = nextBatch()) {
      if (beacon(batch.body)) {
        forget(batch.ids);
      } else {
        Object.assign(inflight, batch.ids);
        post(batch.body).catch(function () {});
      }
    }
  }

  function track(type, props, url) {
    var s = session();
    var q = queue();
    q.push({
      x: { site: SITE, sid: s.id, ref: s.r, utm: s.u },
      e: { id: randomId(22), type: type, ts: Date.now(), url: url || pageUrl, props: props }
    });
    save("ll_q", q.slice(-QUEUE_MAX));
    if (q.length >= FLUSH_AT && !flushSoon) {
      flushSoon = setTimeout(guard(function () {
        flushSoon = 0;
        flush();
      }), 0);
    }
  }

  // -- engagement -----------------------------------------------------------------------------

  // Active time accrues while the page is visible and had input in the last 30 s. It is summed
  // at every input and visibility change, so between two marks both conditions are constant.
  var visible = document.visibilityState !== "hidden";
  var lastInput = 0;
  var mark = Date.now();
  var activeMs = 0;

  function accrue() {
    var now = Date.now();
    if (visible && lastInput) {
      var end = Math.min(now, lastInput + ACTIVE_WINDOW);
      if (end > mark) activeMs += end - mark;
    }
    mark = now;
  }

  function heartbeat() {
    accrue();
    var ms = Math.round(activeMs);
    activeMs = 0;
    if (ms > 0) track("engagement", { active_ms: ms });
  }

  // -- page views and scroll depth ------------------------------------------------------------

  var pageUrl = location.href;
  var pageKey = "";
  var depths = {};

  // Plain #anchors are the same page; #/ and #! are hash-router routes.
  function keyOf(href) {
    return href.replace(/#(?![!/]).*$/, "");
  }

  function pageView() {
    var key = keyOf(location.href);
    if (key === pageKey) return;
    if (pageKey) heartbeat();
    pageKey = key;
    pageUrl = location.href;
    depths = {};
    track("page_view", { title: document.title });
  }

  function scrollDepth() {
    var doc = document.documentElement;
    var height = Math.max(doc.scrollHeight, document.body ? document.body.scrollHeight : 0);
    var seen = (window.scrollY || doc.scrollTop || 0) + window.innerHeight;
    var percent = seen + 2 >= height ? 100 : seen / height * 100;
    [25, 50, 75, 100].forEach(function (depth) {
      if (percent >= depth && !depths[depth]) {
        depths[depth] = true;
        track("scroll", { depth: depth });
      }
    });
  }

  function onInput() {
    accrue();
    lastInput = Date.now();
    scrollDepth();
  }

  // -- clicks ---------------------------------------------------------------------------------

  function text(value, max) {
    return String(value || "").replace(/\s+/g, " ").trim().slice(0, max);
  }

  function onClick(event) {
    var el = event.target && event.target.closest &&
      event.target.closest("a,button,[role=button],input[type=submit],input[type=button]");
    if (!el) return;
    var props = { tag: el.tagName.toLowerCase(), text: text(el.innerText || el.value, 100) };
    if (el.id) props.target_id = el.id;
    if (el.tagName === "A" && el.href) {
      props.href = el.href;
      props.outbound = /^https?:/.test(el.protocol) && el.host !== location.host;
    }
    track("click", props);
  }

  // -- forms ----------------------------------------------------------------------------------

  var firstInput = new WeakMap();
  var SKIP_TYPES = /^(password|hidden|file|submit|button|reset|image)$/;
  var SENSITIVE = /(^|[^a-z])cc[-_ ]|card|cvv|cvc|csc|iban|ssn|social.?sec|passw|secret|token/;

  function luhn(digits) {
    var sum = 0;
    for (var i = 0; i < digits.length; i++) {
      var d = +digits[digits.length - 1 - i];
      if (i % 2) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
      sum += d;
    }
    return sum % 10 === 0;
  }

  function cardLike(value) {
    var digits = value.replace(/[\s-]/g, "");
    return /^\d{13,19}$/.test(digits) && luhn(digits);
  }

  function canonical(el, key) {
    var type = (el.type || "").toLowerCase();
    if (type === "email" || /e-?mail/.test(key)) return "email";
    if (type === "tel" || /phone|mobile|whatsapp|(^|[^a-z])tel/.test(key)) return "phone";
    if (el.tagName === "TEXTAREA" || /message|comment|enquiry|inquiry|question|requirement/.test(key)) {
      return "message";
    }
    if (/project|property/.test(key)) return "project";
    if (/name/.test(key) && !/user|company|business|org/.test(key)) {
      return /last|sur|family/.test(key) ? "last" : "name";
    }
    return "";
  }

  function onFormInput(event) {
    var form = event.target && event.target.form;
    if (form && !firstInput.has(form)) firstInput.set(form, Date.now());
  }

  function onSubmit(event) {
    var form = event.target;
    if (!form || form.tagName !== "FORM") return;
    var started = firstInput.get(form);
    firstInput.delete(form);
    var fields = {};
    var payload = {};
    var lastName = "";
    Array.prototype.forEach.call(form.elements, function (el) {
      var name = el.getAttribute("name") || el.id;
      var type = (el.type || "").toLowerCase();
      if (!name || el.disabled || SKIP_TYPES.test(type) || !("value" in el)) return;
      if ((type === "checkbox" || type === "radio") && !el.checked) return;
      var key = [name, el.id, el.getAttribute("autocomplete")].join(" ").toLowerCase();
      var value = type === "select-multiple"
        ? Array.prototype.filter.call(el.options, function (o) { return o.selected; })
          .map(function (o) { return o.value; }).join(",")
        : String(el.value);
      if (SENSITIVE.test(key) || cardLike(value)) return;
      value = value.slice(0, 2000);
      payload[name] = name in payload ? payload[name] + "," + value : value;
      var field = canonical(el, key);
      if (field === "last") {
        lastName = lastName || value.trim();
      } else if (field && !fields[field] && value.trim()) {
        fields[field] = value.trim();
      }
    });
    if (lastName) fields.name = fields.name ? fields.name + " " + lastName : lastName;
    var captured = {};
    CAPTURE.forEach(function (field) {
      if (fields[field]) captured[field] = fields[field];
    });
    track("form_submit", {
      form: form.getAttribute("id") || form.getAttribute("name") || form.getAttribute("data-ll-form") || "form",
      fill_ms: started ? Date.now() - started : 0,
      fields: captured,
      payload: payload
    });
    // A submission usually leaves the page: start sending now rather than at the next tick.
    flush();
  }

  // -- wiring ---------------------------------------------------------------------------------

  function leave() {
    heartbeat();
    flushAll();
  }

  var routeChange = guard(function () {
    setTimeout(guard(pageView), 0);
  });
  ["pushState", "replaceState"].forEach(function (method) {
    var original = history[method];
    if (typeof original !== "function") return;
    history[method] = function () {
      var result = original.apply(this, arguments);
      routeChange();
      return result;
    };
  });
  on(window, "popstate", routeChange);

  ["mousemove", "keydown", "scroll", "touchstart", "click"].forEach(function (type) {
    on(window, type, onInput, true);
  });
  on(document, "click", onClick, true);
  on(document, "input", onFormInput, true);
  on(document, "submit", onSubmit, true);
  on(document, "visibilitychange", function () {
    accrue();
    visible = document.visibilityState !== "hidden";
    if (!visible) leave();
  });
  on(window, "pagehide", leave);

  setInterval(guard(heartbeat), HEARTBEAT);
  setInterval(guard(flush), FLUSH_EVERY);
  guard(pageView)();
  guard(flush)();
})();
