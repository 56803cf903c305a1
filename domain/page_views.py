"""The page rollup: page views and unique sessions by page (rollup_page), counted once per group
of newly stored events, not per row.

A page is `page_of(url)`: the URL without its query string and fragment, where a `#/` or `#!`
route stays (the rule of migrations 0005 and 0012, which counted the page views stored before
them; migration 0015 moved it here from the generated column events.page). A session counts once
per page: rollup_session_page holds each (sessions.id, page) pair already counted; a page's new
pairs are added in one statement, and the rows it inserted are its sessions' first views.

The writer knows each new page view's workspace, session and URL, so it hands them over as they
are; nothing is read back from `events`. Its sessions must be written first, for their ids.
"""
from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterable

from domain import json_input

# One page's pairs for the group's sessions (their ids in a JSON array, ascending): the count of
# rows inserted is the count of sessions viewing that page for the first time.
_INSERT_PAIRS = (
    "INSERT OR IGNORE INTO rollup_session_page (session, page) SELECT value, ?2 FROM json_each(?1)"
)
_UPSERT_PAGES = (
    "INSERT INTO rollup_page (workspace_id, page, views, sessions) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (workspace_id, page) DO UPDATE SET views = views + excluded.views,"
    " sessions = sessions + excluded.sessions"
)
_PAGE_VIEWS_AFTER = (
    "SELECT e.workspace_id, s.id, e.url FROM events e NOT INDEXED"
    " JOIN sessions s ON s.workspace_id = e.workspace_id AND s.session_id = e.session_id"
    " WHERE e.id > ? AND e.type = 'page_view'"
)


@functools.lru_cache(maxsize=1024)  # a site's page views are mostly of a few URLs
def page_of(url: str | None) -> str:
    """A page view's page ('' for none): `https://example.com/a?b=1#top` is `https://example.com/a`,
    `https://example.com/app#/settings?tab=2` keeps its route, `#/settings?tab=2`."""
    if not url:
        return ""
    query, fragment = url.find("?"), url.find("#")
    if query < 0 and fragment < 0:  # most URLs: the page itself
        return url
    end = query if query >= 0 and (fragment < 0 or query < fragment) else fragment
    route = url[fragment:] if fragment >= 0 and url[fragment + 1:fragment + 2] in ("/", "!") else ""
    return url[:end] + route


def count_page_views(conn: sqlite3.Connection, sessions: Iterable[tuple[str, int, Iterable[str | None]]]) -> None:
    """Add page views to the page rollup: for each session, (workspace id, sessions.id, the URLs
    of its new page views)."""
    views: dict[tuple[str, str], list[int]] = {}  # each page view's session, by workspace and page
    for workspace_id, session, urls in sessions:
        for url in urls:
            views.setdefault((workspace_id, page_of(url)), []).append(session)
    rows = []
    for (workspace_id, page), seen in views.items():
        first_views = conn.execute(_INSERT_PAIRS, (json_input.dumps(sorted(set(seen))), page)).rowcount
        rows.append((workspace_id, page, len(seen), first_views))
    conn.executemany(_UPSERT_PAGES, rows)


def last_event_id(conn: sqlite3.Connection) -> int:
    """The highest id in events (0 when empty): taken before rows are inserted, what they added is above it."""
    return conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0]


def count_page_views_after(conn: sqlite3.Connection, after: int) -> None:
    """For events inserted by hand (the test seed, the benchmark's generator): count the page views
    with an id above `after` as the writer would have. Their sessions must be written first."""
    count_page_views(conn, [(workspace_id, session, (url,))
                            for workspace_id, session, url in conn.execute(_PAGE_VIEWS_AFTER, (after,))])
