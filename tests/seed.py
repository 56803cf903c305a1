"""The seeded workspace every surface's tests share, with its numbers worked out by hand.

Workspace "default" has seven sessions (s1-s7) of three visitors with their events, four leads
(one deleted) with their submissions, messages and action logs; workspace "ws-two" has a
session, a lead, a submission and a message of its own, and an API key (`Workspace.other_key`).
Rows are written as ingestion and the surfaces would leave them, so tests can state the
expected answers of every endpoint exactly. Lead records, checklists and their analytics live in
workspaces of their own ("ws-123", "acme"; tests/seed_lead_records.py), so none of the numbers
above moves; "ws-two" also gets a lead record for the scoping test. Campaigns and sender lines
(tests/seed_campaigns.py) add no message to "default"; "ws-two" gets a campaign conversation.
Call analyses (tests/seed_calls.py): four in "default", one in "ws-two".
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from domain import auth
from domain.messages import NewMessage, record_message
from domain.page_views import count_page_views_after
from runtime import now_ms
from storage.d1 import D1Database
from tests.seed_calls import OTHER_MARKERS as CALL_MARKERS
from tests.seed_calls import SeededCalls, seed_call_analyses
from tests.seed_campaigns import OTHER_MARKERS as CAMPAIGN_MARKERS
from tests.seed_campaigns import SeededCampaigns, seed_campaigns
from tests.seed_lead_records import OTHER_MARKERS as RECORD_MARKERS
from tests.seed_lead_records import LeadRecords, seed_lead_records

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
    # Workspace "ws-two": its ids by the path parameter that names them, and strings only its data holds.
    other_ids: dict[str, str]
    other_markers: tuple[str, ...]
    # Lead records of tests/seed_lead_records.py: workspaces "ws-123" and "acme", keys and lead ids.
    lead_records: LeadRecords | None = None
    # Campaigns and lines of tests/seed_campaigns.py ("default": no messages; "ws-two": a conversation).
    campaigns: SeededCampaigns | None = None
    # Call analyses of tests/seed_calls.py.
    calls: SeededCalls | None = None


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


async def record_messages(db: D1Database, rows: list[tuple[Any, ...]]) -> None:
    """(id, workspace, lead, contact, channel, direction, status, draft state, created at) rows, through the domain."""
    messages = [NewMessage(id=m[0], workspace_id=m[1], lead_id=m[2], contact=m[3], channel=m[4], direction=m[5],
                           status=m[6], draft_state=m[7], created_at=m[8]) for m in rows]
    await db.transaction(lambda conn: [record_message(conn, m, now_ms()) for m in messages])


async def seed_workspace(db: D1Database) -> Workspace:
    """Two workspaces' data; the first one's is described by the returned `Workspace`."""
    now = now_ms()
    today = now // DAY * DAY
    sessions = _sessions(now, today)
    await db.prepare("INSERT INTO workspaces (id, name, created_at) VALUES ('ws-two', 'Second workspace', 0)").run()
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
    statements += [db.prepare(_INSERT_ACTION).bind(*a) for a in [
        ("a1", "default", 1, "CALL", "COMPLETED", 1, follow_up[1]),
        ("a2", "default", 3, "EMAIL", "COMPLETED", 1, follow_up[3]),
        ("a3", "default", 3, "NOTE", "COMPLETED", 0, today - DAY + 20 * HOUR),
    ]]
    await db.batch(statements)
    await db.transaction(lambda conn: count_page_views_after(conn, 0))  # as the writer does after each group
    await record_messages(db, [
        ("m1", "default", 1, "9876543210", "sms", "outbound", "delivered", None, today - DAY + 15 * HOUR),
        ("m2", "default", 1, "9876543210", "sms", "inbound", "received", None, today - DAY + 17 * HOUR),
        ("m3", "default", 1, "9876543210", "whatsapp", "outbound", "queued", "rejected", today - DAY + 18 * HOUR),
        ("m4", "ws-two", 5, "0600000000", "email", "outbound", "sent", None, today - DAY + 2 * HOUR),
    ])
    records = await seed_lead_records(db)
    seeded_campaigns = await seed_campaigns(db, now)
    seeded_calls = await seed_call_analyses(db, today)
    return Workspace(now, today, {s.session_id: s for s in sessions}, other_key, enquiry, follow_up,
                     other_ids={"lead_id": "5", "leadId": records.other_lead, "actionId": records.other_action,
                                "id": seeded_campaigns.other_message, "analysis_id": seeded_calls.other},
                     other_markers=("other@example.fr", "Other Sky", "visitor-other", "bing.com", "0600000000",
                                    *RECORD_MARKERS, *CAMPAIGN_MARKERS, *CALL_MARKERS),
                     lead_records=records, campaigns=seeded_campaigns, calls=seeded_calls)
