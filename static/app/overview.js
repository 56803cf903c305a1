// Overview: the tracking figures of /analytics/*, each panel filled by its own call, so one
// failure shows its message in its panel and the others still load.

import { api } from "./api.js";
import { barChart, lineChart, rankBar } from "./charts.js";
import { clear, failure, h, newestOnly, number, panel, tile } from "./dom.js";

const REALTIME_MS = 5000;
const RANGES = [7, 30, 90];

const OVERVIEW_TILES = [
  ["total_sessions", "Sessions"],
  ["total_events", "Events"],
  ["unique_visitors", "Unique visitors"],
  ["unique_fingerprints", "Unique fingerprints"],
  ["avg_engagement_score", "Avg engagement score"],
  ["avg_session_duration_s", "Avg session duration (s)"],
  ["vpn_suspected_count", "VPN suspected"],
];
const REALTIME_TILES = [
  ["active_sessions", "Active sessions"],
  ["events_last_hour", "Events, last hour"],
  ["unique_visitors_today", "Unique visitors today"],
  ["total_sessions_today", "Sessions today"],
];
const STORAGE_TILES = [
  ["total_objects", "Archived objects"],
  ["estimated_sessions", "Archived sessions"],
];

function tiles(data, list) {
  return h("div", { class: "tiles" }, list.map(([key, label]) => tile(label, data[key], { key })));
}

// A ranked list as a table: the label, a bar against the largest value, and the numbers.
export function rankedTable(caption, rows, { label, value, extra = [] }) {
  if (!rows.length) return h("p", { class: "empty" }, `No ${caption.toLowerCase()} yet.`);
  const max = Math.max(...rows.map((row) => row[value]));
  return h("table", { class: "ranked", dataset: { list: caption } },
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, label.title), h("th", { scope: "col", class: "num" }, value.replace(/_/g, " ")),
      extra.map((key) => h("th", { scope: "col", class: "num" }, key.replace(/_/g, " "))))),
    h("tbody", {}, rows.map((row) => h("tr", { dataset: { label: row[label.key] ?? "" } },
      h("td", { class: "label" }, h("span", { class: "label-text", title: row[label.key] ?? "" }, row[label.key] ?? "(unknown)"),
        rankBar(row[value], max)),
      h("td", { class: "num", dataset: { value: row[value] } }, number(row[value])),
      extra.map((key) => h("td", { class: "num", dataset: { value: row[key] } }, number(row[key])))))));
}

const fills = new WeakMap(); // panel body -> its newestOnly()

// A panel draws only its newest answer: after a switch of range, a late answer for the previous
// range must not replace the new one.
async function fill(body, load, draw) {
  if (!fills.has(body)) fills.set(body, newestOnly());
  const current = fills.get(body)();
  try {
    const data = await load();
    if (current()) clear(body, draw(data));
  } catch (error) {
    if (current()) clear(body, failure(error));
  }
}

async function installPanel(root) {
  const { node, body } = panel("Install the tracking snippet", { id: "install", wide: true });
  root.append(node);
  await fill(body, () => api("/analytics/sites"), (sites) => {
    const intro = h("p", {}, "No visits recorded yet. Add this tag to every page of your website, before ",
      h("code", {}, "</head>"), ", and visits, leads and figures appear here.");
    if (!sites.length) {
      return [intro, h("p", {}, "This workspace has no site yet. Create one, then reload this page:"),
        h("pre", {}, h("code", {}, "python worker.py sites create --workspace WORKSPACE --origin https://your-site.example"))];
    }
    return [intro, sites.map((site) => {
      const tag = `<script src="${location.origin}/t.js" data-site="${site.site_key}" defer></script>`;
      const code = h("code", { class: "snippet", dataset: { site: site.site_key } }, tag);
      const status = h("span", { class: "copied", role: "status" });
      const copy = h("button", { type: "button", onclick: async () => {
        try {
          await navigator.clipboard.writeText(tag);
          status.textContent = "Copied";
        } catch {
          getSelection().selectAllChildren(code);
          status.textContent = "Selected: press Ctrl+C to copy";
        }
      } }, "Copy");
      const origins = site.origins.length ? site.origins.join(", ") : "no origin allowed yet";
      return h("div", { class: "site" }, h("h3", {}, site.name || site.site_key, " ", h("small", {}, origins)),
        h("pre", {}, code), copy, " ", status);
    })];
  });
}

export async function render(root, view) {
  const summary = panel("Overview", { id: "overview-tiles", wide: true });
  root.append(summary.node);
  let overview;
  try {
    overview = await api("/analytics/overview");
  } catch (error) {
    clear(summary.body, failure(error));
    return;
  }
  if (overview.total_sessions === 0) {
    summary.node.remove();
    await installPanel(root);
    return;
  }
  clear(summary.body, tiles(overview, OVERVIEW_TILES));

  const live = panel("Realtime", { id: "realtime", actions: h("span", { class: "updated", "aria-live": "off" }) });
  const storage = panel("Storage", { id: "storage" });
  let days = 30;
  const switcher = h("div", { class: "switch", role: "group", "aria-label": "Range" },
    RANGES.map((n) => h("button", { type: "button", "aria-pressed": String(n === days), dataset: { days: n },
      onclick: () => { days = n; drawRange(); } }, `${n} days`)));
  const chart = panel("Sessions and unique visitors per day", { id: "daily", wide: true, actions: switcher });
  const pages = panel("Top pages", { id: "pages", wide: true });
  const sources = panel("Traffic sources", { id: "sources" });
  const geo = panel("Countries", { id: "geo" });
  const engagement = panel("Engagement distribution", { id: "engagement" });
  const devices = panel("Devices, browsers and OS", { id: "devices", wide: true });
  const utm = panel("UTM campaigns", { id: "utm", wide: true });
  const bots = panel("Bot hits per day", { id: "bots" });
  root.append(live.node, storage.node, chart.node, pages.node, sources.node, geo.node, engagement.node,
    devices.node, utm.node, bots.node);

  const refreshLive = () => fill(live.body, () => api("/analytics/realtime"), (data) => {
    live.node.querySelector(".updated").textContent = `Updated ${new Date().toLocaleTimeString("en-GB")}`;
    return tiles(data, REALTIME_TILES);
  });
  view.every(REALTIME_MS, refreshLive);

  function drawRange() {
    for (const button of switcher.children) button.setAttribute("aria-pressed", String(Number(button.dataset.days) === days));
    fill(chart.body, () => api("/analytics/sessions/daily", { params: { days } }), (series) => lineChart(
      `Sessions and unique visitors, last ${days} days`, series.map((d) => d.date), [
        { key: "total_sessions", name: "Sessions", values: series.map((d) => d.total_sessions) },
        { key: "unique_visitors", name: "Unique visitors", values: series.map((d) => d.unique_visitors) },
      ]));
    fill(devices.body, () => api("/analytics/devices", { params: { days, limit: 10 } }), (data) => h("div", { class: "columns" },
      rankedTable("Devices", data.devices, { label: { key: "device", title: "Device" }, value: "sessions" }),
      rankedTable("Browsers", data.browsers, { label: { key: "browser", title: "Browser" }, value: "sessions" }),
      rankedTable("Operating systems", data.os, { label: { key: "os", title: "OS" }, value: "sessions" })));
    fill(utm.body, () => api("/analytics/campaigns/utm", { params: { days, limit: 10 } }), (data) => h("div", { class: "columns" },
      rankedTable("UTM sources", data.sources, { label: { key: "utm_source", title: "utm_source" }, value: "sessions" }),
      rankedTable("UTM mediums", data.mediums, { label: { key: "utm_medium", title: "utm_medium" }, value: "sessions" }),
      rankedTable("UTM campaigns", data.campaigns, { label: { key: "utm_campaign", title: "utm_campaign" }, value: "sessions" })));
    fill(bots.body, () => api("/analytics/bots", { params: { days } }), (series) => [
      h("p", { class: "total", dataset: { value: series.reduce((sum, d) => sum + d.hits, 0) } },
        `${number(series.reduce((sum, d) => sum + d.hits, 0))} hits from crawlers and automated browsers, not counted as visits.`),
      barChart(`Bot hits per day, last ${days} days`, series.map((d) => d.date), series.map((d) => d.hits),
        { name: "Bot hits", everyLabel: false, height: 160 })]);
  }
  drawRange();

  fill(storage.body, () => api("/analytics/storage"), (data) => tiles(data, STORAGE_TILES));
  fill(pages.body, () => api("/analytics/pages/top", { params: { limit: 20 } }),
    (rows) => rankedTable("Pages", rows, { label: { key: "page", title: "Page" }, value: "views", extra: ["unique_sessions"] }));
  fill(sources.body, () => api("/analytics/sources"),
    (rows) => rankedTable("Sources", rows, { label: { key: "referrer_domain", title: "Referrer" }, value: "sessions" }));
  fill(geo.body, () => api("/analytics/geo"),
    (rows) => rankedTable("Countries", rows, { label: { key: "country", title: "Country" }, value: "sessions", extra: ["unique_visitors"] }));
  fill(engagement.body, () => api("/analytics/engagement"), (buckets) => barChart(
    "Completed sessions by engagement score", buckets.map((b) => b.bucket), buckets.map((b) => b.count), { name: "Sessions" }));
}
