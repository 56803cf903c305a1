// Leads: the pipeline board (a column per stage, cards moved with PATCH /analytics/leads/:id), the
// searchable list, and the drawer with one lead's contact, sessions, submissions, checklist and
// messages.

import { api } from "./api.js";
import { clear, datetime, failure, h, newestOnly, number } from "./dom.js";

export const STAGES = ["new", "contacted", "qualified", "proposal", "won", "lost"];
const STAGE_NAMES = { new: "New", contacted: "Contacted", qualified: "Qualified", proposal: "Proposal", won: "Won", lost: "Lost" };
const SORTS = [
  ["newest", "Newest first"], ["oldest", "Oldest first"], ["last_follow_up", "Latest follow-up"],
  ["score_desc", "Engagement: high to low"], ["score_asc", "Engagement: low to high"],
  ["risk_desc", "Suspicion: high to low"], ["risk_asc", "Suspicion: low to high"], ["name_asc", "Name A–Z"],
];
const PAGE = 25;
const COLUMN_LIMIT = 100;

function labelClass(label) {
  return `heat heat-${String(label).toLowerCase().replace(/\s+/g, "-")}`;
}

function name(lead) {
  return lead.contact_name || lead.contact_email || lead.contact_phone || `Lead ${lead.lead_id}`;
}

export function render(root, view, mode) {
  const tabs = h("nav", { class: "tabs", "aria-label": "Leads views" },
    h("a", { href: "#leads/board", "aria-current": mode !== "list" ? "page" : null }, "Board"),
    h("a", { href: "#leads/list", "aria-current": mode === "list" ? "page" : null }, "List"));
  const body = h("div", { class: "leads" });
  root.append(tabs, body);
  const drawer = new Drawer(view);
  if (mode === "list") listView(body, drawer);
  else board(body, drawer);
}

// --- the board -------------------------------------------------------------------------------

function board(root, drawer) {
  const message = h("p", { class: "board-message", role: "alert", hidden: true });
  const announce = h("p", { class: "sr-only", role: "status" });
  const columns = h("div", { class: "board" });
  root.append(h("p", { class: "hint" }, "Drag a card to another stage, or use its “Move to” menu."), message, announce, columns);

  const counts = {};
  function setCount(stage, value) {
    counts[stage] = value;
    columns.querySelector(`[data-status="${stage}"] .count`).textContent = number(value);
  }

  async function move(card, to) {
    const from = card.dataset.status;
    if (from === to) return;
    const list = card.parentElement;
    const next = card.nextSibling;
    const target = columns.querySelector(`[data-status="${to}"] .cards`);
    // Shown at once; put back if the API says no.
    target.prepend(card);
    card.dataset.status = to;
    card.querySelector("select").value = to;
    setCount(from, counts[from] - 1);
    setCount(to, counts[to] + 1);
    message.hidden = true;
    try {
      await api(`/analytics/leads/${card.dataset.leadId}`, { method: "PATCH", body: { status: to } });
      announce.textContent = `Moved ${card.dataset.name} to ${STAGE_NAMES[to]}`;
    } catch (error) {
      list.insertBefore(card, next);
      card.dataset.status = from;
      card.querySelector("select").value = from;
      setCount(to, counts[to] - 1);
      setCount(from, counts[from] + 1);
      message.textContent = `Could not move ${card.dataset.name} to ${STAGE_NAMES[to]}: ${error.message}`;
      message.hidden = false;
      card.focus();
    }
  }

  function card(lead) {
    const select = h("select", { "aria-label": `Move ${name(lead)} to`, onchange: (event) => move(node, event.target.value),
      onclick: (event) => event.stopPropagation(), onkeydown: (event) => event.stopPropagation() },
      STAGES.map((stage) => h("option", { value: stage, selected: stage === lead.status }, STAGE_NAMES[stage])));
    const node = h("li", { class: "card", draggable: "true", tabindex: "0", dataset: { leadId: lead.lead_id, status: lead.status, name: name(lead) },
      "aria-label": `${name(lead)}, ${lead.project_name ?? "no project"}, ${lead.engagement_label}`,
      ondragstart: (event) => { event.dataTransfer.setData("text/plain", String(lead.lead_id)); event.dataTransfer.effectAllowed = "move"; node.classList.add("dragging"); },
      ondragend: () => node.classList.remove("dragging"),
      onclick: () => drawer.open(lead.lead_id, node),
      // preventDefault: the Enter would otherwise also press the drawer's Close button, focused by open().
      onkeydown: (event) => { if (event.key === "Enter" && event.target === node) { event.preventDefault(); drawer.open(lead.lead_id, node); } } },
      h("strong", { class: "card-name" }, name(lead)),
      h("span", { class: "card-project" }, lead.project_name ?? "No project"),
      h("span", { class: "card-tags" },
        h("span", { class: labelClass(lead.engagement_label), title: `Engagement score ${lead.engagement_score}` }, `${lead.engagement_label} · ${lead.engagement_score}`),
        h("span", { class: lead.suspicion_score >= 50 ? "suspicion high" : "suspicion", title: "Suspicion score (0-100)", dataset: { value: lead.suspicion_score } },
          `Suspicion ${lead.suspicion_score}`)),
      h("label", { class: "move" }, h("span", {}, "Move to "), select));
    return node;
  }

  for (const stage of STAGES) {
    const cards = h("ol", { class: "cards" }, h("li", { class: "loading" }, "Loading…"));
    const column = h("section", { class: "column", dataset: { status: stage }, "aria-label": STAGE_NAMES[stage],
      ondragover: (event) => { event.preventDefault(); column.classList.add("over"); },
      ondragleave: () => column.classList.remove("over"),
      ondrop: (event) => {
        event.preventDefault();
        column.classList.remove("over");
        const dragged = columns.querySelector(`.card[data-lead-id="${CSS.escape(event.dataTransfer.getData("text/plain"))}"]`);
        if (dragged) move(dragged, stage);
      } },
      h("header", {}, h("h2", {}, STAGE_NAMES[stage]), h("span", { class: "count" }, "…")), cards);
    columns.append(column);
    api("/analytics/leads", { params: { status: stage, limit: COLUMN_LIMIT } }).then((page) => {
      setCount(stage, page.total);
      clear(cards, page.leads.map(card));
      if (!page.leads.length) cards.append(h("li", { class: "empty" }, "No leads"));
      if (page.total > page.leads.length) {
        column.append(h("p", { class: "more" }, `Showing the newest ${page.leads.length} of ${number(page.total)}; the list shows them all.`));
      }
    }).catch((error) => clear(cards, h("li", {}, failure(error))));
  }
}

// --- the list --------------------------------------------------------------------------------

function listView(root, drawer) {
  const q = h("input", { type: "search", name: "q", id: "lead-search", placeholder: "Name, email, phone, project or visitor id", maxlength: 1000 });
  const status = h("select", { name: "status", id: "lead-status" }, h("option", { value: "" }, "All stages"),
    STAGES.map((stage) => h("option", { value: stage }, STAGE_NAMES[stage])));
  const sort = h("select", { name: "sort", id: "lead-sort" }, SORTS.map(([value, label]) => h("option", { value }, label)));
  let offset = 0;
  let timer = 0;
  const form = h("form", { class: "filters", role: "search", onsubmit: (event) => { event.preventDefault(); offset = 0; load(); } },
    h("label", { for: "lead-search" }, "Search"), q,
    h("label", { for: "lead-status" }, "Stage"), status,
    h("label", { for: "lead-sort" }, "Sort"), sort,
    h("button", { type: "submit" }, "Search"));
  q.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => { offset = 0; load(); }, 300); });
  status.addEventListener("change", () => { offset = 0; load(); });
  sort.addEventListener("change", () => { offset = 0; load(); });
  const results = h("div", { class: "results", "aria-live": "polite" });
  root.append(form, results);

  const start = newestOnly();
  async function load() {
    const current = start();
    const params = { q: q.value, status: status.value, sort: sort.value, limit: PAGE, offset };
    let page;
    try {
      page = await api("/analytics/leads", { params });
    } catch (error) {
      if (current()) clear(results, failure(error));
      return;
    }
    if (!current()) return;
    if (!page.leads.length) {
      clear(results, h("p", { class: "empty" }, page.total ? "No leads on this page." : "No leads match."));
      return;
    }
    const previous = h("button", { type: "button", disabled: offset === 0, onclick: () => { offset = Math.max(0, offset - PAGE); load(); } }, "Previous");
    const next = h("button", { type: "button", disabled: offset + page.leads.length >= page.total, onclick: () => { offset += PAGE; load(); } }, "Next");
    clear(results,
      h("div", { class: "table-scroll" }, h("table", { class: "leads-table" },
        h("thead", {}, h("tr", {}, ["Name", "Email", "Phone", "Project", "Stage", "Engagement", "Suspicion", "Follow-ups", "Last follow-up (UTC)", "Enquiry (UTC)"]
          .map((title) => h("th", { scope: "col" }, title)))),
        h("tbody", {}, page.leads.map((lead) => {
          const opener = h("button", { type: "button", class: "link", onclick: () => drawer.open(lead.lead_id, opener) }, name(lead));
          return h("tr", { dataset: { leadId: lead.lead_id } },
            h("td", {}, opener), h("td", {}, lead.contact_email ?? "–"), h("td", {}, lead.contact_phone ?? "–"),
            h("td", {}, lead.project_name ?? "–"), h("td", {}, STAGE_NAMES[lead.status] ?? lead.status),
            h("td", {}, h("span", { class: labelClass(lead.engagement_label) }, `${lead.engagement_label} · ${lead.engagement_score}`)),
            h("td", { class: "num" }, number(lead.suspicion_score)), h("td", { class: "num" }, number(lead.follow_ups_count)),
            h("td", {}, lead.last_follow_up_at ?? "–"), h("td", {}, lead.enquiry_datetime ?? "–"));
        })))),
      h("nav", { class: "pager", "aria-label": "Pages" }, previous,
        h("span", { class: "range" }, `${number(offset + 1)}–${number(offset + page.leads.length)} of ${number(page.total)}`), next));
  }
  load();
}

// --- the drawer ------------------------------------------------------------------------------

function fields(pairs) {
  return h("dl", { class: "fields" }, pairs.map(([term, value]) => [h("dt", {}, term), h("dd", {}, value ?? "–")]));
}

function payloadTable(text) {
  let payload;
  try {
    payload = JSON.parse(text);
  } catch {
    return h("pre", {}, text);
  }
  const entries = Object.entries(payload ?? {});
  if (!entries.length) return h("p", { class: "empty" }, "No form fields kept.");
  return h("table", { class: "payload" }, h("tbody", {}, entries.map(([key, value]) =>
    h("tr", {}, h("th", { scope: "row" }, key), h("td", {}, typeof value === "string" ? value : JSON.stringify(value))))));
}

class Drawer {
  constructor(view) {
    this.node = h("aside", { class: "drawer", role: "dialog", "aria-modal": "true", "aria-labelledby": "drawer-title", hidden: true,
      onkeydown: (event) => { if (event.key === "Escape") this.close(); } });
    document.body.append(this.node);
    view.onLeave(() => this.node.remove());
    this.start = newestOnly();  // a lead opened while another was loading: only the newest fills the drawer
  }

  close() {
    this.node.hidden = true;
    if (this.opener && this.opener.isConnected) this.opener.focus();
  }

  async open(leadId, opener) {
    this.opener = opener;
    const close = h("button", { type: "button", class: "close", onclick: () => this.close() }, "Close");
    const content = h("div", { class: "drawer-body" }, h("p", { class: "loading" }, "Loading…"));
    clear(this.node, h("header", {}, h("h2", { id: "drawer-title" }, `Lead ${leadId}`), close), content);
    this.node.hidden = false;
    close.focus();
    const current = this.start();
    let detail;
    try {
      detail = await api(`/analytics/leads/${leadId}`);
    } catch (error) {
      clear(content, failure(error));
      return;
    }
    if (!current()) return;
    const { lead, sessions, submissions } = detail;
    this.node.querySelector("#drawer-title").textContent = name(lead);
    const record = h("section", { class: "record" }, h("h3", {}, "Checklist and messages"), h("p", { class: "loading" }, "Loading…"));
    clear(content,
      h("section", {}, h("h3", {}, "Contact"), fields([
        ["Name", lead.contact_name], ["Email", lead.contact_email], ["Phone", lead.contact_phone],
        ["Project", lead.project_name], ["Location", lead.project_location], ["Source", lead.project_source],
        ["Country", lead.contact_country_name], ["City", lead.contact_city], ["Stage", STAGE_NAMES[lead.status] ?? lead.status],
        ["Engagement", `${lead.engagement_label} · ${lead.engagement_score}`], ["Suspicion", number(lead.suspicion_score)],
        ["Forms submitted", number(lead.form_submit_count)], ["Follow-ups", number(lead.follow_ups_count)],
        ["Last follow-up (UTC)", lead.last_follow_up_at], ["Enquiry (UTC)", lead.enquiry_datetime], ["Visitor", lead.visitor_id],
      ])),
      h("section", {}, h("h3", {}, `Sessions (${sessions.length})`), sessions.length ? h("ol", { class: "timeline" }, sessions.map((session) =>
        h("li", { dataset: { sessionId: session.session_id } },
          h("time", {}, `${datetime(session.started_at)} UTC`),
          h("span", {}, `${number(session.duration / 1000)} s · ${number(session.event_count)} events · score ${session.engagement_score}`,
            session.ended_at === null ? " · ongoing" : "", session.country ? ` · ${session.country}` : ""),
          h("span", { class: "pages" }, session.entry_page ?? "–", " → ", session.exit_page ?? "–")))) : h("p", { class: "empty" }, "No sessions.")),
      h("section", {}, h("h3", {}, `Submissions (${submissions.length})`), submissions.map((submission) =>
        h("article", { class: "submission", dataset: { submissionId: submission.submission_id } },
          h("header", {}, h("time", {}, `${submission.submitted_at ?? "–"} UTC`), " ", submission.cta_name ?? "",
            submission.is_primary_lead ? h("span", { class: "badge" }, "First") : null,
            submission.is_duplicate_window ? h("span", { class: "badge muted" }, "Within duplicate window") : null),
          fields([["Page", submission.referer], ["Source", submission.source], ["IP", submission.contact_ip]]),
          payloadTable(submission.payload_json)))),
      record);
    this.record(lead, record);
  }

  // The lead's qualification checklist and messages live in the lead-record surface, by its UUID.
  async record(lead, section) {
    const id = lead.uuid;
    if (!id) {
      clear(section, h("h3", {}, "Checklist and messages"), h("p", { class: "empty" }, "Not available for this lead."));
      return;
    }
    try {
      const record = await api(`/api/v1/leads/${encodeURIComponent(id)}`);
      clear(section, h("h3", {}, "Checklist"), checklist(record), h("h3", {}, "Messages and actions"), messages(record));
    } catch (error) {
      clear(section, h("h3", {}, "Checklist and messages"), failure(error));
    }
  }
}

function checklist(record) {
  const groups = record.checklistItems ?? [];
  const items = groups.flatMap((group) => group.items ?? []);
  if (!items.length) return h("p", { class: "empty" }, "No checklist for this lead.");
  const done = items.filter((item) => item.status === "COMPLETED").length;
  return [
    h("p", { class: "progress-line" }, h("progress", { max: items.length, value: done }), ` ${done} of ${items.length} completed`,
      record.status ? ` · ${record.status}` : ""),
    groups.map((group) => h("div", { class: "group" }, h("h4", {}, group.name),
      h("ul", { class: "checklist" }, (group.items ?? []).map((item) => h("li", { class: `item ${String(item.status).toLowerCase()}` },
        h("span", {}, item.checklistItem?.label ?? item.checklistItem?.code ?? item.checklistItemId),
        h("span", { class: "value" }, item.value === null || item.value === undefined ? "–" : String(item.value)),
        h("span", { class: "badge" }, item.status)))))),
  ];
}

// The lead-record surface lists no messages as such: it names the last one sent (lastAction), the
// draft awaiting approval (nextDraft), the next follow-up, and the action log.
function actionLine(log) {
  const message = log.message ?? null;
  return h("li", { class: `message ${message?.direction ?? ""}`, dataset: { actionId: log.id } },
    h("time", {}, log.createdAt ?? ""), " ",
    h("span", { class: "badge" }, [log.type, log.status].filter(Boolean).join(" · ")),
    message ? h("span", { class: "badge" }, [message.channel, message.direction, message.status].filter(Boolean).join(" · ")) : null,
    log.scheduledFor ? h("span", { class: "muted" }, ` due ${log.scheduledFor}`) : null,
    log.summary ? h("p", {}, log.summary) : null,
    message?.body ? h("p", { class: "body" }, message.body) : null,
    log.draft?.body ? h("p", { class: "body" }, `Draft (${log.draft.channel}): ${log.draft.body}`) : null);
}

function messages(record) {
  const parts = [];
  for (const [title, log] of [["Last contact", record.lastAction], ["Draft awaiting approval", record.nextDraft],
    ["Next follow-up", record.nextFollowUp]]) {
    if (log) parts.push(h("h4", {}, title), h("ol", { class: "messages" }, actionLine(log)));
  }
  const logs = record.actionLogs ?? [];
  parts.push(h("h4", {}, `Action log (${logs.length})`),
    logs.length ? h("ol", { class: "messages action-log" }, logs.map(actionLine)) : h("p", { class: "empty" }, "No actions yet."));
  return parts;
}
