"""The dashboard surface, /analytics/*, as tracking-analytics-api.md shows it, over one known workspace.

The `workspace` fixture stores seven sessions, their events, four leads (one deleted), their
submissions, messages and action logs, plus a second workspace with a lead and a session of
its own. Every expected body below is worked out by hand from that data.
"""
from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from domain import auth, metrics
from jobs.storage_stats import reconcile
from runtime import now_ms
from tests.tracking import batch, event, form, headers, site  # noqa: F401  (fixture)

DAY = 86_400_000
HOUR = 3_600_000
MINUTE = 60_000

HOME = "https://example.com/home"
SKY = "https://example.com/sky-towers"
PRICING = "https://example.com/pricing"
THANKS = "https://example.com/thank-you"
ABOUT = "https://example.com/about"

V1, V2, V3 = "visitor-aaa111", "visitor-bbb222", "visitor-ccc333"


def day_string(epoch_ms: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(epoch_ms // 1000))


def datetime_string(epoch_ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch_ms // 1000))


@dataclass(frozen=True)
class Session:
    session_id: str
    visitor_id: str
    fingerprint: str | None
    started_at: int
    last_activity_at: int
    ended: bool
    country: str | None
    referrer_domain: str
    engagement_score: int
    duration_ms: int
    vpn: int
    events: tuple[tuple[str, str], ...]  # (type, url)
    received_at: int | None = None  # default: the event's own time
    blob_key: str | None = None


@dataclass(frozen=True)
class Workspace:
    now: int
    today: int  # midnight UTC of the current day
    sessions: dict[str, Session]
    other_key: str
    enquiry: dict[int, int]  # lead_id -> enquiry time
    follow_up: dict[int, int]  # lead_id -> last follow-up time


def _sessions(now: int, today: int) -> list[Session]:
    # Today's session starts at most 20 minutes ago but never before midnight, so it is today's
    # and active whatever time the suite runs.
    today_start = max(today, now - 20 * MINUTE)
    today_last = max(today_start, now - MINUTE)
    pv = "page_view"
    return [
        Session("s1", V1, "fpA", today - 2 * DAY + 10 * HOUR, today - 2 * DAY + 10 * HOUR + 30_000, True, "IN",
                "google.com", 10, 30_000, 0, ((pv, HOME), (pv, SKY), ("form_submit", SKY)),
                blob_key="sessions/2026/01/01/s1.json.gz"),
        Session("s2", V1, "fpA", today - DAY + 9 * HOUR, today - DAY + 9 * HOUR + 120_000, True, "IN", "(direct)",
                45, 120_000, 0, ((pv, SKY), ("scroll", SKY), (pv, SKY), ("click", SKY), (pv, THANKS)),
                blob_key="sessions/2026/01/02/s2.json.gz"),
        Session("s3", V2, "fpA", today - DAY + 11 * HOUR, today - DAY + 11 * HOUR + 200_000, True, "US",
                "google.com", 74, 200_000, 1,
                ((pv, HOME), (pv, PRICING), (pv, SKY), ("engagement", SKY), ("click", SKY), ("scroll", SKY))),
        Session("s4", V3, "fpB", today - DAY + 12 * HOUR, today - DAY + 12 * HOUR + 61_500, True, "US",
                "facebook.com", 85, 61_500, 0, ((pv, HOME), (pv, HOME), ("click", HOME), (pv, PRICING))),
        Session("s5", V1, None, today - 2 * DAY + 13 * HOUR, today - 2 * DAY + 13 * HOUR + 5_000, True, None,
                "(direct)", 19, 5_000, 0, ((pv, HOME),)),
        Session("s6", V2, "fpA", today_start, today_last, False, "US", "google.com", 60, 90_000, 0,
                ((pv, SKY), (pv, HOME), ("engagement", HOME), ("click", HOME)), received_at=now - 5 * MINUTE),
        Session("s7", V3, "fpC", today - 3 * DAY + 8 * HOUR, today - 3 * DAY + 8 * HOUR + 10_000, False, "GB",
                "(direct)", 39, 10_000, 1, ((pv, PRICING), (pv, ABOUT), ("scroll", ABOUT))),
    ]


_INSERT_SESSION = (
    "INSERT INTO sessions (workspace_id, site_id, session_id, visitor_id, fingerprint, started_at, last_activity_at,"
    " ended_at, duration_ms, entry_page, exit_page, referrer_domain, country, page_views, event_count,"
    " engagement_score, vpn_suspected, blob_key, archived_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_EVENT = (
    "INSERT INTO events (workspace_id, session_id, event_id, type, url, ts, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_LEAD = (
    "INSERT INTO leads (lead_id, id, workspace_id, site_id, status, created_at, updated_at, enquiry_at, contact_name,"
    " email, phone, project_name, project_location, project_source, country, city, visitor_id, session_id,"
    " engagement_score, engagement_label, form_submit_count, suspicion_score, deleted_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_SUBMISSION = (
    "INSERT INTO submissions (submission_id, workspace_id, lead_id, site_id, event_id, submitted_at, session_id,"
    " visitor_id, contact_name, contact_email, contact_phone, contact_ip, project_name, source, referer, cta_name,"
    " is_primary_lead, is_duplicate_window, payload_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_MESSAGE = (
    "INSERT INTO messages (id, workspace_id, lead_id, contact, channel, direction, status, draft_state, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_ACTION = (
    "INSERT INTO action_logs (id, workspace_id, lead_id, type, status, is_follow_up, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
PAYLOAD_1 = json.dumps({"FIRSTNAME": "Rahul Sharma", "EMAIL": "rahul@example.com", "PHONE": "9876543210",
                        "PROJECT": "Sky Towers"})
PAYLOAD_2 = json.dumps({"FIRSTNAME": "Rahul S", "EMAIL": "rahul@example.com", "PHONE": "9876543210",
                        "PROJECT": "Sky Towers"})


def session_statements(db: Any, workspace_id: str, site_id: int, session: Session) -> list[Any]:
    page_views = sum(1 for kind, _ in session.events if kind == "page_view")
    ended_at = session.last_activity_at if session.ended else None
    archived_at = session.last_activity_at + MINUTE if session.blob_key else None
    statements = [db.prepare(_INSERT_SESSION).bind(
        workspace_id, site_id, session.session_id, session.visitor_id, session.fingerprint, session.started_at,
        session.last_activity_at, ended_at, session.duration_ms, session.events[0][1], session.events[-1][1],
        session.referrer_domain, session.country, page_views, len(session.events), session.engagement_score,
        session.vpn, session.blob_key, archived_at)]
    for index, (kind, url) in enumerate(session.events):
        ts = session.started_at + index * 1000
        statements.append(db.prepare(_INSERT_EVENT).bind(
            workspace_id, session.session_id, f"{workspace_id}-{session.session_id}-{index}", kind, url, ts,
            session.received_at or ts))
    return statements


@pytest.fixture
async def workspace(app: Starlette) -> AsyncIterator[Workspace]:
    db = app.state.env.DB
    now = now_ms()
    today = now // DAY * DAY
    sessions = _sessions(now, today)
    other_key, _ = await auth.create_key(db, "ws-two", "second workspace")
    statements = [
        db.prepare("INSERT INTO sites (id, workspace_id, site_key, created_at) VALUES (1, 'default', 'site_a', 0)"),
        db.prepare("INSERT INTO sites (id, workspace_id, site_key, created_at) VALUES (2, 'ws-two', 'site_b', 0)"),
    ]
    for session in sessions:
        statements += session_statements(db, "default", 1, session)
    statements += session_statements(db, "ws-two", 2, Session(
        "t1", "visitor-other", "fpZ", today - DAY + HOUR, today - DAY + HOUR + 42_000, True, "FR", "bing.com", 50,
        42_000, 0, (("page_view", HOME), ("page_view", HOME)), blob_key="sessions/2026/01/03/t1.json.gz"))

    enquiry = {1: today - 2 * DAY + 10 * HOUR + 2_000, 2: today - DAY + 12 * HOUR + 50_000,
               3: today - DAY + 11 * HOUR + 3 * MINUTE, 4: now - 2 * MINUTE, 5: today - DAY + HOUR + 30_000}
    leads = [
        (1, "uuid-1", "default", 1, "contacted", enquiry[1], enquiry[1], enquiry[1], "Rahul Sharma",
         "rahul@example.com", "9876543210", "Sky Towers", "Pune", "WebSite", "IN", "Pune", V1, "s2", 45, "Warm", 2, 5,
         None),
        (2, "uuid-2", "default", 1, "new", enquiry[2], enquiry[2], enquiry[2], "Priya Patel", "priya@example.org",
         "+447700900123", "Green Valley", None, "WebSite", "US", None, V3, "s4", 85, "Very Hot", 1, 40, None),
        (3, "uuid-3", "default", 1, "won", enquiry[3], enquiry[3], enquiry[3], "alex smith", "alex@sample.net", None,
         "Sky Towers", "Mumbai", "WebSite", "US", "Mumbai", V2, "s3", 74, "Very Hot", 1, 0, None),
        (4, "uuid-4", "default", 1, "new", enquiry[4], enquiry[4], enquiry[4], "Deleted Person", "gone@example.com",
         "5550001111", "Sky Towers", None, "WebSite", "IN", None, V1, "s6", 60, "Hot", 1, 0, now - MINUTE),
        (5, "uuid-5", "ws-two", 2, "qualified", enquiry[5], enquiry[5], enquiry[5], "Other Sky", "other@example.fr",
         "0600000000", "Sky Towers", "Paris", "WebSite", "FR", "Paris", "visitor-other", "t1", 50, "Hot", 1, 0,
         None),
    ]
    statements += [db.prepare(_INSERT_LEAD).bind(*lead) for lead in leads]
    submissions = [
        (501, "default", 1, 1, "sub-1", enquiry[1], "s1", V1, "Rahul Sharma", "rahul@example.com", "9876543210",
         "198.51.100.20", "Sky Towers", "WebSite", SKY, "hero-form", 1, 0, PAYLOAD_1),
        (502, "default", 1, 1, "sub-2", today - DAY + 9 * HOUR + 100_000, "s2", V1, "Rahul S", "rahul@example.com",
         "9876543210", "198.51.100.21", "Sky Towers", "WebSite", SKY, "footer-form", 0, 1, PAYLOAD_2),
        (503, "default", 2, 1, "sub-3", enquiry[2], "s4", V3, "Priya Patel", "priya@example.org", "+447700900123",
         "203.0.113.9", "Green Valley", "WebSite", PRICING, "hero-form", 1, 0, "{}"),
        (504, "default", 3, 1, "sub-4", enquiry[3], "s3", V2, "alex smith", "alex@sample.net", None, "203.0.113.10",
         "Sky Towers", "WebSite", SKY, "hero-form", 1, 0, "{}"),
        (505, "ws-two", 5, 2, "sub-5", enquiry[5], "t1", "visitor-other", "Other Sky", "other@example.fr",
         "0600000000", "192.0.2.1", "Sky Towers", "WebSite", HOME, "hero-form", 1, 0, "{}"),
    ]
    statements += [db.prepare(_INSERT_SUBMISSION).bind(*s) for s in submissions]
    follow_up = {1: today - DAY + 16 * HOUR, 3: today - DAY + 14 * HOUR}
    statements += [db.prepare(_INSERT_MESSAGE).bind(*m) for m in [
        ("m1", "default", 1, "9876543210", "sms", "outbound", "delivered", None, today - DAY + 15 * HOUR),
        ("m2", "default", 1, "9876543210", "sms", "inbound", "received", None, today - DAY + 17 * HOUR),
        ("m3", "default", 1, "9876543210", "whatsapp", "outbound", "queued", "rejected", today - DAY + 18 * HOUR),
        ("m4", "ws-two", 5, "0600000000", "email", "outbound", "sent", None, today - DAY + 2 * HOUR),
    ]]
    statements += [db.prepare(_INSERT_ACTION).bind(*a) for a in [
        ("a1", "default", 1, "CALL", "COMPLETED", 1, follow_up[1]),
        ("a2", "default", 3, "EMAIL", "COMPLETED", 1, follow_up[3]),
        ("a3", "default", 3, "NOTE", "COMPLETED", 0, today - DAY + 20 * HOUR),
    ]]
    await db.batch(statements)
    yield Workspace(now, today, {s.session_id: s for s in sessions}, other_key, enquiry, follow_up)


async def get(client: httpx.AsyncClient, path: str, key: str = "test-analytics-key", **params: Any) -> httpx.Response:
    return await client.get(path, params=params, headers={"X-API-Key": key})


async def get_json(client: httpx.AsyncClient, path: str, **params: Any) -> Any:
    response = await get(client, path, **params)
    assert response.status_code == 200, response.text
    return response.json()


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
    await db.batch([db.prepare(_INSERT_EVENT).bind("default", f"s{i}", f"e{i}", "page_view",
                                                   f"https://example.com/p{i:03d}", 1, 1) for i in range(120)])
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


# --- storage -------------------------------------------------------------------------------------------------


async def test_storage_counts_archived_sessions_without_listing_the_bucket(client, workspace: Workspace) -> None:
    assert await get_json(client, "/analytics/storage") == {"total_objects": 2, "estimated_sessions": 2}


async def test_storage_is_reconciled_with_the_bucket_page_by_page(client, app: Starlette,
                                                                  workspace: Workspace) -> None:
    env = app.state.env
    bucket = env.SESSIONS
    # s1's blob is in the bucket, s2's never arrived; s3 left a copy under an older key besides its
    # current blob, and so did s2 under the archive job's workspace-qualified key; t1 belongs to the
    # other workspace; a key naming a workspace without that session, and two others, to no session.
    await env.DB.prepare("UPDATE sessions SET blob_key = ?, archived_at = ? WHERE session_id = 's3'").bind(
        "sessions/2026/01/05/s3.json.gz", workspace.now - HOUR).run()
    for key in ("sessions/2026/01/01/s1.json.gz", "sessions/2026/01/02/s2@default.json.gz",
                "sessions/2026/01/02/s2@ws-two.json.gz", "sessions/2026/01/04/s3.json.gz",
                "sessions/2026/01/05/s3.json.gz", "sessions/2026/01/03/t1.json.gz",
                "sessions/2026/01/06/unknown.json.gz", "notes/readme.txt"):
        await bucket.put(key, b"{}")
    assert await get_json(client, "/analytics/storage") == {"total_objects": 3, "estimated_sessions": 3}
    # New events handed s1 back for archiving: its blob stays, counted once at the end of the pass.
    await env.DB.prepare("UPDATE sessions SET archived_at = NULL WHERE session_id = 's1'").run()

    first = await reconcile(env.DB, bucket, page_size=2, max_pages=1)
    assert first == {"listed": 2, "completed": False}
    # A blob archived while the pass is under way is counted once, from sessions.
    await bucket.put("sessions/2026/01/07/s4.json.gz", b"{}")
    await env.DB.prepare("UPDATE sessions SET blob_key = ?, archived_at = ? WHERE session_id = 's4'").bind(
        "sessions/2026/01/07/s4.json.gz", now_ms()).run()
    second = await reconcile(env.DB, bucket, page_size=2, max_pages=2)
    assert second == {"listed": 4, "completed": False}
    last = await reconcile(env.DB, bucket, page_size=2)
    assert last["completed"] and last["unattributed"] == 3
    assert await get_json(client, "/analytics/storage") == {"total_objects": 5, "estimated_sessions": 3}
    assert await get_json(client, "/analytics/storage", key=workspace.other_key) == {
        "total_objects": 1, "estimated_sessions": 1}

    # After the pass the triggers carry on from the reconciled counts.
    await env.DB.prepare("UPDATE sessions SET blob_key = 'sessions/2026/01/08/s5.json.gz', archived_at = ?"
                         " WHERE session_id = 's5'").bind(now_ms()).run()
    assert await get_json(client, "/analytics/storage") == {"total_objects": 6, "estimated_sessions": 4}


async def test_the_cron_handler_runs_the_reconciliation(client, app: Starlette, workspace: Workspace) -> None:
    env = app.state.env
    await env.SESSIONS.put("sessions/2026/01/01/s1.json.gz", b"{}")
    response = await client.get("/__scheduled", params={"cron": "* * * * *"})
    assert response.status_code == 200
    assert await env.DB.prepare("SELECT passes FROM storage_scans").first("passes") == 1
    # s2's blob never reached the bucket: the pass leaves it out. (Other jobs may archive more.)
    keys = (await env.DB.prepare("SELECT blob_key FROM sessions WHERE workspace_id = 'default'"
                                 " AND blob_key IS NOT NULL").raw())
    present = [key for (key,) in keys if await env.SESSIONS.head(key) is not None]
    assert "sessions/2026/01/02/s2.json.gz" not in present
    assert await get_json(client, "/analytics/storage") == {"total_objects": len(present),
                                                            "estimated_sessions": len(present)}


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
    await app.state.env.DB.prepare(_INSERT_MESSAGE).bind(
        "m9", "default", 2, "+447700900123", "email", "outbound", "sent", None, workspace.now).run()
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
        "lead": lead_item(workspace, 1),
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
    assert detail["lead"] == lead_item(workspace, 2)
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


# --- one number, one definition ------------------------------------------------------------------------------


async def dashboard(client: httpx.AsyncClient) -> dict[str, Any]:
    paths = {"overview": ("/analytics/overview", {}), "daily": ("/analytics/sessions/daily", {"days": 90}),
             "today": ("/analytics/sessions/daily", {"days": 1}), "pages": ("/analytics/pages/top", {"limit": 100}),
             "geo": ("/analytics/geo", {}), "engagement": ("/analytics/engagement", {}),
             "sources": ("/analytics/sources", {}), "realtime": ("/analytics/realtime", {}),
             "storage": ("/analytics/storage", {}), "leads": ("/analytics/leads", {"limit": 100})}
    return {name: await get_json(client, path, **params) for name, (path, params) in paths.items()}


async def raw_numbers(app: Starlette, workspace_id: str = "default") -> dict[str, Any]:
    """The straightforward answers, from the raw tables."""
    db = app.state.env.DB

    async def rows(sql: str, *params: Any) -> list[dict[str, Any]]:
        return (await db.prepare(sql).bind(workspace_id, *params).all()).results

    (totals,) = await rows(
        "SELECT count(*) AS sessions, coalesce(sum(engagement_score), 0) AS engagement,"
        " coalesce(sum(duration_ms), 0) AS duration, count(DISTINCT visitor_id) AS visitors,"
        " count(DISTINCT fingerprint) AS fingerprints, coalesce(sum(vpn_suspected != 0), 0) AS vpn,"
        " (SELECT count(*) FROM events e WHERE e.workspace_id = ?1) AS events FROM sessions WHERE workspace_id = ?1")
    now = now_ms()
    days = await rows(
        "SELECT started_at / 86400000 AS day, count(*) AS n, count(DISTINCT visitor_id) AS v,"
        " sum(duration_ms) AS d, sum(engagement_score) AS e FROM sessions WHERE workspace_id = ? GROUP BY 1")
    by_day = {r["day"]: r for r in days}
    last = now // DAY
    daily = []
    for day in range(last - 89, last + 1):
        r = by_day.get(day, {"n": 0, "v": 0, "d": 0, "e": 0})
        daily.append({"date": metrics.date_of(day), "total_sessions": r["n"], "unique_visitors": r["v"],
                      "avg_duration": metrics.seconds(r["d"], r["n"], 1), "avg_engagement": metrics.average(r["e"], r["n"], 1)})
    pages = await rows(
        "SELECT url AS page, count(*) AS views, count(DISTINCT session_id) AS unique_sessions FROM events"
        " WHERE workspace_id = ? AND type = 'page_view' GROUP BY url ORDER BY views DESC, url LIMIT 100")
    geo = await rows(
        "SELECT country, count(*) AS sessions, count(DISTINCT visitor_id) AS unique_visitors FROM sessions"
        " WHERE workspace_id = ? GROUP BY country ORDER BY sessions DESC, coalesce(country, '')")
    scores = await rows(
        "SELECT engagement_score, count(*) AS n FROM sessions WHERE workspace_id = ? AND ended_at IS NOT NULL"
        " GROUP BY engagement_score")
    sources = await rows(
        "SELECT referrer_domain, count(*) AS sessions FROM sessions WHERE workspace_id = ?"
        " GROUP BY referrer_domain ORDER BY sessions DESC, referrer_domain")
    (live,) = await rows(
        "SELECT (SELECT count(*) FROM sessions WHERE workspace_id = ?1 AND ended_at IS NULL"
        " AND last_activity_at >= ?2) AS active,"
        " (SELECT count(*) FROM events WHERE workspace_id = ?1 AND received_at >= ?2) AS events", now - HOUR)
    return {
        "overview": {
            "total_sessions": totals["sessions"], "total_events": totals["events"],
            "unique_visitors": totals["visitors"], "unique_fingerprints": totals["fingerprints"],
            "avg_engagement_score": metrics.average(totals["engagement"], totals["sessions"], 1),
            "avg_session_duration_s": int(metrics.seconds(totals["duration"], totals["sessions"], 0)),
            "vpn_suspected_count": totals["vpn"]},
        "daily": daily,
        "pages": pages,
        "geo": geo,
        "engagement": metrics.engagement_buckets([(r["engagement_score"], r["n"]) for r in scores]),
        "sources": sources,
        "realtime": {"active_sessions": live["active"], "events_last_hour": live["events"],
                     "unique_visitors_today": daily[-1]["unique_visitors"],
                     "total_sessions_today": daily[-1]["total_sessions"]},
    }


def assert_identities(numbers: dict[str, Any], completed: int, leads: int) -> None:
    total = numbers["overview"]["total_sessions"]
    assert sum(day["total_sessions"] for day in numbers["daily"]) == total
    assert sum(country["sessions"] for country in numbers["geo"]) == total
    assert sum(source["sessions"] for source in numbers["sources"]) == total
    assert sum(bucket["count"] for bucket in numbers["engagement"]) == completed
    assert numbers["today"] == numbers["daily"][-1:]
    assert numbers["realtime"]["total_sessions_today"] == numbers["daily"][-1]["total_sessions"]
    assert numbers["realtime"]["unique_visitors_today"] == numbers["daily"][-1]["unique_visitors"]
    assert numbers["overview"]["unique_visitors"] >= max(c["unique_visitors"] for c in numbers["geo"])
    assert numbers["leads"]["total"] == leads == len(numbers["leads"]["leads"])
    sessions_with_page_views = sum(p["unique_sessions"] for p in numbers["pages"])
    assert sessions_with_page_views >= len(numbers["pages"])


async def test_numbers_agree_across_endpoints(client, workspace: Workspace) -> None:
    numbers = await dashboard(client)
    assert_identities(numbers, completed=5, leads=3)
    assert sum(p["views"] for p in numbers["pages"]) == 16  # every page_view event
    assert numbers["overview"]["total_events"] == sum(len(s.events) for s in workspace.sessions.values())


async def test_rollups_equal_the_raw_tables(client, app: Starlette, workspace: Workspace) -> None:
    numbers = await dashboard(client)
    raw = await raw_numbers(app)
    for name in raw:
        assert numbers[name] == raw[name], name


async def test_rollups_follow_every_kind_of_session_change(client, app: Starlette, workspace: Workspace) -> None:
    db = app.state.env.DB
    today = workspace.today
    changes = [
        # late events moved a session's start to the day before, with new aggregates
        ("UPDATE sessions SET started_at = ?, engagement_score = 88, duration_ms = 500000"
         " WHERE session_id = 's2'", (today - 2 * DAY + 23 * HOUR,)),
        ("UPDATE sessions SET visitor_id = ? WHERE session_id = 's4'", (V1,)),
        ("UPDATE sessions SET country = 'DE', referrer_domain = 'duckduckgo.com' WHERE session_id = 's3'", ()),
        ("UPDATE sessions SET country = NULL WHERE session_id = 's1'", ()),
        ("UPDATE sessions SET fingerprint = 'fpD' WHERE session_id = 's5'", ()),
        ("UPDATE sessions SET fingerprint = NULL WHERE session_id = 's7'", ()),
        ("UPDATE sessions SET ended_at = last_activity_at, engagement_score = 81 WHERE session_id = 's7'", ()),
        ("UPDATE sessions SET engagement_score = 20, vpn_suspected = 1 WHERE session_id = 's1'", ()),
        ("UPDATE sessions SET ended_at = NULL WHERE session_id = 's4'", ()),
        # a session removed with its events (page views stay counted: they are history, see metrics)
        ("DELETE FROM sessions WHERE session_id = 's3'; DELETE FROM events WHERE session_id = 's3'", ()),
    ]
    for sql, params in changes:
        await db.batch([db.prepare(statement).bind(*params) for statement in sql.split("; ")])
        numbers = await dashboard(client)
        raw = await raw_numbers(app)
        for name in raw:
            if name != "pages":  # page views are counted as events arrive, and no event changed
                assert numbers[name] == raw[name], (sql, name)
    assert numbers["overview"]["unique_fingerprints"] == 3  # fpA, fpB, fpD
    assert_identities(numbers, completed=4, leads=3)


async def test_follow_ups_follow_message_and_log_changes(client, app: Starlette, workspace: Workspace) -> None:
    db = app.state.env.DB

    async def follow_ups(lead_id: int) -> tuple[int, str | None]:
        lead = (await get_json(client, f"/analytics/leads/{lead_id}"))["lead"]
        return lead["follow_ups_count"], lead["last_follow_up_at"]

    await db.prepare("UPDATE messages SET draft_state = NULL WHERE id = 'm3'").run()
    assert await follow_ups(1) == (3, datetime_string(workspace.today - DAY + 18 * HOUR))
    await db.prepare("UPDATE messages SET lead_id = 3 WHERE id = 'm3'").run()
    assert await follow_ups(1) == (2, datetime_string(workspace.follow_up[1]))
    assert await follow_ups(3) == (2, datetime_string(workspace.today - DAY + 18 * HOUR))
    await db.prepare("DELETE FROM action_logs WHERE id = 'a1'").run()
    await db.prepare("UPDATE action_logs SET is_follow_up = 1 WHERE id = 'a3'").run()
    assert await follow_ups(1) == (1, datetime_string(workspace.today - DAY + 15 * HOUR))
    assert await follow_ups(3) == (3, datetime_string(workspace.today - DAY + 20 * HOUR))
    await db.prepare("DELETE FROM messages WHERE id = 'm1'").run()
    assert await follow_ups(1) == (0, None)


async def test_data_from_the_snippet_reaches_every_endpoint(client, app: Starlette, site: dict) -> None:
    key = site["site_key"]
    now = now_ms()
    batches = [
        batch(key, [event(url=HOME, ts=now - 9000), event("scroll", url=HOME, ts=now - 8000, depth=75),
                    event(url=SKY, ts=now - 7000)], visitor="v-one", session="sess-one"),
        batch(key, [event("click", url=SKY, ts=now - 6000, tag="a"), event(url=HOME, ts=now - 5000),
                    form({"name": "Asha Rao", "email": "asha@example.com"}, url=SKY, ts=now - 4000)],
              visitor="v-one", session="sess-one"),
        batch(key, [event(url=SKY, ts=now - 3000), event("engagement", url=SKY, ts=now - 2000, active_ms=40000)],
              visitor="v-two", session="sess-two", referrer="https://www.google.com/search"),
    ]
    for body in batches:
        response = await client.post("/track", content=json.dumps(body), headers=headers())
        assert response.status_code == 202, response.text
    numbers = await dashboard(client)
    raw = await raw_numbers(app)
    for name in raw:
        assert numbers[name] == raw[name], name
    assert numbers["overview"]["total_sessions"] == 2 and numbers["overview"]["total_events"] == 8
    assert numbers["pages"] == [{"page": HOME, "views": 2, "unique_sessions": 1},
                                {"page": SKY, "views": 2, "unique_sessions": 2}]
    assert {s["referrer_domain"] for s in numbers["sources"]} == {"(direct)", "google.com"}
    assert_identities(numbers, completed=0, leads=1)
    (lead,) = numbers["leads"]["leads"]
    assert (lead["contact_name"], lead["contact_email"], lead["status"]) == ("Asha Rao", "asha@example.com", "new")
    detail = await get_json(client, f"/analytics/leads/{lead['lead_id']}")
    assert [s["session_id"] for s in detail["sessions"]] == ["sess-one"]
    assert detail["sessions"][0]["event_count"] == 6
    assert json.loads(detail["submissions"][0]["payload_json"]) == {"name": "Asha Rao", "email": "asha@example.com"}
