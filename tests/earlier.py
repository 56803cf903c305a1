"""A database as an earlier release left it, to test what a migration does to existing rows."""
from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

from storage import migrations
from storage.d1 import D1Database

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
_EARLIER = "earlier-migrations"


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


@contextlib.asynccontextmanager
async def database_before(tmp_path: Path, name: str) -> AsyncIterator[D1Database]:
    """An open database with every migration whose file name sorts before `name` applied (copied
    to a folder of tmp_path: `apply_migration` applies the next, `migrations.apply(db, MIGRATIONS)`
    all the rest); closed afterwards."""
    earlier = tmp_path / _EARLIER
    earlier.mkdir()
    for path in migrations.migration_files(MIGRATIONS):
        if path.name < name:
            shutil.copy(path, earlier)
    db = D1Database(tmp_path / "earlier.sqlite")
    await db.open()
    try:
        await migrations.apply(db, earlier)
        yield db
    finally:
        await db.close()


async def apply_migration(db: D1Database, tmp_path: Path, name: str) -> list[str]:
    """Apply the migration named `name` (its file name) after the ones database_before applied; the
    names applied."""
    shutil.copy(MIGRATIONS / name, tmp_path / _EARLIER)
    return await migrations.apply(db, tmp_path / _EARLIER)
