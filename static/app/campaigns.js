// Campaigns: GET /api/analytics for a chosen campaign, sender line, user and date range. Each
// metric shows the API's own explainer on hover and on keyboard focus.

import { api } from "./api.js";
import { clear, daysAgo, failure, h, newestOnly, number, percent, today } from "./dom.js";

const METRICS = [
  ["reached", "Reached"], ["sent", "Sent"], ["fallback", "Fallback"], ["failed", "Failed"],
  ["replied", "Replied"], ["uniqueReplied", "Unique replied"], ["repliedPct", "Reply rate"],
  ["positiveReplied", "Positive replied"], ["positivePct", "Positive rate"],
];
const RATIOS = new Set(["repliedPct", "positivePct"]);

function input(name, label, attrs = {}) {
  return h("label", { class: "field" }, h("span", {}, label), h("input", { name, id: `campaign-${name}`, ...attrs }));
}

export function render(root) {
  const form = h("form", { class: "filters", id: "campaign-filters" },
    input("campaignId", "Campaign id", { pattern: "[0-9a-fA-F]{24}", placeholder: "24 hex characters", list: "campaign-ids", size: 26 }),
    input("lineId", "Line id", { pattern: "[0-9a-fA-F]{24}", placeholder: "24 hex characters", size: 26 }),
    input("userId", "User id", { placeholder: "user_…", size: 18 }),
    input("dateFrom", "From", { type: "date", value: daysAgo(29) }),
    input("dateTo", "To", { type: "date", value: today() }),
    h("button", { type: "submit" }, "Show metrics"));
  const result = h("section", { class: "panel wide", "aria-label": "Campaign metrics", "aria-live": "polite" });
  root.append(h("p", { class: "hint" }, "Leave a filter empty to include everything. Dates are whole UTC days."), form, result);

  const start = newestOnly();
  async function load() {
    const current = start();
    const values = Object.fromEntries(new FormData(form));
    const params = {
      campaignId: values.campaignId.trim(), lineId: values.lineId.trim(), userId: values.userId.trim(),
      dateFrom: values.dateFrom && `${values.dateFrom}T00:00:00Z`,
      dateTo: values.dateTo && `${values.dateTo}T23:59:59.999Z`,
    };
    clear(result, h("p", { class: "loading" }, "Loading…"));
    try {
      const data = await api("/api/analytics", { params });
      if (!current()) return;
      clear(result, h("div", { class: "tiles metrics" }, METRICS.map(([key, label]) => {
        const value = data.metrics[key];
        const explainer = data.explainer?.[key] ?? "";
        return h("div", { class: "tile", tabindex: "0", dataset: { key, value: JSON.stringify(value) }, "aria-describedby": `explain-${key}` },
          h("span", { class: "tile-label" }, label),
          h("span", { class: "tile-value" }, RATIOS.has(key) ? percent(value) : number(value)),
          h("span", { class: "explainer", id: `explain-${key}`, role: "tooltip" }, explainer));
      })), h("p", { class: "filter-echo" }, "Filter: ", Object.keys(data.filter ?? {}).length ? JSON.stringify(data.filter) : "everything"));
    } catch (error) {
      if (current()) clear(result, failure(error));
    }
  }
  form.addEventListener("submit", (event) => { event.preventDefault(); load(); });
  load();
}
