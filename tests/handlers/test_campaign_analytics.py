"""GET /api/analytics as campaign-analytics-api.md shows it, over the history of tests/campaigns.py.

Each expected block is worked out by hand from the table in tests/campaigns.py.
"""
from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from domain.campaigns import EXPLAINER
from tests.campaigns import History, analytics, metrics, write_history
from tests.seed import Workspace

HEX = "a 24-character hex id"


@pytest.fixture
async def history(client: httpx.AsyncClient, workspace: Workspace) -> History:
    return await write_history(client, workspace)


async def block(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    response = await analytics(client, **params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True and body["explainer"] == EXPLAINER
    return body


async def test_the_whole_workspace(client: httpx.AsyncClient, history: History) -> None:
    # Ours: sent o1 o2 o3 o5 o8 o9 to C1 C2 C3 C4; fallback o4 (status) and o5 (flag); failed o6; replies
    # r1-r6 from C1 C2 C3 C4, of whom C1 C2 C4 are tagged positive. Plus the seed's lead 1: m1 delivered, m2 reply.
    assert await block(client) == {
        "success": True,
        "filter": {},
        "metrics": metrics(reached=5, sent=7, fallback=2, failed=1, replied=7, unique=5, replied_pct=1.0, positive=3,
                           positive_pct=0.6),
        "explainer": {
            "reached": "Unique contacts that received at least one outbound message (status sent or delivered).",
            "sent": "Total outbound messages with status sent or delivered. One contact may count more than once.",
            "fallback": "Outbound messages that fell back to SMS or could not be sent via iMessage.",
            "failed": "Outbound messages that hit a hard send failure (technical error, blocked recipient, etc.).",
            "replied": "Total inbound messages from contacts in the window.",
            "uniqueReplied": "Distinct contacts that replied at least once.",
            "repliedPct": "uniqueReplied / reached. Reply rate by unique contact.",
            "positiveReplied": "Distinct contacts whose conversation carries a positive tag (interested, to respond,"
                               " to-answer).",
            "positivePct": "positiveReplied / uniqueReplied. Share of replies that are warm.",
        },
    }


SPRING = metrics(reached=3, sent=4, fallback=2, failed=1, replied=5, unique=3, replied_pct=1.0, positive=2,
                 positive_pct=0.6666)  # 2 / 3, truncated as the document's 71 / 312 = 0.2275
AUTUMN = metrics(reached=2, sent=2, fallback=0, failed=0, replied=1, unique=1, replied_pct=0.5, positive=1,
                 positive_pct=1.0)
NOTHING = metrics(reached=0, sent=0, fallback=0, failed=0, replied=0, unique=0, replied_pct=0.0, positive=0,
                  positive_pct=0.0)


async def test_each_filter_alone(client: httpx.AsyncClient, history: History) -> None:
    spring = await block(client, campaignId=history.spring)
    assert spring["filter"] == {"campaignId": history.spring}
    assert spring["metrics"] == SPRING
    assert (await block(client, campaignId=history.autumn))["metrics"] == AUTUMN
    # main line: o1 o2 o3 sent to C1 C2, o6 failed, replies r1 r2 r3 (C1) and r5 (C2), both positive.
    assert (await block(client, lineId=history.main_line))["metrics"] == metrics(
        reached=2, sent=3, fallback=0, failed=1, replied=4, unique=2, replied_pct=1.0, positive=2, positive_pct=1.0)
    # backup line: o5 o8 o9 to C3 C2 C4, fallback o4 o5, replies r4 (C3, not positive) and r6 (C4).
    assert (await block(client, lineId=history.backup_line))["metrics"] == metrics(
        reached=3, sent=3, fallback=2, failed=0, replied=2, unique=2, replied_pct=0.6666, positive=1,
        positive_pct=0.5)
    assert (await block(client, userId="user_alice"))["metrics"] == SPRING
    assert (await block(client, userId="user_bob"))["metrics"] == AUTUMN
    assert (await block(client, userId="user_nobody"))["metrics"] == NOTHING


async def test_filters_are_intersected(client: httpx.AsyncClient, history: History) -> None:
    answer = await block(client, campaignId=history.spring, lineId=history.backup_line)
    assert answer["filter"] == {"campaignId": history.spring, "lineId": history.backup_line}
    # o4 (fallback) and o5 (delivered, flagged) to C3, C3's reply r4; C3 is not positive.
    assert answer["metrics"] == metrics(reached=1, sent=1, fallback=2, failed=0, replied=1, unique=1,
                                        replied_pct=1.0, positive=0, positive_pct=0.0)
    assert (await block(client, campaignId=history.spring, userId="user_alice"))["metrics"] == SPRING
    none = await block(client, campaignId=history.spring, lineId=history.backup_line, userId="user_bob")
    assert none["metrics"] == NOTHING  # never divides by zero
    assert (await block(client, campaignId=history.autumn, userId="user_alice"))["metrics"] == NOTHING


async def test_a_whole_day(client: httpx.AsyncClient, history: History) -> None:
    # June 2: o2 (C1) and o5 (C3, flagged) delivered; replies r1 r2 (C1) and r4 (C3).
    answer = await block(client, dateFrom="2025-06-02", dateTo="2025-06-02")
    assert answer["filter"] == {"dateFrom": "2025-06-02T00:00:00.000Z", "dateTo": "2025-06-02T23:59:59.999Z"}
    assert answer["metrics"] == metrics(reached=2, sent=2, fallback=1, failed=0, replied=3, unique=2,
                                        replied_pct=1.0, positive=1, positive_pct=0.5)


async def test_a_window_that_cuts_conversations(client: httpx.AsyncClient, history: History) -> None:
    # From June 1 23:00 to June 2 10:02: r5 (C2 answering o3, which is before the window), o2 to C1 and
    # C1's first reply r1 (r2 is after). Two contacts replied, one was reached in the window: the
    # ratio stays at most 1.
    answer = await block(client, dateFrom="2025-06-01T23:00:00Z", dateTo="2025-06-02T10:02:00Z")
    assert answer["filter"] == {"dateFrom": "2025-06-01T23:00:00.000Z", "dateTo": "2025-06-02T10:02:00.000Z"}
    assert answer["metrics"] == metrics(reached=1, sent=1, fallback=0, failed=0, replied=2, unique=2,
                                        replied_pct=1.0, positive=2, positive_pct=1.0)


async def test_an_open_window_with_an_offset(client: httpx.AsyncClient, history: History) -> None:
    # From June 2 07:30Z on: o2 o5 o8 o9 and the seed's m1 sent to C1 C3 C2 C4 and lead 1's contact; o5
    # flagged; replies r1 r2 r4 r3 r6 and m2 from C1 C3 C4 and lead 1's contact (C1 and C4 positive).
    answer = await block(client, dateFrom="2025-06-02T09:30:00+02:00")
    assert answer["filter"] == {"dateFrom": "2025-06-02T07:30:00.000Z"}
    assert answer["metrics"] == metrics(reached=5, sent=5, fallback=1, failed=0, replied=6, unique=4,
                                        replied_pct=0.8, positive=2, positive_pct=0.5)


async def test_date_to_is_inclusive(client: httpx.AsyncClient, history: History) -> None:
    # Spring up to June 1 12:00 exactly: o1 o3 sent, o4 fallback, o6 failed at 12:00.
    answer = await block(client, campaignId=history.spring, dateTo="2025-06-01T12:00:00.000Z")
    assert answer["filter"] == {"campaignId": history.spring, "dateTo": "2025-06-01T12:00:00.000Z"}
    assert answer["metrics"] == metrics(reached=2, sent=2, fallback=1, failed=1, replied=0, unique=0,
                                        replied_pct=0.0, positive=0, positive_pct=0.0)


async def test_every_filter_at_once(client: httpx.AsyncClient, history: History) -> None:
    answer = await block(client, campaignId=history.spring.upper(), lineId=history.main_line, userId="user_alice",
                         dateFrom="2025-06-01T09:30:00Z", dateTo="2025-06-02T23:59:59Z")
    assert answer["filter"] == {"campaignId": history.spring, "lineId": history.main_line, "userId": "user_alice",
                                "dateFrom": "2025-06-01T09:30:00.000Z", "dateTo": "2025-06-02T23:59:59.000Z"}
    # o3 (C2) and o2 (C1) sent, o6 failed; replies r5 (C2), r1 r2 (C1).
    assert answer["metrics"] == metrics(reached=2, sent=2, fallback=0, failed=1, replied=3, unique=2,
                                        replied_pct=1.0, positive=2, positive_pct=1.0)


async def test_empty_values_are_absent(client: httpx.AsyncClient, history: History) -> None:
    answer = await block(client, campaignId="", dateFrom="", agencyId="")
    assert answer["filter"] == {}


@pytest.mark.parametrize("params, message", [
    ({"campaignId": "60d5ec49e3a8a0001f9b123"}, f"campaignId must be {HEX}"),
    ({"campaignId": "60d5ec49e3a8a0001f9b123z"}, f"campaignId must be {HEX}"),
    ({"lineId": "' OR 1=1 --"}, f"lineId must be {HEX}"),
    ({"userId": "usr_123"}, "userId must be a user id (user_...)"),
    ({"userId": "user_"}, "userId must be a user id (user_...)"),
    ({"dateFrom": "yesterday"}, "dateFrom must be an ISO 8601 date-time, e.g. 2026-03-14T00:00:00Z"),
    ({"dateTo": "2025-02-30"}, "dateTo must be an ISO 8601 date-time, e.g. 2026-03-14T00:00:00Z"),
    ({"dateFrom": "2025-06-03", "dateTo": "2025-06-02T12:00:00Z"}, "dateTo must not be before dateFrom"),
])
async def test_an_invalid_filter_is_a_400_naming_it(client: httpx.AsyncClient, workspace: Workspace,
                                                     params: dict[str, str], message: str) -> None:
    response = await analytics(client, **params)
    assert (response.status_code, response.json()) == (
        400, {"success": False, "error": {"code": "INVALID_PARAMETER", "message": message}})


async def test_agency_id_is_not_available(client: httpx.AsyncClient, workspace: Workspace) -> None:
    response = await analytics(client, agencyId="org_agency_1", campaignId="60d5ec49e3a8a0001f9b1234")
    assert (response.status_code, response.json()) == (501, {"success": False, "error": {
        "code": "AGENCY_NOT_AVAILABLE",
        "message": "The agency rollup is not available yet; call without agencyId for this workspace's numbers"}})


@pytest.mark.parametrize("headers, message", [
    ({}, "Missing API key: pass Authorization: Bearer <key> or X-API-Key: <key>"),
    ({"Authorization": "Bearer tuco_wrong"}, "Invalid API key"),
    ({"X-API-Key": "nope"}, "Invalid API key"),
])
async def test_unauthorized(client: httpx.AsyncClient, workspace: Workspace, headers: dict[str, str],
                            message: str) -> None:
    for path in ("/api/analytics", "/api/analytics/unknown", "/api/campaigns"):
        response = await client.get(path, headers=headers)
        assert (response.status_code, response.json()) == (
            401, {"success": False, "error": {"code": "Unauthorized", "message": message}})


async def test_another_workspace_sees_its_own_numbers(client: httpx.AsyncClient, history: History,
                                                      workspace: Workspace) -> None:
    # ws-two: the seed's m4 (sent to lead 5), and a delivered message, its reply and a positive tag
    # (tests/seed_campaigns.py).
    response = await analytics(client, key=workspace.other_key)
    assert response.json()["metrics"] == metrics(reached=2, sent=2, fallback=0, failed=0, replied=1, unique=1,
                                                  replied_pct=0.5, positive=1, positive_pct=1.0)
    response = await analytics(client, key=workspace.other_key, campaignId=history.spring)
    assert response.json()["metrics"] == NOTHING


async def test_each_answer_logs_analytics_served(client: httpx.AsyncClient, history: History,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="leadlight"):
        await block(client, campaignId=history.autumn, dateFrom="2025-06-01T00:00:00Z")
    served = [json.loads(r.getMessage()) for r in caplog.records if '"analytics.served"' in r.getMessage()]
    assert len(served) == 1
    line = served[0]
    assert isinstance(line.pop("durationMs"), float)
    assert line == {"event": "analytics.served", "workspaceId": "default", "authMethod": "api_key",
                    "filter": {"campaignId": history.autumn, "dateFrom": "2025-06-01T00:00:00.000Z"},
                    "metrics": AUTUMN}


async def test_a_failed_aggregation_is_a_500_with_analytics_error(client: httpx.AsyncClient, app: Starlette,
                                                                   history: History,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    await app.state.env.DB.exec("DROP TABLE campaign_reach")
    with caplog.at_level(logging.INFO, logger="leadlight"):
        response = await analytics(client, campaignId=history.spring)
    assert (response.status_code, response.json()) == (500, {"success": False, "error": {
        "code": "AGGREGATION_FAILED", "message": "Aggregation failed; see the analytics.error event"}})
    logged = [json.loads(r.getMessage()) for r in caplog.records if '"analytics.error"' in r.getMessage()]
    assert logged and logged[0]["workspaceId"] == "default" and "campaign_reach" in logged[0]["error"]
    assert not [r for r in caplog.records if '"analytics.served"' in r.getMessage()]
