"""Campaign messaging: campaigns, sender lines, conversation tags and the metrics of GET /api/analytics.

| metric | definition |
| --- | --- |
| reached | distinct contacts (`contact_key`) with an outbound message of status sent or delivered |
| sent | outbound messages of status sent or delivered (one contact may count more than once) |
| fallback | outbound messages of status fallback, or with `fallback_sms_dispatched` set |
| failed | outbound messages of status failed |
| replied | inbound messages |
| uniqueReplied | distinct contacts with an inbound message |
| repliedPct | uniqueReplied / reached |
| positiveReplied | distinct contacts among uniqueReplied whose conversation carries a positive tag |
| positivePct | positiveReplied / uniqueReplied |

| rule | definition |
| --- | --- |
| filter | `campaign_id`, `line_id`, `user_id` and the window, intersected; the window is inclusive at both ends, on `messages.created_at` |
| window | a `dateTo` given as a date alone covers that whole day (UTC) |
| ratio | 0 when the denominator is 0; else truncated to 4 decimals, as the document's example shows (71 / 312 = 0.2275), and at most 1 (a window that opens after a contact's message but before its reply counts the reply, not the message) |
| positive tag | `interested`, `to respond`, `to-answer`, `to_answer`, any case, nothing else (`conversation_tags.positive`) |
| conversation | a contact's conversation is the lead of its replies: the contact is positive when one of its inbound messages belongs to a lead with a positive tag |
| ids | campaigns and lines get 24 lowercase hex characters; users are `user_...` |
| reply attribution | a reply written here without a campaign, line or user takes them from the latest outbound message to the same contact at or before it |

Numbers come from the rollups of migration 0008 (kept exact by triggers, whoever writes the
messages): whole UTC days of the window from `campaign_daily` and `campaign_contact_days`, the
partial days at its edges from the messages themselves, so a request reads a few hundred rollup
rows and at most two days of messages, whatever the table holds.
"""
from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

from domain import leads, messages
from domain.dates import DAY_MS, HOUR_MS, iso
from storage.d1 import D1Database

POSITIVE_TAGS = ("interested", "to respond", "to-answer", "to_answer")
MAX_NAME = 200
MAX_TAG = 64
MAX_TAGS = 50
# The last instant an ISO 8601 date-time can name: an absent dateTo.
END_OF_TIME = 253_402_300_799_999

EXPLAINER: dict[str, str] = {
    "reached": "Unique contacts that received at least one outbound message (status sent or delivered).",
    "sent": "Total outbound messages with status sent or delivered. One contact may count more than once.",
    "fallback": "Outbound messages that fell back to SMS or could not be sent via iMessage.",
    "failed": "Outbound messages that hit a hard send failure (technical error, blocked recipient, etc.).",
    "replied": "Total inbound messages from contacts in the window.",
    "uniqueReplied": "Distinct contacts that replied at least once.",
    "repliedPct": "uniqueReplied / reached. Reply rate by unique contact.",
    "positiveReplied": ("Distinct contacts whose conversation carries a positive tag (interested, to respond,"
                        " to-answer)."),
    "positivePct": "positiveReplied / uniqueReplied. Share of replies that are warm.",
}


class NotFound(LookupError):
    """A campaign, line, lead or message the workspace does not have; the message names the field."""


# --- the metrics ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filter:
    campaign_id: str | None = None
    line_id: str | None = None
    user_id: str | None = None
    date_from: int | None = None  # epoch ms, inclusive
    date_to: int | None = None  # epoch ms, inclusive


Metrics = TypedDict("Metrics", {
    "reached": int, "sent": int, "fallback": int, "failed": int, "replied": int, "uniqueReplied": int,
    "repliedPct": float, "positiveReplied": int, "positivePct": float,
})


def inclusive_end(text: str, ms: int) -> int:
    """The last instant a `dateTo` covers: a date alone (`2026-06-30`) is that whole day."""
    return ms + DAY_MS - 1 if len(text.strip()) == 10 else ms


def ratio(numerator: int, denominator: int) -> float:
    """numerator / denominator truncated to 4 decimals, in [0, 1]; 0 when the denominator is 0."""
    if denominator <= 0:
        return 0.0
    return min(numerator * 10_000 // denominator, 10_000) / 10_000


@dataclass
class _Counts:
    sent: int = 0
    fallback: int = 0
    failed: int = 0
    replied: int = 0
    reached: int = 0
    unique_replied: int = 0
    positive_replied: int = 0

    def add(self, row: dict[str, Any]) -> None:
        for name, value in row.items():
            setattr(self, name, getattr(self, name) + (value or 0))


def _metrics(counts: _Counts) -> Metrics:
    return {
        "reached": counts.reached,
        "sent": counts.sent,
        "fallback": counts.fallback,
        "failed": counts.failed,
        "replied": counts.replied,
        "uniqueReplied": counts.unique_replied,
        "repliedPct": ratio(counts.unique_replied, counts.reached),
        "positiveReplied": counts.positive_replied,
        "positivePct": ratio(counts.positive_replied, counts.unique_replied),
    }


# Which messages each metric counts, over a row `m` of messages. The triggers of migration 0008
# count the same rows into the rollups.
_SENT = "m.direction = 'outbound' AND m.status IN ('sent', 'delivered')"
_FALLBACK = "m.direction = 'outbound' AND (m.status = 'fallback' OR m.fallback_sms_dispatched != 0)"
_FAILED = "m.direction = 'outbound' AND m.status = 'failed'"
_REPLY = "m.direction = 'inbound'"
_POSITIVE = ("(SELECT c.positive FROM campaign_reply_contacts c"
             " WHERE c.workspace_id = m.workspace_id AND c.contact_key = m.contact_key) = 1")
# y is in m's chain: the same contact, kind (reached or replied) and filtered columns.
_CHAIN = ("y.workspace_id = m.workspace_id AND y.contact_key = m.contact_key AND y.id != m.id"
          " AND y.direction = m.direction AND (m.direction = 'inbound' OR y.status IN ('sent', 'delivered')){dims}")

# Filtered columns: the fixed names and the index that reads messages by each.
_DIMENSIONS = (("campaign_id", "messages_campaign"), ("line_id", "messages_line"), ("user_id", "messages_user"))

_KEY = "workspace_id = ?1 AND grp = ?2 AND campaign_id = ?3 AND line_id = ?4 AND user_id = ?5"
# Whole buckets ?7..?8 of span ?6: the additive counts, and the messages whose chain predecessor
# falls in buckets ?9..?10 (every contact first seen in the part when ?9 is -1).
_PART = (
    "SELECT c.*, r.* FROM"
    " (SELECT coalesce(sum(sent), 0) AS sent, coalesce(sum(fallback), 0) AS fallback,"
    "  coalesce(sum(failed), 0) AS failed, coalesce(sum(replied), 0) AS replied FROM campaign_counts"
    f"  WHERE {_KEY} AND span = ?6 AND bucket BETWEEN ?7 AND ?8) c,"
    " (SELECT coalesce(sum(messages) FILTER (WHERE kind = 'reached'), 0) AS reached,"
    "  coalesce(sum(messages) FILTER (WHERE kind = 'replied'), 0) AS unique_replied,"
    "  coalesce(sum(messages) FILTER (WHERE kind = 'replied' AND positive = 1), 0) AS positive_replied"
    f"  FROM campaign_reach WHERE {_KEY} AND kind IN ('reached', 'replied') AND span = ?6"
    "  AND bucket BETWEEN ?7 AND ?8 AND prev_bucket BETWEEN ?9 AND ?10) r"
)
# The same contacts, read by the predecessor's hour: a few hours of predecessors, not every bucket of the part.
_BY_PREDECESSOR = (
    "SELECT coalesce(sum(messages) FILTER (WHERE kind = 'reached'), 0) AS reached,"
    " coalesce(sum(messages) FILTER (WHERE kind = 'replied'), 0) AS unique_replied,"
    " coalesce(sum(messages) FILTER (WHERE kind = 'replied' AND positive = 1), 0) AS positive_replied"
    f" FROM campaign_reach INDEXED BY campaign_reach_prev WHERE {_KEY} AND kind IN ('reached', 'replied')"
    # The literal span lets SQLite use the partial index (hours only); ?6 is the same span.
    f" AND span = {HOUR_MS} AND span = ?6 AND prev_bucket BETWEEN ?9 AND ?10 AND bucket BETWEEN ?7 AND ?8"
)
# Messages of a partial bucket, [?3, ?4]: each counts as a contact when no message of its chain
# falls between the window's start (?2) and itself.
_FIRST = ("NOT EXISTS (SELECT 1 FROM messages y WHERE " + _CHAIN + " AND y.created_at >= ?2"
          " AND y.created_at <= m.created_at AND (y.created_at < m.created_at OR y.id < m.id))")
_EDGE = (
    f"SELECT count(*) FILTER (WHERE {_SENT}) AS sent, count(*) FILTER (WHERE {_FALLBACK}) AS fallback,"
    f" count(*) FILTER (WHERE {_FAILED}) AS failed, count(*) FILTER (WHERE {_REPLY}) AS replied,"
    f" count(*) FILTER (WHERE {_SENT} AND {_FIRST}) AS reached,"
    f" count(*) FILTER (WHERE {_REPLY} AND {_FIRST}) AS unique_replied,"
    f" count(*) FILTER (WHERE {_REPLY} AND {_FIRST} AND {_POSITIVE}) AS positive_replied"
    " FROM messages m INDEXED BY {index} WHERE m.workspace_id = ?1{filters} AND m.created_at BETWEEN ?3 AND ?4"
)
# When the window opens inside the finest bucket (at ?2), a message of the whole buckets whose chain
# predecessor fell in that bucket but before the window is a contact the rollups cannot see: count
# each such predecessor m in [start of that bucket, ?2 - 1] whose next message falls in [?5, ?6].
_OPENING = (
    f"SELECT count(*) FILTER (WHERE {_SENT}) AS reached, count(*) FILTER (WHERE {_REPLY}) AS unique_replied,"
    f" count(*) FILTER (WHERE {_REPLY} AND {_POSITIVE}) AS positive_replied"
    " FROM messages m INDEXED BY {index} WHERE m.workspace_id = ?1{filters} AND m.created_at BETWEEN ?3 AND ?4"
    " AND (m.direction = 'inbound' OR m.status IN ('sent', 'delivered'))"
    " AND NOT EXISTS (SELECT 1 FROM messages y WHERE " + _CHAIN + " AND y.created_at >= m.created_at"
    " AND (y.created_at > m.created_at OR y.id > m.id) AND y.created_at < ?5)"
    " AND EXISTS (SELECT 1 FROM messages y WHERE " + _CHAIN + " AND y.created_at BETWEEN ?5 AND ?6)"
)


@dataclass(frozen=True)
class _Shape:
    grouping: int  # which columns the filter fixes: campaign 1, line 2, user 4 (campaign_groupings.grp)
    keys: tuple[str, str, str]  # the rollups' key: each fixed value, '' for the others
    values: tuple[str, ...]  # the fixed values, bound from ?7 on
    filters: str  # the filter over m
    chain: str  # y has m's fixed values
    index: str  # reads a partial day of the filter's messages


def _shape(flt: Filter) -> _Shape:
    grouping, filters, chain, index, values = 0, "", "", "messages_workspace", []
    given = (flt.campaign_id, flt.line_id, flt.user_id)
    for bit, ((column, column_index), value) in enumerate(zip(_DIMENSIONS, given)):
        if value is None:
            continue
        grouping |= 1 << bit
        values.append(value)
        filters += f" AND m.{column} = ?{6 + len(values)}"
        chain += f" AND y.{column} = m.{column}"
        if index == "messages_workspace":
            index = column_index
    keys = (flt.campaign_id or "", flt.line_id or "", flt.user_id or "")
    return _Shape(grouping, keys, tuple(values), filters, chain, index)


def _bind(db: D1Database, sql: str, params: Sequence[Any]) -> Any:
    """The statement with as many values as its highest ?N asks for (the rest of `params` unused)."""
    highest = max(int(number) for number in re.findall(r"\?(\d+)", sql))
    return db.prepare(sql).bind(*params[:highest])


def _spans(grouping: int) -> tuple[int, ...]:
    """The bucket spans of a grouping, coarsest first (migration 0008's campaign_spans)."""
    return (DAY_MS, HOUR_MS) if grouping == 0 else (DAY_MS,)


def _cover(lo: int, hi: int, spans: tuple[int, ...]) -> tuple[list[tuple[int, int, int]], list[tuple[int, int]]]:
    """[lo, hi] as whole buckets (level, first, last), coarsest possible, and the instants left at its edges."""
    fine = spans[-1]
    start, stop = -(-lo // fine) * fine, (hi + 1) // fine * fine
    if start >= stop:
        return [], [(lo, hi)]
    parts: list[tuple[int, int, int]] = []

    def cover(x: int, y: int, level: int) -> None:  # [x, y) lies on boundaries of the finest span
        span = spans[level]
        if level == len(spans) - 1:
            parts.append((level, x // span, y // span - 1))
            return
        inner_x, inner_y = -(-x // span) * span, y // span * span
        if inner_x >= inner_y:
            cover(x, y, level + 1)
            return
        if x < inner_x:
            cover(x, inner_x, level + 1)
        parts.append((level, inner_x // span, inner_y // span - 1))
        if inner_y < y:
            cover(inner_y, y, level + 1)

    cover(start, stop, 0)
    edges = ([(lo, start - 1)] if lo < start else []) + ([(stop, hi)] if stop <= hi else [])
    return parts, edges


async def campaign_metrics(db: D1Database, workspace_id: str, flt: Filter) -> Metrics:
    """The metric block of the document for a workspace and filter."""
    shape = _shape(flt)
    lo = max(flt.date_from if flt.date_from is not None else 0, 0)
    hi = flt.date_to if flt.date_to is not None else END_OF_TIME
    counts = _Counts()
    if lo > hi:
        return _metrics(counts)
    spans = _spans(shape.grouping)
    fine = spans[-1]
    parts, edges = _cover(lo, hi, spans)
    key = (workspace_id, shape.grouping, *shape.keys)
    for level, first, last in parts:
        span = spans[level]
        # A predecessor before the window's first bucket of this span is before the window.
        counts.add(await db.prepare(_PART).bind(*key, span, first, last, -1, lo // span - 1).first())
        for finer in range(level + 1, len(spans)):
            # Predecessors in the window's first bucket of the coarser span, before its finer bucket.
            opened = lo // spans[finer - 1] * spans[finer - 1] // spans[finer]
            if opened < lo // spans[finer]:
                scale = span // spans[finer]
                counts.add(await db.prepare(_BY_PREDECESSOR).bind(
                    *key, spans[finer], first * scale, (last + 1) * scale - 1, opened,
                    lo // spans[finer] - 1).first())
    for start, end in edges:
        sql = _EDGE.format(index=shape.index, filters=shape.filters, dims=shape.chain)
        counts.add(await _bind(db, sql, (workspace_id, lo, start, end, 0, 0, *shape.values)).first())
    if parts and lo % fine:
        covered_from, covered_to = -(-lo // fine) * fine, (hi + 1) // fine * fine - 1
        sql = _OPENING.format(index=shape.index, filters=shape.filters, dims=shape.chain)
        counts.add(await _bind(db, sql, (workspace_id, lo, lo // fine * fine, lo - 1, covered_from, covered_to,
                                         *shape.values)).first())
    return _metrics(counts)


# --- campaigns, lines, messages, tags -------------------------------------------------------------

Campaign = TypedDict("Campaign", {"id": str, "name": str, "createdAt": str})
Line = TypedDict("Line", {"id": str, "name": str, "address": str, "createdAt": str})
Message = TypedDict("Message", {
    "id": str, "leadId": str, "contact": str, "channel": str, "direction": str, "status": str,
    "fallbackSmsDispatched": bool, "campaignId": str | None, "lineId": str | None, "userId": str | None,
    "body": str | None, "createdAt": str, "updatedAt": str,
})
Conversation = TypedDict("Conversation", {"leadId": str, "tags": list[str], "positive": bool})
Analytics = TypedDict("Analytics", {"success": bool, "filter": dict[str, str], "metrics": Metrics,
                                    "explainer": dict[str, str]})


@dataclass(frozen=True)
class MessageInput:
    direction: str
    contact: str
    channel: str
    created_at: int
    status: str | None = None
    fallback_sms_dispatched: bool = False
    campaign_id: str | None = None
    line_id: str | None = None
    user_id: str | None = None
    body: str | None = None


_INSERT_CAMPAIGN = "INSERT INTO campaigns (id, workspace_id, name, created_at) VALUES (?, ?, ?, ?)"
_INSERT_LINE = "INSERT INTO lines (id, workspace_id, name, address, created_at) VALUES (?, ?, ?, ?, ?)"
_CAMPAIGN_EXISTS = "SELECT 1 FROM campaigns WHERE id = ? AND workspace_id = ?"
_LINE_EXISTS = "SELECT 1 FROM lines WHERE id = ? AND workspace_id = ?"
# The outbound message a reply answers: the latest that reached the contact at or before it.
_ANSWERED = (
    "SELECT campaign_id, line_id, user_id FROM messages INDEXED BY messages_contact"
    " WHERE workspace_id = ?1 AND contact_key = ?2 AND created_at <= ?3 AND direction = 'outbound'"
    " AND status IN ('sent', 'delivered', 'fallback')"
    " AND (?4 IS NULL OR campaign_id = ?4) AND (?5 IS NULL OR line_id = ?5) AND (?6 IS NULL OR user_id = ?6)"
    " ORDER BY created_at DESC, id DESC LIMIT 1"
)
_MESSAGE = (
    "SELECT m.id, l.id AS lead_uuid, m.contact, m.channel, m.direction, m.status, m.fallback_sms_dispatched,"
    " m.campaign_id, m.line_id, m.user_id, m.body, m.created_at, m.updated_at"
    " FROM messages m JOIN leads l ON l.lead_id = m.lead_id WHERE m.id = ? AND m.workspace_id = ?"
)
_LEAD_BY_UUID = "SELECT lead_id FROM leads WHERE id = ? AND workspace_id = ? AND deleted_at IS NULL"
_CLEAR_TAGS = "DELETE FROM conversation_tags WHERE lead_id = ? AND workspace_id = ?"
_INSERT_TAG = "INSERT INTO conversation_tags (workspace_id, lead_id, tag, created_at) VALUES (?, ?, ?, ?)"
_POSITIVE_LEAD = "SELECT coalesce(max(positive), 0) FROM conversation_tags WHERE lead_id = ?"


def line_address(raw: str) -> str | None:
    """A sender line's address as stored: a normalised phone number or email address; None when neither."""
    return leads.normalise_email(raw) if "@" in raw else leads.normalise_phone(raw)


def normalise_tags(tags: Sequence[str]) -> list[str]:
    """Tags trimmed, empty ones dropped, repeats (ignoring case) kept once, in the order given."""
    kept: dict[str, str] = {}
    for tag in (t.strip() for t in tags):
        if tag and tag.lower() not in kept:
            kept[tag.lower()] = tag
    return list(kept.values())


async def create_campaign(db: D1Database, workspace_id: str, name: str, now: int) -> Campaign:
    campaign_id = messages.new_id()
    await db.prepare(_INSERT_CAMPAIGN).bind(campaign_id, workspace_id, name, now).run()
    return {"id": campaign_id, "name": name, "createdAt": iso(now) or ""}


async def create_line(db: D1Database, workspace_id: str, name: str, address: str, now: int) -> Line:
    line_id = messages.new_id()
    await db.prepare(_INSERT_LINE).bind(line_id, workspace_id, name, address, now).run()
    return {"id": line_id, "name": name, "address": address, "createdAt": iso(now) or ""}


def _message(row: Sequence[Any]) -> Message:
    (message_id, lead_uuid, contact, channel, direction, status, fallback, campaign_id, line_id, user_id, body,
     created_at, updated_at) = row
    return {"id": message_id, "leadId": lead_uuid, "contact": contact, "channel": channel, "direction": direction,
            "status": status, "fallbackSmsDispatched": bool(fallback), "campaignId": campaign_id, "lineId": line_id,
            "userId": user_id, "body": body, "createdAt": iso(created_at) or "", "updatedAt": iso(updated_at) or ""}


def _read_message(conn: sqlite3.Connection, workspace_id: str, message_id: str) -> Message:
    return _message(conn.execute(_MESSAGE, (message_id, workspace_id)).fetchone())


async def write_message(db: D1Database, workspace_id: str, given: MessageInput, now: int) -> Message:
    """Record an outbound message or a reply, resolving its contact to the workspace's lead.

    Raises NotFound for a campaign or line the workspace does not have and
    messages.MessageError for a message that cannot be recorded; either way nothing is written.
    """
    def write(conn: sqlite3.Connection) -> Message:
        for field, sql, value in (("campaignId", _CAMPAIGN_EXISTS, given.campaign_id),
                                  ("lineId", _LINE_EXISTS, given.line_id)):
            if value is not None and conn.execute(sql, (value, workspace_id)).fetchone() is None:
                raise NotFound(f"{field}: no such {'campaign' if field == 'campaignId' else 'line'} in this workspace")
        campaign_id, line_id, user_id = given.campaign_id, given.line_id, given.user_id
        email, phone_key = messages.contact_key(given.contact)
        key = email or phone_key
        if given.direction == "inbound" and key is not None and None in (campaign_id, line_id, user_id):
            answered = conn.execute(_ANSWERED, (workspace_id, key, given.created_at, campaign_id, line_id,
                                                user_id)).fetchone()
            if answered is not None:
                campaign_id, line_id, user_id = (mine or theirs for mine, theirs
                                                 in zip((campaign_id, line_id, user_id), answered))
        recorded = messages.record_message(conn, messages.NewMessage(
            workspace_id=workspace_id, contact=given.contact.strip(), channel=given.channel,
            direction=given.direction, created_at=given.created_at, status=given.status, body=given.body,
            campaign_id=campaign_id, line_id=line_id, user_id=user_id,
            fallback_sms_dispatched=given.fallback_sms_dispatched), now)
        return _read_message(conn, workspace_id, recorded.id)

    return await db.transaction(write)


async def move_message_status(db: D1Database, workspace_id: str, message_id: str, status: str,
                              fallback_sms_dispatched: bool, now: int) -> Message:
    """A delivery status callback (domain.messages.move_status); NotFound for a message the workspace lacks."""
    def move(conn: sqlite3.Connection) -> Message:
        if not messages.move_status(conn, workspace_id, message_id, status, now,
                                    fallback_sms_dispatched=fallback_sms_dispatched):
            raise NotFound("message: no such message in this workspace")
        return _read_message(conn, workspace_id, message_id)

    return await db.transaction(move)


async def set_conversation_tags(db: D1Database, workspace_id: str, lead_uuid: str, tags: Sequence[str],
                                now: int) -> Conversation:
    """Replace the tags of the conversation with a visible lead; NotFound when the workspace has no such lead."""
    kept = normalise_tags(tags)

    def write(conn: sqlite3.Connection) -> Conversation:
        row = conn.execute(_LEAD_BY_UUID, (lead_uuid, workspace_id)).fetchone()
        if row is None:
            raise NotFound("leadId: no such lead in this workspace")
        conn.execute(_CLEAR_TAGS, (row[0], workspace_id))
        conn.executemany(_INSERT_TAG, [(workspace_id, row[0], tag, now) for tag in kept])
        positive = conn.execute(_POSITIVE_LEAD, (row[0],)).fetchone()[0]
        return {"leadId": lead_uuid, "tags": kept, "positive": bool(positive)}

    return await db.transaction(write)


async def analytics(db: D1Database, workspace_id: str, flt: Filter) -> Analytics:
    """The whole answer of GET /api/analytics: the filter as applied, the metrics and the explainer."""
    given = {"campaignId": flt.campaign_id, "lineId": flt.line_id, "userId": flt.user_id,
             "dateFrom": iso(flt.date_from), "dateTo": iso(flt.date_to)}
    return {"success": True, "filter": {name: value for name, value in given.items() if value is not None},
            "metrics": await campaign_metrics(db, workspace_id, flt), "explainer": dict(EXPLAINER)}
