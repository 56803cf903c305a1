"""Migration 0005: a page is its URL without query string and fragment (a #/ or #! route stays),
for new page views and for the rollup rows counted before it; 0012 made the rule the generated
column events.page; 0013 counts page views once per writer group; 0015 moves the rule into the
writer (domain.page_views.page_of)."""
from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from domain.page_views import count_page_views_after, last_event_id, page_of
from tests.earlier import MIGRATIONS, apply_migration, database_before, page_column
from tests.tracking import batch, event, headers, site  # noqa: F401  (fixture)

PRICING = "https://example.com/pricing"
# URLs built from the characters that matter to the page rule, and others.
RULE_URLS = ["", PRICING] + ["https://example.com" + "".join(p) for n in range(4)
                             for p in itertools.product(["a", "/", "?", "#", "!", "=", "ü", "#/", "#!", "?#", "#?"],
                                                        repeat=n)]


@pytest.mark.parametrize(("url", "page"), [
    (PRICING, PRICING),
    (PRICING + "?utm_source=google&utm_medium=cpc", PRICING),
    (PRICING + "#faq", PRICING),
    (PRICING + "?utm_source=x#faq", PRICING),
    (PRICING + "?#", PRICING),
    ("https://example.com/", "https://example.com/"),
    ("https://example.com/app#/plans", "https://example.com/app#/plans"),
    ("https://example.com/app?ref=mail#/plans?tab=2", "https://example.com/app#/plans?tab=2"),
    ("https://example.com/app#!/plans", "https://example.com/app#!/plans"),
    ("https://example.com/app#plans", "https://example.com/app"),
    ("https://ünï.example/çafé?q=ü", "https://ünï.example/çafé"),
    ("", ""),
])
def test_a_page_is_its_url_without_query_and_fragment(url: str, page: str) -> None:
    assert page_of(url) == page


def test_the_writers_page_rule_is_migration_0012s() -> None:
    """Page views counted before migration 0015 were counted by 0012's column: every URL built
    from the characters that matter to the rule (? # / ! and others) gets the same page."""
    conn = sqlite3.connect(":memory:")
    conn.execute(f"CREATE TABLE events (url TEXT, {page_column('0012_events_page.sql')})")
    conn.executemany("INSERT INTO events (url) VALUES (?)", [(url,) for url in RULE_URLS])
    differ = [(url, page) for url, page in conn.execute("SELECT url, page FROM events") if page_of(url) != page]
    assert len(RULE_URLS) > 1000 and differ == []


async def test_campaign_links_count_as_the_page_they_lead_to(client: httpx.AsyncClient, site: dict[str, Any]) -> None:
    visits = {  # session: the URLs of its page views
        "s_one": [PRICING + "?utm_source=google", PRICING, "https://example.com/"],
        "s_two": [PRICING + "?utm_source=mail&utm_campaign=spring#plans", "https://example.com/app#/plans"],
        "s_three": ["https://example.com/app?ref=x#/plans", "https://example.com/app#/plans?tab=2"],
    }
    for session, urls in visits.items():
        response = await client.post("/track", headers=headers(),
                                     json=batch(site["site_key"], [event(url=url) for url in urls], session=session))
        assert response.status_code == 202

    top = (await client.get("/analytics/pages/top", headers={"X-API-Key": "test-analytics-key"})).json()

    assert top == [
        {"page": PRICING, "views": 3, "unique_sessions": 2},
        {"page": "https://example.com/app#/plans", "views": 2, "unique_sessions": 2},
        {"page": "https://example.com/", "views": 1, "unique_sessions": 1},
        {"page": "https://example.com/app#/plans?tab=2", "views": 1, "unique_sessions": 1},
    ]


_INSERT_EVENT = ("INSERT INTO events (workspace_id, session_id, event_id, type, url, ts, received_at)"
                 " VALUES ('default', ?, ?, 'page_view', ?, 1767225600000, 1767225600000)")


async def test_rollup_rows_counted_before_the_migration_are_merged(tmp_path: Path) -> None:
    async with database_before(tmp_path, "0005") as db:
        views = [("s_a", PRICING + "?utm_source=google"), ("s_a", PRICING), ("s_a", PRICING + "#faq"),
                 ("s_b", PRICING + "?utm_source=mail"), ("s_b", PRICING + "?utm_source=mail"),
                 ("s_c", "https://example.com/app?x=1#/plans"), ("s_c", "https://example.com/")]
        await db.batch([db.prepare(_INSERT_EVENT).bind(session, f"evt_old{n:05d}", url)
                        for n, (session, url) in enumerate(views)])
        before = await db.prepare("SELECT count(*) AS n FROM rollup_page").first("n")
        # Raw rows of the oldest sessions may be pruned already: the merge reads only the rollups.
        await db.prepare("DELETE FROM events WHERE session_id = 's_a'").run()

        assert await apply_migration(db, tmp_path, "0005_pages_without_query.sql") == ["0005_pages_without_query.sql"]

        assert before == 6  # one row per URL as sent
        rows = (await db.prepare("SELECT page, views, sessions FROM rollup_page ORDER BY views DESC, page").all()).results
        assert rows == [
            {"page": PRICING, "views": 5, "sessions": 2},
            {"page": "https://example.com/", "views": 1, "sessions": 1},
            {"page": "https://example.com/app#/plans", "views": 1, "sessions": 1},
        ]
        pairs = await db.prepare("SELECT session_id, page FROM rollup_page_session ORDER BY session_id, page").raw()
        assert pairs == [["s_a", PRICING], ["s_b", PRICING], ["s_c", "https://example.com/"],
                         ["s_c", "https://example.com/app#/plans"]]
        assert await db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name LIKE 'page_merge%'").first("n") == 0

        # Page views after it land on the merged rows.
        await db.batch([db.prepare(_INSERT_EVENT).bind("s_a", "evt_new00001", PRICING + "?utm_source=ads"),
                        db.prepare(_INSERT_EVENT).bind("s_d", "evt_new00002", PRICING + "#top")])
        assert await db.prepare("SELECT views, sessions FROM rollup_page WHERE page = ?").bind(PRICING).first() \
            == {"views": 7, "sessions": 3}


def test_migration_0012_keeps_the_page_rule_of_0005() -> None:
    """0012 moved the rule from the view page_of to the generated column events.page: every URL
    built from the characters that matter to the rule (? # / ! and others) gets the same page."""
    v0005 = (MIGRATIONS / "0005_pages_without_query.sql").read_text()
    view = v0005[v0005.index("CREATE VIEW page_of"):v0005.index("FROM json_each);") + len("FROM json_each);")]
    column = page_column("0012_events_page.sql")
    conn = sqlite3.connect(":memory:")
    conn.execute(view)
    conn.execute(f"CREATE TABLE events (url TEXT, {column})")
    conn.executemany("INSERT INTO events (url) VALUES (?)", [(url,) for url in RULE_URLS])
    differ = [(url, page, rule) for url, page, rule in conn.execute(
        "SELECT url, page, (SELECT p.page FROM page_of p WHERE p.urls = json_array(events.url)) FROM events")
              if page != rule]
    assert len(RULE_URLS) > 1000 and differ == []


async def test_migration_0013_keys_the_counted_pairs_by_session_row(tmp_path: Path) -> None:
    """Pairs counted by the page-view trigger move to rollup_session_page under their session's id,
    so a page view after the migration of a session already counted for its page counts as a
    view only."""
    async with database_before(tmp_path, "0013") as db:
        session = ("INSERT INTO sessions (workspace_id, site_id, session_id, visitor_id, started_at, last_activity_at)"
                   " VALUES ('default', 1, ?, 'v', 0, 0)")
        await db.batch([db.prepare("INSERT INTO sites (id, workspace_id, site_key, created_at)"
                                   " VALUES (1, 'default', 'k', 0)"),
                        db.prepare(session).bind("s_b"), db.prepare(session).bind("s_a")]
                       + [db.prepare(_INSERT_EVENT).bind(s, f"evt_old{n:05d}", url) for n, (s, url) in enumerate(
                           [("s_a", PRICING), ("s_a", PRICING + "#faq"), ("s_b", PRICING), ("s_b", "https://example.com/")])])
        counted = await db.prepare("SELECT page, views, sessions FROM rollup_page ORDER BY page").raw()

        assert await apply_migration(db, tmp_path, "0013_page_views_per_group.sql") == ["0013_page_views_per_group.sql"]

        assert await db.prepare("SELECT page, views, sessions FROM rollup_page ORDER BY page").raw() == counted \
            == [["https://example.com/", 1, 1], [PRICING, 3, 2]]
        assert await db.prepare("SELECT s.session_id, p.page FROM rollup_session_page p JOIN sessions s ON s.id = p.session"
                                " ORDER BY 1, 2").raw() == [["s_a", PRICING], ["s_b", "https://example.com/"],
                                                            ["s_b", PRICING]]
        assert await db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name IN"
                                " ('rollup_page_session', 'events_rollup_page_view')").first("n") == 0

        def group(conn: sqlite3.Connection) -> None:  # as the writer does: the rows, then the rollup above them
            before = last_event_id(conn)
            conn.executemany(_INSERT_EVENT, [("s_a", "evt_new00001", PRICING + "?utm_source=ads"),
                                             ("s_a", "evt_new00002", "https://example.com/")])
            count_page_views_after(conn, before)
        await db.transaction(group)
        assert await db.prepare("SELECT page, views, sessions FROM rollup_page ORDER BY page").raw() \
            == [["https://example.com/", 2, 2], [PRICING, 4, 2]]


async def test_migration_0015_drops_the_page_column_and_keeps_every_row(tmp_path: Path) -> None:
    async with database_before(tmp_path, "0015") as db:
        await db.batch([db.prepare(_INSERT_EVENT).bind("s_a", f"evt_old{n:05d}", url)
                        for n, url in enumerate([PRICING + "?utm_source=ads", "https://example.com/app#/plans"])])
        before = await db.prepare("SELECT id, workspace_id, session_id, event_id, type, url, ts, received_at, props"
                                  " FROM events ORDER BY id").raw()

        assert await apply_migration(db, tmp_path, "0015_page_rule_in_the_writer.sql") == ["0015_page_rule_in_the_writer.sql"]

        assert await db.prepare("SELECT * FROM events ORDER BY id").raw() == before
        columns = await db.prepare("SELECT name FROM pragma_table_xinfo('events')").raw()
        assert ["page"] not in columns and ["url"] in columns
