"""Migration 0014 rebuilds `events` for a CHECK written as comparisons: the same rows, ids, page
column and indexes, and the same rule for an event's type."""
from __future__ import annotations

from pathlib import Path

import pytest

from storage.d1 import D1Error
from tests.earlier import apply_migration, database_before, page_column

TYPES = ("page_view", "click", "scroll", "engagement", "form_submit")


def test_the_rebuilt_page_column_is_migration_0012s_rule() -> None:
    assert page_column("0014_events_type_check.sql") == page_column("0012_events_page.sql")


async def test_rows_ids_and_indexes_survive_the_rebuild(tmp_path: Path) -> None:
    async with database_before(tmp_path, "0014") as db:
        insert = ("INSERT INTO events (id, workspace_id, session_id, event_id, type, url, ts, received_at, props)"
                  " VALUES (?, 'default', ?, ?, ?, ?, ?, ?, ?)")
        await db.batch([db.prepare(insert).bind(n * 7, f"s{n % 3}", f"evt_{n:05d}", TYPES[n % 5],
                                                f"https://example.com/p{n}?utm_source=x#/route" if n % 2 else None,
                                                1_000 + n, 2_000 + n, f'{{"n":{n}}}') for n in range(1, 40)])
        before = await db.prepare("SELECT * FROM events ORDER BY id").raw()

        assert await apply_migration(db, tmp_path, "0014_events_type_check.sql") == ["0014_events_type_check.sql"]

        assert await db.prepare("SELECT * FROM events ORDER BY id").raw() == before
        indexes = await db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events'"
                                   " ORDER BY name").raw()
        assert indexes == [["events_received"], ["events_session"], ["sqlite_autoindex_events_1"]]
        assert await db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'events_rebuilt'").first("n") == 0
        plan = await db.prepare("EXPLAIN QUERY PLAN SELECT id FROM events WHERE workspace_id = 'default'"
                                " AND session_id = 's1' ORDER BY ts").raw()
        assert "events_session" in plan[0][-1]

        for kind in TYPES:  # every type still stored; anything else refused, as before
            await db.prepare(insert).bind(None, "s9", f"evt_new_{kind}", kind, None, 1, 1, "{}").run()
        with pytest.raises(D1Error, match="CHECK constraint failed"):
            await db.prepare(insert).bind(None, "s9", "evt_new_bad", "pageview", None, 1, 1, "{}").run()
        new_id = await db.prepare("SELECT max(id) AS id FROM events").first("id")
        assert new_id == 39 * 7 + 5  # ids go on from the highest, as the writer's page rollup expects
