"""Action logs: what happened to a lead and what is waiting to happen, by type.

| type | meaning | feeds |
| --- | --- | --- |
| `API_ACTIVITY`, `AGENT_ACTIVITY`, `PORTAL_ACTIVITY`, `MANUAL_ACTIVITY` | a write to the lead record by source imported, agent, portal, manual | a manual write that changes lead or checklist fields is an intervention `manual_update` |
| `FOLLOW_UP` | a follow-up; PENDING (with `scheduledFor`) until done | the earliest PENDING one is `nextFollowUp`; once COMPLETED it is a follow-up (`is_follow_up`, migration 0004's view) |
| `MESSAGE_DRAFT` | a message awaiting approval (`message`: channel and body) | the oldest PENDING one is `nextDraft`; approving it (COMPLETED, draftState `approved` or `edited`) records the message as sent, rejecting it (CANCELLED) records it as a rejected draft |
| `ESCALATION` | a question for a human; PENDING until resolved | COMPLETED (resolved by a human): intervention `escalation` |
| `DOCUMENT_OVERRIDE` | a human accepts a document whose validation failed | COMPLETED: intervention `document_override`; completes the document's FILE item |
| `NOTE` | anything else worth keeping | nothing |

| rule | definition |
| --- | --- |
| status | `PENDING`, `COMPLETED`, `CANCELLED` or `FAILED`; only a PENDING action changes, once |
| lastAction | the latest of the lead's counted outbound messages (the view `lead_analytics_messages`) and its follow-up action logs (`is_follow_up`) |
| interventions | action logs by `intervention` (manual updates, document overrides, escalations); message edits and rejects are messages' `draft_state` (domain.lead_analytics) |
| order | newest first for the log (at most 100), `scheduledFor` then creation for what is next |
"""
from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

from domain import checklists, fields
from domain.dates import iso
from domain.fields import MISSING, FieldError
from domain.messages import MessageError, NewMessage, record_message
from storage.d1 import D1Database

WRITE_TYPES = {"imported": "API_ACTIVITY", "agent": "AGENT_ACTIVITY", "portal": "PORTAL_ACTIVITY",
               "manual": "MANUAL_ACTIVITY"}
POSTED_TYPES = ("FOLLOW_UP", "MESSAGE_DRAFT", "ESCALATION", "DOCUMENT_OVERRIDE", "NOTE")
STATUSES = ("PENDING", "COMPLETED", "CANCELLED", "FAILED")
DRAFT_CHANNELS = ("sms", "email", "whatsapp")
LOG_LIMIT = 100
MAX_TOOL_CALLS = 20
_INTERVENTIONS = {"ESCALATION": "escalation", "DOCUMENT_OVERRIDE": "document_override"}
_DEFAULT_STATUS = {"FOLLOW_UP": "PENDING", "MESSAGE_DRAFT": "PENDING", "ESCALATION": "PENDING",
                   "DOCUMENT_OVERRIDE": "COMPLETED", "NOTE": "COMPLETED"}


class ActionConflict(Exception):
    """An action that cannot change any more (it is no longer PENDING)."""


class ToolCall(TypedDict):
    name: str
    arguments: NotRequired[Any]
    result: NotRequired[Any]


class MessageJson(TypedDict):
    id: str
    channel: str
    direction: str
    status: str
    draftState: str | None
    body: str | None
    createdAt: str | None


class DraftJson(TypedDict):
    channel: str
    body: str


class ActionLogJson(TypedDict):
    id: str
    type: str
    status: str
    summary: str | None
    createdAt: str | None
    scheduledFor: NotRequired[str | None]
    toolCalls: NotRequired[list[ToolCall]]
    draft: NotRequired[DraftJson]
    message: NotRequired[MessageJson]
    document: NotRequired[Any]


_INSERT = (
    "INSERT INTO action_logs (id, workspace_id, lead_id, type, status, summary, intervention, is_follow_up, data,"
    " scheduled_for, created_at, source, message_id, document_id, updated_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _data(tool_calls: list[dict[str, Any]] | None, draft: dict[str, Any] | None) -> str | None:
    data = {key: value for key, value in (("toolCalls", tool_calls), ("draft", draft)) if value}
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")) if data else None


def log_write(conn: sqlite3.Connection, workspace_id: str, lead_id: int, source: str, summary: str, now: int, *,
              edit: bool = False, document_id: str | None = None) -> str:
    """The action log of a write to a lead record; a manual edit (`edit`) is an intervention."""
    action_id = str(uuid.uuid4())
    intervention = "manual_update" if edit and source == "manual" else None
    conn.execute(_INSERT, (action_id, workspace_id, lead_id, WRITE_TYPES[source], "COMPLETED", summary,
                           intervention, 0, None, None, now, source, None, document_id, now))
    return action_id


# --- posted actions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewAction:
    type: str
    status: str
    summary: str | None
    scheduled_for: int | None
    draft: dict[str, Any] | None
    document_id: str | None
    tool_calls: list[dict[str, Any]] | None
    source: str


_NEW_KEYS = ("type", "status", "summary", "scheduledFor", "message", "documentId", "toolCalls", "source")
_UPDATE_KEYS = ("status", "summary", "draftState", "body", "source", "toolCalls")


def source_of(body: Mapping[str, Any]) -> str:
    """Who makes a change: `imported` (the API) unless the caller declares agent, manual or portal."""
    return fields.choice(body["source"], "source", checklists.SOURCES) if body.get("source") is not None \
        else "imported"


def _tool_calls(raw: Any) -> list[dict[str, Any]] | None:
    if raw is None:
        return None
    calls = []
    for index, call in enumerate(fields.array(raw, "toolCalls", MAX_TOOL_CALLS)):
        where = f"toolCalls[{index}]"
        call = fields.obj(call, where)
        fields.no_unknown(call, ("name", "arguments", "result"), where)
        calls.append({"name": fields.text(call.get("name"), f"{where}.name", 100),
                      **{key: call[key] for key in ("arguments", "result") if key in call}})
    return calls or None


def parse_new(body: Mapping[str, Any]) -> NewAction:
    fields.no_unknown(body, _NEW_KEYS)
    kind = fields.choice(body.get("type"), "type", POSTED_TYPES)
    status = fields.choice(body["status"], "status", STATUSES) if body.get("status") is not None \
        else _DEFAULT_STATUS[kind]
    scheduled = fields.optional_instant(body.get("scheduledFor"), "scheduledFor")
    if kind == "FOLLOW_UP" and status == "PENDING" and scheduled is None:
        raise FieldError("scheduledFor", "is required for a pending FOLLOW_UP")
    draft = None
    if kind == "MESSAGE_DRAFT":
        if status != "PENDING":
            raise FieldError("status", "of a new MESSAGE_DRAFT must be PENDING (approve or reject it afterwards)")
        raw = fields.obj(body.get("message"), "message")
        fields.no_unknown(raw, ("channel", "body"), "message")
        draft = {"channel": fields.choice(raw.get("channel"), "message.channel", DRAFT_CHANNELS),
                 "body": fields.text(raw.get("body"), "message.body", 5000)}
    elif body.get("message") is not None:
        raise FieldError("message", "is only for a MESSAGE_DRAFT")
    document_id = None
    if body.get("documentId") is not None:
        document_id = fields.text(body["documentId"], "documentId", 64)
    if kind == "DOCUMENT_OVERRIDE" and document_id is None:
        raise FieldError("documentId", "is required for a DOCUMENT_OVERRIDE")
    summary = fields.optional_text(body.get("summary"), "summary", 1000)
    return NewAction(kind, status, summary, scheduled, draft, document_id, _tool_calls(body.get("toolCalls")),
                     source_of(body))


_DOCUMENT_OF_LEAD = "SELECT id, checklist_item_id FROM documents WHERE id = ? AND lead_id = ? AND workspace_id = ?"


def _contact(lead: Mapping[str, Any], channel: str, where: str) -> str:
    contact = lead["email"] if channel == "email" else lead["phone"]
    if not contact:
        raise FieldError(where, f"cannot be {channel}: the lead has no {'email' if channel == 'email' else 'phone number'}")
    return str(contact)


def create(conn: sqlite3.Connection, lead: Mapping[str, Any], action: NewAction, template: checklists.Template,
           now: int) -> str:
    """Record a posted action inside a write transaction; its id."""
    workspace_id, lead_id = lead["workspace_id"], lead["lead_id"]
    if action.draft is not None:
        _contact(lead, action.draft["channel"], "message.channel")
    item_id = None
    if action.document_id is not None:
        row = conn.execute(_DOCUMENT_OF_LEAD, (action.document_id, lead_id, workspace_id)).fetchone()
        if row is None:
            raise FieldError("documentId", "is not a document of this lead")
        item_id = row[1]
    action_id = str(uuid.uuid4())
    completed = action.status == "COMPLETED"
    intervention = _INTERVENTIONS.get(action.type) if completed else None
    conn.execute(_INSERT, (action_id, workspace_id, lead_id, action.type, action.status, action.summary, intervention,
                           int(completed and action.type == "FOLLOW_UP"), _data(action.tool_calls, action.draft),
                           action.scheduled_for, now, action.source, None, action.document_id, now))
    if completed and action.type == "DOCUMENT_OVERRIDE":
        _complete_document_item(conn, lead, template, item_id, action.source, now)
    return action_id


def _complete_document_item(conn: sqlite3.Connection, lead: Mapping[str, Any], template: checklists.Template,
                            item_id: str | None, source: str, now: int) -> None:
    item = next((i for i in template.items if i.id == item_id), None)
    if item is None:
        return
    values = checklists.lead_values_in(conn, lead["workspace_id"], lead["lead_id"])
    stored = values.get(item.id)
    if stored is None or stored.value is None or stored.status == "COMPLETED":
        return
    change = checklists.ValueChange(status="COMPLETED") if stored.status != "INVALID" else None
    if change is not None:
        checklists.apply_changes(conn, lead["workspace_id"], lead["lead_id"], template, {item.code.upper(): change},
                                 source, now)
        checklists.store_completion(conn, lead["workspace_id"], lead["lead_id"], template)


_ACTION = "SELECT id, type, status, data FROM action_logs WHERE id = ? AND lead_id = ? AND workspace_id = ?"
_UPDATE = (
    "UPDATE action_logs SET status = ?, summary = coalesce(?, summary), intervention = ?, is_follow_up = ?,"
    " data = coalesce(?, data), message_id = coalesce(?, message_id), source = ?, updated_at = ?"
    " WHERE id = ? AND workspace_id = ?"
)


def update(conn: sqlite3.Connection, lead: Mapping[str, Any], action_id: str, body: Mapping[str, Any],
           template: checklists.Template, now: int) -> bool:
    """Move a PENDING action to its outcome inside a write transaction; False when the lead has no such action.

    Raises ActionConflict when the action is no longer PENDING, FieldError for a bad body.
    """
    fields.no_unknown(body, _UPDATE_KEYS)
    row = conn.execute(_ACTION, (action_id, lead["lead_id"], lead["workspace_id"])).fetchone()
    if row is None:
        return False
    _, kind, status, data = row
    new_status = fields.choice(body.get("status"), "status", STATUSES)
    summary = fields.optional_text(body.get("summary"), "summary", 1000)
    source = source_of(body)
    tool_calls = _tool_calls(body.get("toolCalls"))
    if status != "PENDING":
        raise ActionConflict(f"Action is already {status}")
    if new_status == "PENDING":
        raise FieldError("status", "must be COMPLETED, CANCELLED or FAILED")
    draft_state = body.get("draftState", MISSING)
    edited_body = body.get("body", MISSING)
    message_id = None
    stored = json.loads(data) if data else {}
    if kind == "MESSAGE_DRAFT":
        message_id = _resolve_draft(conn, lead, stored.get("draft") or {}, new_status, draft_state, edited_body, now)
    elif draft_state is not MISSING or edited_body is not MISSING:
        raise FieldError("draftState" if draft_state is not MISSING else "body", "is only for a MESSAGE_DRAFT")
    completed = new_status == "COMPLETED"
    if tool_calls:
        stored["toolCalls"] = (stored.get("toolCalls") or []) + tool_calls
    conn.execute(_UPDATE, (new_status, summary, _INTERVENTIONS.get(kind) if completed else None,
                           int(completed and kind == "FOLLOW_UP"),
                           json.dumps(stored, ensure_ascii=False, separators=(",", ":")) if tool_calls else None,
                           message_id, source, now, action_id, lead["workspace_id"]))
    if completed and kind == "DOCUMENT_OVERRIDE":
        document = conn.execute("SELECT document_id FROM action_logs WHERE id = ?", (action_id,)).fetchone()
        item = conn.execute(_DOCUMENT_OF_LEAD, (document[0], lead["lead_id"], lead["workspace_id"])).fetchone() \
            if document and document[0] else None
        _complete_document_item(conn, lead, template, item[1] if item else None, source, now)
    return True


def _resolve_draft(conn: sqlite3.Connection, lead: Mapping[str, Any], draft: Mapping[str, Any], status: str,
                   draft_state: Any, edited_body: Any, now: int) -> str:
    """The message a decided draft becomes: sent (approved or edited) or kept as a rejected draft."""
    if status == "FAILED":
        raise FieldError("status", "of a MESSAGE_DRAFT is COMPLETED (approved) or CANCELLED (rejected)")
    text = draft.get("body")
    if status == "COMPLETED":
        state = "approved" if draft_state is MISSING else fields.choice(draft_state, "draftState",
                                                                         ("approved", "edited"))
        if edited_body is not MISSING:
            text = fields.text(edited_body, "body", 5000)
            if text != draft.get("body"):
                state = "edited"
        message_status = "sent"
    else:
        if draft_state is not MISSING and draft_state != "rejected":
            raise FieldError("draftState", "of a CANCELLED draft is rejected")
        if edited_body is not MISSING:
            raise FieldError("body", "is only for an approved draft")
        state, message_status = "rejected", "queued"
    channel = draft.get("channel", "sms")
    try:
        recorded = record_message(conn, NewMessage(
            workspace_id=lead["workspace_id"], contact=_contact(lead, channel, "message.channel"), channel=channel,
            direction="outbound", created_at=now, status=message_status, lead_id=lead["lead_id"], body=text,
            draft_state=state), now)
    except MessageError as error:
        raise FieldError("message", str(error)) from None
    return recorded.id


# --- reading -------------------------------------------------------------------------------------

_COLUMNS = "id, type, status, summary, data, scheduled_for, created_at, message_id, document_id"
_LOGS = (f"SELECT {_COLUMNS} FROM action_logs INDEXED BY action_logs_lead WHERE lead_id = ? AND workspace_id = ?"
         " ORDER BY created_at DESC, id DESC LIMIT ?")
_ONE = f"SELECT {_COLUMNS} FROM action_logs WHERE id = ? AND lead_id = ? AND workspace_id = ?"
_NEXT = (f"SELECT {_COLUMNS} FROM action_logs WHERE lead_id = ? AND workspace_id = ? AND type = ?"
         " AND status = 'PENDING' ORDER BY coalesce(scheduled_for, created_at), created_at, id LIMIT 1")
_LAST_FOLLOW_UP = (f"SELECT {_COLUMNS} FROM action_logs WHERE lead_id = ? AND workspace_id = ? AND is_follow_up != 0"
                   " ORDER BY created_at DESC, id DESC LIMIT 1")
_LAST_OUTBOUND = ("SELECT id, at FROM lead_analytics_messages WHERE lead_id = ? AND outbound"
                  " ORDER BY at DESC, id DESC LIMIT 1")
_MESSAGES = ("SELECT id, channel, direction, status, draft_state, body, created_at FROM messages"
             " WHERE workspace_id = ? AND id IN (SELECT value FROM json_each(?))")


@dataclass(frozen=True)
class LeadActions:
    logs: list[dict[str, Any]]
    last_action: dict[str, Any] | None  # an action log row, or {"message_id": ...} for a message
    next_follow_up: dict[str, Any] | None
    next_draft: dict[str, Any] | None


async def lead_actions(db: D1Database, workspace_id: str, lead_id: int) -> LeadActions:
    logs = (await db.prepare(_LOGS).bind(lead_id, workspace_id, LOG_LIMIT).all()).results
    follow_up = await db.prepare(_NEXT).bind(lead_id, workspace_id, "FOLLOW_UP").first()
    draft = await db.prepare(_NEXT).bind(lead_id, workspace_id, "MESSAGE_DRAFT").first()
    last_log = await db.prepare(_LAST_FOLLOW_UP).bind(lead_id, workspace_id).first()
    last_message = await db.prepare(_LAST_OUTBOUND).bind(lead_id).first()
    last: dict[str, Any] | None = last_log
    if last_message is not None and (last_log is None or last_message["at"] > last_log["created_at"]):
        last = {"message_id": last_message["id"]}
    return LeadActions(logs, last, follow_up, draft)


async def action_row(db: D1Database, workspace_id: str, lead_id: int, action_id: str) -> dict[str, Any] | None:
    return await db.prepare(_ONE).bind(action_id, lead_id, workspace_id).first()


async def messages_by_id(db: D1Database, workspace_id: str, ids: Sequence[str]) -> dict[str, MessageJson]:
    if not ids:
        return {}
    rows = (await db.prepare(_MESSAGES).bind(workspace_id, json.dumps(sorted(set(ids)))).all()).results
    return {row["id"]: message_json(row) for row in rows}


def message_json(row: Mapping[str, Any]) -> MessageJson:
    return {"id": row["id"], "channel": row["channel"], "direction": row["direction"], "status": row["status"],
            "draftState": row["draft_state"], "body": row["body"], "createdAt": iso(row["created_at"])}


def message_ids(actions: LeadActions) -> list[str]:
    rows = [*actions.logs, actions.last_action, actions.next_follow_up, actions.next_draft]
    return [row["message_id"] for row in rows if row is not None and row.get("message_id")]


def action_json(row: Mapping[str, Any], messages: Mapping[str, MessageJson], documents: Mapping[str, Any]
                ) -> ActionLogJson:
    """An action log as the lead record shows it; tool calls, the draft, its message and document when it has them."""
    found: ActionLogJson = {"id": row["id"], "type": row["type"], "status": row["status"], "summary": row["summary"],
                            "createdAt": iso(row["created_at"])}
    if row.get("scheduled_for") is not None:
        found["scheduledFor"] = iso(row["scheduled_for"])
    data = json.loads(row["data"]) if row.get("data") else {}
    if isinstance(data, dict):
        if data.get("toolCalls"):
            found["toolCalls"] = data["toolCalls"]
        if data.get("draft"):
            found["draft"] = data["draft"]
    if row.get("message_id") in messages:
        found["message"] = messages[row["message_id"]]
    if row.get("document_id") in documents:
        found["document"] = documents[row["document_id"]]
    return found


def last_action_json(last: Mapping[str, Any] | None, messages: Mapping[str, MessageJson],
                     documents: Mapping[str, Any]) -> ActionLogJson | None:
    """`lastAction`: a follow-up action log, or an outbound message shown as a completed MESSAGE action."""
    if last is None:
        return None
    if "type" in last:
        return action_json(last, messages, documents)
    message = messages.get(last["message_id"])
    if message is None:
        return None
    return {"id": message["id"], "type": "MESSAGE", "status": "COMPLETED",
            "summary": f"Outbound {message['channel']} message", "createdAt": message["createdAt"],
            "message": message}
