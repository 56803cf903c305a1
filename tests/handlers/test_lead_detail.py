"""Lead records, /api/v1/leads/* and /api/v1/checklist, as lead-detail-api.md shows them, over the seeded fixture.

Workspace "ws-123" holds the document's example (tests/seed_lead_records.py); "acme" holds a
checklist with conditions, field types and documents; "default" the tracking-form leads.
"""
from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from domain import documents, lead_records
from handlers import lead_detail
from domain.dates import iso
from tests.seed import Workspace
from tests.seed_lead_records import at

DEFAULT_KEY = "test-analytics-key"


def records(workspace: Workspace) -> Any:
    assert workspace.lead_records is not None
    return workspace.lead_records


async def call(client: httpx.AsyncClient, method: str, path: str, key: str, body: Any = None,
               **kwargs: Any) -> httpx.Response:
    content = json.dumps(body) if body is not None else None
    return await client.request(method, path, content=content, headers={"x-api-key": key}, **kwargs)


async def ok(client: httpx.AsyncClient, method: str, path: str, key: str, body: Any = None, status: int = 200) -> Any:
    response = await call(client, method, path, key, body)
    assert response.status_code == status, response.text
    return response.json()


async def rows(app: Starlette, sql: str, *params: Any) -> list[dict[str, Any]]:
    return (await app.state.env.DB.prepare(sql).bind(*params).all()).results


def error(status: int, message: str) -> dict[str, Any]:
    phrases = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed", 409: "Conflict",
               413: "Request Entity Too Large", 415: "Unsupported Media Type"}
    return {"statusCode": status, "error": phrases[status], "message": message}


# --- the document's example ----------------------------------------------------------------------


async def test_get_lead_is_the_documents_example(client: httpx.AsyncClient, app: Starlette,
                                                 workspace: Workspace) -> None:
    seeded = records(workspace)
    (group,) = await rows(app, "SELECT id FROM checklist_groups WHERE workspace_id = 'ws-123'")
    (item,) = await rows(app, "SELECT id FROM checklist_items WHERE workspace_id = 'ws-123'")
    (value,) = await rows(app, "SELECT id FROM lead_checklist_items WHERE workspace_id = 'ws-123'")
    (log,) = await rows(app, "SELECT id FROM action_logs WHERE workspace_id = 'ws-123'")
    # The document's response, with the ids our fixture was given in place of the document's.
    expected = {
        "lead": {
            "id": seeded.john,
            "activitySummary": None,
            "assigneeType": "HUMAN_AGENT",
            "businessName": "Pacific Coast Container Haulers",
            "createdAt": "2026-01-30T02:00:00.000Z",
            "deletedAt": None,
            "didOptOut": False,
            "email": "john@example.com",
            "emailVerifiedAt": "2026-01-30T02:00:00.000Z",
            "externalLeadId": None,
            "externalPortalLink": None,
            "firstName": "John",
            "isTest": False,
            "lastName": "Doe",
            "phoneNumber": "+16782319992",
            "phoneVerifiedAt": None,
            "source": "api",
            "submittedAt": None,
            "updatedAt": "2026-01-30T02:00:00.000Z",
            "website": None,
            "workspaceId": "ws-123",
        },
        "status": "IN_PROGRESS",
        "checklistItems": [
            {
                "id": group["id"],
                "name": "Business Information",
                "conditions": None,
                "items": [
                    {
                        "id": value["id"],
                        "checklistItemId": item["id"],
                        "value": "Pacific Coast Container Haulers",
                        "status": "COMPLETED",
                        "itemOverride": None,
                        "checklistItem": {
                            "id": item["id"],
                            "code": "business_name",
                            "label": "Business Name",
                            "fieldType": "TEXT",
                            "isRequired": True,
                            "conditions": None,
                            "validationRules": None,  # listed by the document's field description
                        },
                    }
                ],
            }
        ],
        "documents": [],
        "actionLogs": [
            {
                "id": log["id"],
                "type": "API_ACTIVITY",
                "status": "COMPLETED",
                "summary": "Lead created",
                "createdAt": "2026-01-30T02:00:00.000Z",
            }
        ],
        "matchingLeads": [],
        "lastAction": None,
        "nextFollowUp": None,
        "nextDraft": None,
    }
    body = await ok(client, "GET", f"/api/v1/leads/{seeded.john}", seeded.detail_key)
    assert list(body) == list(expected)
    for key, value in expected.items():
        assert body[key] == value, key
    # Bearer works too, as everywhere.
    bearer = await client.get(f"/api/v1/leads/{seeded.john}", headers={"Authorization": f"Bearer {seeded.detail_key}"})
    assert bearer.json() == expected


async def test_a_form_lead_is_a_lead_record(client: httpx.AsyncClient, app: Starlette, workspace: Workspace) -> None:
    items = await rows(app, "SELECT id, code FROM checklist_items WHERE workspace_id = 'default' ORDER BY position")
    body = await ok(client, "GET", "/api/v1/leads/uuid-1", DEFAULT_KEY)
    enquiry = workspace.enquiry[1]
    assert body["lead"] == {
        "id": "uuid-1", "activitySummary": None, "assigneeType": "AI_AGENT", "businessName": None,
        "createdAt": _iso(enquiry), "deletedAt": None, "didOptOut": False, "email": "rahul@example.com",
        "emailVerifiedAt": None, "externalLeadId": None, "externalPortalLink": None,
        "firstName": "Rahul", "isTest": False, "lastName": "Sharma",  # its contact name, split
        "phoneNumber": "9876543210", "phoneVerifiedAt": None, "source": "website", "submittedAt": None,
        "updatedAt": _iso(enquiry), "website": None, "workspaceId": "default",
    }
    assert body["status"] == "IN_PROGRESS"
    (group,) = body["checklistItems"]
    assert group["name"] == "Qualification"
    assert [(i["id"], i["checklistItemId"], i["value"], i["status"]) for i in group["items"]] == [
        (None, items[0]["id"], None, "TODO"), (None, items[1]["id"], None, "TODO")]
    # The seeded CALL action log is a follow-up, later than the delivered sms: it is the last action.
    call_log = {"id": "a1", "type": "CALL", "status": "COMPLETED", "summary": None,
                "createdAt": _iso(workspace.follow_up[1])}
    assert body["actionLogs"] == [call_log]
    assert body["lastAction"] == call_log
    assert (body["matchingLeads"], body["nextFollowUp"], body["nextDraft"], body["documents"]) == ([], None, None, [])


def _iso(ms: int) -> str:
    return iso(ms) or ""


@pytest.mark.parametrize("lead, status, message", [
    ("uuid-4", 404, "Lead not found"),  # deleted
    ("uuid-5", 404, "Lead not found"),  # another workspace's
    ("3f1c9a52-0000-4000-8000-000000000000", 404, "Lead not found"),
    ("not a lead", 400, "leadId must be a lead id"),
    ("x" * 65, 400, "leadId must be a lead id"),
])
async def test_leads_that_are_not_there(client: httpx.AsyncClient, workspace: Workspace, lead: str, status: int,
                                        message: str) -> None:
    response = await call(client, "GET", f"/api/v1/leads/{lead}", DEFAULT_KEY)
    assert (response.status_code, response.json()) == (status, error(status, message))


async def test_auth_methods_and_unknown_parameters(client: httpx.AsyncClient, workspace: Workspace) -> None:
    missing = await client.get("/api/v1/leads/uuid-1")
    assert (missing.status_code, missing.json()) == (
        401, error(401, "Missing API key: send it in the x-api-key header"))
    wrong = await client.get("/api/v1/leads/uuid-1", headers={"x-api-key": "nope"})
    assert (wrong.status_code, wrong.json()) == (401, error(401, "Invalid API key"))
    unknown = await client.get("/api/v1/leads/uuid-1", params={"expand": "all"}, headers={"x-api-key": DEFAULT_KEY})
    assert (unknown.status_code, unknown.json()) == (400, error(400, "Unrecognized parameter: expand"))
    method = await call(client, "DELETE", "/api/v1/leads/uuid-1", DEFAULT_KEY)
    assert (method.status_code, method.json(), method.headers["allow"]) == (
        405, error(405, "Method not allowed"), "GET, PATCH")
    nowhere = await call(client, "GET", "/api/v1/leads/uuid-1/nowhere", DEFAULT_KEY)
    assert (nowhere.status_code, nowhere.json()) == (404, error(404, "Not found"))


# --- creating and updating -----------------------------------------------------------------------


async def test_create_answers_with_the_record(client: httpx.AsyncClient, app: Starlette,
                                              workspace: Workspace) -> None:
    key = records(workspace).analytics_key
    body = await ok(client, "POST", "/api/v1/leads", key, {
        "firstName": " Ada ", "lastName": "Lovelace", "email": "Ada@Example.com", "phoneNumber": "(555) 010-9999",
        "businessName": "Engines Ltd", "website": "https://engines.example", "externalLeadId": "crm-1",
        "checklist": {"first_name": "Ada", "ANNUAL_INCOME": "lots", "date_of_birth": "2010-01-01",
                      "employment_type": {"value": "salaried", "status": "NEEDS_REVIEW"}},
    }, status=201)
    lead = body["lead"]
    assert (lead["firstName"], lead["lastName"], lead["email"], lead["phoneNumber"], lead["source"],
            lead["externalLeadId"], lead["workspaceId"]) == (
        "Ada", "Lovelace", "Ada@Example.com", "5550109999", "api", "crm-1", "acme")
    assert lead["createdAt"] == lead["updatedAt"]
    values = {item["checklistItem"]["code"]: item for group in body["checklistItems"] for item in group["items"]}
    assert (values["first_name"]["value"], values["first_name"]["status"]) == ("Ada", "COMPLETED")
    # A value the item does not accept is kept, INVALID, with the reason.
    assert (values["annual_income"]["value"], values["annual_income"]["status"], values["annual_income"]["reason"]) \
        == ("lots", "INVALID", "expected a number")
    assert (values["date_of_birth"]["status"], values["date_of_birth"]["reason"]) == (
        "INVALID", "must be on or before 2008-12-31")
    assert values["employment_type"]["status"] == "NEEDS_REVIEW"
    assert (values["last_name"]["id"], values["last_name"]["status"], "reason" in values["last_name"]) == (
        None, "TODO", False)
    assert values["income_verification"]["documents"] == []  # a FILE item lists its documents
    assert body["status"] == "REVIEW"  # an item needs review
    assert [(log["type"], log["summary"]) for log in body["actionLogs"]] == [("API_ACTIVITY", "Lead created")]
    # The dashboard's CRM sees the same lead, with the names joined.
    (row,) = await rows(app, "SELECT contact_name, email_norm, phone_norm FROM leads WHERE id = ?", lead["id"])
    assert row == {"contact_name": "Ada Lovelace", "email_norm": "ada@example.com", "phone_norm": "5550109999"}
    duplicate = await call(client, "POST", "/api/v1/leads", key, {"firstName": "Again", "externalLeadId": "crm-1"})
    assert (duplicate.status_code, duplicate.json()) == (
        409, error(409, "A lead with this externalLeadId already exists"))


async def test_patch_changes_fields_and_logs_who_did(client: httpx.AsyncClient, workspace: Workspace) -> None:
    seeded = records(workspace)
    path = f"/api/v1/leads/{seeded.john}"
    body = await ok(client, "PATCH", path, seeded.detail_key, {
        "firstName": "Johnny", "website": "https://pcch.example", "source": "manual",
        "checklist": {"business_name": "PCCH Inc"}})
    assert (body["lead"]["firstName"], body["lead"]["website"]) == ("Johnny", "https://pcch.example")
    assert body["lead"]["updatedAt"] != body["lead"]["createdAt"]
    assert body["checklistItems"][0]["items"][0]["value"] == "PCCH Inc"
    assert [(log["type"], log["summary"]) for log in body["actionLogs"]] == [
        ("MANUAL_ACTIVITY", "Lead updated: firstName, website, checklist.business_name"),
        ("API_ACTIVITY", "Lead created")]
    # The same values again change nothing and log nothing.
    again = await ok(client, "PATCH", path, seeded.detail_key, {"firstName": "Johnny",
                                                                 "checklist": {"business_name": "PCCH Inc"}})
    assert len(again["actionLogs"]) == 2 and again["lead"]["updatedAt"] == body["lead"]["updatedAt"]
    cleared = await ok(client, "PATCH", path, seeded.detail_key, {"website": None, "email": None})
    assert (cleared["lead"]["website"], cleared["lead"]["email"]) == (None, None)


async def test_status_follows_submission_review_and_opt_out(client: httpx.AsyncClient, workspace: Workspace) -> None:
    seeded = records(workspace)
    path = f"/api/v1/leads/{seeded.john}"
    submitted = await ok(client, "PATCH", path, seeded.detail_key, {"submit": True})
    assert (submitted["status"], submitted["lead"]["submittedAt"] is not None) == ("COMPLETED", True)
    first = submitted["lead"]["submittedAt"]
    assert (await ok(client, "PATCH", path, seeded.detail_key, {"submit": True}))["lead"]["submittedAt"] == first
    # Submitted, but the required item is no longer complete: a human should look.
    review = await ok(client, "PATCH", path, seeded.detail_key, {"checklist": {"business_name": None}})
    assert review["status"] == "REVIEW"
    reopened = await ok(client, "PATCH", path, seeded.detail_key, {"submit": False})
    assert (reopened["status"], reopened["lead"]["submittedAt"]) == ("IN_PROGRESS", None)
    flagged = await ok(client, "PATCH", path, seeded.detail_key, {
        "checklist": {"business_name": {"value": "PCCH", "status": "NEEDS_REVIEW"}}})
    assert flagged["status"] == "REVIEW"
    opted = await ok(client, "PATCH", path, seeded.detail_key, {"didOptOut": True})
    assert (opted["status"], opted["lead"]["didOptOut"]) == ("OPTED_OUT", True)
    back = await ok(client, "PATCH", path, seeded.detail_key, {"didOptOut": False})
    assert (back["status"], back["lead"]["didOptOut"]) == ("REVIEW", False)


async def test_soft_delete(client: httpx.AsyncClient, workspace: Workspace) -> None:
    seeded = records(workspace)
    path = f"/api/v1/leads/{seeded.john}"
    deleted = await ok(client, "PATCH", path, seeded.detail_key, {"deleted": True})
    assert deleted["lead"]["deletedAt"] is not None
    assert deleted["actionLogs"][0]["summary"] == "Lead updated: deleted"
    for method, body in (("GET", None), ("PATCH", {"firstName": "Ghost"})):
        response = await call(client, method, path, seeded.detail_key, body)
        assert (response.status_code, response.json()) == (404, error(404, "Lead not found"))


async def test_matching_leads_share_an_email_or_phone(client: httpx.AsyncClient, workspace: Workspace) -> None:
    seeded = records(workspace)
    key = seeded.analytics_key
    twin = await ok(client, "POST", "/api/v1/leads", key, {"firstName": "Janet", "phoneNumber": "555-123-4567"},
                    status=201)
    jane = await ok(client, "GET", f"/api/v1/leads/{seeded.jane}", key)
    # Same phone (last 10 digits); the test lead and the deleted lead with her email are left out.
    assert [match["id"] for match in jane["matchingLeads"]] == [twin["lead"]["id"]]
    assert jane["matchingLeads"][0] == twin["lead"]
    test_lead = await ok(client, "GET", f"/api/v1/leads/{seeded.test_lead}", key)
    assert test_lead["matchingLeads"] == []  # a test lead has none


LEAD_FIELDS = ("activitySummary, assigneeType, businessName, checklist, didOptOut, email, emailVerifiedAt, "
               "externalLeadId, externalPortalLink, firstName, isTest, lastName, phoneNumber, phoneVerifiedAt, source, "
               "submit, website")


@pytest.mark.parametrize("body, message", [
    ({"firstName": "A", "nickname": "B"}, f"nickname is not a known field (expected one of: {LEAD_FIELDS})"),
    ({"email": "not-an-email"}, "email must be an email address"),
    ({"phoneNumber": "12"}, "phoneNumber must be a phone number (7 to 15 digits)"),
    ({"firstName": "A", "isTest": "yes"}, "isTest must be true or false"),
    ({"firstName": "A", "assigneeType": "ROBOT"}, "assigneeType must be one of: AI_AGENT, HUMAN_AGENT"),
    ({"firstName": "A", "emailVerifiedAt": "yesterday"},
     "emailVerifiedAt must be an ISO 8601 date-time, e.g. 2026-03-14T00:00:00Z"),
    ({"firstName": "A", "source": "robot"}, "source must be one of: agent, imported, manual, portal"),
    ({"firstName": "A", "checklist": {"nope": 1}}, "checklist.nope is not an item of this workspace's checklist"),
    ({"firstName": "A", "checklist": {"first_name": {"status": "INVALID"}}},
     "checklist.first_name.status must be one of: TODO, COMPLETED, SKIPPED, NEEDS_REVIEW"),
    ({"firstName": "A", "checklist": {"first_name": {"value": None, "status": "COMPLETED"}}},
     "checklist.first_name.status cannot be COMPLETED without a value"),
    ({"firstName": "A", "checklist": {"first_name": ["a"]}},
     "checklist.first_name must be a string, number, boolean or null"),
    ({"firstName": "A", "checklist": {"first_name": {"colour": 1}}},
     "checklist.first_name.colour is not a known field (expected one of: itemOverride, status, value)"),
    ({"firstName": "A", "checklist": []}, "checklist must be an object"),
    ({"firstName": "A", "checklist": {"first_name": "a\u0000b"}}, "checklist.first_name must not contain a NUL character"),
    ({"firstName": "A", "checklist": {"annual_income": 2**60}},
     "checklist.annual_income must be a number between -9007199254740991 and 9007199254740991"),
    ({"firstName": "x" * 101}, "firstName must be at most 100 characters"),
    ({"website": "https://a.example"},
     "body must give at least one of: firstName, lastName, email, phoneNumber, businessName, externalLeadId"),
    ({"firstName": "A", "deleted": True}, f"deleted is not a known field (expected one of: {LEAD_FIELDS})"),
])
async def test_a_bad_create_is_400_and_leaves_no_trace(client: httpx.AsyncClient, app: Starlette,
                                                       workspace: Workspace, body: Any, message: str) -> None:
    before = await rows(app, "SELECT (SELECT count(*) FROM leads) AS leads, (SELECT count(*) FROM action_logs) AS logs,"
                             " (SELECT count(*) FROM lead_checklist_items) AS lead_values")
    response = await call(client, "POST", "/api/v1/leads", records(workspace).analytics_key, body)
    assert (response.status_code, response.json()) == (400, error(400, message))
    assert await rows(app, "SELECT (SELECT count(*) FROM leads) AS leads, (SELECT count(*) FROM action_logs) AS logs,"
                           " (SELECT count(*) FROM lead_checklist_items) AS lead_values") == before


@pytest.mark.parametrize("content, message", [
    (b"not json", "Request body must be a JSON object"),
    (b"[1, 2]", "Request body must be a JSON object"),
    (b'{"deleted": false}', "deleted can only be true (a deleted lead cannot come back)"),
    (b'{"checklist": {"first_name": "ok", "nope": 1}}', "checklist.nope is not an item of this workspace's checklist"),
])
async def test_a_bad_patch_is_400_and_changes_nothing(client: httpx.AsyncClient, workspace: Workspace,
                                                      content: bytes, message: str) -> None:
    seeded = records(workspace)
    path = f"/api/v1/leads/{seeded.omar}"
    before = await ok(client, "GET", path, seeded.analytics_key)
    response = await client.patch(path, content=content, headers={"x-api-key": seeded.analytics_key})
    assert (response.status_code, response.json()) == (400, error(400, message))
    assert await ok(client, "GET", path, seeded.analytics_key) == before


# --- messages ------------------------------------------------------------------------------------


async def test_messages_go_to_the_leads_contact(client: httpx.AsyncClient, app: Starlette,
                                                workspace: Workspace) -> None:
    seeded = records(workspace)
    path = f"/api/v1/leads/{seeded.john}/messages"
    sent = await ok(client, "POST", path, seeded.detail_key, {
        "channel": "sms", "direction": "outbound", "body": "Hi John", "createdAt": "2026-02-01T10:00:00Z",
        "draftState": "edited"}, status=201)
    assert {k: v for k, v in sent.items() if k != "id"} == {
        "channel": "sms", "direction": "outbound", "status": "sent", "draftState": "edited", "body": "Hi John",
        "createdAt": "2026-02-01T10:00:00.000Z"}
    (row,) = await rows(app, "SELECT contact, lead_id FROM messages WHERE id = ?", sent["id"])
    assert row["contact"] == "+16782319992"
    record = await ok(client, "GET", f"/api/v1/leads/{seeded.john}", seeded.detail_key)
    assert record["lastAction"] == {"id": sent["id"], "type": "MESSAGE", "status": "COMPLETED",
                                    "summary": "Outbound sms message", "createdAt": "2026-02-01T10:00:00.000Z",
                                    "message": sent}
    for body, message in [
        ({"channel": "fax", "direction": "outbound", "body": "x"}, "channel must be one of: sms, email, whatsapp"),
        ({"channel": "sms", "direction": "inbound", "body": "x", "draftState": "edited"},
         "draftState is only for an outbound message (an AI draft)"),
        ({"channel": "sms", "direction": "outbound", "body": "x", "status": "received"},
         "status must be one of: queued, sent, delivered, fallback, failed"),
        ({"channel": "sms", "direction": "outbound", "body": ""}, "body must not be empty"),
    ]:
        response = await call(client, "POST", path, seeded.detail_key, body)
        assert (response.status_code, response.json()) == (400, error(400, message))
    no_email = await call(client, "POST", f"/api/v1/leads/{seeded.omar}/messages", seeded.analytics_key,
                          {"channel": "email", "direction": "outbound", "body": "x"})
    assert (no_email.status_code, no_email.json()) == (400, error(400, "channel cannot be email: the lead has no email"))
    missing = await call(client, "POST", f"/api/v1/leads/{seeded.other_lead}/messages", seeded.detail_key,
                         {"channel": "sms", "direction": "outbound", "body": "x"})
    assert missing.status_code == 404


# --- documents -----------------------------------------------------------------------------------

PDF = b"%PDF-1.7\n" + b"0" * 2000 + b"\n%%EOF\n"
ALL_TYPES = ("application/pdf, image/png, image/jpeg, image/gif, image/webp, image/heic, text/plain, text/csv, "
             "application/msword, application/vnd.openxmlformats-officedocument.wordprocessingml.document, "
             "application/vnd.ms-excel, application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


async def upload(client: httpx.AsyncClient, key: str, lead: str, data: bytes = PDF, content_type: str = "application/pdf",
                 **fields: str) -> httpx.Response:
    return await client.post(f"/api/v1/leads/{lead}/documents", headers={"x-api-key": key},
                             files={"file": ("pay stub.pdf", data, content_type)}, data=fields)


async def test_a_document_attached_to_a_file_item(client: httpx.AsyncClient, app: Starlette,
                                                  workspace: Workspace) -> None:
    seeded = records(workspace)
    response = await upload(client, seeded.analytics_key, seeded.omar, checklistItemCode="income_verification",
                            source="portal")
    assert response.status_code == 201, response.text
    document = response.json()
    (item,) = await rows(app, "SELECT id FROM checklist_items WHERE workspace_id = 'acme' AND code = ?",
                         "income_verification")
    assert {k: v for k, v in document.items() if k not in ("id", "createdAt", "url")} == {
        "checklistItemId": item["id"], "filename": "pay stub.pdf", "contentType": "application/pdf",
        "size": len(PDF), "source": "portal"}
    async with httpx.AsyncClient() as http:
        fetched = await http.get(document["url"])
    assert (fetched.status_code, fetched.content) == (200, PDF)
    record = await ok(client, "GET", f"/api/v1/leads/{seeded.omar}", seeded.analytics_key)
    assert [d["id"] for d in record["documents"]] == [document["id"]]
    entry = next(i for g in record["checklistItems"] for i in g["items"]
                 if i["checklistItem"]["code"] == "income_verification")
    bucket = app.state.env.DOCUMENTS.bucket_name
    assert (entry["status"], entry["value"]) == (
        "COMPLETED", f"s3://{bucket}/documents/acme/{seeded.omar}/{document['id']}")
    assert [d["id"] for d in entry["documents"]] == [document["id"]]
    log = record["actionLogs"][0]
    assert (log["type"], log["summary"], log["document"]["id"]) == (
        "PORTAL_ACTIVITY", "Document uploaded: pay stub.pdf (checklist.income_verification)", document["id"])
    stored = await app.state.env.DOCUMENTS.head(f"documents/acme/{seeded.omar}/{document['id']}")
    assert stored.http_metadata["contentType"] == "application/pdf"


@pytest.mark.parametrize("data, content_type, fields, status, message", [
    (PDF, "text/html", {}, 415, f"file content type must be one of: {ALL_TYPES}"),
    (b"<html><script>", "application/pdf", {}, 415, "file content does not match its content type application/pdf"),
    (b"\x89PNG\r\n\x1a\n...", "image/jpeg", {}, 415, "file content does not match its content type image/jpeg"),
    (b"", "application/pdf", {}, 400, "file is empty"),
    (PDF, "application/pdf", {"checklistItemCode": "first_name"}, 400,
     "checklistItemCode must be the code of a FILE item of this workspace's checklist"),
    (PDF, "application/pdf", {"source": "robot"}, 400, "source must be one of: agent, imported, manual, portal"),
    (PDF, "application/pdf", {"colour": "red"}, 400,
     "colour is not a known field (expected one of: file, checklistItemCode, source)"),
])
async def test_a_refused_document_leaves_nothing(client: httpx.AsyncClient, app: Starlette, workspace: Workspace,
                                                 data: bytes, content_type: str, fields: dict[str, str], status: int,
                                                 message: str) -> None:
    seeded = records(workspace)
    response = await upload(client, seeded.analytics_key, seeded.omar, data, content_type, **fields)
    assert (response.status_code, response.json()) == (status, error(status, message))
    assert await rows(app, "SELECT id FROM documents") == []
    assert (await app.state.env.DOCUMENTS.list(prefix="documents/")).objects == []


async def test_document_size_limits_and_form(client: httpx.AsyncClient, app: Starlette, workspace: Workspace) -> None:
    seeded = records(workspace)
    key = seeded.analytics_key
    await ok(client, "PUT", "/api/v1/checklist", key, {"items": [
        {"code": "id_scan", "label": "ID scan", "fieldType": "FILE", "isRequired": True,
         "validationRules": {"maxBytes": 1000, "contentTypes": ["image/png"]}}]})
    big = await upload(client, key, seeded.omar, b"\x89PNG\r\n\x1a\n" + b"0" * 1000, "image/png",
                       checklistItemCode="id_scan")
    assert (big.status_code, big.json()) == (413, error(413, "file is larger than 1000 bytes"))
    pdf = await upload(client, key, seeded.omar, b"%PDF-1.7\n%%EOF\n", checklistItemCode="id_scan")
    assert (pdf.status_code, pdf.json()) == (415, error(415, "file content type must be one of: image/png"))
    png = await upload(client, key, seeded.omar, b"\x89PNG\r\n\x1a\n" + b"0" * 100, "image/png",
                       checklistItemCode="ID_SCAN")
    assert png.status_code == 201
    not_multipart = await call(client, "POST", f"/api/v1/leads/{seeded.omar}/documents", key, {"file": "x"})
    assert (not_multipart.status_code, not_multipart.json()) == (
        415, error(415, "Upload a document as multipart/form-data with a file field"))
    no_file = await client.post(f"/api/v1/leads/{seeded.omar}/documents", headers={"x-api-key": key},
                                files={"source": (None, "portal")})
    assert (no_file.status_code, no_file.json()) == (400, error(400, "file is required: the document, as a file part"))
    elsewhere = await upload(client, key, seeded.other_lead)
    assert (elsewhere.status_code, elsewhere.json()) == (404, error(404, "Lead not found"))


async def test_documents_take_files_past_the_apps_json_limit_up_to_their_own(
        client: httpx.AsyncClient, app: Starlette, workspace: Workspace) -> None:
    seeded = records(workspace)
    key = seeded.analytics_key
    three_mib = b"%PDF-1.7\n" + b"0" * (3 * 1024 * 1024) + b"\n%%EOF\n"  # past max_body_bytes (1 MiB)
    stored = await upload(client, key, seeded.omar, three_mib)
    assert stored.status_code == 201, stored.text
    assert stored.json()["size"] == len(three_mib)
    limit = documents.MAX_BYTES + lead_detail.MULTIPART_OVERHEAD
    too_big = await client.post(f"/api/v1/leads/{seeded.omar}/documents", headers={
        "x-api-key": key, "content-type": "multipart/form-data; boundary=x", "content-length": str(limit + 1)},
        content=b"")
    assert (too_big.status_code, too_big.json()) == (413, error(413, f"Request body too large (max {limit} bytes)"))


# --- actions -------------------------------------------------------------------------------------


async def test_follow_ups_scheduled_and_done(client: httpx.AsyncClient, app: Starlette, workspace: Workspace) -> None:
    seeded = records(workspace)
    key, path = seeded.detail_key, f"/api/v1/leads/{seeded.john}"
    later = await ok(client, "POST", f"{path}/actions", key, {
        "type": "FOLLOW_UP", "scheduledFor": "2026-02-05T15:00:00Z", "summary": "Second call"}, status=201)
    sooner = await ok(client, "POST", f"{path}/actions", key, {
        "type": "FOLLOW_UP", "scheduledFor": "2026-02-02T15:00:00Z", "summary": "First call",
        "toolCalls": [{"name": "schedule_call", "arguments": {"at": "2026-02-02T15:00:00Z"}}]}, status=201)
    assert {k: v for k, v in sooner.items() if k not in ("id", "createdAt")} == {
        "type": "FOLLOW_UP", "status": "PENDING", "summary": "First call", "scheduledFor": "2026-02-02T15:00:00.000Z",
        "toolCalls": [{"name": "schedule_call", "arguments": {"at": "2026-02-02T15:00:00Z"}}]}
    record = await ok(client, "GET", path, key)
    assert record["nextFollowUp"] == sooner and record["lastAction"] is None
    done = await ok(client, "PATCH", f"{path}/actions/{sooner['id']}", key, {"status": "COMPLETED"})
    assert done["status"] == "COMPLETED"
    record = await ok(client, "GET", path, key)
    assert (record["nextFollowUp"]["id"], record["lastAction"]["id"]) == (later["id"], sooner["id"])
    # A done follow-up is a follow-up on every surface (migration 0004's rule).
    (lead,) = await rows(app, "SELECT lead_id FROM leads WHERE id = ?", seeded.john)
    assert await rows(app, "SELECT follow_ups FROM lead_follow_ups WHERE lead_id = ?", lead["lead_id"]) == [
        {"follow_ups": 1}]
    again = await call(client, "PATCH", f"{path}/actions/{sooner['id']}", key, {"status": "CANCELLED"})
    assert (again.status_code, again.json()) == (409, error(409, "Action is already COMPLETED"))
    missing = await call(client, "PATCH", f"{path}/actions/nope", key, {"status": "COMPLETED"})
    assert (missing.status_code, missing.json()) == (404, error(404, "Action not found"))
    unscheduled = await call(client, "POST", f"{path}/actions", key, {"type": "FOLLOW_UP"})
    assert (unscheduled.status_code, unscheduled.json()) == (
        400, error(400, "scheduledFor is required for a pending FOLLOW_UP"))


async def test_drafts_wait_for_approval(client: httpx.AsyncClient, app: Starlette, workspace: Workspace) -> None:
    seeded = records(workspace)
    key, path = seeded.detail_key, f"/api/v1/leads/{seeded.john}"
    draft = await ok(client, "POST", f"{path}/actions", key, {
        "type": "MESSAGE_DRAFT", "message": {"channel": "sms", "body": "Hi John, any news?"}}, status=201)
    assert (draft["status"], draft["draft"]) == ("PENDING", {"channel": "sms", "body": "Hi John, any news?"})
    assert (await ok(client, "GET", path, key))["nextDraft"] == draft
    approved = await ok(client, "PATCH", f"{path}/actions/{draft['id']}", key, {
        "status": "COMPLETED", "body": "Hi John, any news on the W-9?", "source": "manual"})
    message = approved["message"]
    assert (message["draftState"], message["status"], message["body"], message["direction"]) == (
        "edited", "sent", "Hi John, any news on the W-9?", "outbound")
    record = await ok(client, "GET", path, key)
    assert record["nextDraft"] is None and record["lastAction"]["message"] == message
    rejected = await ok(client, "POST", f"{path}/actions", key, {
        "type": "MESSAGE_DRAFT", "message": {"channel": "sms", "body": "Hello?"}}, status=201)
    cancelled = await ok(client, "PATCH", f"{path}/actions/{rejected['id']}", key, {"status": "CANCELLED"})
    assert (cancelled["message"]["draftState"], cancelled["message"]["status"]) == ("rejected", "queued")
    assert (await ok(client, "GET", path, key))["lastAction"]["message"] == message  # a rejected draft was not sent
    no_email = await call(client, "POST", f"/api/v1/leads/{seeded.omar}/actions", seeded.analytics_key, {
        "type": "MESSAGE_DRAFT", "message": {"channel": "email", "body": "x"}})
    assert (no_email.status_code, no_email.json()) == (
        400, error(400, "message.channel cannot be email: the lead has no email"))


async def test_document_override_completes_its_item(client: httpx.AsyncClient, workspace: Workspace) -> None:
    seeded = records(workspace)
    key, path = seeded.analytics_key, f"/api/v1/leads/{seeded.omar}"
    document = (await upload(client, key, seeded.omar, checklistItemCode="income_verification")).json()
    await ok(client, "PATCH", path, key, {"checklist": {"income_verification": {"status": "NEEDS_REVIEW"}}})
    override = await ok(client, "POST", f"{path}/actions", key, {
        "type": "DOCUMENT_OVERRIDE", "documentId": document["id"], "summary": "Readable enough", "source": "manual"},
        status=201)
    assert (override["status"], override["document"]["id"]) == ("COMPLETED", document["id"])
    record = await ok(client, "GET", path, key)
    entry = next(i for g in record["checklistItems"] for i in g["items"]
                 if i["checklistItem"]["code"] == "income_verification")
    assert entry["status"] == "COMPLETED"
    foreign = await call(client, "POST", f"{path}/actions", key, {"type": "DOCUMENT_OVERRIDE", "documentId": "nope"})
    assert (foreign.status_code, foreign.json()) == (400, error(400, "documentId is not a document of this lead"))


# --- the checklist template ----------------------------------------------------------------------


async def test_template_round_trip(client: httpx.AsyncClient, workspace: Workspace) -> None:
    key = records(workspace).detail_key
    template = {"items": [{"code": "source_channel", "label": "How did you hear of us?", "fieldType": "SELECT",
                           "validationRules": {"options": ["web", "friend"]}}],
                "groups": [{"name": "Business Information", "conditions": None, "items": [
                    {"code": "business_name", "label": "Business Name", "fieldType": "TEXT", "isRequired": True},
                    {"code": "fleet_size", "label": "Fleet size", "fieldType": "NUMBER",
                     "validationRules": {"min": 1, "integer": True},
                     "conditions": [{"item": "business_name", "exists": True}]}]},
                    {"name": "Referral", "order": 5,
                     "conditions": [{"item": "source_channel", "in": ["friend"]}], "items": [
                        {"code": "referrer", "label": "Who referred you?", "fieldType": "TEXT", "isRequired": True}]}]}
    before = await ok(client, "GET", "/api/v1/checklist", key)
    stored = await ok(client, "PUT", "/api/v1/checklist", key, template)
    assert stored == await ok(client, "GET", "/api/v1/checklist", key)
    business = stored["groups"][0]
    assert business["id"] == before["groups"][0]["id"]  # matched by name: same group
    assert business["items"][0]["id"] == before["groups"][0]["items"][0]["id"]  # matched by code: same item
    assert [(g["name"], g["order"], g["conditions"]) for g in stored["groups"]] == [
        ("Business Information", 0, None), ("Referral", 1, [{"item": "source_channel", "in": ["friend"]}])]
    assert [(i["code"], i["order"], i["conditions"]) for i in business["items"]] == [
        ("business_name", 0, None), ("fleet_size", 1, [{"item": "business_name", "exists": True}])]
    assert [i["code"] for i in stored["items"]] == ["source_channel"]
    # John's record lists the ungrouped item first, then the groups; his value is still there.
    john = await ok(client, "GET", f"/api/v1/leads/{records(workspace).john}", key)
    assert [(g["name"], [i["checklistItem"]["code"] for i in g["items"]]) for g in john["checklistItems"]] == [
        (None, ["source_channel"]), ("Business Information", ["business_name", "fleet_size"]),
        ("Referral", ["referrer"])]
    assert john["checklistItems"][1]["items"][0]["value"] == "Pacific Coast Container Haulers"


async def test_removing_an_item_keeps_its_values(client: httpx.AsyncClient, workspace: Workspace) -> None:
    seeded = records(workspace)
    key = seeded.detail_key
    await ok(client, "PUT", "/api/v1/checklist", key, {"groups": [{"name": "Other", "items": [
        {"code": "notes", "label": "Notes", "fieldType": "TEXT"}]}]})
    john = await ok(client, "GET", f"/api/v1/leads/{seeded.john}", key)
    assert [g["name"] for g in john["checklistItems"]] == ["Other"]
    restored = await ok(client, "PUT", "/api/v1/checklist", key, {"groups": [{"name": "Business Information", "items": [
        {"code": "business_name", "label": "Business Name", "fieldType": "NUMBER", "isRequired": True}]}]})
    john = await ok(client, "GET", f"/api/v1/leads/{seeded.john}", key)
    item = john["checklistItems"][0]["items"][0]
    # The same item and value came back; its type changed, so the value was checked again.
    assert item["checklistItemId"] == restored["groups"][0]["items"][0]["id"]
    assert (item["value"], item["status"], item["reason"]) == ("Pacific Coast Container Haulers", "INVALID",
                                                                "expected a number")


@pytest.mark.parametrize("template, message", [
    ({"groups": [{"name": "A", "items": [{"code": "x", "label": "X", "fieldType": "TEXT"},
                                         {"code": "X", "label": "X again", "fieldType": "TEXT"}]}]},
     "groups[0].items[1].code repeats groups[0].items[0].code (codes ignore case)"),
    ({"groups": [{"name": "A", "items": [
        {"code": "x", "label": "X", "fieldType": "TEXT", "conditions": [{"item": "y", "exists": True}]},
        {"code": "y", "label": "Y", "fieldType": "TEXT"}]}]},
     "groups[0].items[0].conditions[0].item must be the code of an item earlier in the checklist"),
    ({"items": [{"code": "x", "label": "X", "fieldType": "SELECT"}]},
     "items[0].validationRules.options is required for a SELECT item"),
    ({"items": [{"code": "x", "label": "X", "fieldType": "COLOUR"}]},
     "items[0].fieldType must be one of: TEXT, NUMBER, DATE, EMAIL, PHONE, SELECT, BOOLEAN, FILE"),
    ({"items": [{"code": "1x", "label": "X", "fieldType": "TEXT"}]},
     "items[0].code must be a letter then up to 63 letters, digits or _"),
    ({"items": [{"code": "x", "label": "X", "fieldType": "TEXT", "validationRules": {"min": 1}}]},
     "items[0].validationRules.min is not a known field (expected one of: maxLength, minLength)"),
    ({"items": [{"code": "x", "label": "X", "fieldType": "NUMBER", "validationRules": {"min": 5, "max": 1}}]},
     "items[0].validationRules has a minimum above its maximum"),
    ({"items": [{"code": "x", "label": "X", "fieldType": "TEXT", "conditions": [{"item": "x", "above": 1}]}]},
     "items[0].conditions[0] must have exactly one of equals, in, exists"),
    ({"groups": [{"name": "A b"}, {"name": "a_B"}]}, "groups[1].name gives the same group key (A_B) as groups[0].name"),
    ({"items": [{"id": "not-ours", "code": "x", "label": "X", "fieldType": "TEXT"}]},
     "items[0].id is not a checklist item of this workspace"),
    ({"sections": []}, "sections is not a known field (expected one of: groups, items)"),
])
async def test_a_bad_template_is_400_and_changes_nothing(client: httpx.AsyncClient, workspace: Workspace,
                                                         template: Any, message: str) -> None:
    key = records(workspace).detail_key
    before = await ok(client, "GET", "/api/v1/checklist", key)
    response = await call(client, "PUT", "/api/v1/checklist", key, template)
    assert (response.status_code, response.json()) == (400, error(400, message))
    assert await ok(client, "GET", "/api/v1/checklist", key) == before


async def test_the_log_shows_the_newest_hundred(client: httpx.AsyncClient, app: Starlette, workspace: Workspace) -> None:
    seeded = records(workspace)

    def notes(conn: Any) -> None:
        for n in range(105):
            lead_records.action_in(conn, "ws-123", seeded.john, {"type": "NOTE", "summary": f"note {n}"},
                                   at("2026-02-01T00:00:00Z") + n)

    await app.state.env.DB.transaction(notes)
    logs = (await ok(client, "GET", f"/api/v1/leads/{seeded.john}", seeded.detail_key))["actionLogs"]
    assert len(logs) == 100
    assert [log["summary"] for log in logs] == [f"note {n}" for n in range(104, 4, -1)]


async def test_a_body_without_a_length_is_counted_against_the_limit(client: httpx.AsyncClient,
                                                                   workspace: Workspace) -> None:
    async def chunks() -> Any:  # no Content-Length: the body arrives in pieces, as with chunked encoding
        for _ in range(17):
            yield b"x" * 65_536

    response = await client.put("/api/v1/checklist", content=chunks(), headers={
        "x-api-key": records(workspace).analytics_key, "content-type": "application/json"})
    assert (response.status_code, response.json()) == (413, error(413, "Request body too large"))
