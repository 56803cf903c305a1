"""Dashboard metrics: one function per number the dashboard shows, each defined once.

Every function reads the rollups of migration 0002 (kept exact by SQLite triggers; page views by
the ingestion writer, domain/page_views.py), never raw events, so a request costs a few indexed
lookups whatever the data size. Where two endpoints show the same number they call the same
function here, so they cannot disagree.

Definitions (UTC throughout; a session's day is the UTC day of its `started_at`):

- sessions: rows of `sessions`; events: the sum of `sessions.event_count` (what ingestion
  counted, so pruning raw event rows after archiving does not change it).
- unique visitors / fingerprints: distinct `visitor_id` / non-null `fingerprint` over those sessions.
- averages: exact sums divided by counts, rounded half up (0 when there are no sessions);
  durations are `sessions.duration_ms` shown in seconds.
- completed session: `ended_at` is set (the cron handler closed it). The engagement buckets
  cover completed sessions only.
- page views: `page_view` events by page, the URL without its query string and fragment (a
  `#/` or `#!` route stays: domain.page_views.page_of); unique sessions: distinct
  sessions with a page view of that page. Counted as the events are committed; pruning raw rows
  later changes neither.
- realtime: active sessions are those not ended whose last activity is within the last hour;
  events in the last hour are those received (server clock) within it; "today" is the
  current UTC day, the same day the daily series ends on.
- storage: see `storage()`.
- breakdowns (ours, beyond the document): device, browser and OS, and utm_source, utm_medium and
  utm_campaign, each as sessions per value over the last `days` UTC days (a session counts on
  its start day), most sessions first, ties in value order. An unknown device, browser or OS is
  null and ranked with the others; a session without a UTM value is in no UTM list. Read from
  migration 0010's `rollup_day_dimension`.
- bot hits: requests from crawlers and automated browsers, counted per UTC day when they
  arrive (`bot_hits`); the same zero-filled series of days as the daily sessions.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict

from domain.dates import HOUR_MS, date_of, day_of
from storage.d1 import D1Database

ENGAGEMENT_BUCKETS: tuple[tuple[int, int], ...] = ((0, 19), (20, 39), (40, 59), (60, 79), (80, 100))
_UNKNOWN = ""  # how the rollups key an unknown country or a page view without a URL


class Overview(TypedDict):
    total_sessions: int
    total_events: int
    unique_visitors: int
    unique_fingerprints: int
    avg_engagement_score: float
    avg_session_duration_s: int
    vpn_suspected_count: int


class DaySessions(TypedDict):
    date: str
    total_sessions: int
    unique_visitors: int
    avg_duration: float
    avg_engagement: float


class PageViews(TypedDict):
    page: str | None
    views: int
    unique_sessions: int


class CountrySessions(TypedDict):
    country: str | None
    sessions: int
    unique_visitors: int


class EngagementBucket(TypedDict):
    bucket: str
    count: int


class SourceSessions(TypedDict):
    referrer_domain: str
    sessions: int


class Realtime(TypedDict):
    active_sessions: int
    events_last_hour: int
    unique_visitors_today: int
    total_sessions_today: int


class Storage(TypedDict):
    total_objects: int
    estimated_sessions: int


class DeviceSessions(TypedDict):
    device: str | None
    sessions: int


class BrowserSessions(TypedDict):
    browser: str | None
    sessions: int


class OsSessions(TypedDict):
    os: str | None
    sessions: int


class Devices(TypedDict):
    devices: list[DeviceSessions]
    browsers: list[BrowserSessions]
    os: list[OsSessions]


class UtmSourceSessions(TypedDict):
    utm_source: str
    sessions: int


class UtmMediumSessions(TypedDict):
    utm_medium: str
    sessions: int


class UtmCampaignSessions(TypedDict):
    utm_campaign: str
    sessions: int


class UtmCampaigns(TypedDict):
    sources: list[UtmSourceSessions]
    mediums: list[UtmMediumSessions]
    campaigns: list[UtmCampaignSessions]


class DayBotHits(TypedDict):
    date: str
    hits: int


# --- shared rules ------------------------------------------------------------------------


def average(total: int, count: int, places: int) -> float:
    """total / count rounded half up to `places` decimals, computed exactly; 0 for no count."""
    if count <= 0:
        return 0.0
    scale = 10**places
    # floor((total / count) * scale + 1/2) in integers, so no binary rounding creeps in.
    return ((2 * total * scale + count) // (2 * count)) / scale


def seconds(total_ms: int, count: int, places: int) -> float:
    return average(total_ms, count * 1000, places)



def bucket_of(score: int) -> str:
    for low, high in ENGAGEMENT_BUCKETS:
        if score <= high:
            return f"{low}-{high}"
    return f"{ENGAGEMENT_BUCKETS[-1][0]}-{ENGAGEMENT_BUCKETS[-1][1]}"


def engagement_buckets(score_counts: Sequence[tuple[int, int]]) -> list[EngagementBucket]:
    """(score, sessions) pairs into the five buckets, every bucket present."""
    counts = {f"{low}-{high}": 0 for low, high in ENGAGEMENT_BUCKETS}
    for score, sessions in score_counts:
        counts[bucket_of(score)] += sessions
    return [{"bucket": bucket, "count": count} for bucket, count in counts.items()]


def _known(value: str | None) -> str | None:
    return None if value == _UNKNOWN else value


# --- the metrics ---------------------------------------------------------------------------

_OVERVIEW = (
    "SELECT sessions, events, visitors, fingerprints, engagement_sum, duration_ms_sum, vpn_sessions"
    " FROM rollup_workspace WHERE workspace_id = ?"
)
_DAYS = (
    "SELECT day, sessions, visitors, duration_ms_sum, engagement_sum FROM rollup_day"
    " WHERE workspace_id = ? AND day BETWEEN ? AND ? AND sessions > 0"
)
_TOP_PAGES = (
    "SELECT page, views, sessions FROM rollup_page WHERE workspace_id = ?"
    " ORDER BY views DESC, page LIMIT ?"
)
_COUNTRIES = (
    "SELECT country, sessions, visitors FROM rollup_country WHERE workspace_id = ? AND sessions > 0"
    " ORDER BY sessions DESC, country"
)
_SCORES = "SELECT score, sessions FROM rollup_score WHERE workspace_id = ? AND sessions > 0"
_SOURCES = (
    "SELECT referrer_domain, sessions FROM rollup_referrer WHERE workspace_id = ? AND sessions > 0"
    " ORDER BY sessions DESC, referrer_domain"
)
_ACTIVE_SESSIONS = (
    "SELECT count(*) AS n FROM sessions"
    " WHERE ended_at IS NULL AND last_activity_at >= ? AND workspace_id = ?"
)
_EVENTS_SINCE = "SELECT count(*) AS n FROM events WHERE workspace_id = ? AND received_at >= ?"
_STORAGE = "SELECT objects, sessions FROM storage_objects WHERE workspace_id = ?"
# Unknown values ('') rank last among equals; the UTM lists leave them out altogether.
_RANKED = (
    "SELECT value, sum(sessions) AS sessions FROM rollup_day_dimension"
    " WHERE workspace_id = ? AND dimension = ? AND day BETWEEN ? AND ?{known}"
    " GROUP BY value HAVING sum(sessions) > 0 ORDER BY sessions DESC, value = '', value LIMIT ?"
)
_RANKED_ALL = _RANKED.format(known="")
_RANKED_KNOWN = _RANKED.format(known=" AND value != ''")
_BOT_DAYS = "SELECT day, hits FROM bot_hits WHERE workspace_id = ? AND day BETWEEN ? AND ?"


async def overview(db: D1Database, workspace_id: str) -> Overview:
    row = await db.prepare(_OVERVIEW).bind(workspace_id).first() or {}
    sessions = row.get("sessions", 0)
    return {
        "total_sessions": sessions,
        "total_events": row.get("events", 0),
        "unique_visitors": row.get("visitors", 0),
        "unique_fingerprints": row.get("fingerprints", 0),
        "avg_engagement_score": average(row.get("engagement_sum", 0), sessions, 1),
        "avg_session_duration_s": int(seconds(row.get("duration_ms_sum", 0), sessions, 0)),
        "vpn_suspected_count": row.get("vpn_sessions", 0),
    }


async def daily_sessions(db: D1Database, workspace_id: str, days: int, now_ms: int) -> list[DaySessions]:
    """The last `days` UTC days ending today, oldest first, every day present (zeros when empty)."""
    if days <= 0:
        return []
    last = day_of(now_ms)
    first = last - days + 1
    rows = (await db.prepare(_DAYS).bind(workspace_id, first, last).all()).results
    by_day = {row["day"]: row for row in rows}
    series: list[DaySessions] = []
    for day in range(first, last + 1):
        row = by_day.get(day)
        sessions = row["sessions"] if row else 0
        series.append({
            "date": date_of(day),
            "total_sessions": sessions,
            "unique_visitors": row["visitors"] if row else 0,
            "avg_duration": seconds(row["duration_ms_sum"], sessions, 1) if row else 0.0,
            "avg_engagement": average(row["engagement_sum"], sessions, 1) if row else 0.0,
        })
    return series


async def top_pages(db: D1Database, workspace_id: str, limit: int) -> list[PageViews]:
    """Pages by page views, most first; ties in URL order."""
    if limit <= 0:
        return []
    rows = (await db.prepare(_TOP_PAGES).bind(workspace_id, limit).all()).results
    return [{"page": _known(r["page"]), "views": r["views"], "unique_sessions": r["sessions"]} for r in rows]


async def countries(db: D1Database, workspace_id: str) -> list[CountrySessions]:
    """Every country with sessions, most sessions first; unknown country as null."""
    rows = (await db.prepare(_COUNTRIES).bind(workspace_id).all()).results
    return [{"country": _known(r["country"]), "sessions": r["sessions"], "unique_visitors": r["visitors"]}
            for r in rows]


async def engagement(db: D1Database, workspace_id: str) -> list[EngagementBucket]:
    rows = (await db.prepare(_SCORES).bind(workspace_id).all()).results
    return engagement_buckets([(r["score"], r["sessions"]) for r in rows])


async def sources(db: D1Database, workspace_id: str) -> list[SourceSessions]:
    """Every referrer domain with sessions, most sessions first; `(direct)` for none."""
    rows = (await db.prepare(_SOURCES).bind(workspace_id).all()).results
    return [{"referrer_domain": r["referrer_domain"], "sessions": r["sessions"]} for r in rows]


async def realtime(db: D1Database, workspace_id: str, now_ms: int) -> Realtime:
    since = now_ms - HOUR_MS
    active = await db.prepare(_ACTIVE_SESSIONS).bind(since, workspace_id).first("n")
    events = await db.prepare(_EVENTS_SINCE).bind(workspace_id, since).first("n")
    (today,) = await daily_sessions(db, workspace_id, 1, now_ms)
    return {
        "active_sessions": active,
        "events_last_hour": events,
        "unique_visitors_today": today["unique_visitors"],
        "total_sessions_today": today["total_sessions"],
    }


async def storage(db: D1Database, workspace_id: str) -> Storage:
    """The workspace's session blobs in the SESSIONS bucket, without listing it.

    `estimated_sessions`: sessions whose archive (`sessions.blob_key`) is in the bucket, so
    their full event stream can be read back. `total_objects`: the workspace's objects in the
    bucket: those archives plus any older copy of a session's blob under a previous key that the
    archive job did not get to delete. "Estimated" because between reconciliation passes both
    rest on what the archive job recorded rather than on a listing.

    Both are counts kept by triggers on `sessions.blob_key` as the archive job records each blob,
    replaced at the end of every reconciliation pass (jobs/storage_stats.py) by what the bucket
    listing found. They are exact as of that pass plus the archives recorded since; an object
    removed from the bucket behind the worker's back is noticed by the next pass.
    """
    row = await db.prepare(_STORAGE).bind(workspace_id).first() or {}
    return {"total_objects": row.get("objects", 0), "estimated_sessions": row.get("sessions", 0)}


async def devices(db: D1Database, workspace_id: str, days: int, limit: int, now_ms: int) -> Devices:
    """Sessions by device, browser and OS over the last `days` UTC days; unknown as null."""
    ranked = [await _ranked(db, _RANKED_ALL, workspace_id, dimension, days, limit, now_ms)
              for dimension in ("device", "browser", "os")]
    device, browser, os = ranked
    return {
        "devices": [{"device": _known(value), "sessions": n} for value, n in device],
        "browsers": [{"browser": _known(value), "sessions": n} for value, n in browser],
        "os": [{"os": _known(value), "sessions": n} for value, n in os],
    }


async def utm_campaigns(db: D1Database, workspace_id: str, days: int, limit: int, now_ms: int) -> UtmCampaigns:
    """Sessions by utm_source, utm_medium and utm_campaign over the last `days` UTC days."""
    ranked = [await _ranked(db, _RANKED_KNOWN, workspace_id, dimension, days, limit, now_ms)
              for dimension in ("utm_source", "utm_medium", "utm_campaign")]
    source, medium, campaign = ranked
    return {
        "sources": [{"utm_source": value, "sessions": n} for value, n in source],
        "mediums": [{"utm_medium": value, "sessions": n} for value, n in medium],
        "campaigns": [{"utm_campaign": value, "sessions": n} for value, n in campaign],
    }


async def bot_days(db: D1Database, workspace_id: str, days: int, now_ms: int) -> list[DayBotHits]:
    """Bot hits per UTC day, the last `days` days ending today, oldest first, zeros included."""
    if days <= 0:
        return []
    last = day_of(now_ms)
    first = last - days + 1
    rows = (await db.prepare(_BOT_DAYS).bind(workspace_id, date_of(first), date_of(last)).all()).results
    hits = {row["day"]: row["hits"] for row in rows}
    return [{"date": date_of(day), "hits": hits.get(date_of(day), 0)} for day in range(first, last + 1)]


async def _ranked(db: D1Database, sql: str, workspace_id: str, dimension: str, days: int, limit: int,
                  now_ms: int) -> list[tuple[str, int]]:
    if days <= 0 or limit <= 0:
        return []
    last = day_of(now_ms)
    rows = (await db.prepare(sql).bind(workspace_id, dimension, last - days + 1, last, limit).all()).results
    return [(row["value"], row["sessions"]) for row in rows]
