// leadlight: <script src="/t.js" data-site="KEY" defer>; options: the data-* read below.
(() => {
  "use strict";

  const script = document.currentScript;
  if (!script || !script.src) return;

  const nav = navigator;
  const opts = script.dataset;
  if (opts.respectDnt === "true" && (nav.doNotTrack === "1" || nav.globalPrivacyControl === true)) return;

  const ENDPOINT = new URL("/track", script.src).href;
  const seconds = (value, fallback) => (parseFloat(value) || fallback) * 1000;
  const SESSION_TIMEOUT = seconds(opts.sessionTimeout, 30) * 60;
  const CAPTURE = (opts.capture || "name,email,phone,project,message").split(/\s*,\s*/);

  const guard = (fn) => (...args) => {
    try {
      return fn(...args);
    } catch {}
  };
  const on = (target, type, fn, capture) =>
    target.addEventListener(type, guard(fn), { capture, passive: true });

  // Without localStorage, state lives in memory.
  const memory = {};
  const load = (key) => {
    try {
      return JSON.parse(localStorage.getItem(key));
    } catch {
      return memory[key];
    }
  };
  const save = (key, value) => {
    memory[key] = value;
    try {
      localStorage.setItem(key, JSON.stringify(value));
    } catch {}
  };

  // Code points, as the server counts: never half a surrogate pair.
  const cut = (text, max) => Array.from(String(text).slice(0, 2 * max + 1)).slice(0, max).join("");

  const randomId = () => btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(17))))
    .slice(0, 22).replace(/\+/g, "-").replace(/\//g, "_");

  // cyrb53, a 53-bit non-cryptographic hash.
  const hash = (text) => {
    let h1 = 0xdeadbeef;
    let h2 = 0x41c6ce57;
    for (const c of text) {
      h1 = Math.imul(h1 ^ c.charCodeAt(), 2654435761);
      h2 = Math.imul(h2 ^ c.charCodeAt(), 1597334677);
    }
    h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
    h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
    return ((h2 & 2097151) * 4294967296 + (h1 >>> 0)).toString(16);
  };

  const device = {
    visitor_id: load("ll_vid"),
    timezone: Intl.DateTimeFormat().resolvedOptions().timeZone,
    language: nav.language,
    screen: screen.width + "x" + screen.height,
    webdriver: !!nav.webdriver
  };
  if (typeof device.visitor_id !== "string") save("ll_vid", (device.visitor_id = "v_" + randomId()));
  device.fingerprint = hash([nav.userAgent, nav.languages, device.screen, screen.colorDepth,
    device.timezone, nav.platform, nav.hardwareConcurrency].join("|"));

  // t: the last activity. Lengths are the server's limits.
  const session = () => {
    const now = Date.now();
    let s = load("ll_sid");
    if (!(s && s.session_id && now - s.t <= SESSION_TIMEOUT)) {
      const params = new URLSearchParams(location.search);
      s = { session_id: "s_" + randomId(), referrer: cut(document.referrer, 2048), utm: {} };
      for (const key of ["source", "medium", "campaign", "term", "content"]) {
        if (params.get("utm_" + key)) s.utm[key] = cut(params.get("utm_" + key), 256);
      }
    }
    s.t = now;
    save("ll_sid", s);
    return s;
  };

  // {x: site and session JSON, e: event} until delivered.
  const queue = () => [].concat(load("ll_q")).filter((item) => item && item.e);
  const forget = (ids) => save("ll_q", queue().filter((item) => !ids.includes(item.e.id)));
  let inflight = [];
  let backoff = 0;

  // One session's events, at most 100, under 64 KiB.
  const nextBatch = () => {
    const items = queue().filter((item) => !inflight.includes(item.e.id));
    if (!items.length) return null;
    let size = 0;
    const events = items.filter((item) => item.x === items[0].x &&
      (size += JSON.stringify(item.e).length) < 60000).slice(0, 100).map((item) => item.e);
    return {
      ids: events.map((e) => e.id),
      body: JSON.stringify(Object.assign(JSON.parse(items[0].x), device, { sent_at: Date.now(), events }))
    };
  };

  // fetch sees failures, to retry with backoff.
  const flush = () => {
    const batch = !inflight.length && nextBatch();
    if (!batch) return;
    inflight = batch.ids;
    const done = guard((delivered) => {
      if (delivered) forget(batch.ids);
      backoff = delivered ? 0 : Math.min(backoff * 2 || 1000, 60000);
      setTimeout(guard(() => {
        inflight = [];
        flush();
      }), backoff);
    });
    // A string body goes as text/plain;charset=UTF-8: no CORS preflight. A 4xx never succeeds: drop it.
    fetch(ENDPOINT, { method: "POST", body: batch.body, keepalive: true, credentials: "omit" })
      .then((response) => done([2, 4].includes(response.status / 100 | 0)), () => done(false));
  };

  // Leaving: beacons, else fetch or the next page.
  const flushAll = () => {
    for (let batch = nextBatch(); batch; batch = nextBatch()) {
      if (!nav.sendBeacon(ENDPOINT, batch.body)) return flush();
      forget(batch.ids);
    }
  };

  const track = (type, props) => {
    const e = { id: randomId(), type, ts: Date.now(), url: cut(pageUrl, 2048), props };
    if (JSON.stringify(e).length > 50000) return;
    const s = session();
    const q = queue();
    const x = JSON.stringify({ site: opts.site, session_id: s.session_id, referrer: s.referrer, utm: s.utm });
    q.push({ x, e });
    save("ll_q", q.slice(-200));
    if (q.length >= 10) setTimeout(guard(flush));
  };

  // Active seconds: page visible, input in the last 30 s.
  let lastInput = -1e9;
  let activeMs = 0;
  setInterval(guard(() => {
    if (!document.hidden && Date.now() - lastInput < 30000) activeMs += 1000;
  }), 1000);

  const heartbeat = () => {
    if (activeMs > 0) track("engagement", { active_ms: activeMs });
    activeMs = 0;
  };

  let pageUrl = location.href;
  let pageKey = "";
  let depths = {};

  const pageView = () => {
    // #anchor: same page; #/ or #!: route.
    const key = location.href.replace(/#(?![!/]).*$/, "");
    if (key === pageKey) return;
    if (pageKey) heartbeat();
    pageKey = key;
    pageUrl = location.href;
    depths = {};
    track("page_view", { title: document.title });
  };

  // On input: a short page is 100 % at the first one.
  const scrollDepth = () => {
    const height = document.documentElement.scrollHeight;
    const seen = scrollY + innerHeight;
    for (const depth of [25, 50, 75, 100]) {
      if ((seen + 2 >= height || seen / height * 100 >= depth) && !depths[depth]) {
        depths[depth] = true;
        track("scroll", { depth });
      }
    }
  };

  const onInput = () => {
    lastInput = Date.now();
    scrollDepth();
  };

  const onClick = (event) => {
    const el = event.target.closest("a,button,[role=button],[type=submit],[type=button]");
    if (!el) return;
    const props = {
      tag: el.tagName.toLowerCase(),
      text: cut((el.innerText || el.value || "").replace(/\s+/g, " ").trim(), 100)
    };
    if (el.id) props.target_id = el.id;
    if (el.href) {
      props.href = el.href;
      props.outbound = /^http/.test(el.protocol) && el.host !== location.host;
    }
    track("click", props);
  };

  const firstInput = new WeakMap();
  const SKIPPED_TYPE = /^(password|hidden|file|submit|button|reset|image|fieldset)$/;
  const SENSITIVE = /(^|[^a-z])cc[-_ ]|card|cvv|cvc|csc|iban|ssn|passw|secret|token/;

  const canonical = (traits) => {
    if (/e-?mail/.test(traits)) return "email";
    if (/phone|mobile|whatsapp|\btel/.test(traits)) return "phone";
    if (/textarea|message|comment|enquiry|inquiry|question/.test(traits)) return "message";
    if (/project|property/.test(traits)) return "project";
    if (/name/.test(traits) && !/user|company|business|org/.test(traits)) {
      return /last|surname|family/.test(traits) ? "last" : "name";
    }
    return "";
  };

  const onSubmit = (event) => {
    const form = event.target;
    if (form.tagName !== "FORM") return;
    const started = firstInput.get(form);
    firstInput.delete(form);
    const found = {};
    const payload = {};
    for (const el of form.elements) {
      const name = el.getAttribute("name") || el.id;
      const traits = [el.type, name, el.id, el.getAttribute("autocomplete")].join(" ").toLowerCase();
      if (!name || el.disabled || SKIPPED_TYPE.test(el.type) || SENSITIVE.test(traits) ||
          /checkbox|radio/.test(el.type) && !el.checked) continue;
      const value = String(el.value);
      payload[name] = cut(name in payload ? payload[name] + "," + value : value, 2000);
      const field = canonical(traits);
      if (field && !found[field] && value.trim()) found[field] = value.trim();
    }
    if (found.last) found.name = found.name ? found.name + " " + found.last : found.last;
    const fields = {};
    for (const field of CAPTURE) if (found[field]) fields[field] = cut(found[field], 2000);
    track("form_submit", {
      form: ["id", "name", "data-ll-form"].map((a) => form.getAttribute(a)).find(Boolean) || "form",
      fill_ms: started ? Math.min(Date.now() - started, 864e5) : 0,
      fields,
      payload
    });
    // A submission usually leaves the page.
    flush();
  };

  const leave = () => {
    heartbeat();
    flushAll();
  };

  // SPA routes, after the router's own code.
  const routeChange = () => setTimeout(guard(pageView));
  for (const method of ["pushState", "replaceState"]) {
    const original = history[method];
    history[method] = function () {
      const result = original.apply(this, arguments);
      routeChange();
      return result;
    };
  }
  on(window, "popstate", routeChange);

  for (const type of ["mousemove", "keydown", "scroll", "touchstart", "click"]) on(window, type, onInput, true);
  on(document, "click", onClick, true);
  on(document, "input", (event) => {
    const form = event.target.form;
    if (form && !firstInput.has(form)) firstInput.set(form, Date.now());
  }, true);
  on(document, "submit", onSubmit, true);
  on(document, "visibilitychange", () => document.hidden && leave());
  on(window, "pagehide", leave);

  setInterval(guard(heartbeat), seconds(opts.heartbeat, 15));
  setInterval(guard(flush), seconds(opts.flush, 5));
  guard(pageView)();
  guard(flush)();
})();
