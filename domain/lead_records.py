"""Lead records: the v1 lead shape (camelCase, UUID `id`) and the writes that fill it.

| rule | definition |
| --- | --- |
| one lead | the same `leads` rows every surface reads; a lead from a tracking form or a message is a lead record too (its UUID `id`) |
| visible | as domain.leads: a deleted lead is 404 to every read and write |
| new lead | `source` `api`; names also fill `contact_name`, so the dashboard's CRM shows them; a lead needs a name, a contact, a business name or an external id |
| names of older leads | a lead with no first or last name shows its `contact_name` split at the first space |
| email, phoneNumber | must be an email address / a phone number (7 to 15 digits); kept normalised for matching (domain.leads) |
| externalLeadId | unique among the workspace's visible leads: a second one is 409 |
| who | every write records its source: `imported` unless the body says `agent`, `manual` or `portal` |
| a write's log | one action log per write that changes something ("Lead created", "Lead updated: firstName, checklist.X") |
| submit, didOptOut | `submit: true` sets `submittedAt` (first time only), `false` clears it; `didOptOut: true` sets the opt-out time (first time only), `false` clears it |
| deleted | `deleted: true` soft-deletes: the answer shows `deletedAt`, every later request is 404 |
| matchingLeads | other visible, non-test leads with the same email or phone (domain.leads); none for a test lead |
| checklistItems | the workspace's template in checklist order, each item with the lead's value (`id` null until the lead has one); FILE items list their documents |
| messages | posted for a lead go to its phone (sms, whatsapp) or email, through domain.messages |
"""
from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

from domain import actions, checklists, documents, fields, leads
from domain.actions import ActionLogJson, MessageJson
from domain.checklists import ChecklistItemJson, Template
from domain.dates import iso
from domain.documents import DocumentJson
from domain.fields import MISSING, FieldError
from domain.messages import (
    DIRECTIONS,
    INBOUND_STATUS,
    OUTBOUND_STATUSES,
    MessageError,
    NewMessage,
    record_message,
)
from storage.d1 import D1Database
from storage.r2 import R2Bucket, R2Error

LEAD_SOURCE = "api"
ASSIGNEE_TYPES = ("AI_AGENT", "HUMAN_AGENT")
MESSAGE_CHANNELS = ("sms", "email", "whatsapp")
MESSAGE_DRAFT_STATES = ("approved", "edited", "rejected")


class RecordConflict(Exception):
    """A write that would break a uniqueness rule (externalLeadId)."""


class UploadRejected(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# --- the shape ------------------------------------------------------------------------------------


class LeadJson(TypedDict):
    id: str
    activitySummary: str | None
    assigneeType: str
    businessName: str | None
    createdAt: str | None
    deletedAt: str | None
    didOptOut: bool
    email: str | None
    emailVerifiedAt: str | None
    externalLeadId: str | None
    externalPortalLink: str | None
    firstName: str | None
    isTest: bool
    lastName: str | None
    phoneNumber: str | None
    phoneVerifiedAt: str | None
    source: str
    submittedAt: str | None
    updatedAt: str | None
    website: str | None
    workspaceId: str


class LeadItemJson(TypedDict):
    id: str | None
    checklistItemId: str
    value: Any
    status: str
    itemOverride: dict[str, Any] | None
    checklistItem: ChecklistItemJson
    reason: NotRequired[str]
    documents: NotRequired[list[DocumentJson]]


class LeadGroupJson(TypedDict):
    id: str | None
    name: str | None
    conditions: list[dict[str, Any]] | None
    items: list[LeadItemJson]


class LeadRecord(TypedDict):
    lead: LeadJson
    status: str
    checklistItems: list[LeadGroupJson]
    documents: list[DocumentJson]
    actionLogs: list[ActionLogJson]
    matchingLeads: list[LeadJson]
    lastAction: ActionLogJson | None
    nextFollowUp: ActionLogJson | None
    nextDraft: ActionLogJson | None


def names(first: str | None, last: str | None, contact_name: str | None) -> tuple[str | None, str | None]:
    """First and last name; a lead with neither shows its contact name split at the first space."""
    if first is None and last is None and contact_name:
        first, _, rest = contact_name.strip().partition(" ")
        return first or None, rest.strip() or None
    return first, last


def split_name(row: Mapping[str, Any]) -> tuple[str | None, str | None]:
    return names(row["first_name"], row["last_name"], row["contact_name"])


def lead_json(row: Mapping[str, Any]) -> LeadJson:
    first, last = split_name(row)
    return {
        "id": row["id"], "activitySummary": row["activity_summary"], "assigneeType": row["assignee_type"],
        "businessName": row["business_name"], "createdAt": iso(row["created_at"]), "deletedAt": iso(row["deleted_at"]),
        "didOptOut": row["opted_out_at"] is not None, "email": row["email"],
        "emailVerifiedAt": iso(row["email_verified_at"]), "externalLeadId": row["external_lead_id"],
        "externalPortalLink": row["external_portal_link"], "firstName": first, "isTest": bool(row["is_test"]),
        "lastName": last, "phoneNumber": row["phone"], "phoneVerifiedAt": iso(row["phone_verified_at"]),
        "source": row["source"], "submittedAt": iso(row["submitted_at"]), "updatedAt": iso(row["updated_at"]),
        "website": row["website"], "workspaceId": row["workspace_id"],
    }


def checklist_json(template: Template, values: Mapping[str, checklists.StoredValue],
                   files: Mapping[str, list[DocumentJson]]) -> list[LeadGroupJson]:
    found: list[LeadGroupJson] = []
    for group, items in template.grouped():
        listed: list[LeadItemJson] = []
        for item in items:
            stored = values.get(item.id)
            entry: LeadItemJson = {
                "id": stored.id if stored else None, "checklistItemId": item.id,
                "value": stored.value if stored else None, "status": stored.status if stored else "TODO",
                "itemOverride": stored.item_override if stored else None, "checklistItem": checklists.item_json(item)}
            if stored is not None and stored.reason:
                entry["reason"] = stored.reason
            if item.field_type == "FILE":
                entry["documents"] = files.get(item.id, [])
            listed.append(entry)
        found.append({"id": group.id if group else None, "name": group.name if group else None,
                      "conditions": group.raw_conditions if group else None, "items": listed})
    return found


# --- reading --------------------------------------------------------------------------------------

_LEAD = f"SELECT * FROM leads WHERE id = ? AND workspace_id = ? AND {leads.VISIBLE}"
_LEAD_ANY = "SELECT * FROM leads WHERE lead_id = ? AND workspace_id = ?"


async def find_lead(db: D1Database, workspace_id: str, lead_uuid: str) -> dict[str, Any] | None:
    """A visible lead's row by its UUID."""
    return await db.prepare(_LEAD).bind(lead_uuid, workspace_id).first()


async def read_record(db: D1Database, bucket: R2Bucket, workspace_id: str, lead_uuid: str) -> LeadRecord | None:
    """A visible lead's full record, or None when the workspace has no such lead."""
    row = await find_lead(db, workspace_id, lead_uuid)
    return None if row is None else await _record(db, bucket, row)


async def _record_by_id(db: D1Database, bucket: R2Bucket, workspace_id: str, lead_id: int) -> LeadRecord:
    row = await db.prepare(_LEAD_ANY).bind(lead_id, workspace_id).first()
    assert row is not None
    return await _record(db, bucket, row)


async def _record(db: D1Database, bucket: R2Bucket, row: Mapping[str, Any]) -> LeadRecord:
    workspace_id, lead_id = row["workspace_id"], row["lead_id"]
    template, values, docs, lead_actions, matches = await asyncio.gather(
        checklists.read_template(db, workspace_id), checklists.lead_values(db, workspace_id, lead_id),
        documents.lead_documents(db, bucket, workspace_id, lead_id), actions.lead_actions(db, workspace_id, lead_id),
        _matches(db, row))
    messages = await actions.messages_by_id(db, workspace_id, actions.message_ids(lead_actions))
    by_id: dict[str, Any] = {doc["id"]: doc for doc in docs}
    files: dict[str, list[DocumentJson]] = {}
    for doc in docs:
        if doc["checklistItemId"]:
            files.setdefault(doc["checklistItemId"], []).append(doc)
    evaluation = checklists.evaluate(template, values)

    def shown(action: Mapping[str, Any] | None) -> ActionLogJson | None:
        return None if action is None else actions.action_json(action, messages, by_id)

    return {
        "lead": lead_json(row),
        "status": checklists.lead_status(evaluation, row["submitted_at"], row["opted_out_at"]),
        "checklistItems": checklist_json(template, values, files),
        "documents": docs,
        "actionLogs": [actions.action_json(log, messages, by_id) for log in lead_actions.logs],
        "matchingLeads": matches,
        "lastAction": actions.last_action_json(lead_actions.last_action, messages, by_id),
        "nextFollowUp": shown(lead_actions.next_follow_up),
        "nextDraft": shown(lead_actions.next_draft),
    }


async def _matches(db: D1Database, row: Mapping[str, Any]) -> list[LeadJson]:
    if row["is_test"]:
        return []
    found = await leads.matching_leads(db, row["workspace_id"], row["lead_id"], row["email_norm"], row["phone_norm"])
    return [lead_json(match) for match in found if not match["is_test"]]


# --- writing the lead -----------------------------------------------------------------------------

_COLUMNS: dict[str, tuple[str, Callable[[Any, str], Any]]] = {
    "firstName": ("first_name", lambda v, f: fields.optional_text(v, f, 100)),
    "lastName": ("last_name", lambda v, f: fields.optional_text(v, f, 100)),
    "businessName": ("business_name", lambda v, f: fields.optional_text(v, f, 200)),
    "website": ("website", lambda v, f: fields.optional_text(v, f, 500)),
    "externalLeadId": ("external_lead_id", lambda v, f: fields.optional_text(v, f, 200)),
    "externalPortalLink": ("external_portal_link", lambda v, f: fields.optional_text(v, f, 2000)),
    "activitySummary": ("activity_summary", lambda v, f: fields.optional_text(v, f, 5000)),
    "assigneeType": ("assignee_type", lambda v, f: fields.choice(v, f, ASSIGNEE_TYPES)),
    "isTest": ("is_test", lambda v, f: int(fields.boolean(v, f))),
    "emailVerifiedAt": ("email_verified_at", fields.optional_instant),
    "phoneVerifiedAt": ("phone_verified_at", fields.optional_instant),
}
_COLUMN_OF = {**{name: column for name, (column, _) in _COLUMNS.items()}, "email": "email", "phoneNumber": "phone"}
_CONTROL = ("email", "phoneNumber", "checklist", "source", "submit", "didOptOut")
_IDENTIFYING = ("firstName", "lastName", "email", "phoneNumber", "businessName", "externalLeadId")


@dataclass(frozen=True)
class LeadChanges:
    columns: dict[str, Any]  # column -> value, for the columns the body names
    names: list[str]  # the body's names for them, in body order
    checklist: dict[str, checklists.ValueChange]
    source: str
    submit: bool | None
    opt_out: bool | None
    delete: bool


def parse_lead(body: Mapping[str, Any], *, patch: bool) -> LeadChanges:
    """A POST or PATCH body of a lead record; FieldError for the first bad field."""
    fields.no_unknown(body, (*_COLUMNS, *_CONTROL, *(("deleted",) if patch else ())))
    columns: dict[str, Any] = {}
    names: list[str] = []
    for name, value in body.items():
        if name in _COLUMNS:
            column, read = _COLUMNS[name]
            if value is None and name in ("assigneeType", "isTest"):
                raise FieldError(name, "cannot be null")
            columns[column] = read(value, name)
            names.append(name)
        elif name == "email":
            email = fields.optional_text(value, name, 320)
            if email is not None and leads.normalise_email(email) is None:
                raise FieldError(name, "must be an email address")
            columns["email"] = email
            names.append(name)
        elif name == "phoneNumber":
            phone = fields.optional_text(value, name, 40)
            if phone is not None and leads.normalise_phone(phone) is None:
                raise FieldError(name, "must be a phone number (7 to 15 digits)")
            columns["phone"] = phone
            names.append(name)
    if not patch and not any(body.get(name) is not None for name in _IDENTIFYING):
        raise FieldError("body", f"must give at least one of: {', '.join(_IDENTIFYING)}")
    deleted = body.get("deleted", MISSING)
    if deleted is not MISSING and deleted is not True:
        raise FieldError("deleted", "can only be true (a deleted lead cannot come back)")
    return LeadChanges(
        columns, names, checklists.parse_changes(body.get("checklist")), actions.source_of(body),
        None if body.get("submit") is None else fields.boolean(body["submit"], "submit"),
        None if body.get("didOptOut") is None else fields.boolean(body["didOptOut"], "didOptOut"),
        deleted is True)


def _dict_row(cursor: sqlite3.Cursor) -> dict[str, Any] | None:
    row = cursor.fetchone()
    return None if row is None else dict(zip([c[0] for c in cursor.description], row))


_EXTERNAL = (f"SELECT lead_id FROM leads WHERE workspace_id = ? AND external_lead_id = ? AND {leads.VISIBLE}"
             " AND lead_id != ? LIMIT 1")


def _check_external(conn: sqlite3.Connection, workspace_id: str, external_id: Any, lead_id: int) -> None:
    if external_id is not None and conn.execute(_EXTERNAL, (workspace_id, external_id, lead_id)).fetchone():
        raise RecordConflict("A lead with this externalLeadId already exists")


def _contact_columns(columns: dict[str, Any]) -> dict[str, Any]:
    """email and phone as stored: as given beside their normalised match keys (domain.leads)."""
    found = dict(columns)
    if "email" in columns:
        found["email_norm"] = leads.normalise_email(columns["email"])
    if "phone" in columns:
        phone = leads.normalise_phone(columns["phone"])
        found["phone"] = phone
        found["phone_norm"] = leads.phone_match_key(phone) if phone else None
    return found


def _contact_name(first: str | None, last: str | None) -> str | None:
    return " ".join(part for part in (first, last) if part) or None


def _set(conn: sqlite3.Connection, lead_id: int, workspace_id: str, values: Mapping[str, Any]) -> None:
    # Column names come from _COLUMNS and _contact_columns only, never from input.
    assignments = ", ".join(f"{column} = ?" for column in values)
    conn.execute(f"UPDATE leads SET {assignments} WHERE lead_id = ? AND workspace_id = ?",
                 (*values.values(), lead_id, workspace_id))


def _create(conn: sqlite3.Connection, workspace_id: str, change: LeadChanges, now: int) -> int:
    _check_external(conn, workspace_id, change.columns.get("external_lead_id"), -1)
    columns = dict(change.columns)
    email, phone = columns.pop("email", None), columns.pop("phone", None)
    first, last = columns.get("first_name"), columns.get("last_name")
    creatable = {column: columns.pop(column) for column in list(columns)
                 if column in ("first_name", "last_name", "business_name", "website", "external_lead_id", "is_test")}
    lead_id = leads.create_lead(conn, workspace_id, now, email=email, phone=phone, source=LEAD_SOURCE,
                                contact_name=_contact_name(first, last), **creatable)
    later = {**columns, **({"submitted_at": now} if change.submit else {}),
             **({"opted_out_at": now} if change.opt_out else {})}
    if later:
        _set(conn, lead_id, workspace_id, later)
    template = checklists.template_in(conn, workspace_id)
    checklists.apply_changes(conn, workspace_id, lead_id, template, change.checklist, change.source, now)
    checklists.store_completion(conn, workspace_id, lead_id, template)
    actions.log_write(conn, workspace_id, lead_id, change.source, "Lead created", now)
    return lead_id


def _update(conn: sqlite3.Connection, lead: Mapping[str, Any], change: LeadChanges, now: int) -> None:
    workspace_id, lead_id = lead["workspace_id"], lead["lead_id"]
    if "external_lead_id" in change.columns:
        _check_external(conn, workspace_id, change.columns["external_lead_id"], lead_id)
    wanted = _contact_columns(change.columns)
    values = {column: value for column, value in wanted.items() if lead[column] != value}
    if "first_name" in values or "last_name" in values:
        first, last = split_name({**lead, **values})
        values["contact_name"] = _contact_name(first, last)
    changed = [name for name in change.names if _COLUMN_OF[name] in values]
    flags = {
        "submitted_at": (change.submit, "submit"), "opted_out_at": (change.opt_out, "didOptOut"),
    }
    for column, (wish, name) in flags.items():
        if wish is True and lead[column] is None:
            values[column] = now
            changed.append(name)
        elif wish is False and lead[column] is not None:
            values[column] = None
            changed.append(name)
    template = checklists.template_in(conn, workspace_id)
    codes = checklists.apply_changes(conn, workspace_id, lead_id, template, change.checklist, change.source, now)
    changed += [f"checklist.{code}" for code in codes]
    if change.delete:
        values["deleted_at"] = now
        changed.append("deleted")
    if not changed:
        return
    _set(conn, lead_id, workspace_id, {**values, "updated_at": now})
    if codes:
        checklists.store_completion(conn, workspace_id, lead_id, template)
    actions.log_write(conn, workspace_id, lead_id, change.source, "Lead updated: " + ", ".join(changed), now,
                      edit=any(name != "deleted" for name in changed))


def create_in(conn: sqlite3.Connection, workspace_id: str, body: Mapping[str, Any], now: int) -> int:
    """Create a lead record from a POST body inside a write transaction; its integer id."""
    return _create(conn, workspace_id, parse_lead(body, patch=False), now)


def update_in(conn: sqlite3.Connection, workspace_id: str, lead_uuid: str, body: Mapping[str, Any], now: int
              ) -> int | None:
    """Apply a PATCH body inside a write transaction; the lead's integer id, None for no such lead."""
    change = parse_lead(body, patch=True)
    lead = _dict_row(conn.execute(_LEAD, (lead_uuid, workspace_id)))
    if lead is None:
        return None
    _update(conn, lead, change, now)
    return int(lead["lead_id"])


async def create_record(db: D1Database, bucket: R2Bucket, workspace_id: str, body: Mapping[str, Any], now: int
                        ) -> LeadRecord:
    lead_id = await db.transaction(lambda conn: create_in(conn, workspace_id, body, now))
    return await _record_by_id(db, bucket, workspace_id, lead_id)


async def update_record(db: D1Database, bucket: R2Bucket, workspace_id: str, lead_uuid: str, body: Mapping[str, Any],
                        now: int) -> LeadRecord | None:
    """Apply a PATCH; the record as it now stands (with `deletedAt` after a delete), None for no such lead."""
    lead_id = await db.transaction(lambda conn: update_in(conn, workspace_id, lead_uuid, body, now))
    return None if lead_id is None else await _record_by_id(db, bucket, workspace_id, lead_id)


# --- messages -------------------------------------------------------------------------------------

_MESSAGE_KEYS = ("channel", "direction", "body", "createdAt", "status", "draftState")


def message_in(conn: sqlite3.Connection, workspace_id: str, lead_uuid: str, body: Mapping[str, Any], now: int
               ) -> str | None:
    """Record a message to or from the lead's contact inside a write transaction; its id, None for no such lead."""
    fields.no_unknown(body, _MESSAGE_KEYS)
    channel = fields.choice(body.get("channel"), "channel", MESSAGE_CHANNELS)
    direction = fields.choice(body.get("direction"), "direction", DIRECTIONS)
    text = fields.text(body.get("body"), "body", 5000)
    created_at = now if body.get("createdAt") is None else fields.instant(body["createdAt"], "createdAt")
    statuses = OUTBOUND_STATUSES if direction == "outbound" else (INBOUND_STATUS,)
    status = None if body.get("status") is None else fields.choice(body["status"], "status", statuses)
    draft_state = None
    if body.get("draftState") is not None:
        if direction != "outbound":
            raise FieldError("draftState", "is only for an outbound message (an AI draft)")
        draft_state = fields.choice(body["draftState"], "draftState", MESSAGE_DRAFT_STATES)
    lead = _dict_row(conn.execute(_LEAD, (lead_uuid, workspace_id)))
    if lead is None:
        return None
    contact = lead["email"] if channel == "email" else lead["phone"]
    if not contact:
        raise FieldError("channel", f"cannot be {channel}: the lead has no "
                                    f"{'email' if channel == 'email' else 'phone number'}")
    try:
        return record_message(conn, NewMessage(
            workspace_id=workspace_id, contact=contact, channel=channel, direction=direction, created_at=created_at,
            status=status, lead_id=lead["lead_id"], body=text, draft_state=draft_state), now).id
    except MessageError as error:
        raise FieldError("body", str(error)) from None


async def post_message(db: D1Database, workspace_id: str, lead_uuid: str, body: Mapping[str, Any], now: int
                       ) -> MessageJson | None:
    """Record a message to or from the lead's contact; None when the workspace has no such lead."""
    message_id = await db.transaction(lambda conn: message_in(conn, workspace_id, lead_uuid, body, now))
    if message_id is None:
        return None
    return (await actions.messages_by_id(db, workspace_id, [message_id]))[message_id]


# --- actions --------------------------------------------------------------------------------------


async def _action(db: D1Database, bucket: R2Bucket, workspace_id: str, lead_id: int, action_id: str
                  ) -> ActionLogJson:
    row = await actions.action_row(db, workspace_id, lead_id, action_id)
    assert row is not None
    messages = await actions.messages_by_id(db, workspace_id, [row["message_id"]] if row["message_id"] else [])
    docs = await documents.documents_by_id(db, bucket, workspace_id, [row["document_id"]] if row["document_id"] else [])
    return actions.action_json(row, messages, docs)


def action_in(conn: sqlite3.Connection, workspace_id: str, lead_uuid: str, body: Mapping[str, Any], now: int
              ) -> tuple[int, str] | None:
    """Log a posted action inside a write transaction; (lead id, action id), None for no such lead."""
    action = actions.parse_new(body)
    lead = _dict_row(conn.execute(_LEAD, (lead_uuid, workspace_id)))
    if lead is None:
        return None
    return lead["lead_id"], actions.create(conn, lead, action, checklists.template_in(conn, workspace_id), now)


def decide_in(conn: sqlite3.Connection, workspace_id: str, lead_uuid: str, action_id: str, body: Mapping[str, Any],
              now: int) -> int | None:
    """Decide a PENDING action inside a write transaction; the lead's id, None when the lead or action is not there."""
    lead = _dict_row(conn.execute(_LEAD, (lead_uuid, workspace_id)))
    if lead is None:
        return None
    template = checklists.template_in(conn, workspace_id)
    return lead["lead_id"] if actions.update(conn, lead, action_id, body, template, now) else None


async def post_action(db: D1Database, bucket: R2Bucket, workspace_id: str, lead_uuid: str, body: Mapping[str, Any],
                      now: int) -> ActionLogJson | None:
    created = await db.transaction(lambda conn: action_in(conn, workspace_id, lead_uuid, body, now))
    return None if created is None else await _action(db, bucket, workspace_id, *created)


async def patch_action(db: D1Database, bucket: R2Bucket, workspace_id: str, lead_uuid: str, action_id: str,
                       body: Mapping[str, Any], now: int) -> ActionLogJson | None:
    """Decide a PENDING action; None when the lead or the action is not there."""
    lead_id = await db.transaction(lambda conn: decide_in(conn, workspace_id, lead_uuid, action_id, body, now))
    return None if lead_id is None else await _action(db, bucket, workspace_id, lead_id, action_id)


# --- documents ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    filename: str | None
    content_type: str
    data: bytes


async def add_document(db: D1Database, bucket: R2Bucket, workspace_id: str, lead_uuid: str, upload: Upload,
                       item_code: str | None, source: str, now: int) -> DocumentJson | None:
    """Keep an uploaded document in R2 and on the lead (and its FILE item); None when there is no such lead.

    The object is written first and removed again if the database write fails, so a refused or
    failed upload leaves nothing behind.
    """
    lead = await find_lead(db, workspace_id, lead_uuid)
    if lead is None:
        return None
    template = await checklists.read_template(db, workspace_id)
    item = None
    if item_code is not None:
        item = template.by_code.get(item_code.upper())
        if item is None or item.field_type != "FILE":
            raise FieldError("checklistItemCode", "must be the code of a FILE item of this workspace's checklist")
    refused = documents.problem(upload.content_type, upload.data[:64], len(upload.data),
                                item.validation_rules if item else None)
    if refused is not None:
        raise UploadRejected(*refused)
    document_id = str(uuid.uuid4())
    filename = documents.safe_filename(upload.filename)
    key = documents.key_for(workspace_id, lead_uuid, document_id)
    await bucket.put(key, upload.data, http_metadata={"contentType": upload.content_type,
                                                      "contentDisposition": documents.disposition(filename)},
                     custom_metadata={"workspace_id": workspace_id, "lead_id": lead_uuid, "document_id": document_id})

    def run(conn: sqlite3.Connection) -> bool:
        current = _dict_row(conn.execute(_LEAD, (lead_uuid, workspace_id)))
        if current is None:  # deleted while the upload ran
            return False
        lead_id = current["lead_id"]
        conn.execute(documents.INSERT, (document_id, workspace_id, lead_id, item.id if item else None, key, filename,
                                        upload.content_type, len(upload.data), source, now))
        if item is not None:
            fresh = checklists.template_in(conn, workspace_id)
            checklists.apply_changes(conn, workspace_id, lead_id, fresh,
                                     {item.code.upper(): checklists.ValueChange(documents.uri(bucket, key))}, source,
                                     now)
            checklists.store_completion(conn, workspace_id, lead_id, fresh)
        summary = f"Document uploaded: {filename}" + (f" (checklist.{item.code})" if item else "")
        actions.log_write(conn, workspace_id, lead_id, source, summary, now, edit=item is not None,
                          document_id=document_id)
        return True

    try:
        stored = await db.transaction(run)
    except BaseException:
        with contextlib.suppress(R2Error):
            await bucket.delete(key)
        raise
    if not stored:
        with contextlib.suppress(R2Error):
            await bucket.delete(key)
        return None
    return (await documents.documents_by_id(db, bucket, workspace_id, [document_id]))[document_id]
