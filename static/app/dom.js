// Building the page: elements from plain data, and numbers and dates shown as the APIs give them.
// Text always goes in as text nodes, never as HTML, so nothing an API returns can run as markup.

export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (value === true) node.setAttribute(name, "");
    else node.setAttribute(name, String(value));
  }
  append(node, children);
  return node;
}

export function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node, ...children) {
  node.replaceChildren();
  return append(node, children);
}

// Answers can arrive in another order than their requests: of the loads a view starts, only the
// newest may draw. `const start = newestOnly();` once, then in each load `const current = start();`
// and, after every await, draw only while `current()` is true.
export function newestOnly() {
  let newest = 0;
  return () => {
    const mine = ++newest;
    return () => mine === newest;
  };
}

// Integers grouped (1,234), other numbers as the API wrote them.
export function number(value) {
  if (value === null || value === undefined) return "–";
  return Number.isInteger(value) ? value.toLocaleString("en-US") : String(value);
}

export function percent(ratio) {
  return `${(Math.round(ratio * 10000) / 100).toFixed(2)}%`;
}

export function seconds(value) {
  if (value === null || value === undefined) return "–";
  const total = Math.round(value);
  const m = Math.floor(total / 60);
  const s = total % 60;
  return m ? `${m}m ${String(s).padStart(2, "0")}s` : `${s}s`;
}

// Epoch milliseconds as the tracking document's UTC date-times: 2026-02-23 11:15:00
export function datetime(ms) {
  if (ms === null || ms === undefined) return "–";
  return new Date(ms).toISOString().replace("T", " ").slice(0, 19);
}

export function today() {
  return new Date().toISOString().slice(0, 10);
}

export function daysAgo(days) {
  return new Date(Date.now() - days * 86400000).toISOString().slice(0, 10);
}

// A panel with a heading; its body is replaced as data arrives.
export function panel(title, { id, wide = false, actions = null } = {}) {
  const body = h("div", { class: "panel-body" }, h("p", { class: "loading" }, "Loading…"));
  const node = h("section", { class: wide ? "panel wide" : "panel", id, "aria-label": title },
    h("header", { class: "panel-head" }, h("h2", {}, title), actions), body);
  return { node, body };
}

// What a failed call shows in place of its data: the API's own message.
export function failure(error) {
  return h("p", { class: "error", role: "alert" }, error.message || String(error));
}

export function tile(label, value, { key, hint, display } = {}) {
  return h("div", { class: "tile", dataset: { key: key ?? label, value: JSON.stringify(value) }, title: hint },
    h("span", { class: "tile-label" }, label),
    h("span", { class: "tile-value" }, display ?? number(value)));
}
