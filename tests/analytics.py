"""Reading the dashboard surface in tests: requests with the test key, and every number at once."""
from __future__ import annotations

from typing import Any

import httpx
from starlette.applications import Starlette

from domain import dates, metrics
from runtime import now_ms
from tests.earlier import page_rule
from tests.seed import DAY, HOUR


async def get(client: httpx.AsyncClient, path: str, key: str = "test-analytics-key", **params: Any) -> httpx.Response:
    return await client.get(path, params=params, headers={"X-API-Key": key})


async def get_json(client: httpx.AsyncClient, path: str, **params: Any) -> Any:
    response = await get(client, path, **params)
    assert response.status_code == 200, response.text
    return response.json()


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
        daily.append({"date": dates.date_of(day), "total_sessions": r["n"], "unique_visitors": r["v"],
                      "avg_duration": metrics.seconds(r["d"], r["n"], 1), "avg_engagement": metrics.average(r["e"], r["n"], 1)})
    pages = await rows(
        f"SELECT coalesce({page_rule()}, '') AS page, count(*) AS views,"
        " count(DISTINCT session_id) AS unique_sessions FROM events"
        " WHERE workspace_id = ? AND type = 'page_view' GROUP BY 1 ORDER BY views DESC, 1 LIMIT 100")
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
