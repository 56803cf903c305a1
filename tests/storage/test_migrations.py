import sqlite3
from pathlib import Path

from storage import migrations
from storage.d1 import D1Database

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = ROOT / "migrations"


def _normalised_schema(conn: sqlite3.Connection) -> list[tuple[str, str, str]]:
    rows = conn.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'"
        " AND name != 'd1_migrations' ORDER BY type, name"
    ).fetchall()
    return [(kind, name, " ".join(sql.split())) for kind, name, sql in rows]


async def test_apply_twice_is_a_no_op(tmp_path: Path) -> None:
    db = D1Database(tmp_path / "db.sqlite")
    await db.open()
    try:
        first = await migrations.apply(db, MIGRATIONS)
        second = await migrations.apply(db, MIGRATIONS)
        rows = (await db.prepare("SELECT id, name, applied_at FROM d1_migrations ORDER BY id").all()).results
    finally:
        await db.close()
    assert first == [p.name for p in migrations.migration_files(MIGRATIONS)]
    assert second == []
    assert [r["name"] for r in rows] == first and all(r["applied_at"] for r in rows)


async def test_migrations_table_is_wranglers(tmp_path: Path) -> None:
    db = D1Database(tmp_path / "db.sqlite")
    await db.open()
    try:
        await migrations.apply(db, MIGRATIONS)
        sql = await db.prepare("SELECT sql FROM sqlite_master WHERE name = 'd1_migrations'").first("sql")
    finally:
        await db.close()
    assert " ".join(sql.split()) == (
        "CREATE TABLE d1_migrations(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE, "
        "applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL)"
    )


async def test_schema_sql_equals_all_migrations_applied(tmp_path: Path) -> None:
    db = D1Database(tmp_path / "migrated.sqlite")
    await db.open()
    try:
        await migrations.apply(db, MIGRATIONS)
    finally:
        await db.close()
    fresh = sqlite3.connect(tmp_path / "from_schema.sqlite")
    fresh.executescript((ROOT / "schema.sql").read_text())
    migrated = sqlite3.connect(tmp_path / "migrated.sqlite")
    assert _normalised_schema(fresh) == _normalised_schema(migrated)


async def test_failed_migration_rolls_back_and_stops(tmp_path: Path) -> None:
    directory = tmp_path / "migrations"
    first = migrations.create(directory, "good one")
    first.write_text(first.read_text() + "CREATE TABLE a (x INTEGER);\n")
    second = migrations.create(directory, "bad")
    second.write_text(second.read_text() + "CREATE TABLE b (x INTEGER);\nINSERT INTO nowhere VALUES (1);\n")
    third = migrations.create(directory, "never")
    third.write_text(third.read_text() + "CREATE TABLE c (x INTEGER);\n")
    assert [first.name, second.name, third.name] == ["0001_good_one.sql", "0002_bad.sql", "0003_never.sql"]
    assert first.read_text().startswith("-- Migration number: 0001 \t ")

    db = D1Database(tmp_path / "db.sqlite")
    await db.open()
    try:
        try:
            await migrations.apply(db, directory)
        except Exception as error:
            assert "nowhere" in str(error)
        else:
            raise AssertionError("a failing migration must raise")
        tables = {r["name"] for r in (await db.prepare("SELECT name FROM sqlite_master WHERE type='table'").all()).results}
        pending = [p.name for p in await migrations.pending(db, directory)]
    finally:
        await db.close()
    assert "a" in tables and "b" not in tables and "c" not in tables
    assert pending == ["0002_bad.sql", "0003_never.sql"]


def test_statements_split_at_every_statement_end_as_wrangler_does() -> None:
    assert migrations.statements("SELECT 1; SELECT 2") == ["SELECT 1;", "SELECT 2"]
    assert migrations.statements("INSERT INTO t VALUES ('a;b'); -- done; really\nSELECT 2;") == [
        "INSERT INTO t VALUES ('a;b');", "-- done; really\nSELECT 2;"]
    trigger = "CREATE TRIGGER x AFTER INSERT ON t BEGIN UPDATE t SET a = 1; UPDATE t SET b = 2; END;"
    assert migrations.statements(f"{trigger} SELECT 3") == [trigger, "SELECT 3"]
    assert migrations.statements("-- a comment only\n;;") == []
