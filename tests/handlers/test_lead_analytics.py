"""Per-lead analytics, GET /api/v0/analytics, as lead-analytics-api.md shows it, over the seeded "acme" workspace.

The numbers are worked out by hand from tests/seed_lead_records.py: in 2026-03-14..2026-04-14 the
workspace has Jane (the document's example lead), Omar (opted out) and Bea (created on the last
instant, untouched); Tess is a test lead, Del is deleted and Leo was created in May.
"""
from __future__ import annotations

import asyncio
import csv
import io
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from domain import checklists, exports, lead_analytics, lead_records
from domain.dates import iso
from runtime import now_ms
from storage.r2 import R2Bucket, R2Error
from tests.seed import Workspace
from tests.seed_lead_records import INCOME_DOCUMENT, at

RANGE = {"start": "2026-03-14T00:00:00Z", "end": "2026-04-14T00:00:00Z"}


def keys(workspace: Workspace) -> Any:
    assert workspace.lead_records is not None
    return workspace.lead_records


async def get(client: httpx.AsyncClient, key: str, **params: Any) -> httpx.Response:
    return await client.get("/api/v0/analytics", params=params, headers={"x-api-key": key})


async def get_json(client: httpx.AsyncClient, key: str, **params: Any) -> Any:
    response = await get(client, key, **params)
    assert response.status_code == 200, response.text
    return response.json()


def error(status: int, message: str) -> dict[str, Any]:
    return {"statusCode": status, "error": {400: "Bad Request", 401: "Unauthorized"}[status], "message": message}


def no_interventions(**counts: int) -> dict[str, int]:
    return {"documentOverrides": 0, "escalations": 0, "manualUpdates": 0, "messageEdits": 0, "messageRejects": 0,
            **counts}


def by_source(**counts: int) -> dict[str, int]:
    return {"agent": 0, "imported": 0, "manual": 0, "portal": 0, **counts}


# --- the document's example ----------------------------------------------------------------------


async def test_janes_breakdown_is_the_documents_example(client: httpx.AsyncClient, workspace: Workspace) -> None:
    body = await get_json(client, keys(workspace).analytics_key, **RANGE)
    assert list(body) == ["start", "end", "nextToken", "totals", "breakdown"]
    assert (body["start"], body["end"], body["nextToken"]) == ("2026-03-14T00:00:00Z", "2026-04-14T00:00:00Z", None)
    jane = body["breakdown"][0]
    # The document's breakdown entry, field by field (timestamps as every instant is written: with milliseconds).
    expected = {
        "leadId": keys(workspace).jane,
        "firstName": "Jane",
        "lastName": "Doe",
        "email": "jane@acme.com",
        "phoneNumber": "+15551234567",
        "createdAt": "2026-03-15T10:22:00.000Z",
        "completedAt": "2026-03-17T04:45:00.000Z",
        "optedOutAt": None,
        "totalMessages": 18,
        "inboundMessages": 7,
        "outboundMessages": 11,
        "lastInboundAt": "2026-03-17T04:30:00.000Z",
        "lastOutboundAt": "2026-03-17T04:40:00.000Z",
        "channels": {
            "sms": {"inbound": 6, "outbound": 9, "lastInboundAt": "2026-03-17T04:30:00.000Z",
                    "lastOutboundAt": "2026-03-17T04:40:00.000Z"},
            "email": {"inbound": 1, "outbound": 2, "lastInboundAt": "2026-03-15T11:12:00.000Z",
                      "lastOutboundAt": "2026-03-15T10:30:00.000Z"},
        },
        "completion": {"totalRequired": 8, "totalCompleted": 8,
                       "bySource": {"agent": 2, "imported": 0, "manual": 1, "portal": 5}},
        "interventions": {"documentOverrides": 0, "escalations": 0, "manualUpdates": 1, "messageEdits": 1,
                          "messageRejects": 0},
    }
    for key, value in expected.items():
        assert jane[key] == value, key
    assert list(jane) == [*expected, "checklistItems"]
    items = {item["code"]: item for item in jane["checklistItems"]}
    assert items["PERSONAL_DETAILS.FIRST_NAME"] == {"code": "PERSONAL_DETAILS.FIRST_NAME", "required": True,
                                                    "status": "COMPLETED", "value": "Jane",
                                                    "updatedAt": "2026-03-15T10:22:00.000Z", "source": "portal"}
    assert items["DOCUMENTS.INCOME_VERIFICATION"] == {"code": "DOCUMENTS.INCOME_VERIFICATION", "required": True,
                                                      "status": "COMPLETED", "value": INCOME_DOCUMENT,
                                                      "updatedAt": "2026-03-15T11:02:00.000Z", "source": "portal"}
    # Every item of the template, in checklist order; the self-employed ones are hidden, so not required.
    assert [(i["code"], i["required"], i["status"], i["source"]) for i in jane["checklistItems"]] == [
        ("PERSONAL_DETAILS.FIRST_NAME", True, "COMPLETED", "portal"),
        ("PERSONAL_DETAILS.LAST_NAME", True, "COMPLETED", "portal"),
        ("PERSONAL_DETAILS.DATE_OF_BIRTH", True, "COMPLETED", "portal"),
        ("PERSONAL_DETAILS.EMAIL", True, "COMPLETED", "portal"),
        ("PERSONAL_DETAILS.PHONE", True, "COMPLETED", "agent"),
        ("EMPLOYMENT.EMPLOYER", True, "COMPLETED", "agent"),
        ("EMPLOYMENT.ANNUAL_INCOME", True, "COMPLETED", "manual"),
        ("EMPLOYMENT.EMPLOYMENT_TYPE", False, "COMPLETED", "portal"),
        ("EMPLOYMENT.BUSINESS_NAME", False, "TODO", None),
        ("DOCUMENTS.INCOME_VERIFICATION", True, "COMPLETED", "portal"),
        ("DOCUMENTS.BUSINESS_LICENSE", False, "TODO", None),
    ]
    assert items["EMPLOYMENT.ANNUAL_INCOME"]["value"] == 85000
    assert items["EMPLOYMENT.BUSINESS_NAME"]["updatedAt"] == "2026-03-15T10:22:00.000Z"  # untouched: createdAt


async def test_totals_and_the_other_leads_of_the_range(client: httpx.AsyncClient, workspace: Workspace) -> None:
    seeded = keys(workspace)
    body = await get_json(client, seeded.analytics_key, **RANGE)
    assert body["totals"] == {
        "count": 3, "leadsCompleted": 1, "leadsOptedOut": 1,
        "totalMessages": 19, "inboundMessages": 8, "outboundMessages": 11,
        "channels": {"sms": {"inbound": 6, "outbound": 9}, "email": {"inbound": 1, "outbound": 2},
                     "whatsapp": {"inbound": 1, "outbound": 0}},
        "completion": {"totalRequired": 24, "totalCompleted": 9, "bySource": by_source(agent=2, imported=1, manual=1,
                                                                                       portal=5)},
        "interventions": no_interventions(escalations=1, manualUpdates=1, messageEdits=1, messageRejects=1),
    }
    jane, omar, bea = body["breakdown"]
    assert [jane["leadId"], omar["leadId"], bea["leadId"]] == [seeded.jane, seeded.omar, seeded.boundary]
    # Omar: whatsapp replies only; his rejected sms draft was never sent; an invalid income is not completed.
    assert {k: omar[k] for k in ("totalMessages", "inboundMessages", "outboundMessages", "lastInboundAt",
                                 "lastOutboundAt", "channels", "completion", "interventions", "optedOutAt",
                                 "completedAt")} == {
        "totalMessages": 1, "inboundMessages": 1, "outboundMessages": 0, "lastInboundAt": "2026-03-20T09:00:00.000Z",
        "lastOutboundAt": None,
        "channels": {"whatsapp": {"inbound": 1, "outbound": 0, "lastInboundAt": "2026-03-20T09:00:00.000Z",
                                  "lastOutboundAt": None}},
        "completion": {"totalRequired": 8, "totalCompleted": 1, "bySource": by_source(imported=1)},
        "interventions": no_interventions(escalations=1, messageRejects=1),
        "optedOutAt": "2026-03-21T12:00:00.000Z", "completedAt": None,
    }
    income = next(i for i in omar["checklistItems"] if i["code"] == "EMPLOYMENT.ANNUAL_INCOME")
    assert (income["status"], income["value"], income["required"]) == ("INVALID", "lots", True)
    # Bea, created on the range's last instant: included, untouched.
    assert (bea["createdAt"], bea["totalMessages"], bea["channels"], bea["completion"]) == (
        "2026-04-14T00:00:00.000Z", 0, {}, {"totalRequired": 8, "totalCompleted": 0, "bySource": by_source()})
    assert all((i["status"], i["value"], i["source"], i["updatedAt"]) == ("TODO", None, None, bea["createdAt"])
               for i in bea["checklistItems"])


async def test_totals_are_the_sum_of_the_breakdown(client: httpx.AsyncClient, workspace: Workspace) -> None:
    body = await get_json(client, keys(workspace).analytics_key)
    assert body["totals"]["count"] == len(body["breakdown"]) == 4  # Leo (May) too; never Tess (test) or Del (deleted)
    assert_totals_add_up(body["totals"], body["breakdown"])


def assert_totals_add_up(totals: dict[str, Any], breakdown: list[dict[str, Any]]) -> None:
    assert totals["count"] == len(breakdown)
    assert totals["leadsCompleted"] == sum(1 for lead in breakdown if lead["completedAt"])
    assert totals["leadsOptedOut"] == sum(1 for lead in breakdown if lead["optedOutAt"])
    for name in ("totalMessages", "inboundMessages", "outboundMessages"):
        assert totals[name] == sum(lead[name] for lead in breakdown), name
    for channel in lead_analytics.CHANNELS:
        for direction in ("inbound", "outbound"):
            assert totals["channels"].get(channel, {}).get(direction, 0) == sum(
                lead["channels"].get(channel, {}).get(direction, 0) for lead in breakdown)
    completion = totals["completion"]
    assert completion["totalRequired"] == sum(lead["completion"]["totalRequired"] for lead in breakdown)
    assert completion["totalCompleted"] == sum(lead["completion"]["totalCompleted"] for lead in breakdown)
    for source in lead_analytics.SOURCES:
        assert completion["bySource"][source] == sum(lead["completion"]["bySource"][source] for lead in breakdown)
    for name in totals["interventions"]:
        assert totals["interventions"][name] == sum(lead["interventions"][name] for lead in breakdown), name
    for lead in breakdown:  # each lead's completion is its required items
        assert lead["completion"]["totalRequired"] == sum(item["required"] for item in lead["checklistItems"])
        assert lead["completion"]["totalCompleted"] == sum(
            item["required"] and item["status"] == "COMPLETED" for item in lead["checklistItems"])


async def test_a_workspace_sees_only_its_own(client: httpx.AsyncClient, workspace: Workspace) -> None:
    body = await get_json(client, keys(workspace).detail_key)
    assert [lead["leadId"] for lead in body["breakdown"]] == [keys(workspace).john]
    assert body["totals"]["count"] == 1


# --- parameters ----------------------------------------------------------------------------------


@pytest.mark.parametrize("params, message", [
    ({"start": "yesterday"}, "start must be an ISO 8601 date-time, e.g. 2026-03-14T00:00:00Z"),
    ({"end": "2026-13-01"}, "end must be an ISO 8601 date-time, e.g. 2026-03-14T00:00:00Z"),
    ({"start": "2026-04-14T00:00:00Z", "end": "2026-03-14T00:00:00Z"}, "end must be on or after start"),
    ({"start": "2026-03-14", "limit": "10"}, "Unrecognized parameter: limit"),
    ({"format": "xml"}, "format must be one of: json, csv"),
    ({"token": "garbage"}, "token is not a pagination token issued by this API"),
    ({"token": "eyJhIjoxfQ.AAAAAAAAAAAAAAAAAAAAAA"}, "token is not a pagination token issued by this API"),
    ({"format": "csv", "token": "x"}, "token is only used with format=json"),
])
async def test_bad_parameters_are_400(client: httpx.AsyncClient, workspace: Workspace, params: dict[str, str],
                                      message: str) -> None:
    response = await get(client, keys(workspace).analytics_key, **params)
    assert (response.status_code, response.json()) == (400, error(400, message))


async def test_start_equal_to_end_and_date_only_values(client: httpx.AsyncClient, workspace: Workspace) -> None:
    key = keys(workspace).analytics_key
    instant = await get_json(client, key, start="2026-04-14T00:00:00Z", end="2026-04-14T00:00:00Z")
    assert [lead["leadId"] for lead in instant["breakdown"]] == [keys(workspace).boundary]
    day = await get_json(client, key, start="2026-03-15", end="2026-03-16")  # dates are their midnight UTC
    assert ([lead["firstName"] for lead in day["breakdown"]], day["start"], day["end"]) == (
        ["Jane"], "2026-03-15", "2026-03-16")
    offset = await get_json(client, key, start="2026-03-15T12:22:00+02:00", end="2026-03-15T10:22:00Z")
    assert [lead["firstName"] for lead in offset["breakdown"]] == ["Jane"]


async def test_unauthenticated_is_401(client: httpx.AsyncClient, workspace: Workspace) -> None:
    missing = await client.get("/api/v0/analytics")
    assert (missing.status_code, missing.json()) == (401, error(401, "Missing API key: send it in the x-api-key header"))
    wrong = await get(client, "not-a-key")
    assert (wrong.status_code, wrong.json()) == (401, error(401, "Invalid API key"))


async def test_a_token_only_works_where_it_was_issued(client: httpx.AsyncClient, app: Starlette,
                                                      workspace: Workspace) -> None:
    seeded = keys(workspace)
    await _many_leads(app, "acme", 501, at("2026-03-14T00:00:00Z"))
    token = (await get_json(client, seeded.analytics_key, **RANGE))["nextToken"]
    assert token is not None
    other_range = await get(client, seeded.analytics_key, token=token, start="2026-03-14T00:00:00Z")
    assert (other_range.status_code, other_range.json()) == (
        400, error(400, "token was issued for another start and end"))
    other_workspace = await get(client, seeded.detail_key, token=token, **RANGE)
    assert (other_workspace.status_code, other_workspace.json()) == (
        400, error(400, "token is not a pagination token issued by this API"))
    body, signature = token.split(".")
    tampered = await get(client, seeded.analytics_key, token=f"{body}A.{signature}", **RANGE)
    assert (tampered.status_code, tampered.json()) == (400, error(400, "token is not a pagination token issued by this API"))


# --- pages ---------------------------------------------------------------------------------------


async def _many_leads(app: Starlette, workspace_id: str, count: int, first_at: int, notes: str = "") -> None:
    """`count` leads through the domain, three per millisecond (ties are ordered by id), each with messages."""

    def create(conn: Any) -> None:
        for n in range(count):
            created = first_at + n // 3
            body: dict[str, Any] = {"firstName": f"Lead{n}", "phoneNumber": f"+1444{n:07d}"}
            if notes:
                body["checklist"] = {"first_name": f"Lead{n}", "notes": notes}
            lead_id = lead_records.create_in(conn, workspace_id, body, created)
            uuid = conn.execute("SELECT id FROM leads WHERE lead_id = ?", (lead_id,)).fetchone()[0]
            if n % 7 == 0:
                lead_records.message_in(conn, workspace_id, uuid, {
                    "channel": "sms", "direction": "inbound", "body": "hi"}, created)
            if n % 11 == 0:
                lead_records.update_in(conn, workspace_id, uuid, {"submit": True, "source": "manual",
                                                                  "checklist": {"first_name": "X"}}, created + 1)

    await app.state.env.DB.transaction(create)


async def test_pages_cover_every_lead_once(client: httpx.AsyncClient, app: Starlette, workspace: Workspace) -> None:
    key = keys(workspace).analytics_key
    await _many_leads(app, "acme", 1203, at("2026-03-20T00:00:00Z"))
    expected = {row["id"] for row in (await app.state.env.DB.prepare(
        "SELECT id FROM leads WHERE workspace_id = 'acme' AND is_test = 0 AND deleted_at IS NULL"
        " AND created_at BETWEEN ? AND ?").bind(at(RANGE["start"]), at(RANGE["end"])).all()).results}
    assert len(expected) == 1206
    seen: list[str] = []
    breakdown: list[dict[str, Any]] = []
    sizes = []
    first = await get_json(client, key, **RANGE)
    page = first
    while True:
        assert page["totals"] == first["totals"]  # the same totals on every page
        sizes.append(len(page["breakdown"]))
        seen += [lead["leadId"] for lead in page["breakdown"]]
        breakdown += page["breakdown"]
        if page["nextToken"] is None:
            break
        page = await get_json(client, key, token=page["nextToken"], **RANGE)
    assert sizes == [500, 500, 206]
    assert len(seen) == len(set(seen)) and set(seen) == expected
    order = [(lead["createdAt"], lead["leadId"]) for lead in breakdown]
    assert [c for c, _ in order] == sorted(c for c, _ in order)
    assert_totals_add_up(first["totals"], breakdown)
    assert first["totals"]["count"] == 1206


# --- CSV -----------------------------------------------------------------------------------------


def expected_header(items: int) -> list[str]:
    return [
        "leadId", "firstName", "lastName", "email", "phoneNumber", "createdAt", "completedAt", "optedOutAt",
        "totalMessages", "inboundMessages", "outboundMessages", "lastInboundAt", "lastOutboundAt",
        *(f"channels.{c}.{f}" for c in ("sms", "email", "whatsapp")
          for f in ("inbound", "outbound", "lastInboundAt", "lastOutboundAt")),
        "completion.totalRequired", "completion.totalCompleted", "completion.bySource.agent",
        "completion.bySource.imported", "completion.bySource.manual", "completion.bySource.portal",
        "interventions.documentOverrides", "interventions.escalations", "interventions.manualUpdates",
        "interventions.messageEdits", "interventions.messageRejects",
        *(f"checklist.{i}.{f}" for i in range(items) for f in ("code", "required", "status", "value", "updatedAt",
                                                                "source")),
    ]


async def test_csv_through_its_signed_link(client: httpx.AsyncClient, app: Starlette, workspace: Workspace) -> None:
    seeded = keys(workspace)
    before = now_ms()
    link = await get_json(client, seeded.analytics_key, format="CSV", **RANGE)
    assert list(link) == ["downloadUrl", "expiresAt"]
    expires = (await app.state.env.DB.prepare("SELECT expires_at FROM exports").first("expires_at"))
    assert link["expiresAt"] == iso(expires) and before + 3_600_000 <= expires <= now_ms() + 3_600_000
    assert "X-Amz-Signature=" in link["downloadUrl"] and "analytics-exports/acme/" in link["downloadUrl"]
    async with httpx.AsyncClient() as http:
        download = await http.get(link["downloadUrl"])
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(download.content.decode("utf-8"))))
    assert table[0] == expected_header(11)
    rows = [dict(zip(table[0], row)) for row in table[1:]]
    assert [row["leadId"] for row in rows] == [seeded.jane, seeded.omar, seeded.boundary]
    assert all(len(row) == len(table[0]) for row in table)
    jane = rows[0]
    assert {name: jane[name] for name in expected_header(0)} == {
        "leadId": seeded.jane, "firstName": "Jane", "lastName": "Doe", "email": "jane@acme.com",
        "phoneNumber": "+15551234567", "createdAt": "2026-03-15T10:22:00.000Z",
        "completedAt": "2026-03-17T04:45:00.000Z", "optedOutAt": "", "totalMessages": "18", "inboundMessages": "7",
        "outboundMessages": "11", "lastInboundAt": "2026-03-17T04:30:00.000Z",
        "lastOutboundAt": "2026-03-17T04:40:00.000Z",
        "channels.sms.inbound": "6", "channels.sms.outbound": "9",
        "channels.sms.lastInboundAt": "2026-03-17T04:30:00.000Z",
        "channels.sms.lastOutboundAt": "2026-03-17T04:40:00.000Z",
        "channels.email.inbound": "1", "channels.email.outbound": "2",
        "channels.email.lastInboundAt": "2026-03-15T11:12:00.000Z",
        "channels.email.lastOutboundAt": "2026-03-15T10:30:00.000Z",
        "channels.whatsapp.inbound": "0", "channels.whatsapp.outbound": "0", "channels.whatsapp.lastInboundAt": "",
        "channels.whatsapp.lastOutboundAt": "",
        "completion.totalRequired": "8", "completion.totalCompleted": "8", "completion.bySource.agent": "2",
        "completion.bySource.imported": "0", "completion.bySource.manual": "1", "completion.bySource.portal": "5",
        "interventions.documentOverrides": "0", "interventions.escalations": "0", "interventions.manualUpdates": "1",
        "interventions.messageEdits": "1", "interventions.messageRejects": "0",
    }
    assert [jane[f"checklist.0.{f}"] for f in ("code", "required", "status", "value", "updatedAt", "source")] == [
        "PERSONAL_DETAILS.FIRST_NAME", "true", "COMPLETED", "Jane", "2026-03-15T10:22:00.000Z", "portal"]
    assert [jane[f"checklist.6.{f}"] for f in ("code", "required", "value", "source")] == [
        "EMPLOYMENT.ANNUAL_INCOME", "true", "85000", "manual"]
    assert [jane[f"checklist.8.{f}"] for f in ("code", "required", "status", "value", "source")] == [
        "EMPLOYMENT.BUSINESS_NAME", "false", "TODO", "", ""]
    # The JSON breakdown and the CSV say the same.
    page = await get_json(client, seeded.analytics_key, **RANGE)
    for entry, row in zip(page["breakdown"], rows):
        assert row["totalMessages"] == str(entry["totalMessages"])
        assert row["completion.totalCompleted"] == str(entry["completion"]["totalCompleted"])
        assert [row[f"checklist.{i}.status"] for i in range(11)] == [i["status"] for i in entry["checklistItems"]]


async def test_csv_cells_keep_commas_quotes_and_line_breaks(client: httpx.AsyncClient, app: Starlette,
                                                            workspace: Workspace) -> None:
    seeded = keys(workspace)
    awkward = 'O"mar, the\nGreat'
    await client.patch(f"/api/v1/leads/{seeded.omar}", json={"lastName": awkward, "checklist": {"first_name": awkward}},
                       headers={"x-api-key": seeded.analytics_key})
    env = app.state.env
    link = await exports.export_csv(env.DB, env.EXPORTS, lead_analytics.lead_filter("acme", at(RANGE["start"]),
                                                                                     at(RANGE["end"])), now_ms())
    async with httpx.AsyncClient() as http:
        table = list(csv.reader(io.StringIO((await http.get(link["downloadUrl"])).text)))
    omar = dict(zip(table[0], table[2]))
    assert (omar["lastName"], omar["checklist.0.value"], omar["checklist.1.value"]) == (awkward, awkward, "")
    assert omar["checklist.1.updatedAt"] == "2026-03-20T08:00:00.000Z"  # untouched: his createdAt


async def test_csv_pads_checklist_columns_to_the_longest_lead(app: Starlette, workspace: Workspace) -> None:
    # Every lead lists every item of the template, so the longest lead is the template; a lead
    # of a workspace without a template has no checklist columns at all.
    env = app.state.env
    link = await exports.export_csv(env.DB, env.EXPORTS, lead_analytics.lead_filter("default", None, None), now_ms())
    async with httpx.AsyncClient() as http:
        table = list(csv.reader(io.StringIO((await http.get(link["downloadUrl"])).text)))
    assert table[0] == expected_header(2)  # default's template: budget, timeline
    assert len(table) == 4 and all(len(row) == len(table[0]) for row in table)
    assert [row[table[0].index("checklist.1.code")] for row in table[1:]] == ["QUALIFICATION.TIMELINE"] * 3


async def test_an_expired_link_is_refused(app: Starlette, workspace: Workspace) -> None:
    env = app.state.env
    link = await exports.export_csv(env.DB, env.EXPORTS, lead_analytics.lead_filter("acme", None, None), now_ms(),
                                    link_seconds=1)
    async with httpx.AsyncClient() as http:
        assert (await http.get(link["downloadUrl"])).status_code == 200
        await asyncio.sleep(2.1)
        expired = await http.get(link["downloadUrl"])
    # R2 and AWS answer 403; rclone answers 400, with the same AccessDenied code.
    assert expired.status_code in (400, 403)
    assert "<Code>AccessDenied</Code>" in expired.text


class RecordingBucket(R2Bucket):
    """The real binding, noting which S3 operations it makes."""

    operations: list[str]

    async def _call(self, operation: str, **arguments: Any) -> Any:
        self.operations.append(operation)
        return await super()._call(operation, **arguments)


async def test_a_large_export_streams_in_parts(app: Starlette, workspace: Workspace, s3_server: Any) -> None:
    env = app.state.env
    await env.DB.transaction(lambda conn: checklists.replace_template(conn, "acme", {"items": [
        {"code": "first_name", "label": "First name", "fieldType": "TEXT", "isRequired": True},
        {"code": "notes", "label": "Notes", "fieldType": "TEXT"}]}, now_ms()))
    await _many_leads(app, "acme", 700, at("2026-06-01T00:00:00Z"), notes="n" * 10_000)
    endpoint = s3_server.endpoint
    bucket = RecordingBucket(env.EXPORTS.bucket_name, endpoint_url=endpoint.url, access_key_id=endpoint.access_key_id,
                             secret_access_key=endpoint.secret_access_key, region=endpoint.region)
    bucket.operations = []
    async with bucket:
        link = await exports.export_csv(env.DB, bucket, lead_analytics.lead_filter(
            "acme", at("2026-06-01T00:00:00Z"), None), now_ms())
    # Past one 5 MiB part, the rows went up as a multipart upload, never as one body.
    assert bucket.operations == ["create_multipart_upload", "upload_part", "upload_part", "complete_multipart_upload"]
    row = await env.DB.prepare("SELECT r2_key, size, row_count FROM exports").first()
    stored = await env.EXPORTS.head(row["r2_key"])
    assert stored.size == row["size"] > 7_000_000 and row["row_count"] == 700
    lines = 0
    async with httpx.AsyncClient() as http, http.stream("GET", link["downloadUrl"]) as download:
        async for _ in download.aiter_lines():
            lines += 1
    assert lines == 701


async def test_a_failed_export_leaves_nothing(app: Starlette, workspace: Workspace, s3_server: Any) -> None:
    env = app.state.env
    endpoint = s3_server.endpoint
    missing = R2Bucket("no-such-bucket", endpoint_url=endpoint.url, access_key_id=endpoint.access_key_id,
                       secret_access_key=endpoint.secret_access_key, region=endpoint.region)
    async with missing:
        with pytest.raises(R2Error):
            await exports.export_csv(env.DB, missing, lead_analytics.lead_filter("acme", None, None), now_ms())
    assert (await env.DB.prepare("SELECT count(*) AS n FROM exports").first("n")) == 0
    assert (await env.EXPORTS.list(prefix="analytics-exports/")).objects == []
