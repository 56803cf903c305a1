"""Per-lead analytics: aggregate totals and a per-lead breakdown, as lead-analytics-api.md defines them.

| rule | definition |
| --- | --- |
| leads | the workspace's leads, not deleted, not test, with `start <= createdAt <= end` (either bound optional) |
| order | `createdAt`, then the lead's integer id: stable, so pages never repeat or skip a lead |
| page | at most `PAGE_SIZE` (500) leads; `nextToken` (domain.page_tokens) carries the last lead's position and the filter it was issued for; `null` on the last page |
| messages | channels `sms`, `email`, `whatsapp` only; every inbound message; outbound messages except failed ones and drafts held back (pending or rejected): the view `lead_analytics_messages` of migration 0007, kept per lead and channel in `lead_message_stats` |
| channels | a channel appears in `channels` when it has at least one counted message |
| completedAt | `submittedAt` (domain.checklists: a lead is completed when submitted); `leadsCompleted` counts leads that have one |
| optedOutAt | when the contact opted out; `leadsOptedOut` counts leads that did |
| completion | required-and-visible items and the COMPLETED ones by source (domain.checklists), from `lead_completion`; a lead with no values counts what the template requires of an empty checklist |
| interventions | `messageEdits` / `messageRejects`: counted-channel messages whose draft a human edited / rejected; `manualUpdates`, `documentOverrides`, `escalations`: action logs by intervention (domain.actions) |
| checklistItems | every item of the template in checklist order (domain.checklists.analytics_items, kept in `lead_completion` when the lead's values or the template change): `code` `GROUP_KEY.ITEM_CODE`, `required` (required and visible), `status`, `value`, `updatedAt` (the lead's `createdAt` when untouched), `source` (null when untouched) |
| totals | the same numbers summed over every lead of the filter, whatever the page: whole UTC days from the day rollups of migration 0007, the rest of the range lead by lead |

The breakdown and the CSV export (domain.exports) both come from `lead_facts`; totals, the
breakdown and the export all read these functions.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple, TypedDict

import orjson

from domain import checklists, lead_records, page_tokens
from domain.checklists import BySource, Completion, Template
from domain.dates import DAY_MS, iso
from domain.fields import FieldError
from storage.d1 import D1Database

PAGE_SIZE = 500
CHANNELS = ("sms", "email", "whatsapp")
SOURCES = ("agent", "imported", "manual", "portal")
TOKEN_KEY = "analytics-token"
_EARLIEST, _LATEST = -(2**63), 2**63 - 1


class ChannelTotals(TypedDict):
    inbound: int
    outbound: int


class ChannelStats(ChannelTotals):
    lastInboundAt: str | None
    lastOutboundAt: str | None


class Interventions(TypedDict):
    documentOverrides: int
    escalations: int
    manualUpdates: int
    messageEdits: int
    messageRejects: int


class Totals(TypedDict):
    count: int
    leadsCompleted: int
    leadsOptedOut: int
    totalMessages: int
    inboundMessages: int
    outboundMessages: int
    channels: dict[str, ChannelTotals]
    completion: Completion
    interventions: Interventions


ChecklistEntry = checklists.AnalyticsItem


class LeadAnalytics(TypedDict):
    leadId: str
    firstName: str | None
    lastName: str | None
    email: str | None
    phoneNumber: str | None
    createdAt: str | None
    completedAt: str | None
    optedOutAt: str | None
    totalMessages: int
    inboundMessages: int
    outboundMessages: int
    lastInboundAt: str | None
    lastOutboundAt: str | None
    channels: dict[str, ChannelStats]
    completion: Completion
    interventions: Interventions
    checklistItems: list[ChecklistEntry]


class AnalyticsPage(TypedDict):
    start: str | None
    end: str | None
    nextToken: str | None
    totals: Totals
    breakdown: list[LeadAnalytics]


@dataclass(frozen=True)
class LeadFilter:
    workspace_id: str
    start: int | None = None  # epoch ms, inclusive
    end: int | None = None  # epoch ms, inclusive

    @property
    def bounds(self) -> tuple[str, int, int]:
        return (self.workspace_id, _EARLIEST if self.start is None else self.start,
                _LATEST if self.end is None else self.end)


def lead_filter(workspace_id: str, start: int | None, end: int | None) -> LeadFilter:
    if start is not None and end is not None and end < start:
        raise FieldError("end", "must be on or after start")
    return LeadFilter(workspace_id, start, end)


# `+` keeps SQLite on leads_created (workspace, createdAt) for both the range and the order.
_CHOSEN = ("FROM leads l INDEXED BY leads_created WHERE l.workspace_id = ?1 AND l.created_at >= ?2"
           " AND l.created_at <= ?3 AND l.deleted_at IS NULL AND +l.is_test = 0")
# The numbers of a time range, lead by lead (the part-days at a range's edges, and the reference
# the day rollups are tested against)...
_EXACT_TOTALS = (
    "SELECT count(*), count(l.submitted_at), count(l.opted_out_at), coalesce(sum(coalesce(c.total_required, ?4)), 0),"
    " coalesce(sum(c.total_completed), 0), coalesce(sum(c.agent), 0), coalesce(sum(c.imported), 0),"
    " coalesce(sum(c.manual), 0), coalesce(sum(c.portal), 0), coalesce(sum(i.document_overrides), 0),"
    " coalesce(sum(i.escalations), 0), coalesce(sum(i.manual_updates), 0)"
    " FROM (SELECT l.lead_id, l.submitted_at, l.opted_out_at " + _CHOSEN + ") l"
    " LEFT JOIN lead_completion c ON c.lead_id = l.lead_id LEFT JOIN lead_interventions i ON i.lead_id = l.lead_id"
)
_EXACT_CHANNELS = (
    "SELECT s.channel, sum(s.inbound), sum(s.outbound), sum(s.edited), sum(s.rejected)"
    " FROM (SELECT l.lead_id " + _CHOSEN + ") l JOIN lead_message_stats s ON s.lead_id = l.lead_id"
    " GROUP BY s.channel"
)
# ...and of whole UTC days, from the day rollups of migration 0007 (leads without a completion
# row count the template's empty-checklist requirement, `?4`).
_DAY_TOTALS = (
    "SELECT coalesce(sum(leads), 0), coalesce(sum(submitted), 0), coalesce(sum(opted_out), 0),"
    " coalesce(sum(total_required + (leads - evaluated) * ?4), 0), coalesce(sum(total_completed), 0),"
    " coalesce(sum(agent), 0), coalesce(sum(imported), 0), coalesce(sum(manual), 0), coalesce(sum(portal), 0),"
    " coalesce(sum(document_overrides), 0), coalesce(sum(escalations), 0), coalesce(sum(manual_updates), 0)"
    " FROM lead_day_totals WHERE workspace_id = ?1 AND day BETWEEN ?2 AND ?3"
)
_DAY_CHANNELS = (
    "SELECT channel, sum(inbound), sum(outbound), sum(edited), sum(rejected) FROM lead_day_channels"
    " WHERE workspace_id = ?1 AND day BETWEEN ?2 AND ?3 GROUP BY channel"
)
_PAGE = (
    "SELECT l.lead_id, l.id, l.first_name, l.last_name, l.contact_name, l.email, l.phone, l.created_at,"
    " l.submitted_at, l.opted_out_at, c.total_required, c.total_completed, c.agent, c.imported, c.manual, c.portal,"
    " i.document_overrides, i.escalations, i.manual_updates, c.checklist_items, c.checklist_csv"
    " FROM (SELECT l.lead_id, l.id, l.first_name, l.last_name, l.contact_name, l.email, l.phone, l.created_at,"
    " l.submitted_at, l.opted_out_at " + _CHOSEN + " AND (l.created_at, l.lead_id) > (?4, ?5)"
    " ORDER BY l.created_at, l.lead_id LIMIT ?6) l"
    " LEFT JOIN lead_completion c ON c.lead_id = l.lead_id LEFT JOIN lead_interventions i ON i.lead_id = l.lead_id"
    " ORDER BY l.created_at, l.lead_id"
)
_STATS = ("SELECT lead_id, channel, inbound, outbound, last_inbound_at, last_outbound_at, edited, rejected"
          " FROM lead_message_stats WHERE lead_id IN (SELECT value FROM json_each(?))")


def _interventions(edits: int, rejects: int, overrides: int, escalations: int, manual: int) -> Interventions:
    return {"documentOverrides": overrides, "escalations": escalations, "manualUpdates": manual,
            "messageEdits": edits, "messageRejects": rejects}


def _by_source(agent: int, imported: int, manual: int, portal: int) -> BySource:
    return {"agent": agent, "imported": imported, "manual": manual, "portal": portal}


def baseline(template: Template) -> Completion:
    """What the template asks of a lead that has no values."""
    return checklists.evaluate(template, {}).completion


def _spans(leads: LeadFilter) -> tuple[tuple[int, int] | None, list[tuple[int, int]]]:
    """The whole UTC days inside the filter (first, last), and the instants outside them, as ranges."""
    _, low, high = leads.bounds
    # The first day that starts at or after `start`, the last that ends at or before `end`.
    first_day = _EARLIEST // DAY_MS if leads.start is None else -(-leads.start // DAY_MS)
    last_day = _LATEST // DAY_MS if leads.end is None else (leads.end + 1) // DAY_MS - 1
    if first_day > last_day:
        return None, [(low, high)]
    edges = []
    if leads.start is not None and leads.start < first_day * DAY_MS:
        edges.append((leads.start, first_day * DAY_MS - 1))
    if leads.end is not None and leads.end >= (last_day + 1) * DAY_MS:
        edges.append(((last_day + 1) * DAY_MS, leads.end))
    return (first_day, last_day), edges


async def totals(db: D1Database, leads: LeadFilter, template: Template, *, rollups: bool = True) -> Totals:
    """The document's totals over every lead of the filter: whole days from the day rollups, the
    part-days at the edges lead by lead (`rollups=False`: every lead, the reference)."""
    base = baseline(template)["totalRequired"]
    days, edges = _spans(leads) if rollups else (None, [leads.bounds[1:]])
    numbers = [0] * 12
    by_channel: dict[str, list[int]] = {}

    def add(row: Sequence[Any]) -> None:
        for index, value in enumerate(row):
            numbers[index] += value

    def add_channels(rows: Sequence[Sequence[Any]]) -> None:
        for channel, *counts in rows:
            found = by_channel.setdefault(channel, [0, 0, 0, 0])
            for index, value in enumerate(counts):
                found[index] += value

    if days is not None:
        span = (leads.workspace_id, *days)
        add((await db.prepare(_DAY_TOTALS).bind(*span, base).raw())[0])
        add_channels(await db.prepare(_DAY_CHANNELS).bind(*span).raw())
    for low, high in edges:
        bounds = (leads.workspace_id, low, high)
        add((await db.prepare(_EXACT_TOTALS).bind(*bounds, base).raw())[0])
        add_channels(await db.prepare(_EXACT_CHANNELS).bind(*bounds).raw())
    count, completed, opted_out, required, done, agent, imported, manual, portal, overrides, escalations, updates = \
        numbers
    channels: dict[str, ChannelTotals] = {}
    inbound = outbound = edits = rejects = 0
    for channel in CHANNELS:
        ins, outs, edited, rejected = by_channel.get(channel, (0, 0, 0, 0))
        inbound, outbound, edits, rejects = inbound + ins, outbound + outs, edits + edited, rejects + rejected
        if ins or outs:
            channels[channel] = {"inbound": ins, "outbound": outs}
    return {
        "count": count, "leadsCompleted": completed, "leadsOptedOut": opted_out,
        "totalMessages": inbound + outbound, "inboundMessages": inbound, "outboundMessages": outbound,
        "channels": channels,
        "completion": {"totalRequired": required, "totalCompleted": done,
                       "bySource": _by_source(agent, imported, manual, portal)},
        "interventions": _interventions(edits, rejects, overrides, escalations, updates),
    }


@dataclass(frozen=True)
class Page:
    """One page of leads in order, with their message stats; `last` is the position to continue from."""

    leads: list[list[Any]]
    stats: dict[int, list[list[Any]]]

    @property
    def last(self) -> tuple[int, int] | None:
        return (self.leads[-1][7], self.leads[-1][0]) if self.leads else None


async def read_page(db: D1Database, leads: LeadFilter, after: tuple[int, int] | None, size: int) -> Page:
    created, lead_id = after if after is not None else (_EARLIEST, -1)
    rows = await db.prepare(_PAGE).bind(*leads.bounds, created, lead_id, size).raw()
    stats: dict[int, list[list[Any]]] = {}
    if rows:
        for stat in await db.prepare(_STATS).bind(json.dumps([row[0] for row in rows])).raw():
            stats.setdefault(stat[0], []).append(stat)
    return Page(rows, stats)


@lru_cache(maxsize=4096)
def _day_prefix(day: int) -> str:
    return (iso(day * DAY_MS) or "")[:11]


_MINUTES = [f"{minute // 60:02d}:{minute % 60:02d}:" for minute in range(1440)]
_TWO = [f"{n:02d}." for n in range(60)]
_THREE = [f"{n:03d}Z" for n in range(1000)]


def instant(ms: int | None) -> str | None:
    """domain.dates.iso, from lookup tables: a page or an export formats tens of thousands of instants."""
    if ms is None:
        return None
    seconds, millis = divmod(ms, 1000)
    day, second = divmod(seconds, 86_400)
    minute, second = divmod(second, 60)
    return _day_prefix(day) + _MINUTES[minute] + _TWO[second] + _THREE[millis]


class LeadFacts(NamedTuple):
    """One lead's numbers, as the breakdown and the CSV both show them (timestamps in epoch ms)."""

    lead_id: str
    first_name: str | None
    last_name: str | None
    email: str | None
    phone: str | None
    created_at: int
    completed_at: int | None
    opted_out_at: int | None
    inbound: int
    outbound: int
    last_inbound_at: int | None
    last_outbound_at: int | None
    channels: list[tuple[str, int, int, int | None, int | None]]  # counted channels, in CHANNELS order
    completion: tuple[int, int, int, int, int, int]  # required, completed, agent, imported, manual, portal
    interventions: tuple[int, int, int, int, int]  # in Interventions' order
    items: list[ChecklistEntry]  # rendered when the lead's values were written (domain.checklists)
    checklist_csv: str | None  # the same as CSV cells (domain.checklists.csv_fragment); None: no values


def lead_facts(template: Template, page: Page, *, items: bool = True) -> list[LeadFacts]:
    """The facts of every lead of a page, in order (the rules are in this module's table); without
    `items`, the checklist only as CSV cells."""
    base = baseline(template)
    base_row = (base["totalRequired"], base["totalCompleted"], *(base["bySource"][s] for s in SOURCES))  # type: ignore[literal-required]
    # A lead without a completion row has no values: its checklist is the empty one.
    empty = orjson.dumps(checklists.analytics_items(template, {}, checklists.evaluate(template, {})))
    rank = {channel: index for index, channel in enumerate(CHANNELS)}
    found: list[LeadFacts] = []
    for row in page.leads:
        (lead_id, uuid, first, last, contact_name, email, phone, created_at, submitted_at, opted_out_at,
         required, done, agent, imported, manual, portal, overrides, escalations, updates, rendered,
         checklist_csv) = row
        first, last = lead_records.names(first, last, contact_name)
        channels = []
        inbound = outbound = edits = rejects = 0
        last_in = last_out = None
        for _, channel, ins, outs, channel_in, channel_out, edited, rejected in sorted(
                (stat for stat in page.stats.get(lead_id, ()) if stat[1] in rank), key=lambda stat: rank[stat[1]]):
            inbound, outbound, edits, rejects = inbound + ins, outbound + outs, edits + edited, rejects + rejected
            if channel_in is not None and (last_in is None or channel_in > last_in):
                last_in = channel_in
            if channel_out is not None and (last_out is None or channel_out > last_out):
                last_out = channel_out
            if ins or outs:
                channels.append((channel, ins, outs, channel_in, channel_out))
        entries: list[ChecklistEntry] = []
        if items:
            entries = orjson.loads(empty if rendered is None else rendered)
            untouched = instant(created_at)
            for entry in entries:
                if entry["updatedAt"] is None:
                    entry["updatedAt"] = untouched
        completion = base_row if required is None else (required, done, agent, imported, manual, portal)
        found.append(LeadFacts(uuid, first, last, email, phone, created_at, submitted_at, opted_out_at, inbound,
                               outbound, last_in, last_out, channels, completion,
                               (overrides or 0, escalations or 0, updates or 0, edits, rejects), entries,
                               checklist_csv))
    return found


def breakdown(template: Template, page: Page) -> list[LeadAnalytics]:
    """Each lead of a page as the document's breakdown shows it."""
    found: list[LeadAnalytics] = []
    for lead in lead_facts(template, page):
        required, done, agent, imported, manual, portal = lead.completion
        overrides, escalations, updates, edits, rejects = lead.interventions
        found.append({
            "leadId": lead.lead_id, "firstName": lead.first_name, "lastName": lead.last_name, "email": lead.email,
            "phoneNumber": lead.phone, "createdAt": instant(lead.created_at), "completedAt": instant(lead.completed_at),
            "optedOutAt": instant(lead.opted_out_at), "totalMessages": lead.inbound + lead.outbound,
            "inboundMessages": lead.inbound, "outboundMessages": lead.outbound,
            "lastInboundAt": instant(lead.last_inbound_at), "lastOutboundAt": instant(lead.last_outbound_at),
            "channels": {channel: {"inbound": ins, "outbound": outs, "lastInboundAt": instant(last_in),
                                   "lastOutboundAt": instant(last_out)}
                         for channel, ins, outs, last_in, last_out in lead.channels},
            "completion": {"totalRequired": required, "totalCompleted": done,
                           "bySource": _by_source(agent, imported, manual, portal)},
            "interventions": _interventions(edits, rejects, overrides, escalations, updates),
            "checklistItems": lead.items,
        })
    return found


def _position(leads: LeadFilter, last: tuple[int, int]) -> dict[str, Any]:
    return {"w": leads.workspace_id, "s": leads.start, "e": leads.end, "c": last[0], "l": last[1]}


async def analytics_page(db: D1Database, leads: LeadFilter, start_text: str | None, end_text: str | None,
                         token: str | None) -> AnalyticsPage:
    """A JSON page: totals over every lead of the filter and the breakdown of up to PAGE_SIZE of them."""
    key = await page_tokens.signing_key(db, TOKEN_KEY)
    after = None
    if token is not None:
        position = page_tokens.read(key, token)
        if position is None or position.get("w") != leads.workspace_id:
            raise FieldError("token", "is not a pagination token issued by this API")
        if (position.get("s"), position.get("e")) != (leads.start, leads.end):
            raise FieldError("token", "was issued for another start and end")
        if not isinstance(position.get("c"), int) or not isinstance(position.get("l"), int):
            raise FieldError("token", "is not a pagination token issued by this API")
        after = (position["c"], position["l"])
    template = await checklists.read_template(db, leads.workspace_id)
    page = await read_page(db, leads, after, PAGE_SIZE + 1)
    more = len(page.leads) > PAGE_SIZE
    page = Page(page.leads[:PAGE_SIZE], page.stats)
    next_token = page_tokens.issue(key, _position(leads, page.last)) if more and page.last else None
    return {"start": start_text, "end": end_text, "nextToken": next_token,
            "totals": await totals(db, leads, template), "breakdown": breakdown(template, page)}


def checklist_width(template: Template) -> int:
    """How many checklist entries the longest lead has: every lead lists every item of the template."""
    return len(template.items)


BASE_COLUMNS = ("leadId", "firstName", "lastName", "email", "phoneNumber", "createdAt", "completedAt", "optedOutAt",
                "totalMessages", "inboundMessages", "outboundMessages", "lastInboundAt", "lastOutboundAt")
CHANNEL_FIELDS = ("inbound", "outbound", "lastInboundAt", "lastOutboundAt")
CHECKLIST_FIELDS = ("code", "required", "status", "value", "updatedAt", "source")


def csv_header(width: int) -> list[str]:
    """The CSV columns, in the document's order; checklist columns `checklist.<i>.*` from 0."""
    return [
        *BASE_COLUMNS,
        *(f"channels.{channel}.{name}" for channel in CHANNELS for name in CHANNEL_FIELDS),
        "completion.totalRequired", "completion.totalCompleted", *(f"completion.bySource.{s}" for s in SOURCES),
        *(f"interventions.{name}" for name in Interventions.__annotations__),
        *(f"checklist.{index}.{name}" for index in range(width) for name in CHECKLIST_FIELDS),
    ]


def csv_rows(template: Template, page: Page, width: int) -> str:
    """The CSV lines of a page of leads, in `csv_header(width)`'s order; checklist cells padded to `width` items."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="")
    count = len(template.items)  # every lead lists every item of the template
    empty = checklists.csv_fragment(checklists.analytics_items(template, {}, checklists.evaluate(template, {})))
    padding = "," * (len(CHECKLIST_FIELDS) * (width - count))
    for lead in lead_facts(template, page, items=False):
        channels = {channel[0]: channel for channel in lead.channels}
        cells: list[Any] = [
            lead.lead_id, lead.first_name, lead.last_name, lead.email, lead.phone, instant(lead.created_at),
            instant(lead.completed_at), instant(lead.opted_out_at), lead.inbound + lead.outbound, lead.inbound,
            lead.outbound, instant(lead.last_inbound_at), instant(lead.last_outbound_at)]
        for channel in CHANNELS:
            stats = channels.get(channel)
            cells += (stats[1], stats[2], instant(stats[3]), instant(stats[4])) if stats else (0, 0, None, None)
        cells += lead.completion
        cells += lead.interventions
        writer.writerow(cells)
        # The checklist cells were rendered when the lead's values were written (domain.checklists).
        fragment = empty if lead.checklist_csv is None else lead.checklist_csv
        if count:
            out.write("," + fragment.replace(checklists.UNTOUCHED, instant(lead.created_at) or ""))
        out.write(padding + "\r\n")
    return out.getvalue()
