"""The page rollup: page views and unique sessions by page (rollup_page), counted once per group
of newly inserted events, not per row (migration 0013).

A page is `events.page`, the generated column that holds the rule (migrations 0005 and 0012). A
session counts once per page: rollup_session_page holds each (sessions.id, page) pair already
counted. The events counted are those with an id above `after`, the highest id before the group
was inserted: SQLite gives new rows ids above every stored one, so inside the group's transaction
these are exactly the rows it added (an event ignored as a duplicate is not among them, so a
retried batch is not counted twice). Their sessions must be written first.
"""
from __future__ import annotations

import sqlite3

# NOT INDEXED: the group's rows are found by the id range; without it SQLite would walk the whole
# events_received index to have the rows in GROUP BY order.
_GROUP_PAGE_VIEWS = (
    "FROM events e NOT INDEXED JOIN sessions s ON s.workspace_id = e.workspace_id AND s.session_id = e.session_id"
    " WHERE e.id > ?1 AND e.type = 'page_view'"
)
_UPSERT_PAGES = (
    "INSERT INTO rollup_page (workspace_id, page, views, sessions)"
    " SELECT e.workspace_id, coalesce(e.page, ''), count(*), count(DISTINCT s.id) FILTER (WHERE NOT EXISTS ("
    "   SELECT 1 FROM rollup_session_page p WHERE p.session = s.id AND p.page = coalesce(e.page, '')))"
    f" {_GROUP_PAGE_VIEWS} GROUP BY 1, 2"
    " ON CONFLICT (workspace_id, page) DO UPDATE SET views = views + excluded.views,"
    " sessions = sessions + excluded.sessions"
)
_INSERT_PAIRS = (
    f"INSERT OR IGNORE INTO rollup_session_page (session, page) SELECT s.id, coalesce(e.page, '') {_GROUP_PAGE_VIEWS}"
    " ORDER BY 1, 2"
)


def last_event_id(conn: sqlite3.Connection) -> int:
    """The highest id in events (0 when empty): taken before a group's insert, what it added is above it."""
    return conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0]


def count_page_views(conn: sqlite3.Connection, after: int) -> None:
    """Add the page views of the events with an id above `after` to the page rollup."""
    conn.execute(_UPSERT_PAGES, (after,))
    conn.execute(_INSERT_PAIRS, (after,))
