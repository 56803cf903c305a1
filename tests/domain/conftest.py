from __future__ import annotations

from pathlib import Path

import pytest

from storage import migrations
from storage.d1 import D1Database

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def db(tmp_path: Path):
    """A real SQLite file with every migration applied."""
    database = D1Database(tmp_path / "domain.sqlite")
    await database.open()
    await migrations.apply(database, ROOT / "migrations")
    yield database
    await database.close()
