// Export: GET /api/v0/analytics?format=csv for a date range writes the CSV to the object store and
// answers a signed URL; the browser downloads the file from that URL.

import { api } from "./api.js";
import { clear, daysAgo, failure, h, today } from "./dom.js";

export function render(root) {
  const start = h("input", { type: "date", name: "start", id: "export-start", value: daysAgo(29) });
  const end = h("input", { type: "date", name: "end", id: "export-end", value: today() });
  const result = h("div", { class: "export-result", "aria-live": "polite" });
  const button = h("button", { type: "submit" }, "Export CSV");
  const form = h("form", { class: "filters", id: "export-form" },
    h("label", { for: "export-start" }, "Leads created from"), start,
    h("label", { for: "export-end" }, "to"), end, button);
  root.append(h("section", { class: "panel wide", "aria-label": "CSV export" },
    h("p", {}, "One row per lead created in the range (UTC days, both included): contact, message counts per channel,"
      + " checklist completion and every checklist item. Leave both dates empty for every lead."),
    form, result));

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    clear(result, h("p", { class: "loading" }, "Preparing the file…"));
    try {
      const params = { format: "csv", start: start.value && `${start.value}T00:00:00Z`, end: end.value && `${end.value}T23:59:59.999Z` };
      const answer = await api("/api/v0/analytics", { params });
      const link = h("a", { href: answer.downloadUrl, download: `leads-${start.value || "all"}-${end.value || "all"}.csv`, class: "download" }, "Download the CSV");
      clear(result, h("p", {}, link, ` (the link works until ${answer.expiresAt})`));
      link.click();
    } catch (error) {
      clear(result, failure(error));
    } finally {
      button.disabled = false;
    }
  });
}
