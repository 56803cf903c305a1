"""The page rollup: page views and unique sessions by page (rollup_page), counted once per group
of newly stored events, not per row.

A page is `page_of(url)`: the URL without its query string and fragment, where a `#/` or `#!`
route stays (the rule of migrations 0005 and 0012, which counted the page views stored before
them; migration 0015 moved it here from the generated column events.page). A session counts once
per page: rollup_session_page holds each (sessions.id, page) pair already counted, and the one
statement that adds a group's pairs returns those it added.

The writer knows each new page view's workspace, session and URL, so it hands them over as they
are; nothing is read back from `events`. Its sessions must be written first, for their ids.
"""
from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterable

from domain import json_input

# The group's new pairs, in key order (they land together: a new session's at the b-tree's right
# edge); RETURNING gives back only the pairs inserted, that is, each session's first view of a page.
_INSERT_PAIRS = (
    "INSERT OR IGNORE INTO rollup_session_page (session, page)"
    " SELECT value ->> 0, value ->> 1 FROM json_each(?) RETURNING session, page"
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
    views: dict[tuple[str, str], int] = {}
    workspace_of: dict[tuple[int, str], str] = {}
    for workspace_id, session, urls in sessions:
        for url in urls:
            page = page_of(url)
            views[(workspace_id, page)] = views.get((workspace_id, page), 0) + 1
            workspace_of[(session, page)] = workspace_id
    if not views:
        return
    first_views: dict[tuple[str, str], int] = {}
    for session, page in conn.execute(_INSERT_PAIRS, (json_input.dumps(sorted(workspace_of)),)):
        key = (workspace_of[(session, page)], page)
        first_views[key] = first_views.get(key, 0) + 1
    conn.executemany(_UPSERT_PAGES, [(workspace_id, page, count, first_views.get((workspace_id, page), 0))
                                     for (workspace_id, page), count in views.items()])


def last_event_id(conn: sqlite3.Connection) -> int:
    """The highest id in events (0 when empty): taken before rows are inserted, what they added is above it."""
    return conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0]


def count_page_views_after(conn: sqlite3.Connection, after: int) -> None:
    """For events inserted by hand (the test seed, the benchmark's generator): count the page views
    with an id above `after` as the writer would have. Their sessions must be written first."""
    count_page_views(conn, [(workspace_id, session, (url,))
                            for workspace_id, session, url in conn.execute(_PAGE_VIEWS_AFTER, (after,))])
