// Calls: the analyses list (GET /api/v1/analysis/) with its filters and pages, and one analysis
// (GET /api/v1/analysis/:id) with its transcript and findings.

import { api } from "./api.js";
import { clear, failure, h, newestOnly, number } from "./dom.js";

const PAGE = 20;
// Supporting detail of a finding, folded so the findings themselves stay readable.
const FOLDED = new Set(["evidence", "segments", "disclosures"]);

// Findings are nested objects of the analysis; shown as nested lists, keys made readable.
function tree(value) {
  if (value === null || value === undefined) return h("span", { class: "muted" }, "–");
  if (Array.isArray(value)) {
    return value.length ? h("ul", {}, value.map((item) => h("li", {}, tree(item)))) : h("span", { class: "muted" }, "none");
  }
  if (typeof value === "object") {
    return h("dl", { class: "fields" }, Object.entries(value).map(([key, item]) =>
      [h("dt", {}, key.replace(/_/g, " ")), h("dd", {}, FOLDED.has(key) && item && typeof item === "object"
        ? h("details", {}, h("summary", {}, Array.isArray(item) ? `${item.length} item${item.length === 1 ? "" : "s"}` : "show"), tree(item))
        : tree(item))]));
  }
  return String(value);
}

function when(seconds) {
  return typeof seconds === "number" ? `${new Date(seconds * 1000).toISOString().replace("T", " ").slice(0, 19)} UTC` : "–";
}

export function render(root) {
  const status = h("select", { name: "status_filter", id: "call-status" }, h("option", { value: "" }, "Any status"),
    ["processing", "completed", "failed"].map((value) => h("option", { value }, value)));
  const agent = h("input", { name: "agent_id", id: "call-agent", size: 14 });
  const contact = h("input", { name: "contact_id", id: "call-contact", size: 14 });
  const search = h("input", { type: "search", name: "search", id: "call-search", size: 18 });
  let offset = 0;
  const form = h("form", { class: "filters", role: "search", onsubmit: (event) => { event.preventDefault(); offset = 0; load(); } },
    h("label", { for: "call-status" }, "Status"), status, h("label", { for: "call-agent" }, "Agent"), agent,
    h("label", { for: "call-contact" }, "Contact"), contact, h("label", { for: "call-search" }, "Search"), search,
    h("button", { type: "submit" }, "Filter"));
  const list = h("section", { class: "panel wide", "aria-label": "Analyses" });
  const detail = h("section", { class: "panel wide analysis", "aria-label": "Analysis", hidden: true });
  root.append(form, list, detail);

  const startOpen = newestOnly();
  async function open(id) {
    const current = startOpen();
    detail.hidden = false;
    clear(detail, h("p", { class: "loading" }, "Loading…"));
    try {
      const analysis = await api(`/api/v1/analysis/${encodeURIComponent(id)}`);
      if (!current()) return;
      const transcript = analysis.transcript;
      clear(detail,
        h("header", { class: "panel-head" }, h("h2", {}, `Call ${analysis.call?.contact_id ?? ""} with ${analysis.call?.agent_id ?? ""}`),
          h("button", { type: "button", onclick: () => { detail.hidden = true; } }, "Close")),
        h("dl", { class: "fields" },
          h("dt", {}, "Status"), h("dd", {}, analysis.status),
          h("dt", {}, "Created"), h("dd", {}, when(analysis.created)),
          h("dt", {}, "Duration (s)"), h("dd", {}, number(analysis.call?.duration_seconds)),
          h("dt", {}, "Recording"), h("dd", {}, analysis.audio?.url
            ? h("a", { href: analysis.audio.url, rel: "noopener noreferrer", target: "_blank" }, `${analysis.audio.format ?? "audio"}, ${number(analysis.audio.size_bytes)} bytes`)
            : "–"),
          analysis.metadata?.error_message ? [h("dt", {}, "Error"), h("dd", {}, analysis.metadata.error_message)] : null),
        h("h3", {}, "Transcript"),
        transcript ? [
          (transcript.segments ?? []).length
            ? h("ol", { class: "transcript" }, transcript.segments.map((segment) => h("li", {},
              h("span", { class: "speaker" }, segment.speaker ?? ""), " ",
              typeof segment.start === "number" ? h("time", {}, `${number(segment.start)} s`) : null, " ",
              segment.text ?? "")))
            : h("p", { class: "transcript-text" }, transcript.text ?? ""),
        ] : h("p", { class: "empty" }, "No transcript yet."),
        h("h3", {}, "Findings"), analysis.results ? tree(analysis.results) : h("p", { class: "empty" }, "No findings yet."));
    } catch (error) {
      if (current()) clear(detail, failure(error));
    }
  }

  const start = newestOnly();
  async function load() {
    const current = start();
    clear(list, h("p", { class: "loading" }, "Loading…"));
    try {
      const page = await api("/api/v1/analysis/", { params: { status_filter: status.value, agent_id: agent.value.trim(),
        contact_id: contact.value.trim(), search: search.value.trim(), limit: PAGE, offset } });
      if (!current()) return;
      if (!page.data.length) {
        clear(list, h("p", { class: "empty" }, page.total ? "No analyses on this page." : "No call analyses match."));
        return;
      }
      clear(list,
        h("div", { class: "table-scroll" }, h("table", { class: "calls-table" },
          h("thead", {}, h("tr", {}, ["Created", "Status", "Agent", "Contact", "Duration (s)"].map((t) => h("th", { scope: "col" }, t)))),
          h("tbody", {}, page.data.map((analysis) => h("tr", { dataset: { analysisId: analysis.id } },
            h("td", {}, h("button", { type: "button", class: "link", onclick: () => open(analysis.id) }, when(analysis.created))),
            h("td", {}, h("span", { class: `badge ${analysis.status}` }, analysis.status)),
            h("td", {}, analysis.call?.agent_id ?? "–"), h("td", {}, analysis.call?.contact_id ?? "–"),
            h("td", { class: "num" }, number(analysis.call?.duration_seconds))))))),
        h("nav", { class: "pager", "aria-label": "Pages" },
          h("button", { type: "button", disabled: offset === 0, onclick: () => { offset = Math.max(0, offset - PAGE); load(); } }, "Previous"),
          h("span", { class: "range" }, `${number(offset + 1)}–${number(offset + page.data.length)} of ${number(page.total)}`),
          h("button", { type: "button", disabled: !page.has_more, onclick: () => { offset += PAGE; load(); } }, "Next")));
    } catch (error) {
      if (current()) clear(list, failure(error));
    }
  }
  load();
}
