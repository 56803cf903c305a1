from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage.d1 import D1Database, D1Error, D1Result

SCHEMA = """
CREATE TABLE leads (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, score REAL, photo BLOB);
-- a comment; with a semicolon
INSERT INTO leads (name, score) VALUES ('Ada', 9.5);
INSERT INTO leads (name, score)
VALUES ('Grace', 7);
"""


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[D1Database]:
    database = D1Database(tmp_path / "state" / "d1.sqlite")
    await database.open()
    await database.exec(SCHEMA)
    yield database
    await database.close()


async def names(db: D1Database) -> list[str]:
    rows = await db.prepare("SELECT name FROM leads ORDER BY id").raw()
    return [row[0] for row in rows]


async def test_open_uses_wal_and_foreign_keys(db: D1Database) -> None:
    assert db.path.exists()
    assert await db.transaction(lambda c: c.execute("PRAGMA journal_mode").fetchone()[0]) == "wal"
    assert await db.transaction(lambda c: c.execute("PRAGMA foreign_keys").fetchone()[0]) == 1


async def test_bindings_opening_a_new_file_together_all_get_wal(tmp_path: Path) -> None:
    # Processes starting at once race to put a new file in WAL mode; none may fail to open.
    for attempt in range(20):
        bindings = [D1Database(tmp_path / f"new-{attempt}.sqlite", readers=1) for _ in range(4)]
        await asyncio.gather(*(binding.open() for binding in bindings))
        modes = [(await binding.prepare("PRAGMA journal_mode").first())["journal_mode"] for binding in bindings]
        await asyncio.gather(*(binding.close() for binding in bindings))
        assert modes == ["wal"] * 4


async def test_exec_counts_statements_across_lines(db: D1Database) -> None:
    result = await db.exec("CREATE TABLE t (v TEXT);\nINSERT INTO t VALUES ('a;b'); INSERT INTO t VALUES ('c');")
    assert result["count"] == 3 and result["duration"] >= 0
    assert await db.prepare("SELECT v FROM t ORDER BY v").raw() == [["a;b"], ["c"]]


async def test_exec_error_names_the_statement(db: D1Database) -> None:
    with pytest.raises(D1Error, match=r"^D1_ERROR: Error in statement 2: no such table: nope"):
        await db.exec("SELECT 1;\nSELECT * FROM nope;")


async def test_all_returns_rows_as_dicts_with_meta(db: D1Database) -> None:
    result = await db.prepare("SELECT id, name FROM leads WHERE score > ? ORDER BY id").bind(5).all()
    assert isinstance(result, D1Result) and result.success
    assert result.results == [{"id": 1, "name": "Ada"}, {"id": 2, "name": "Grace"}]
    assert result.meta["rows_read"] == 2 and result.meta["rows_written"] == 0
    assert result.meta["changes"] == 0 and result.meta["changed_db"] is False
    assert result.meta["duration"] >= 0 and result.meta["size_after"] > 0
    assert set(result.to_dict()) == {"results", "success", "meta"}


async def test_run_reports_write_meta(db: D1Database) -> None:
    result = await db.prepare("INSERT INTO leads (name) VALUES (?)").bind("Linus").run()
    assert result.results == []
    assert result.meta["changes"] == 1 and result.meta["rows_written"] == 1
    assert result.meta["last_row_id"] == 3 and result.meta["changed_db"] is True
    assert result.meta["size_after"] > 0

    updated = await db.prepare("UPDATE leads SET score = 1").run()
    assert updated.meta["changes"] == 3 and updated.meta["rows_written"] == 3


async def test_bind_is_immutable_and_supports_numbered_parameters(db: D1Database) -> None:
    statement = db.prepare("SELECT ?2 AS b, ?1 AS a")
    bound = statement.bind("x", "y")
    assert bound is not statement and statement.params == ()
    assert await bound.first() == {"b": "y", "a": "x"}


async def test_bound_value_types(db: D1Database) -> None:
    row = await db.prepare("SELECT ? AS t, ? AS n, ? AS f, ? AS b, ? AS m").bind(
        True, None, 1.5, bytearray(b"\x00\x01"), memoryview(b"z")
    ).first()
    assert row == {"t": 1, "n": None, "f": 1.5, "b": b"\x00\x01", "m": b"z"}


@pytest.mark.parametrize("value", [{"a": 1}, object(), [1]])
async def test_unsupported_value_is_a_type_error(db: D1Database, value: object) -> None:
    with pytest.raises(D1Error, match=r"^D1_TYPE_ERROR: Type '\w+' not supported for value") as error:
        await db.prepare("SELECT ?").bind(value).all()
    assert error.value.code == "D1_TYPE_ERROR"


async def test_first_row_column_and_none(db: D1Database) -> None:
    statement = db.prepare("SELECT id, name FROM leads WHERE name = ?")
    assert await statement.bind("Ada").first() == {"id": 1, "name": "Ada"}
    assert await statement.bind("Ada").first("name") == "Ada"
    assert await statement.bind("nobody").first() is None
    assert await statement.bind("nobody").first("name") is None


async def test_first_missing_column(db: D1Database) -> None:
    with pytest.raises(D1Error, match=r"^D1_COLUMN_NOTFOUND: ") as error:
        await db.prepare("SELECT id FROM leads").first("email")
    assert error.value.code == "D1_COLUMN_NOTFOUND"


async def test_raw_with_and_without_header(db: D1Database) -> None:
    statement = db.prepare("SELECT id, name FROM leads ORDER BY id")
    assert await statement.raw() == [[1, "Ada"], [2, "Grace"]]
    assert await statement.raw(column_names=True) == [["id", "name"], [1, "Ada"], [2, "Grace"]]


async def test_duplicate_column_names_last_wins(db: D1Database) -> None:
    assert await db.prepare("SELECT 1 AS a, 2 AS a").first() == {"a": 2}
    assert await db.prepare("SELECT 1 AS a, 2 AS a").raw(column_names=True) == [["a", "a"], [1, 2]]


async def test_sql_errors_keep_sqlite_message(db: D1Database) -> None:
    with pytest.raises(D1Error, match=r"^D1_ERROR: no such table: nope: SQLITE_ERROR$") as error:
        await db.prepare("SELECT * FROM nope").all()
    assert error.value.code == "D1_ERROR"
    with pytest.raises(D1Error, match=r"^D1_ERROR: Incorrect number of bindings.*: SQLITE_ERROR$"):
        await db.prepare("SELECT ?, ?").bind(1).all()
    with pytest.raises(D1Error, match=r"^D1_ERROR: UNIQUE constraint failed: leads.name"):
        await db.prepare("INSERT INTO leads (name) VALUES ('Ada')").run()


async def test_parameter_limit(db: D1Database) -> None:
    def select(n: int) -> str:
        return "SELECT " + ", ".join(f"? AS c{i}" for i in range(n))

    row = await db.prepare(select(100)).bind(*range(100)).first()
    assert row is not None and len(row) == 100
    with pytest.raises(D1Error, match=r"^D1_ERROR: too many SQL variables.*limit is 100"):
        await db.prepare(select(101)).bind(*range(101)).all()


async def test_statement_length_limit(db: D1Database) -> None:
    head = "SELECT 1 AS one -- "
    exact = head + "x" * (100_000 - len(head))
    assert await db.prepare(exact).first() == {"one": 1}
    with pytest.raises(D1Error, match=r"^D1_ERROR: statement too long"):
        await db.prepare(exact + "x").all()


async def test_batch_returns_one_result_per_statement(db: D1Database) -> None:
    results = await db.batch([
        db.prepare("INSERT INTO leads (name) VALUES (?)").bind("Linus"),
        db.prepare("SELECT count(*) AS n FROM leads"),
    ])
    assert results[0].meta["changes"] == 1 and results[0].meta["last_row_id"] == 3
    assert results[1].results == [{"n": 3}]


async def test_batch_is_atomic(db: D1Database) -> None:
    with pytest.raises(D1Error, match="UNIQUE constraint failed"):
        await db.batch([
            db.prepare("INSERT INTO leads (name) VALUES (?)").bind("Linus"),
            db.prepare("INSERT INTO leads (name) VALUES (?)").bind("Ada"),
        ])
    assert await names(db) == ["Ada", "Grace"]


async def test_transaction_commits(db: D1Database) -> None:
    def add(conn: sqlite3.Connection) -> int:
        conn.execute("INSERT INTO leads (name) VALUES ('Linus')")
        return conn.execute("SELECT count(*) FROM leads").fetchone()[0]

    assert await db.transaction(add) == 3
    assert await names(db) == ["Ada", "Grace", "Linus"]


async def test_transaction_rolls_back_and_reraises(db: D1Database) -> None:
    def fail(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO leads (name) VALUES ('Linus')")
        raise LookupError("stop")

    with pytest.raises(LookupError, match="stop"):
        await db.transaction(fail)
    assert await names(db) == ["Ada", "Grace"]


async def test_reads_do_not_wait_for_a_long_write(db: D1Database) -> None:
    inserted, release = threading.Event(), threading.Event()
    write_finished = False

    def long_write(conn: sqlite3.Connection) -> None:
        nonlocal write_finished
        conn.execute("INSERT INTO leads (name) VALUES ('Linus')")
        inserted.set()
        release.wait(timeout=5)  # held open until the read below has returned
        write_finished = True

    write = asyncio.create_task(db.transaction(long_write))
    assert await asyncio.to_thread(inserted.wait, 5)
    during = await names(db)
    finished_before_read_returned = write_finished
    release.set()
    await write

    assert not finished_before_read_returned
    assert during == ["Ada", "Grace"]
    assert await names(db) == ["Ada", "Grace", "Linus"]


async def test_writes_from_concurrent_coroutines_are_serialised(db: D1Database) -> None:
    insert = db.prepare("INSERT INTO leads (name) VALUES (?)")
    await asyncio.gather(*(insert.bind(f"lead {i}").run() for i in range(50)))
    assert await db.prepare("SELECT count(*) AS n FROM leads").first("n") == 52


async def test_write_disguised_as_read_runs_on_the_writer(db: D1Database) -> None:
    result = await db.prepare(
        "/* seed */ WITH new(name) AS (VALUES (?)) INSERT INTO leads (name) SELECT name FROM new"
    ).bind("Linus").run()
    assert result.meta["changes"] == 1 and result.meta["changed_db"] is True
    assert await names(db) == ["Ada", "Grace", "Linus"]


async def test_long_read_times_out(tmp_path: Path) -> None:
    database = D1Database(tmp_path / "slow.sqlite", query_timeout_s=0.2)
    await database.open()
    try:
        endless = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n"
        with pytest.raises(D1Error, match=r"^D1_ERROR: .*query timed out"):
            await database.prepare(endless).all()
        assert await database.prepare("SELECT 1 AS one").first("one") == 1
    finally:
        await database.close()


async def test_close_waits_for_writes_and_is_idempotent(tmp_path: Path) -> None:
    database = D1Database(tmp_path / "d1.sqlite")
    await database.open()
    await database.exec("CREATE TABLE t (v INTEGER)")
    write = asyncio.create_task(database.prepare("INSERT INTO t VALUES (1)").run())
    await asyncio.sleep(0)  # let the write reach the writer before closing
    await asyncio.gather(database.close(), database.close())
    await database.close()
    assert (await write).meta["changes"] == 1
    with pytest.raises(D1Error, match="not open"):
        await database.prepare("SELECT 1").all()

    reopened = D1Database(tmp_path / "d1.sqlite")
    await reopened.open()
    assert await reopened.prepare("SELECT count(*) AS n FROM t").first("n") == 1
    await reopened.close()


async def test_a_binding_that_fails_to_open_leaves_no_connection_running(tmp_path: Path) -> None:
    # Each connection owns a thread; one left behind would keep the process from exiting.
    before = set(threading.enumerate())
    (tmp_path / "notes.sqlite").write_bytes(b"not a database, " * 512)
    with pytest.raises(sqlite3.DatabaseError, match="not a database"):
        await D1Database(tmp_path / "notes.sqlite").open()
    await asyncio.sleep(0.1)
    assert [thread for thread in threading.enumerate() if thread not in before and thread.is_alive()] == []
