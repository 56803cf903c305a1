"""Lead records, `/api/v1/leads/*` and `/api/v1/checklist`, as lead-detail-api.md speaks.

`GET /api/v1/leads/{leadId}` is the document's; the writes that fill it are ours, in the same
dialect (handlers.lead_dialect) and marked as extensions in the OpenAPI document:

- `POST /api/v1/leads`, `PATCH /api/v1/leads/{leadId}`: lead fields, checklist values by code,
  `submit`, `didOptOut`, `deleted`, `source`; both answer with the GET shape (201 for a POST).
- `POST /api/v1/leads/{leadId}/messages`, `/documents` (multipart), `/actions` and
  `PATCH /api/v1/leads/{leadId}/actions/{actionId}`.
- `GET` and `PUT /api/v1/checklist`: the workspace's checklist template.

The rules live in domain.lead_records, domain.checklists, domain.actions and domain.documents.
"""
from __future__ import annotations

from typing import Any

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from domain import checklists, documents, lead_records
from domain.actions import ActionLogJson, MessageJson, source_of
from domain.checklists import TemplateJson
from domain.documents import DocumentJson
from domain.fields import FieldError
from domain.lead_records import LeadRecord, Upload
from handlers.lead_dialect import DIALECT, domain_errors, json_object
from handlers.params import Pattern
from handlers.surface import ApiError, Call, Surface
from runtime import now_ms

LEAD_NOT_FOUND = "Lead not found"
ACTION_NOT_FOUND = "Action not found"

api = Surface(DIALECT, prefixes=("/api/v1/leads", "/api/v1/leads/{path:path}", "/api/v1/checklist",
                                 "/api/v1/checklist/{path:path}"))

LEAD_ID = Pattern(name="leadId", location="path", pattern=r"[A-Za-z0-9_-]{1,64}", format="a lead id",
                  arg="lead_id", description="The lead's id (a UUID)")
ACTION_ID = Pattern(name="actionId", location="path", pattern=r"[A-Za-z0-9_-]{1,64}", format="an action id",
                    arg="action_id", description="The action log's id")


def _found(record: Any, message: str = LEAD_NOT_FOUND) -> Any:
    if record is None:
        raise ApiError(404, message)
    return record


async def get_lead(call: Call, lead_id: str) -> LeadRecord:
    return _found(await lead_records.read_record(call.env.DB, call.env.DOCUMENTS, call.workspace_id, lead_id))


async def create_lead(call: Call) -> LeadRecord:
    body = await json_object(call)
    with domain_errors():
        return await lead_records.create_record(call.env.DB, call.env.DOCUMENTS, call.workspace_id, body, now_ms())


async def update_lead(call: Call, lead_id: str) -> LeadRecord:
    body = await json_object(call)
    with domain_errors():
        return _found(await lead_records.update_record(call.env.DB, call.env.DOCUMENTS, call.workspace_id, lead_id,
                                                       body, now_ms()))


async def post_message(call: Call, lead_id: str) -> MessageJson:
    body = await json_object(call)
    with domain_errors():
        return _found(await lead_records.post_message(call.env.DB, call.workspace_id, lead_id, body, now_ms()))


async def post_action(call: Call, lead_id: str) -> ActionLogJson:
    body = await json_object(call)
    with domain_errors():
        return _found(await lead_records.post_action(call.env.DB, call.env.DOCUMENTS, call.workspace_id, lead_id,
                                                     body, now_ms()))


async def patch_action(call: Call, lead_id: str, action_id: str) -> ActionLogJson:
    body = await json_object(call)
    with domain_errors():
        found = await lead_records.patch_action(call.env.DB, call.env.DOCUMENTS, call.workspace_id, lead_id,
                                                action_id, body, now_ms())
    return _found(found, ACTION_NOT_FOUND)


_UPLOAD_FIELDS = ("file", "checklistItemCode", "source")
MULTIPART_OVERHEAD = 64 * 1024  # boundaries, part headers and the two short text fields


async def _upload(call: Call) -> tuple[Upload, str | None, str]:
    """The multipart form: one `file`, an optional `checklistItemCode` and `source`."""
    if not call.request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise ApiError(415, "Upload a document as multipart/form-data with a file field")
    try:
        form = await call.request.form(max_files=1, max_fields=len(_UPLOAD_FIELDS), max_part_size=1024)
    except HTTPException as error:
        raise ApiError(error.status_code, str(error.detail)) from None
    unknown = [name for name in form if name not in _UPLOAD_FIELDS]
    if unknown:
        raise FieldError(unknown[0], f"is not a known field (expected one of: {', '.join(_UPLOAD_FIELDS)})")
    file = form.get("file")
    if not isinstance(file, UploadFile):
        raise FieldError("file", "is required: the document, as a file part")
    data = await file.read(documents.MAX_BYTES + 1)
    code = form.get("checklistItemCode")
    source = form.get("source")
    if isinstance(code, UploadFile) or isinstance(source, UploadFile):
        raise FieldError("checklistItemCode" if isinstance(code, UploadFile) else "source", "must be text")
    content_type = (file.content_type or "").split(";")[0].strip().lower()
    return (Upload(file.filename, content_type, data), code or None,
            source_of({"source": source or None}))


async def post_document(call: Call, lead_id: str) -> DocumentJson:
    db, bucket = call.env.DB, call.env.DOCUMENTS
    _found(await lead_records.find_lead(db, call.workspace_id, lead_id))
    with domain_errors():
        upload, code, source = await _upload(call)
        stored = await lead_records.add_document(db, bucket, call.workspace_id, lead_id, upload, code, source,
                                                 now_ms())
    return _found(stored)


async def get_checklist(call: Call) -> TemplateJson:
    return await checklists.template_document(call.env.DB, call.workspace_id)


async def put_checklist(call: Call) -> TemplateJson:
    body = await json_object(call)
    with domain_errors():
        return await checklists.put_template(call.env.DB, call.workspace_id, body, now_ms())


_HAS_BUSINESS_NAME = {"item": "business_name", "exists": True}
LEAD_EXAMPLE = {
    "firstName": "John", "lastName": "Doe", "email": "john@example.com", "phoneNumber": "+16782319992",
    "businessName": "Pacific Coast Container Haulers", "checklist": {"business_name": "Pacific Coast Container Haulers"},
}
LEAD_BODY = {"type": "object", "properties": {
    "firstName": {"type": ["string", "null"]}, "lastName": {"type": ["string", "null"]},
    "email": {"type": ["string", "null"], "format": "email"}, "phoneNumber": {"type": ["string", "null"]},
    "businessName": {"type": ["string", "null"]}, "website": {"type": ["string", "null"]},
    "externalLeadId": {"type": ["string", "null"]}, "externalPortalLink": {"type": ["string", "null"]},
    "activitySummary": {"type": ["string", "null"]}, "assigneeType": {"enum": ["AI_AGENT", "HUMAN_AGENT"]},
    "isTest": {"type": "boolean"}, "emailVerifiedAt": {"type": ["string", "null"], "format": "date-time"},
    "phoneVerifiedAt": {"type": ["string", "null"], "format": "date-time"},
    "checklist": {"type": "object", "description": "values by item code: a value, or {value, status, itemOverride}"},
    "source": {"enum": list(checklists.SOURCES)}, "submit": {"type": "boolean"}, "didOptOut": {"type": "boolean"},
}}
PATCH_BODY = {**LEAD_BODY, "properties": {**LEAD_BODY["properties"],  # type: ignore[dict-item]
                                          "deleted": {"const": True}}}
TEMPLATE_EXAMPLE = {"groups": [{"name": "Business Information", "items": [
    {"code": "business_name", "label": "Business Name", "fieldType": "TEXT", "isRequired": True},
    {"code": "website_url", "label": "Website", "fieldType": "TEXT", "conditions": [_HAS_BUSINESS_NAME]}]}]}

api.get("/api/v1/leads/{leadId}", get_lead, params=(LEAD_ID,), response=LeadRecord, summary="Get a lead")
api.post("/api/v1/leads", create_lead, status=201, body=LEAD_BODY, example=LEAD_EXAMPLE, response=LeadRecord,
         summary="Create a lead", extension=True)
api.patch("/api/v1/leads/{leadId}", update_lead, params=(LEAD_ID,), body=PATCH_BODY,
          example={"checklist": {"business_name": {"value": "Pacific Coast Container Haulers", "status": "COMPLETED"}},
                   "source": "manual"},
          response=LeadRecord, summary="Update a lead", extension=True)
api.post("/api/v1/leads/{leadId}/messages", post_message, params=(LEAD_ID,), status=201,
         body={"type": "object", "required": ["channel", "direction", "body"], "properties": {
             "channel": {"enum": list(lead_records.MESSAGE_CHANNELS)}, "direction": {"enum": ["inbound", "outbound"]},
             "body": {"type": "string"}, "createdAt": {"type": "string", "format": "date-time"},
             "status": {"type": "string"}, "draftState": {"enum": list(lead_records.MESSAGE_DRAFT_STATES)}}},
         example={"channel": "sms", "direction": "outbound", "body": "Hi John, could you send your W-9?"},
         response=MessageJson, summary="Record a message", extension=True)
api.post("/api/v1/leads/{leadId}/documents", post_document, params=(LEAD_ID,), status=201,
         body_type="multipart/form-data", max_body=documents.MAX_BYTES + MULTIPART_OVERHEAD,
         body={"type": "object", "required": ["file"], "properties": {
             "file": {"type": "string", "format": "binary"}, "checklistItemCode": {"type": "string"},
             "source": {"enum": list(checklists.SOURCES)}}},
         example={"checklistItemCode": "w9_form", "source": "portal"},
         response=DocumentJson, summary="Upload a document", extension=True)
api.post("/api/v1/leads/{leadId}/actions", post_action, params=(LEAD_ID,), status=201,
         body={"type": "object", "required": ["type"], "properties": {
             "type": {"enum": ["FOLLOW_UP", "MESSAGE_DRAFT", "ESCALATION", "DOCUMENT_OVERRIDE", "NOTE"]},
             "status": {"enum": ["PENDING", "COMPLETED", "CANCELLED", "FAILED"]}, "summary": {"type": "string"},
             "scheduledFor": {"type": "string", "format": "date-time"},
             "message": {"type": "object", "properties": {"channel": {"type": "string"}, "body": {"type": "string"}}},
             "documentId": {"type": "string"}, "toolCalls": {"type": "array"},
             "source": {"enum": list(checklists.SOURCES)}}},
         example={"type": "FOLLOW_UP", "scheduledFor": "2026-02-02T15:00:00Z", "summary": "Call back about the W-9"},
         response=ActionLogJson, summary="Log an action", extension=True)
api.patch("/api/v1/leads/{leadId}/actions/{actionId}", patch_action, params=(LEAD_ID, ACTION_ID),
          body={"type": "object", "required": ["status"], "properties": {
              "status": {"enum": ["COMPLETED", "CANCELLED", "FAILED"]}, "summary": {"type": "string"},
              "draftState": {"enum": ["approved", "edited", "rejected"]}, "body": {"type": "string"},
              "toolCalls": {"type": "array"}, "source": {"enum": list(checklists.SOURCES)}}},
          example={"status": "COMPLETED"}, response=ActionLogJson, summary="Decide an action", extension=True)
api.get("/api/v1/checklist", get_checklist, response=TemplateJson, summary="Get the checklist template",
        extension=True)
api.put("/api/v1/checklist", put_checklist, body={"type": "object", "properties": {
    "groups": {"type": "array"}, "items": {"type": "array"}}}, example=TEMPLATE_EXAMPLE, response=TemplateJson,
        summary="Replace the checklist template", extension=True)
