"""A database as an earlier release left it, to test what a migration does to existing rows."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

from storage import migrations
from storage.d1 import D1Database

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"


def page_column(migration: str) -> str:
    """The definition of the generated column events.page as a migration file writes it."""
    text = (MIGRATIONS / migration).read_text()
    return text[text.index("page TEXT GENERATED"):text.index(") VIRTUAL") + len(") VIRTUAL")]


def page_rule() -> str:
    """Migration 0012's page rule as an SQL expression of events.url, for the queries that count
    page views from raw events to check the rollup's answers (the writer's rule is
    domain.page_views.page_of, held equal to this one by a test)."""
    column = page_column("0012_events_page.sql")
    return re.sub(r"--[^\n]*", "", column[column.index("(") + 1:column.rindex(") VIRTUAL")])


async def migrate_before(db: D1Database, tmp_path: Path, name: str) -> Path:
    """Apply to `db` every migration whose file name sorts before `name`; the folder they were
    copied to, where a test may copy the next one (`migrations.apply(db, MIGRATIONS)` applies
    all the rest)."""
    earlier = tmp_path / "earlier-migrations"
    earlier.mkdir()
    for path in migrations.migration_files(MIGRATIONS):
        if path.name < name:
            shutil.copy(path, earlier)
    await migrations.apply(db, earlier)
    return earlier
