"""The breakdowns (ours, in the dashboard surface's dialect): /analytics/devices,
/analytics/campaigns/utm and /analytics/bots, over visits sent through POST /track.

The visits below are made with real user agents; what ua-parser makes of each one is stated beside
it, and every expected list is counted by hand from that table.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from storage import migrations
from tests.analytics import get, get_json
from tests.earlier import MIGRATIONS, database_before
from tests.seed import DAY, HOUR, MINUTE, Workspace, day_string
from tests.tracking import ORIGIN, batch, event, site  # noqa: F401  (fixture)


WINDOWS_CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
                  " Chrome/126.0.0.0 Safari/537.36")  # desktop, Chrome, Windows
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko)"
          " Version/17.5 Mobile/15E148 Safari/604.1")  # mobile, Mobile Safari, iOS
LINUX_FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0"  # desktop, Firefox, Linux
ANDROID = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko)"
           " Chrome/126.0.0.0 Mobile Safari/537.36")  # mobile, Chrome Mobile, Android
IPAD = ("Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko)"
        " Version/17.5 Mobile/15E148 Safari/604.1")  # tablet, Mobile Safari, iOS
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


async def visit(client: httpx.AsyncClient, site_key: str, session: str, agent: str, ts: int,
                utm: dict[str, str] | None = None, webdriver: bool = False) -> None:
    body = batch(site_key, [event(ts=ts)], visitor=f"v_{session}", session=f"s_{session}", utm=utm or {},
                 webdriver=webdriver)
    response = await client.post("/track", content=json.dumps(body),
                                 headers={"Origin": ORIGIN, "User-Agent": agent, "Content-Type": "text/plain"})
    assert response.status_code == 202, response.text


@pytest.fixture
async def visits(client: httpx.AsyncClient, workspace: Workspace, site: dict[str, Any]) -> Workspace:
    """Six visits on top of the seeded workspace (whose seven sessions have no device, browser, OS or UTM).

    | visit | day | device | browser | OS | utm_source | utm_medium | utm_campaign |
    | --- | --- | --- | --- | --- | --- | --- | --- |
    | a | today | desktop | Chrome | Windows | google | cpc | spring |
    | b | today | mobile | Mobile Safari | iOS | newsletter | email | spring |
    | c | yesterday | desktop | Firefox | Linux | | | |
    | d | yesterday | mobile | Chrome Mobile | Android | google | cpc | |
    | e | 2 days ago | desktop | Chrome | Windows | google | social | autumn |
    | f | 40 days ago | tablet | Mobile Safari | iOS | bing | cpc | winter |
    """
    today = max(workspace.today, workspace.now - 10 * MINUTE)
    key = site["site_key"]
    await visit(client, key, "a", WINDOWS_CHROME, today, {"source": "google", "medium": "cpc", "campaign": "spring"})
    await visit(client, key, "b", IPHONE, today, {"source": "newsletter", "medium": "email", "campaign": "spring"})
    await visit(client, key, "c", LINUX_FIREFOX, workspace.today - DAY + 8 * HOUR)
    await visit(client, key, "d", ANDROID, workspace.today - DAY + 9 * HOUR, {"source": "google", "medium": "cpc"})
    await visit(client, key, "e", WINDOWS_CHROME, workspace.today - 2 * DAY + 9 * HOUR,
                {"source": "google", "medium": "social", "campaign": "autumn"})
    await visit(client, key, "f", IPAD, workspace.today - 40 * DAY + 9 * HOUR,
                {"source": "bing", "medium": "cpc", "campaign": "winter"})
    return workspace


async def test_devices_browsers_and_os_ranked_by_sessions(client: httpx.AsyncClient, visits: Workspace) -> None:
    # 30 days: a-e plus the seed's 7 sessions (unknown device, browser and OS); f is 40 days old.
    assert await get_json(client, "/analytics/devices") == {
        "devices": [{"device": None, "sessions": 7}, {"device": "desktop", "sessions": 3},
                    {"device": "mobile", "sessions": 2}],
        "browsers": [{"browser": None, "sessions": 7}, {"browser": "Chrome", "sessions": 2},
                     {"browser": "Chrome Mobile", "sessions": 1}, {"browser": "Firefox", "sessions": 1},
                     {"browser": "Mobile Safari", "sessions": 1}],
        "os": [{"os": None, "sessions": 7}, {"os": "Windows", "sessions": 2}, {"os": "Android", "sessions": 1},
               {"os": "Linux", "sessions": 1}, {"os": "iOS", "sessions": 1}],
    }


async def test_devices_window_and_limit(client: httpx.AsyncClient, visits: Workspace) -> None:
    # Today: a, b and the seed's s6; ties are in value order, the unknown value last among equals.
    assert await get_json(client, "/analytics/devices", days=1) == {
        "devices": [{"device": "desktop", "sessions": 1}, {"device": "mobile", "sessions": 1},
                    {"device": None, "sessions": 1}],
        "browsers": [{"browser": "Chrome", "sessions": 1}, {"browser": "Mobile Safari", "sessions": 1},
                     {"browser": None, "sessions": 1}],
        "os": [{"os": "Windows", "sessions": 1}, {"os": "iOS", "sessions": 1}, {"os": None, "sessions": 1}],
    }
    # 90 days brings in f; limit=2 keeps the first two of each list.
    assert await get_json(client, "/analytics/devices", days=90, limit=2) == {
        "devices": [{"device": None, "sessions": 7}, {"device": "desktop", "sessions": 3}],
        "browsers": [{"browser": None, "sessions": 7}, {"browser": "Chrome", "sessions": 2}],
        "os": [{"os": None, "sessions": 7}, {"os": "Windows", "sessions": 2}],
    }
    assert (await get_json(client, "/analytics/devices", days=90))["devices"][-1] == {"device": "tablet",
                                                                                       "sessions": 1}
    assert await get_json(client, "/analytics/devices", limit=0) == {"devices": [], "browsers": [], "os": []}


async def test_utm_sources_mediums_and_campaigns(client: httpx.AsyncClient, visits: Workspace) -> None:
    # Sessions without a value are in no list: c has none, d has no campaign.
    assert await get_json(client, "/analytics/campaigns/utm") == {
        "sources": [{"utm_source": "google", "sessions": 3}, {"utm_source": "newsletter", "sessions": 1}],
        "mediums": [{"utm_medium": "cpc", "sessions": 2}, {"utm_medium": "email", "sessions": 1},
                    {"utm_medium": "social", "sessions": 1}],
        "campaigns": [{"utm_campaign": "spring", "sessions": 2}, {"utm_campaign": "autumn", "sessions": 1}],
    }
    assert await get_json(client, "/analytics/campaigns/utm", days=90, limit=1) == {
        "sources": [{"utm_source": "google", "sessions": 3}],
        "mediums": [{"utm_medium": "cpc", "sessions": 3}],
        "campaigns": [{"utm_campaign": "spring", "sessions": 2}],
    }
    assert await get_json(client, "/analytics/campaigns/utm", days=2) == {
        "sources": [{"utm_source": "google", "sessions": 2}, {"utm_source": "newsletter", "sessions": 1}],
        "mediums": [{"utm_medium": "cpc", "sessions": 2}, {"utm_medium": "email", "sessions": 1}],
        "campaigns": [{"utm_campaign": "spring", "sessions": 2}],
    }


async def test_bot_hits_per_day(client: httpx.AsyncClient, app: Starlette, workspace: Workspace,
                                site: dict[str, Any]) -> None:
    # Two crawler requests and one automated browser today; earlier days as the writer left them.
    db = app.state.env.DB
    insert = "INSERT INTO bot_hits (workspace_id, day, hits) VALUES (?, ?, ?)"
    await db.batch([db.prepare(insert).bind(*row) for row in [
        ("default", day_string(workspace.today - 2 * DAY), 5),
        ("default", day_string(workspace.today - 95 * DAY), 9),
        ("ws-two", day_string(workspace.today - 2 * DAY), 70),
    ]])
    await visit(client, site["site_key"], "g", GOOGLEBOT, workspace.now)
    await visit(client, site["site_key"], "h", GOOGLEBOT, workspace.now)
    await visit(client, site["site_key"], "i", WINDOWS_CHROME, workspace.now, webdriver=True)

    assert await get_json(client, "/analytics/bots", days=4) == [
        {"date": day_string(workspace.today - 3 * DAY), "hits": 0},
        {"date": day_string(workspace.today - 2 * DAY), "hits": 5},
        {"date": day_string(workspace.today - DAY), "hits": 0},
        {"date": day_string(workspace.today), "hits": 3},
    ]
    month = await get_json(client, "/analytics/bots")
    assert len(month) == 30 and sum(day["hits"] for day in month) == 8
    quarter = await get_json(client, "/analytics/bots", days=500)  # clamped to 90: the 95-day-old hits are out
    assert len(quarter) == 90 and sum(day["hits"] for day in quarter) == 8
    # The bots made no sessions.
    assert await db.prepare("SELECT count(*) AS n FROM sessions WHERE session_id IN ('s_g', 's_h', 's_i')"
                            ).first("n") == 0


async def test_an_empty_workspace(client: httpx.AsyncClient) -> None:
    assert await get_json(client, "/analytics/devices") == {"devices": [], "browsers": [], "os": []}
    assert await get_json(client, "/analytics/campaigns/utm") == {"sources": [], "mediums": [], "campaigns": []}
    bots = await get_json(client, "/analytics/bots", days=7)
    assert [day["hits"] for day in bots] == [0] * 7


@pytest.mark.parametrize("path", ["/analytics/devices", "/analytics/campaigns/utm", "/analytics/bots"])
@pytest.mark.parametrize("params, error", [
    ({"days": "0"}, "Invalid days: expected an integer of at least 1"),
    ({"days": "-3"}, "Invalid days: expected a non-negative integer"),
    ({"days": "7d"}, "Invalid days: expected a non-negative integer"),
    ({"limit": "ten"}, "Invalid limit: expected a non-negative integer"),
])
async def test_bad_parameters_are_400_naming_them(client: httpx.AsyncClient, path: str, params: dict[str, str],
                                                  error: str) -> None:
    response = await get(client, path, **params)
    if "limit" in params and path == "/analytics/bots":  # bots takes no limit: ignored like any other extra
        assert response.status_code == 200
        return
    assert (response.status_code, response.json()) == (400, {"error": error})


@pytest.mark.parametrize("path", ["/analytics/devices", "/analytics/campaigns/utm", "/analytics/bots",
                                  "/analytics/sites"])
async def test_a_missing_key_is_401(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 401
    assert response.json() == {"error": "API key required. Use Authorization: Bearer <key> or X-API-Key header."}


async def test_sites_lists_the_workspace_snippet_keys(client: httpx.AsyncClient, workspace: Workspace,
                                                      site: dict[str, Any]) -> None:
    assert await get_json(client, "/analytics/sites") == [
        {"site_key": "site_a", "name": "", "origins": []},
        {"site_key": site["site_key"], "name": "example", "origins": [ORIGIN]},
    ]


# --- the rollup follows every write path -------------------------------------------------------------

_RAW = (
    "SELECT {column} AS value, count(*) AS sessions FROM sessions WHERE workspace_id = 'default'"
    " AND started_at >= ? GROUP BY {column} ORDER BY sessions DESC, {column} IS NULL, {column}"
)


async def raw_breakdowns(app: Starlette, workspace: Workspace) -> dict[str, Any]:
    """The same lists as /analytics/devices and /analytics/campaigns/utm (30 days), from sessions."""
    db, since = app.state.env.DB, workspace.today - 29 * DAY
    lists: dict[str, Any] = {}
    for name, column in [("devices", "device"), ("browsers", "browser"), ("os", "os"), ("sources", "utm_source"),
                         ("mediums", "utm_medium"), ("campaigns", "utm_campaign")]:
        rows = (await db.prepare(_RAW.format(column=column)).bind(since).all()).results
        field = column if column.startswith("utm_") else {"devices": "device", "browsers": "browser"}.get(name, name)
        lists[name] = [{field: row["value"], "sessions": row["sessions"]} for row in rows
                       if not (column.startswith("utm_") and row["value"] is None)]
    return lists


async def test_the_rollup_follows_updates_and_deletes(client: httpx.AsyncClient, app: Starlette,
                                                      visits: Workspace) -> None:
    db = app.state.env.DB
    changes = [
        "UPDATE sessions SET device = 'tablet', browser = NULL WHERE session_id = 's_a'",
        "UPDATE sessions SET utm_campaign = 'autumn', utm_source = NULL WHERE session_id = 's_b'",
        f"UPDATE sessions SET started_at = {visits.today - 40 * DAY} WHERE session_id = 's_c'",  # out of the window
        f"UPDATE sessions SET started_at = {visits.today - 3 * DAY} WHERE session_id = 's_f'",  # into it
        "UPDATE sessions SET os = 'Linux' WHERE session_id = 's1'",
        "DELETE FROM sessions WHERE session_id = 's_d'",
        # ingestion's own update of a session's aggregates, same day: nothing moves
        "UPDATE sessions SET started_at = started_at + 1, event_count = event_count + 1 WHERE session_id = 's_e'",
    ]
    for sql in changes:
        await db.prepare(sql).run()
        devices = await get_json(client, "/analytics/devices", limit=100)
        utm = await get_json(client, "/analytics/campaigns/utm", limit=100)
        assert {**devices, **utm} == await raw_breakdowns(app, visits), sql


async def test_migration_backfills_existing_sessions(tmp_path: Path) -> None:
    """Sessions that exist before migration 0010 is applied are counted by its backfill."""
    async with database_before(tmp_path, "0010") as db:
        await db.exec("INSERT INTO sites (id, workspace_id, site_key, created_at) VALUES (1, 'default', 'k', 0)")
        insert = ("INSERT INTO sessions (workspace_id, site_id, session_id, visitor_id, started_at, last_activity_at,"
                  " device, browser, utm_source) VALUES ('default', 1, ?, 'v', ?, ?, ?, ?, ?)")
        await db.batch([db.prepare(insert).bind(*row) for row in [
            ("x1", 5 * DAY + 1, 5 * DAY + 1, "desktop", "Chrome", "google"),
            ("x2", 5 * DAY + 2, 5 * DAY + 2, "desktop", None, None),
            ("x3", 6 * DAY, 6 * DAY, "mobile", "Chrome", "google"),
        ]])
        await migrations.apply(db, MIGRATIONS)
        rows = (await db.prepare("SELECT dimension, day, value, sessions FROM rollup_day_dimension"
                                 " WHERE dimension IN ('device', 'browser', 'utm_source')"
                                 " ORDER BY dimension, day, value").all()).results
    assert [tuple(row.values()) for row in rows] == [
        ("browser", 5, "", 1), ("browser", 5, "Chrome", 1), ("browser", 6, "Chrome", 1),
        ("device", 5, "desktop", 2), ("device", 6, "mobile", 1),
        ("utm_source", 5, "", 1), ("utm_source", 5, "google", 1), ("utm_source", 6, "google", 1),
    ]
