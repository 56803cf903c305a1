"""The dashboard surface, /analytics/*, as tracking-analytics-api.md shows it, over the seeded workspace.

Every expected body below is worked out by hand from the data of tests/seed.py.
"""
from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from domain import auth
from domain.page_views import count_page_views_after
from tests.analytics import get, get_json
from tests.seed import (ABOUT, DAY, HOME, HOUR, PAYLOAD_1, PAYLOAD_2, PRICING, SKY, THANKS, V1, V2, V3,
                        Session, Workspace, datetime_string, day_string, record_messages, session_statements)

# --- the dashboard numbers ---------------------------------------------------------------------------------


async def test_overview(client: httpx.AsyncClient, workspace: Workspace) -> None:
    assert await get_json(client, "/analytics/overview") == {
        "total_sessions": 7,
        "total_events": 26,
        "unique_visitors": 3,
        "unique_fingerprints": 3,
        "avg_engagement_score": 47.4,  # 332 / 7 = 47.43
        "avg_session_duration_s": 74,  # 516.5 s / 7 = 73.79 s
        "vpn_suspected_count": 2,
    }


async def test_daily_sessions_are_every_day_up_to_today_zero_filled(client, workspace: Workspace) -> None:
    today = workspace.today
    expected = [
        {"date": day_string(today - 3 * DAY), "total_sessions": 1, "unique_visitors": 1, "avg_duration": 10.0,
         "avg_engagement": 39.0},
        {"date": day_string(today - 2 * DAY), "total_sessions": 2, "unique_visitors": 1, "avg_duration": 17.5,
         "avg_engagement": 14.5},
        {"date": day_string(today - DAY), "total_sessions": 3, "unique_visitors": 3, "avg_duration": 127.2,
         "avg_engagement": 68.0},
        {"date": day_string(today), "total_sessions": 1, "unique_visitors": 1, "avg_duration": 90.0,
         "avg_engagement": 60.0},
    ]
    assert await get_json(client, "/analytics/sessions/daily", days=4) == expected
    empty_day = {"total_sessions": 0, "unique_visitors": 0, "avg_duration": 0.0, "avg_engagement": 0.0}
    month = await get_json(client, "/analytics/sessions/daily")
    assert len(month) == 30
    assert month[-4:] == expected
    assert month[:-4] == [{"date": day_string(today - (29 - i) * DAY), **empty_day} for i in range(26)]


@pytest.mark.parametrize("days, length", [("1", 1), ("0", 0), ("90", 90), ("91", 90), ("100000", 90),
                                          ("99999999999999999999999", 90), ("", 30), ("007", 7)])
async def test_days_defaults_and_clamps(client, workspace: Workspace, days: str, length: int) -> None:
    series = await get_json(client, "/analytics/sessions/daily", days=days)
    assert len(series) == length
    if length:
        assert series[-1]["date"] == day_string(workspace.today)
        assert series[0]["date"] == day_string(workspace.today - (length - 1) * DAY)


@pytest.mark.parametrize("days", ["-1", "abc", "1.5", "+3", " 3", "3x", "٣"])
async def test_days_must_be_a_non_negative_integer(client, workspace: Workspace, days: str) -> None:
    response = await get(client, "/analytics/sessions/daily", days=days)
    assert response.status_code == 400
    assert response.json() == {"error": "Invalid days: expected a non-negative integer"}


PAGES = [
    {"page": HOME, "views": 6, "unique_sessions": 5},
    {"page": SKY, "views": 5, "unique_sessions": 4},
    {"page": PRICING, "views": 3, "unique_sessions": 3},
    {"page": ABOUT, "views": 1, "unique_sessions": 1},  # ties are in URL order
    {"page": THANKS, "views": 1, "unique_sessions": 1},
]


async def test_top_pages(client, workspace: Workspace) -> None:
    assert await get_json(client, "/analytics/pages/top") == PAGES
    assert await get_json(client, "/analytics/pages/top", limit=2) == PAGES[:2]
    assert await get_json(client, "/analytics/pages/top", limit=0) == []
    assert await get_json(client, "/analytics/pages/top", limit=1000) == PAGES


@pytest.mark.parametrize("limit", ["-5", "ten", "2.0"])
async def test_top_pages_limit_must_be_a_non_negative_integer(client, workspace: Workspace, limit: str) -> None:
    response = await get(client, "/analytics/pages/top", limit=limit)
    assert (response.status_code, response.json()) == (400, {"error": "Invalid limit: expected a non-negative integer"})


async def test_top_pages_limit_is_clamped_to_100(client, app: Starlette) -> None:
    db = app.state.env.DB
    await db.prepare("INSERT INTO sites (id, workspace_id, site_key, created_at) VALUES (1, 'default', 'k', 0)").run()
    sessions = [Session(f"s{i}", V1, None, 1, 1, True, None, "(direct)", 0, 0, 0,
                        (("page_view", f"https://example.com/p{i:03d}"),)) for i in range(120)]
    await db.batch([statement for session in sessions for statement in session_statements(db, "default", 1, session)])
    await db.transaction(lambda conn: count_page_views_after(conn, 0))
    pages = await get_json(client, "/analytics/pages/top", limit=101)
    assert len(pages) == 100
    assert pages[0] == {"page": "https://example.com/p000", "views": 1, "unique_sessions": 1}
    assert len(await get_json(client, "/analytics/pages/top")) == 20


async def test_geo(client, workspace: Workspace) -> None:
    assert await get_json(client, "/analytics/geo") == [
        {"country": "US", "sessions": 3, "unique_visitors": 2},
        {"country": "IN", "sessions": 2, "unique_visitors": 1},
        {"country": None, "sessions": 1, "unique_visitors": 1},  # unknown country sorts before codes on a tie
        {"country": "GB", "sessions": 1, "unique_visitors": 1},
    ]


async def test_engagement_has_all_five_buckets_over_completed_sessions(client, workspace: Workspace) -> None:
    assert await get_json(client, "/analytics/engagement") == [
        {"bucket": "0-19", "count": 2},
        {"bucket": "20-39", "count": 0},  # s7 scored 39 but is still open
        {"bucket": "40-59", "count": 1},
        {"bucket": "60-79", "count": 1},
        {"bucket": "80-100", "count": 1},
    ]


async def test_engagement_of_an_empty_workspace_is_five_zero_buckets(client: httpx.AsyncClient) -> None:
    assert await get_json(client, "/analytics/engagement") == [
        {"bucket": b, "count": 0} for b in ("0-19", "20-39", "40-59", "60-79", "80-100")]


async def test_sources(client, workspace: Workspace) -> None:
    assert await get_json(client, "/analytics/sources") == [
        {"referrer_domain": "(direct)", "sessions": 3},
        {"referrer_domain": "google.com", "sessions": 3},
        {"referrer_domain": "facebook.com", "sessions": 1},
    ]


async def test_realtime(client, workspace: Workspace) -> None:
    assert await get_json(client, "/analytics/realtime") == {
        "active_sessions": 1,  # s6; s7 is open but idle for days
        "events_last_hour": 4,
        "unique_visitors_today": 1,
        "total_sessions_today": 1,
    }


async def test_empty_workspace_overview_is_all_zeros(client: httpx.AsyncClient) -> None:
    assert await get_json(client, "/analytics/overview") == {
        "total_sessions": 0, "total_events": 0, "unique_visitors": 0, "unique_fingerprints": 0,
        "avg_engagement_score": 0.0, "avg_session_duration_s": 0, "vpn_suspected_count": 0}
    assert await get_json(client, "/analytics/storage") == {"total_objects": 0, "estimated_sessions": 0}
    assert await get_json(client, "/analytics/leads") == {"leads": [], "total": 0}
    for path in ("/analytics/pages/top", "/analytics/geo", "/analytics/sources"):
        assert await get_json(client, path) == []


# --- leads ---------------------------------------------------------------------------------------------------


def lead_item(workspace: Workspace, lead_id: int) -> dict[str, Any]:
    enquiry, follow_up = workspace.enquiry, workspace.follow_up
    items = {
        1: {"lead_id": 1, "enquiry_datetime": datetime_string(enquiry[1]), "contact_name": "Rahul Sharma",
            "contact_email": "rahul@example.com", "contact_phone": "9876543210", "project_name": "Sky Towers",
            "project_location": "Pune", "project_source": "WebSite", "contact_country_name": "IN",
            "contact_city": "Pune", "visitor_id": V1, "session_id": "s2", "engagement_score": 45,
            "engagement_label": "Warm", "form_submit_count": 2, "suspicion_score": 5, "follow_ups_count": 2,
            "last_follow_up_at": datetime_string(follow_up[1]), "status": "contacted"},
        2: {"lead_id": 2, "enquiry_datetime": datetime_string(enquiry[2]), "contact_name": "Priya Patel",
            "contact_email": "priya@example.org", "contact_phone": "+447700900123", "project_name": "Green Valley",
            "project_location": None, "project_source": "WebSite", "contact_country_name": "US",
            "contact_city": None, "visitor_id": V3, "session_id": "s4", "engagement_score": 85,
            "engagement_label": "Very Hot", "form_submit_count": 1, "suspicion_score": 40, "follow_ups_count": 0,
            "last_follow_up_at": None, "status": "new"},
        3: {"lead_id": 3, "enquiry_datetime": datetime_string(enquiry[3]), "contact_name": "alex smith",
            "contact_email": "alex@sample.net", "contact_phone": None, "project_name": "Sky Towers",
            "project_location": "Mumbai", "project_source": "WebSite", "contact_country_name": "US",
            "contact_city": "Mumbai", "visitor_id": V2, "session_id": "s3", "engagement_score": 74,
            "engagement_label": "Very Hot", "form_submit_count": 1, "suspicion_score": 0, "follow_ups_count": 1,
            "last_follow_up_at": datetime_string(follow_up[3]), "status": "won"},
    }
    return items[lead_id]


async def lead_ids(client: httpx.AsyncClient, **params: Any) -> list[int]:
    return [lead["lead_id"] for lead in (await get_json(client, "/analytics/leads", **params))["leads"]]


async def test_leads_list_default_is_newest_first_with_every_field(client, workspace: Workspace) -> None:
    assert await get_json(client, "/analytics/leads") == {
        "leads": [lead_item(workspace, 2), lead_item(workspace, 3), lead_item(workspace, 1)],
        "total": 3,  # the deleted lead is left out
    }


@pytest.mark.parametrize("sort, order", [
    ("newest", [2, 3, 1]), ("oldest", [1, 3, 2]), ("last_follow_up", [1, 3, 2]), ("score_desc", [2, 3, 1]),
    ("score_asc", [1, 3, 2]), ("risk_desc", [2, 1, 3]), ("risk_asc", [3, 1, 2]), ("name_asc", [3, 2, 1]),
    ("NAME_ASC", [3, 2, 1]), ("", [2, 3, 1]),
])
async def test_leads_sorts(client, workspace: Workspace, sort: str, order: list[int]) -> None:
    assert await lead_ids(client, sort=sort) == order


async def test_last_follow_up_sort_puts_the_latest_follow_up_first(client, app: Starlette,
                                                                   workspace: Workspace) -> None:
    await record_messages(app.state.env.DB, [
        ("m9", "default", 2, "+447700900123", "email", "outbound", "sent", None, workspace.now)])
    assert await lead_ids(client, sort="last_follow_up") == [2, 1, 3]
    lead = (await get_json(client, "/analytics/leads/2"))["lead"]
    assert (lead["follow_ups_count"], lead["last_follow_up_at"]) == (1, datetime_string(workspace.now))


@pytest.mark.parametrize("q, ids", [
    ("sky", [3, 1]), ("SKY TOWERS", [3, 1]), ("RAHUL@", [1]), ("7700", [2]), ("bbb222", [3]), ("priya", [2]),
    ("%", []), ("_", []), ("nobody", []), ("", [2, 3, 1]),
])
async def test_leads_search(client, workspace: Workspace, q: str, ids: list[int]) -> None:
    body = await get_json(client, "/analytics/leads", q=q)
    assert [lead["lead_id"] for lead in body["leads"]] == ids
    assert body["total"] == len(ids)


@pytest.mark.parametrize("status, ids", [("won", [3]), ("WON", [3]), ("new", [2]), ("lost", []), ("", [2, 3, 1])])
async def test_leads_status_filter(client, workspace: Workspace, status: str, ids: list[int]) -> None:
    body = await get_json(client, "/analytics/leads", status=status)
    assert ([lead["lead_id"] for lead in body["leads"]], body["total"]) == (ids, len(ids))


async def test_leads_search_and_status_combine(client, workspace: Workspace) -> None:
    assert await get_json(client, "/analytics/leads", q="sky", status="contacted") == {
        "leads": [lead_item(workspace, 1)], "total": 1}


async def test_leads_pagination(client, workspace: Workspace) -> None:
    assert await get_json(client, "/analytics/leads", limit=1, offset=1) == {
        "leads": [lead_item(workspace, 3)], "total": 3}
    assert await get_json(client, "/analytics/leads", limit=2, offset=2, sort="oldest") == {
        "leads": [lead_item(workspace, 2)], "total": 3}
    assert await get_json(client, "/analytics/leads", limit=0) == {"leads": [], "total": 3}
    assert await get_json(client, "/analytics/leads", offset=3) == {"leads": [], "total": 3}
    assert await get_json(client, "/analytics/leads", offset="99999999999999999999999") == {"leads": [], "total": 3}
    assert await lead_ids(client, limit=500) == [2, 3, 1]


async def test_leads_limit_is_clamped_to_100(client, app: Starlette) -> None:
    db = app.state.env.DB
    await db.batch([db.prepare("INSERT INTO leads (id, workspace_id, created_at, updated_at) VALUES (?, 'default', ?, ?)")
                    .bind(f"uuid-{i}", i, i) for i in range(130)])
    assert len((await get_json(client, "/analytics/leads", limit=101))["leads"]) == 100
    assert len((await get_json(client, "/analytics/leads"))["leads"]) == 25
    assert (await get_json(client, "/analytics/leads"))["total"] == 130


@pytest.mark.parametrize("params, error", [
    ({"limit": "-1"}, "Invalid limit: expected a non-negative integer"),
    ({"limit": "x"}, "Invalid limit: expected a non-negative integer"),
    ({"offset": "-3"}, "Invalid offset: expected a non-negative integer"),
    ({"offset": "1e3"}, "Invalid offset: expected a non-negative integer"),
    ({"sort": "popular"}, "Invalid sort: expected one of newest, oldest, last_follow_up, score_desc, score_asc, "
                          "risk_desc, risk_asc, name_asc"),
    ({"status": "archived"}, "Invalid status: expected one of new, contacted, qualified, proposal, won, lost"),
])
async def test_leads_bad_parameters(client, workspace: Workspace, params: dict[str, str], error: str) -> None:
    response = await get(client, "/analytics/leads", **params)
    assert (response.status_code, response.json()) == (400, {"error": error})


async def test_lead_detail(client, workspace: Workspace) -> None:
    s = workspace.sessions

    def session(sid: str) -> dict[str, Any]:
        row = s[sid]
        return {"session_id": sid, "visitor_id": row.visitor_id, "entry_page": row.events[0][1],
                "exit_page": row.events[-1][1], "country": row.country, "started_at": row.started_at,
                "ended_at": row.last_activity_at if row.ended else None, "duration": row.duration_ms,
                "engagement_score": row.engagement_score, "event_count": len(row.events)}

    assert await get_json(client, "/analytics/leads/1") == {
        "lead": {**lead_item(workspace, 1), "uuid": "uuid-1"},  # the detail also names the lead's UUID
        "sessions": [session("s1"), session("s5"), session("s2")],
        "submissions": [
            {"submission_id": 501, "lead_id": 1, "submitted_at": datetime_string(workspace.enquiry[1]),
             "project_name": "Sky Towers", "visitor_id": V1, "session_id": "s1", "contact_email": "rahul@example.com",
             "contact_phone": "9876543210", "contact_ip": "198.51.100.20", "source": "WebSite", "referer": SKY,
             "cta_name": "hero-form", "is_primary_lead": 1, "is_duplicate_window": 0, "payload_json": PAYLOAD_1},
            {"submission_id": 502, "lead_id": 1,
             "submitted_at": datetime_string(workspace.today - DAY + 9 * HOUR + 100_000), "project_name": "Sky Towers",
             "visitor_id": V1, "session_id": "s2", "contact_email": "rahul@example.com",
             "contact_phone": "9876543210", "contact_ip": "198.51.100.21", "source": "WebSite", "referer": SKY,
             "cta_name": "footer-form", "is_primary_lead": 0, "is_duplicate_window": 1, "payload_json": PAYLOAD_2},
        ],
    }
    detail = await get_json(client, "/analytics/leads/2")
    assert detail["lead"] == {**lead_item(workspace, 2), "uuid": "uuid-2"}
    assert [x["session_id"] for x in detail["sessions"]] == ["s7", "s4"]
    assert [x["submission_id"] for x in detail["submissions"]] == [503]


@pytest.mark.parametrize("path, status, error", [
    ("/analytics/leads/4", 404, "Lead not found"),  # deleted
    ("/analytics/leads/5", 404, "Lead not found"),  # another workspace's
    ("/analytics/leads/999", 404, "Lead not found"),
    ("/analytics/leads/0", 404, "Lead not found"),
    ("/analytics/leads/99999999999999999999999", 404, "Lead not found"),
    ("/analytics/leads/abc", 400, "Invalid lead id"),
    ("/analytics/leads/-1", 400, "Invalid lead id"),
    ("/analytics/leads/1.0", 400, "Invalid lead id"),
])
async def test_lead_detail_errors(client, workspace: Workspace, path: str, status: int, error: str) -> None:
    response = await get(client, path)
    assert (response.status_code, response.json()) == (status, {"error": error})


async def patch(client: httpx.AsyncClient, lead: str, content: str | bytes, key: str = "test-analytics-key"
                ) -> httpx.Response:
    return await client.patch(f"/analytics/leads/{lead}", content=content,
                              headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})


async def lead_status(app: Starlette, lead_id: int) -> str:
    return await app.state.env.DB.prepare("SELECT status FROM leads WHERE lead_id = ?").bind(lead_id).first("status")


@pytest.mark.parametrize("value, stored", [("qualified", "qualified"), ("WON", "won"), ("Proposal", "proposal"),
                                           ("lost", "lost"), ("new", "new"), ("contacted", "contacted")])
async def test_update_lead_status(client, app: Starlette, workspace: Workspace, value: str, stored: str) -> None:
    response = await patch(client, "2", json.dumps({"status": value}))
    assert (response.status_code, response.json()) == (200, {"updated": True})
    assert await lead_status(app, 2) == stored
    assert (await get_json(client, "/analytics/leads/2"))["lead"]["status"] == stored
    statuses = {2: stored, 3: "won", 1: "contacted"}  # in newest-first order
    assert await lead_ids(client, status=stored) == [i for i, status in statuses.items() if status == stored]


@pytest.mark.parametrize("lead, body, status, error", [
    ("1", "not json", 400, "Invalid request body: expected a JSON object"),
    ("1", "", 400, "Invalid request body: expected a JSON object"),
    ("1", '["won"]', 400, "Invalid request body: expected a JSON object"),
    ("1", "{}", 400, "status is required"),
    ("1", '{"state": "won"}', 400, "status is required"),
    ("1", '{"status": null}', 400, "status is required"),
    ("1", '{"status": 3}', 400, "Invalid request body: status must be a string"),
    ("abc", '{"status": "won"}', 400, "Invalid lead id"),
    ("1", '{"status": "archived"}', 404, "Invalid status: expected one of new, contacted, qualified, proposal, won, lost"),
    ("1", '{"status": ""}', 404, "Invalid status: expected one of new, contacted, qualified, proposal, won, lost"),
    ("999", '{"status": "won"}', 404, "Lead not found"),
    ("4", '{"status": "won"}', 404, "Lead not found"),
    ("5", '{"status": "won"}', 404, "Lead not found"),
])
async def test_update_lead_status_errors(client, app: Starlette, workspace: Workspace, lead: str, body: str,
                                         status: int, error: str) -> None:
    response = await patch(client, lead, body)
    assert (response.status_code, response.json()) == (status, {"error": error})
    assert [await lead_status(app, i) for i in (1, 4, 5)] == ["contacted", "new", "qualified"]


# --- errors --------------------------------------------------------------------------------------------------

ENDPOINTS = ["/analytics/overview", "/analytics/sessions/daily", "/analytics/pages/top", "/analytics/geo",
             "/analytics/engagement", "/analytics/sources", "/analytics/realtime", "/analytics/storage",
             "/analytics/leads", "/analytics/leads/1"]


@pytest.mark.parametrize("path", ENDPOINTS + ["/analytics/nope"])
async def test_a_missing_key_is_401(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 401
    assert response.json() == {"error": "API key required. Use Authorization: Bearer <key> or X-API-Key header."}


@pytest.mark.parametrize("headers", [{"X-API-Key": "wrong"}, {"Authorization": "Bearer wrong"},
                                     {"Authorization": "Bearer ll_notarealkeyatall"}])
async def test_an_invalid_key_is_401(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    for path in ENDPOINTS:
        response = await client.get(path, headers=headers)
        assert (response.status_code, response.json()) == (401, {"error": "Invalid API key"})


async def test_a_revoked_key_is_401(client: httpx.AsyncClient, app: Starlette) -> None:
    key, key_id = await auth.create_key(app.state.env.DB, "default")
    assert (await get(client, "/analytics/overview", key=key)).status_code == 200
    await auth.revoke_key(app.state.env.DB, key_id)
    response = await get(client, "/analytics/overview", key=key)
    assert (response.status_code, response.json()) == (401, {"error": "Invalid API key"})


@pytest.mark.parametrize("path", ["/analytics", "/analytics/", "/analytics/nope", "/analytics/overview/extra",
                                  "/analytics/leads/1/sessions", "/analytics/sessions"])
async def test_an_unknown_analytics_endpoint_is_404(client: httpx.AsyncClient, path: str) -> None:
    for method in ("GET", "POST", "PATCH"):
        response = await client.request(method, path, headers={"X-API-Key": "test-analytics-key"})
        assert (response.status_code, response.json()) == (404, {"error": "Unknown analytics endpoint"})


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
async def test_other_methods_are_405(client, workspace: Workspace, method: str) -> None:
    for path in ENDPOINTS[:-1]:
        response = await client.request(method, path, headers={"X-API-Key": "test-analytics-key"})
        assert (response.status_code, response.json()) == (405, {"error": "Method not allowed"})
        assert response.headers["allow"] == "GET"
    if method != "PATCH":
        response = await client.request(method, "/analytics/leads/1", headers={"X-API-Key": "test-analytics-key"})
        assert (response.status_code, response.json()) == (405, {"error": "Method not allowed"})
        assert response.headers["allow"] == "GET, PATCH"


async def test_a_failed_query_is_500_without_details(client, app: Starlette, workspace: Workspace,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="leadlight")
    await app.state.env.DB.exec("DROP TABLE rollup_score")
    response = await get(client, "/analytics/engagement")
    assert (response.status_code, response.json()) == (500, {"error": "Analytics query failed"})
    logged = [json.loads(r.getMessage()) for r in caplog.records if "analytics.error" in r.getMessage()]
    assert logged and "rollup_score" in logged[0]["error"] and logged[0]["workspaceId"] == "default"


# --- workspaces ----------------------------------------------------------------------------------------------


async def test_a_second_workspace_sees_only_its_own_data(client, workspace: Workspace) -> None:
    key = workspace.other_key
    yesterday = day_string(workspace.today - DAY)

    async def body(path: str, **params: Any) -> Any:
        response = await get(client, path, key=key, **params)
        assert response.status_code == 200, response.text
        return response.json()

    assert await body("/analytics/overview") == {
        "total_sessions": 1, "total_events": 2, "unique_visitors": 1, "unique_fingerprints": 1,
        "avg_engagement_score": 50.0, "avg_session_duration_s": 42, "vpn_suspected_count": 0}
    assert await body("/analytics/sessions/daily", days=2) == [
        {"date": yesterday, "total_sessions": 1, "unique_visitors": 1, "avg_duration": 42.0, "avg_engagement": 50.0},
        {"date": day_string(workspace.today), "total_sessions": 0, "unique_visitors": 0, "avg_duration": 0.0,
         "avg_engagement": 0.0}]
    assert await body("/analytics/pages/top") == [{"page": HOME, "views": 2, "unique_sessions": 1}]
    assert await body("/analytics/geo") == [{"country": "FR", "sessions": 1, "unique_visitors": 1}]
    assert await body("/analytics/sources") == [{"referrer_domain": "bing.com", "sessions": 1}]
    assert [b["count"] for b in await body("/analytics/engagement")] == [0, 0, 1, 0, 0]
    assert await body("/analytics/realtime") == {
        "active_sessions": 0, "events_last_hour": 0, "unique_visitors_today": 0, "total_sessions_today": 0}
    assert await body("/analytics/storage") == {"total_objects": 1, "estimated_sessions": 1}
    leads = await body("/analytics/leads", q="sky")
    assert [lead["lead_id"] for lead in leads["leads"]] == [5] and leads["total"] == 1
    assert leads["leads"][0]["follow_ups_count"] == 1
    for lead in ("1", "2", "3"):
        response = await get(client, f"/analytics/leads/{lead}", key=key)
        assert (response.status_code, response.json()) == (404, {"error": "Lead not found"})
        response = await patch(client, lead, '{"status": "lost"}', key=key)
        assert (response.status_code, response.json()) == (404, {"error": "Lead not found"})
    assert [lead["status"] for lead in (await get_json(client, "/analytics/leads"))["leads"]] == [
        "new", "won", "contacted"]
    response = await get(client, "/analytics/leads/5")
    assert response.status_code == 404
