/*
 * leadlight: <script src="https://HOST/t.js" data-site="KEY" defer></script>
 * Options: data-session-timeout (min, 30), data-respect-dnt="true", data-capture
 * (form fields, "name,email,phone,project,message"), data-heartbeat (s, 15), data-flush (s, 5).
 */
(() => {
  "use strict";

  try {
    const script = document.currentScript || document.querySelector("script[data-site][src]");
    if (!script || !script.src || window.__leadlight) return;
    window.__leadlight = true;

    const nav = navigator;
    const opts = script.dataset;
    if (opts.respectDnt === "true" &&
        (nav.doNotTrack === "1" || nav.globalPrivacyControl === true)) {
      return;
    }

    const ENDPOINT = new URL("/track", script.src).href;
    const seconds = (value, fallback) => (parseFloat(value) || fallback) * 1000;
    const SESSION_TIMEOUT = seconds(opts.sessionTimeout, 30) * 60;
    const CAPTURE = (opts.capture || "name,email,phone,project,message").split(",").map((s) => s.trim());
    const ACTIVE_WINDOW = 30000;
    const TEXT = "text/plain;charset=UTF-8";

    const guard = (fn) => function () {
      try {
        return fn.apply(this, arguments);
      } catch (e) {
        return undefined;
      }
    };
    const on = (target, type, fn, capture) =>
      target.addEventListener(type, guard(fn), { capture: !!capture, passive: true });

    // Without localStorage the state lives as long as the page.
    const memory = {};
    const load = (key) => {
      try {
        return JSON.parse(localStorage.getItem(key) || memory[key] || "null");
      } catch (e) {
        return null;
      }
    };
    const save = (key, value) => {
      memory[key] = JSON.stringify(value);
      try {
        localStorage.setItem(key, memory[key]);
      } catch (e) {
      }
    };

    const randomId = (length) => {
      const bytes = crypto.getRandomValues(new Uint8Array(length));
      let id = "";
      for (const b of bytes) id += "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[b & 63];
      return id;
    };

    // cyrb53 with both 32-bit lanes kept: 16 hex digits.
    const hash64 = (text) => {
      let h1 = 0xdeadbeef;
      let h2 = 0x41c6ce57;
      for (let i = 0; i < text.length; i++) {
        const c = text.charCodeAt(i);
        h1 = Math.imul(h1 ^ c, 2654435761);
        h2 = Math.imul(h2 ^ c, 1597334677);
      }
      h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
      h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
      return [h2, h1].map((h) => (h >>> 0).toString(16).padStart(8, "0")).join("");
    };

    let timezone = "";
    try {
      timezone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
    } catch (e) {
    }

    let visitorId = load("ll_vid");
    if (typeof visitorId !== "string") save("ll_vid", (visitorId = "v_" + randomId(22)));

    const screenSize = screen.width + "x" + screen.height;
    const fingerprint = hash64([nav.userAgent, nav.languages, screenSize + "x" + screen.colorDepth,
      timezone, nav.platform, nav.hardwareConcurrency].join("|"));

    // Shared by all tabs; t is the last activity.
    const session = () => {
      const now = Date.now();
      let s = load("ll_sid");
      if (!s || !s.id || !(now - s.t <= SESSION_TIMEOUT)) {
        const params = new URLSearchParams(location.search);
        const utm = {};
        for (const key of ["source", "medium", "campaign", "term", "content"]) {
          if (params.get("utm_" + key)) utm[key] = params.get("utm_" + key);
        }
        s = { id: "s_" + randomId(22), r: document.referrer, u: utm };
      }
      s.t = now;
      save("ll_sid", s);
      return s;
    };

    // Items are {x: the event's session, e: the event}; they leave once delivered.
    const queue = () => load("ll_q") || [];
    const forget = (ids) => save("ll_q", queue().filter((item) => !ids[item.e.id]));
    const inflight = {};
    let sending = false;
    let backoff = 0;
    let retryAt = 0;
    let flushSoon = 0;

    // One session's events, at most 100, under the 64 KiB that beacons and the server take.
    const nextBatch = () => {
      let items = queue().filter((item) => !inflight[item.e.id]);
      if (!items.length) return null;
      const x = items[0].x;
      items = items.filter((item) => JSON.stringify(item.x) === JSON.stringify(x)).slice(0, 100);
      for (;;) {
        const ids = {};
        items.forEach((item) => (ids[item.e.id] = true));
        const body = JSON.stringify({
          site: x.site, visitor_id: visitorId, session_id: x.sid, fingerprint, timezone,
          language: nav.language, screen: screenSize, referrer: x.ref, utm: x.utm,
          webdriver: !!nav.webdriver, sent_at: Date.now(), events: items.map((item) => item.e)
        });
        if (body.length < 60000) return { body, ids };
        if (items.length < 2) {
          forget(ids);
          return nextBatch();
        }
        items = items.slice(0, items.length >> 1);
      }
    };

    const post = (body) => fetch(ENDPOINT, {
      method: "POST", body, keepalive: true, credentials: "omit", headers: { "Content-Type": TEXT }
    });

    const settle = (ids, delivered) => {
      for (const id in ids) delete inflight[id];
      sending = false;
      if (delivered) {
        forget(ids);
        backoff = 0;
        flush();
      } else {
        backoff = Math.min(backoff * 2 || 1000, 60000);
        retryAt = Date.now() + backoff;
        setTimeout(guard(flush), backoff);
      }
    };

    // fetch while the page lives: its failures are seen and retried with backoff.
    const flush = () => {
      const batch = !sending && Date.now() >= retryAt && nextBatch();
      if (!batch) return;
      sending = true;
      Object.assign(inflight, batch.ids);
      post(batch.body).then(
        // 4xx never succeeds: drop it.
        guard((response) => settle(batch.ids, [2, 4].includes(response.status / 100 | 0))),
        guard(() => settle(batch.ids, false))
      );
    };

    // Leaving: beacons, else fetch; what is unconfirmed waits for the next page.
    const flushAll = () => {
      for (let batch = nextBatch(); batch; batch = nextBatch()) {
        if (!nav.sendBeacon || !nav.sendBeacon(ENDPOINT, new Blob([batch.body], { type: TEXT }))) {
          return flush();
        }
        forget(batch.ids);
      }
    };

    const track = (type, props) => {
      const s = session();
      const q = queue();
      q.push({
        x: { site: opts.site, sid: s.id, ref: s.r, utm: s.u },
        e: { id: randomId(22), type, ts: Date.now(), url: pageUrl, props }
      });
      save("ll_q", q.slice(-200));
      if (q.length >= 10 && !flushSoon) {
        flushSoon = setTimeout(guard(() => {
          flushSoon = 0;
          flush();
        }));
      }
    };

    // Active = visible and input in the last 30 s; summed at each input and visibility change.
    let visible = document.visibilityState !== "hidden";
    let lastInput = 0;
    let mark = Date.now();
    let activeMs = 0;

    const accrue = () => {
      const now = Date.now();
      if (visible && lastInput) activeMs += Math.max(0, Math.min(now, lastInput + ACTIVE_WINDOW) - mark);
      mark = now;
    };

    const heartbeat = () => {
      accrue();
      const ms = Math.round(activeMs);
      activeMs = 0;
      if (ms > 0) track("engagement", { active_ms: ms });
    };

    let pageUrl = location.href;
    let pageKey = "";
    let depths = {};

    const pageView = () => {
      // #anchors are the same page; #/ and #! are routes.
      const key = location.href.replace(/#(?![!/]).*$/, "");
      if (key === pageKey) return;
      if (pageKey) heartbeat();
      pageKey = key;
      pageUrl = location.href;
      depths = {};
      track("page_view", { title: document.title });
    };

    // Checked on input, so a short page reports 100 at the first interaction.
    const scrollDepth = () => {
      const height = document.documentElement.scrollHeight;
      const seen = scrollY + innerHeight;
      const percent = seen + 2 >= height ? 100 : seen / height * 100;
      for (const depth of [25, 50, 75, 100]) {
        if (percent >= depth && !depths[depth]) {
          depths[depth] = true;
          track("scroll", { depth });
        }
      }
    };

    const onInput = () => {
      accrue();
      lastInput = Date.now();
      scrollDepth();
    };

    const onClick = (event) => {
      const el = event.target.closest("a,button,[role=button],input[type=submit],input[type=button]");
      if (!el) return;
      const props = {
        tag: el.tagName.toLowerCase(),
        text: (el.innerText || el.value || "").replace(/\s+/g, " ").trim().slice(0, 100)
      };
      if (el.id) props.target_id = el.id;
      if (el.href) {
        props.href = el.href;
        props.outbound = /^http/.test(el.protocol) && el.host !== location.host;
      }
      track("click", props);
    };

    const firstInput = new WeakMap();
    const SKIPPED_TYPE = /^(password|hidden|file|submit|button|reset|image)$/;
    const SENSITIVE = /(^|[^a-z])cc[-_ ]|card|cvv|cvc|csc|iban|ssn|passw|secret|token/;

    // 13 to 19 digits passing Luhn.
    const cardLike = (value) => {
      const digits = value.replace(/[ -]/g, "");
      return /^\d{13,19}$/.test(digits) && [...digits].reverse()
        .reduce((sum, d, i) => sum + (i % 2 ? "0246813579"[d] : d) * 1, 0) % 10 === 0;
    };

    const canonical = (el, key) => {
      if (el.type === "email" || /e-?mail/.test(key)) return "email";
      if (el.type === "tel" || /phone|mobile|whatsapp|(^|[^a-z])tel/.test(key)) return "phone";
      if (el.tagName === "TEXTAREA" || /message|comment|enquiry|inquiry|question/.test(key)) return "message";
      if (/project|property/.test(key)) return "project";
      if (/name/.test(key) && !/user|company|business|org/.test(key)) {
        return /last|surname|family/.test(key) ? "last" : "name";
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
        const type = el.type || "";
        if (!name || el.disabled || SKIPPED_TYPE.test(type) || !("value" in el) ||
            /checkbox|radio/.test(type) && !el.checked) continue;
        const key = [name, el.id, el.getAttribute("autocomplete")].join(" ").toLowerCase();
        const value = String(el.value).slice(0, 2000);
        if (SENSITIVE.test(key) || cardLike(value)) continue;
        payload[name] = name in payload ? payload[name] + "," + value : value;
        const field = canonical(el, key);
        if (field && !found[field] && value.trim()) found[field] = value.trim();
      }
      const fields = {};
      if (found.last) found.name = found.name ? found.name + " " + found.last : found.last;
      for (const field of CAPTURE) if (found[field] && field !== "last") fields[field] = found[field];
      track("form_submit", {
        form: form.getAttribute("id") || form.getAttribute("name") || form.getAttribute("data-ll-form") || "form",
        fill_ms: started ? Date.now() - started : 0,
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

    // SPA routes, recorded after the router's own code ran.
    const routeChange = () => setTimeout(guard(pageView));
    for (const method of ["pushState", "replaceState"]) {
      const original = history[method];
      history[method] = function () {
        const result = original.apply(this, arguments);
        guard(routeChange)();
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
    on(document, "visibilitychange", () => {
      accrue();
      visible = document.visibilityState !== "hidden";
      if (!visible) leave();
    });
    on(window, "pagehide", leave);

    setInterval(guard(heartbeat), seconds(opts.heartbeat, 15));
    setInterval(guard(flush), seconds(opts.flush, 5));
    guard(pageView)();
    guard(flush)();
  } catch (e) {
    // Never into the host page.
  }
})();
