"""The writes behind /api/analytics: campaigns, sender lines, messages, status callbacks, conversation tags."""
from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from tests.campaigns import KEY, History, analytics, metrics, post, write_history
from tests.seed import Workspace

ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
HEX24 = re.compile(r"[0-9a-f]{24}")


@pytest.fixture
async def history(client: httpx.AsyncClient, workspace: Workspace) -> History:
    return await write_history(client, workspace)


def error(code: str, message: str) -> dict[str, Any]:
    return {"success": False, "error": {"code": code, "message": message}}


async def counts(app: Starlette) -> tuple[int, int, int, int]:
    db = app.state.env.DB
    return tuple([await db.prepare(f"SELECT count(*) AS n FROM {table}").first("n")  # type: ignore[return-value]
                  for table in ("campaigns", "lines", "messages", "leads")])


async def test_create_a_campaign_and_a_line(client: httpx.AsyncClient, workspace: Workspace) -> None:
    campaign = (await post(client, "/api/campaigns", {"name": "  Winter push "}))["campaign"]
    assert HEX24.fullmatch(campaign["id"]) and ISO.fullmatch(campaign["createdAt"])
    assert campaign["name"] == "Winter push"
    line = (await post(client, "/api/lines", {"name": "iMessage 2", "address": "+1 (415) 555-0177"}))["line"]
    assert (line["name"], line["address"]) == ("iMessage 2", "+14155550177") and HEX24.fullmatch(line["id"])
    line = (await post(client, "/api/lines", {"name": "Mail", "address": " Sales@Example.COM "}))["line"]
    assert line["address"] == "sales@example.com"


@pytest.mark.parametrize("path, body, message", [
    ("/api/campaigns", {}, "name is required"),
    ("/api/campaigns", {"name": "   "}, "name is required"),
    ("/api/campaigns", {"name": 42}, "name must be a string"),
    ("/api/campaigns", {"name": "x" * 201}, "name must be at most 200 characters"),
    ("/api/campaigns", [], "Request body must be a JSON object"),
    ("/api/lines", {"name": "L"}, "address is required"),
    ("/api/lines", {"name": "L", "address": "not an address"},
     "address must be a phone number (7 to 15 digits) or an email address"),
])
async def test_invalid_campaigns_and_lines_change_nothing(client: httpx.AsyncClient, app: Starlette,
                                                          workspace: Workspace, path: str, body: Any,
                                                          message: str) -> None:
    before = await counts(app)
    response = await client.post(path, json=body, headers=KEY)
    assert (response.status_code, response.json()) == (400, error("INVALID_BODY", message))
    assert await counts(app) == before


async def test_a_message_resolves_its_contact_to_a_lead(client: httpx.AsyncClient, workspace: Workspace) -> None:
    first = (await post(client, "/api/messages", {"direction": "outbound", "contact": "+1 (415) 555-0160",
                                                  "channel": "sms", "userId": "user_alice"}))["message"]
    assert HEX24.fullmatch(first["id"]) and ISO.fullmatch(first["createdAt"])
    assert {k: v for k, v in first.items() if k not in ("id", "leadId", "createdAt", "updatedAt")} == {
        "contact": "+1 (415) 555-0160", "channel": "sms", "direction": "outbound", "status": "sent",
        "fallbackSmsDispatched": False, "campaignId": None, "lineId": None, "userId": "user_alice", "body": None}
    again = (await post(client, "/api/messages", {"direction": "inbound", "contact": "4155550160",
                                                  "channel": "sms", "body": "Yes please"}))["message"]
    assert again["leadId"] == first["leadId"] and again["status"] == "received"
    zoe = (await post(client, "/api/messages", {"direction": "outbound", "contact": "Zoe@Example.org",
                                                "channel": "email"}))["message"]
    assert zoe["leadId"] != first["leadId"]
    again = (await post(client, "/api/messages", {"direction": "inbound", "contact": " zoe@example.ORG ",
                                                  "channel": "email"}))["message"]
    assert (again["leadId"], again["contact"]) == (zoe["leadId"], "zoe@example.ORG")


async def test_a_reply_takes_the_campaign_of_the_message_it_answers(client: httpx.AsyncClient,
                                                                     history: History) -> None:
    r1, r6 = history.messages["r1"], history.messages["r6"]
    assert (r1["campaignId"], r1["lineId"], r1["userId"]) == (history.spring, history.main_line, "user_alice")
    assert (r6["campaignId"], r6["lineId"], r6["userId"]) == (history.autumn, history.backup_line, "user_bob")
    # Named explicitly, the campaign is kept, and the rest comes from that campaign's latest message.
    reply = (await post(client, "/api/messages", {"direction": "inbound", "contact": "+14155550102",
                                                  "channel": "sms", "campaignId": history.spring,
                                                  "createdAt": "2025-06-05T00:00:00Z"}))["message"]
    assert (reply["campaignId"], reply["lineId"], reply["userId"]) == (history.spring, history.main_line,
                                                                        "user_alice")


@pytest.mark.parametrize("body, status, code, message", [
    ({"contact": "+14155550123", "channel": "sms"}, 400, "INVALID_BODY", "direction is required"),
    ({"direction": "sideways", "contact": "+14155550123", "channel": "sms"}, 400, "INVALID_BODY",
     "direction must be one of: outbound, inbound"),
    ({"direction": "outbound", "contact": "+14155550123", "channel": "fax"}, 400, "INVALID_BODY",
     "channel must be one of: sms, email, whatsapp, imessage"),
    ({"direction": "outbound", "contact": "+14155550123", "channel": "sms", "status": "received"}, 400,
     "INVALID_BODY", "status must be one of: queued, sent, delivered, fallback, failed"),
    ({"direction": "inbound", "contact": "+14155550123", "channel": "sms", "status": "sent"}, 400, "INVALID_BODY",
     "status of a reply is always received"),
    ({"direction": "inbound", "contact": "+14155550123", "channel": "sms", "fallbackSmsDispatched": True}, 400,
     "INVALID_BODY", "fallbackSmsDispatched applies to outbound messages only"),
    ({"direction": "outbound", "contact": "+14155550123", "channel": "sms", "fallbackSmsDispatched": "yes"}, 400,
     "INVALID_BODY", "fallbackSmsDispatched must be true or false"),
    ({"direction": "outbound", "contact": "call me", "channel": "sms"}, 400, "INVALID_BODY",
     "contact: expected a phone number (7 to 15 digits) or an email address"),
    ({"direction": "outbound", "contact": ["+14155550123"], "channel": "sms"}, 400, "INVALID_BODY",
     "contact must be a string"),
    ({"direction": "outbound", "contact": "+14155550123", "channel": "sms", "campaignId": "123"}, 400,
     "INVALID_BODY", "campaignId must be a 24-character hex id"),
    ({"direction": "outbound", "contact": "+14155550123", "channel": "sms", "userId": "alice"}, 400, "INVALID_BODY",
     "userId must be a user id (user_...)"),
    ({"direction": "outbound", "contact": "+14155550123", "channel": "sms", "createdAt": "soon"}, 400,
     "INVALID_BODY", "createdAt must be an ISO 8601 date-time, e.g. 2026-03-14T00:00:00Z"),
    ({"direction": "outbound", "contact": "+14155550123", "channel": "sms", "createdAt": "1969-12-31T23:59:59Z"},
     400, "INVALID_BODY", "createdAt must not be before 1970"),
    ({"direction": "outbound", "contact": "+14155550123", "channel": "sms", "body": "\ud800"}, 400, "INVALID_BODY",
     "body.body contains a lone UTF-16 surrogate"),
    ({"direction": "outbound", "contact": "+14155550123", "channel": "sms", "campaignId": "0" * 24}, 404,
     "NOT_FOUND", "campaignId: no such campaign in this workspace"),
    ({"direction": "outbound", "contact": "+14155550123", "channel": "sms", "lineId": "f" * 24}, 404,
     "NOT_FOUND", "lineId: no such line in this workspace"),
])
async def test_a_rejected_message_writes_nothing(client: httpx.AsyncClient, app: Starlette, workspace: Workspace,
                                                 body: dict[str, Any], status: int, code: str, message: str) -> None:
    before = await counts(app)
    response = await client.post("/api/messages", content=json.dumps(body), headers=KEY)
    assert (response.status_code, response.json()) == (status, error(code, message))
    assert await counts(app) == before


async def test_another_workspaces_campaign_is_not_found(client: httpx.AsyncClient, app: Starlette,
                                                        workspace: Workspace) -> None:
    other = await app.state.env.DB.prepare("SELECT id FROM campaigns WHERE workspace_id = 'ws-two'").first("id")
    before = await counts(app)
    response = await client.post("/api/messages", headers=KEY, json={
        "direction": "outbound", "contact": "+14155550123", "channel": "sms", "campaignId": other})
    assert (response.status_code, response.json()) == (
        404, error("NOT_FOUND", "campaignId: no such campaign in this workspace"))
    assert await counts(app) == before


async def patch(client: httpx.AsyncClient, message_id: str, body: Any) -> httpx.Response:
    return await client.patch(f"/api/messages/{message_id}", json=body, headers=KEY)


async def test_status_callbacks_move_the_metrics(client: httpx.AsyncClient, history: History) -> None:
    o7 = history.messages["o7"]["id"]  # queued to C5, who was never reached
    spring = (await analytics(client, campaignId=history.spring)).json()["metrics"]
    response = await patch(client, o7, {"status": "sent"})
    assert response.status_code == 200 and response.json()["message"]["status"] == "sent"
    assert (await patch(client, o7, {"status": "sent"})).status_code == 200  # a repeated callback is a no-op
    delivered = (await patch(client, o7, {"status": "delivered"})).json()["message"]
    assert delivered["status"] == "delivered" and delivered["fallbackSmsDispatched"] is False
    after = (await analytics(client, campaignId=history.spring)).json()["metrics"]
    assert after == {**spring, "reached": 4, "sent": 5, "repliedPct": 0.75}  # 3 repliers of 4 reached
    response = await patch(client, o7, {"status": "failed"})
    assert (response.status_code, response.json()) == (
        409, error("INVALID_STATUS_TRANSITION", "status: a delivered message cannot become failed"))


async def test_leaving_fallback_keeps_the_fallback(client: httpx.AsyncClient, history: History) -> None:
    o4 = history.messages["o4"]["id"]  # status fallback, to C3
    moved = (await patch(client, o4, {"status": "delivered"})).json()["message"]
    assert (moved["status"], moved["fallbackSmsDispatched"]) == ("delivered", True)
    after = (await analytics(client, campaignId=history.spring)).json()["metrics"]
    assert (after["sent"], after["fallback"], after["reached"]) == (5, 2, 3)


@pytest.mark.parametrize("body, status, code, message", [
    ({}, 400, "INVALID_BODY", "status is required"),
    ({"status": "lost"}, 400, "INVALID_BODY",
     "status must be one of: queued, sent, delivered, fallback, failed, received"),
    ({"status": "received"}, 400, "INVALID_BODY",
     "status: expected one of queued, sent, delivered, fallback, failed"),
    ({"status": "sent", "fallbackSmsDispatched": 1}, 400, "INVALID_BODY",
     "fallbackSmsDispatched must be true or false"),
])
async def test_invalid_status_callbacks(client: httpx.AsyncClient, history: History, body: dict[str, Any],
                                        status: int, code: str, message: str) -> None:
    response = await patch(client, history.messages["o7"]["id"], body)
    assert (response.status_code, response.json()) == (status, error(code, message))


async def test_a_reply_has_no_delivery_status(client: httpx.AsyncClient, history: History) -> None:
    response = await patch(client, history.messages["r1"]["id"], {"status": "delivered"})
    assert (response.status_code, response.json()) == (
        409, error("INVALID_STATUS_TRANSITION", "status: a reply has no delivery status"))


@pytest.mark.parametrize("message_id", ["0" * 24, "m1x", "not-a-message"])
async def test_an_unknown_message_is_404(client: httpx.AsyncClient, workspace: Workspace, message_id: str) -> None:
    response = await patch(client, message_id, {"status": "sent"})
    assert (response.status_code, response.json()) == (404, error("NOT_FOUND", "Message not found"))


async def test_a_malformed_message_id_is_400(client: httpx.AsyncClient, workspace: Workspace) -> None:
    response = await patch(client, "x" * 65, {"status": "sent"})
    assert (response.status_code, response.json()) == (400, error("INVALID_PARAMETER", "id must be a message id"))


async def tags(client: httpx.AsyncClient, lead: str, body: Any) -> httpx.Response:
    return await client.put(f"/api/conversations/{lead}/tags", json=body, headers=KEY)


async def test_tags_decide_positive_replies(client: httpx.AsyncClient, history: History) -> None:
    response = await tags(client, history.leads["C3"], {"tags": ["  Interested ", "interested", "", "VIP"]})
    assert response.json() == {"success": True, "conversation": {
        "leadId": history.leads["C3"], "tags": ["Interested", "VIP"], "positive": True}}
    spring = (await analytics(client, campaignId=history.spring)).json()["metrics"]
    assert (spring["positiveReplied"], spring["positivePct"]) == (3, 1.0)
    response = await tags(client, history.leads["C1"], {"tags": []})
    assert response.json()["conversation"] == {"leadId": history.leads["C1"], "tags": [], "positive": False}
    spring = (await analytics(client, campaignId=history.spring)).json()["metrics"]
    assert (spring["positiveReplied"], spring["positivePct"]) == (2, 0.6666)
    for tag in ("to respond", "TO RESPOND", "to-answer", "To_Answer", "interested"):
        assert (await tags(client, history.leads["C1"], {"tags": [tag]})).json()["conversation"]["positive"] is True
    for tag in ("to-respond", "to answer", "interested.", "not interested", "interest"):
        assert (await tags(client, history.leads["C1"], {"tags": [tag]})).json()["conversation"]["positive"] is False


@pytest.mark.parametrize("body, message", [
    ({}, "tags is required"),
    ({"tags": "Interested"}, "tags must be an array of strings"),
    ({"tags": ["ok", 3]}, "tags must be an array of strings"),
    ({"tags": ["x" * 65]}, "tags[0] must be at most 64 characters"),
    ({"tags": [str(n) for n in range(51)]}, "tags must hold at most 50 tags"),
])
async def test_invalid_tags(client: httpx.AsyncClient, history: History, body: Any, message: str) -> None:
    response = await tags(client, history.leads["C1"], body)
    assert (response.status_code, response.json()) == (400, error("INVALID_BODY", message))


@pytest.mark.parametrize("lead", ["uuid-4", "uuid-5", "00000000-0000-4000-8000-000000000000"])
async def test_tags_of_a_lead_the_workspace_lacks(client: httpx.AsyncClient, workspace: Workspace,
                                                  lead: str) -> None:
    # uuid-4 is deleted; uuid-5 is ws-two's.
    response = await tags(client, lead, {"tags": ["Interested"]})
    assert (response.status_code, response.json()) == (404, error("NOT_FOUND", "Lead not found"))


async def test_a_campaign_message_counts_in_its_leads_analytics(client: httpx.AsyncClient, history: History) -> None:
    # C1 has o1 (sms, outbound) and the sms replies r1 and r2; o2 and r3 went over iMessage, which
    # the lead analytics document does not count.
    response = await client.get("/api/v0/analytics", headers=KEY)
    assert response.status_code == 200, response.text
    (lead,) = [entry for entry in response.json()["breakdown"] if entry["leadId"] == history.leads["C1"]]
    assert {k: lead["channels"]["sms"][k] for k in ("inbound", "outbound")} == {"inbound": 2, "outbound": 1}
    assert (lead["inboundMessages"], lead["outboundMessages"]) == (2, 1)
    spring = (await analytics(client, campaignId=history.spring)).json()["metrics"]
    assert spring == metrics(reached=3, sent=4, fallback=2, failed=1, replied=5, unique=3, replied_pct=1.0,
                             positive=2, positive_pct=0.6666)
