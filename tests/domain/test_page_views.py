"""The page rollup counted once per group (domain/page_views.py, migration 0013): views by page, and
each session once per page however many groups its page views arrive in."""
from __future__ import annotations

import asyncio
import itertools
import json
import sqlite3
from typing import Any

import httpx

from domain.page_views import count_page_views_after, last_event_id
from storage.d1 import D1Database
from tests.tracking import batch, event, headers, site  # noqa: F401  (fixture)

PRICING = "https://example.com/pricing"
_ids = itertools.count()
HOME = "https://example.com/"


async def _group(db: D1Database, views: list[tuple[str, str, str]]) -> None:
    """Store (workspace, session, url) page views and a click per session as one writer group does:
    the events, their sessions, then the rollup of the events above the highest id before them."""
    def write(conn: sqlite3.Connection) -> None:
        before = last_event_id(conn)
        for workspace, session, url in views:
            for kind in ("page_view", "click"):
                conn.execute("INSERT INTO events (workspace_id, session_id, event_id, type, url, ts, received_at)"
                             " VALUES (?, ?, ?, ?, ?, 1, 1)", (workspace, session, f"e{next(_ids)}", kind, url))
            conn.execute("INSERT OR IGNORE INTO sessions (workspace_id, site_id, session_id, visitor_id, started_at,"
                         " last_activity_at) VALUES (?, ?, ?, 'v', 1, 1)",
                         (workspace, 1 if workspace == "default" else 2, session))
        count_page_views_after(conn, before)
    await db.transaction(write)


async def _pages(db: D1Database, workspace: str = "default") -> list[list[Any]]:
    return await db.prepare("SELECT page, views, sessions FROM rollup_page WHERE workspace_id = ?"
                            " ORDER BY page").bind(workspace).raw()


async def test_a_session_counts_once_per_page_within_a_group_and_across_groups(db: D1Database) -> None:
    await db.batch([
        db.prepare("INSERT INTO workspaces (id, name, created_at) VALUES ('ws-two', 'Two', 0)"),
        db.prepare("INSERT INTO sites (id, workspace_id, site_key, created_at) VALUES (1, 'default', 'a', 0)"),
        db.prepare("INSERT INTO sites (id, workspace_id, site_key, created_at) VALUES (2, 'ws-two', 'b', 0)"),
    ])
    await _group(db, [("default", "s1", PRICING), ("default", "s1", PRICING + "?utm_source=x"),
                      ("default", "s2", PRICING), ("default", "s1", HOME)])
    assert await _pages(db) == [[HOME, 1, 1], [PRICING, 3, 2]]

    # A later group: s1 has seen the pricing page already, s3 is new; the same session id in
    # another workspace is another session.
    await _group(db, [("default", "s1", PRICING), ("default", "s3", PRICING), ("ws-two", "s1", PRICING)])
    assert await _pages(db) == [[HOME, 1, 1], [PRICING, 5, 3]]
    assert await _pages(db, "ws-two") == [[PRICING, 1, 1]]

    # Events at or below `after` are not counted again; a group without page views changes nothing.
    await db.transaction(lambda conn: count_page_views_after(conn, last_event_id(conn)))
    assert await _pages(db) == [[HOME, 1, 1], [PRICING, 5, 3]]
    assert await db.prepare("SELECT count(*) AS n FROM rollup_session_page").first("n") == 5


async def test_a_retried_batch_counts_its_page_views_once(client: httpx.AsyncClient, site: dict[str, Any]) -> None:
    body = json.dumps(batch(site["site_key"], [event(url=PRICING), event(url=PRICING + "#faq"), event(url=HOME)]))
    for _ in range(2):
        response = await client.post("/track", content=body, headers=headers())
        assert response.status_code == 202
    assert response.json()["duplicates"] == 3

    # Requests of other sessions at once, which the writer may take in one group or several.
    bodies = [batch(site["site_key"], [event(url=PRICING), event("click", url=PRICING), event(url=PRICING)],
                    session=f"s_other{n}") for n in range(8)]
    responses = await asyncio.gather(*(client.post("/track", json=b, headers=headers()) for b in bodies))
    assert {r.status_code for r in responses} == {202}

    top = (await client.get("/analytics/pages/top", headers={"X-API-Key": "test-analytics-key"})).json()
    assert top == [{"page": PRICING, "views": 18, "unique_sessions": 9},
                   {"page": HOME, "views": 1, "unique_sessions": 1}]
