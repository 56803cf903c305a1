"""The D1 binding: Cloudflare D1's Worker API over a SQLite file, through aiosqlite.

One writer connection takes every write, one unit at a time; a small pool of read-only
connections serves reads, so in WAL mode a read never waits behind a long write.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

T = TypeVar("T")

MAX_BOUND_PARAMETERS = 100
_IN_CHUNK = MAX_BOUND_PARAMETERS - 10  # ids per IN (...) list, beside a query's other parameters
MAX_STATEMENT_BYTES = 100_000
SERVED_BY = "leadlight-d1"

_READ_KEYWORDS = frozenset({"SELECT", "WITH", "EXPLAIN", "VALUES"})
# Whitespace, comments and empty statements before the first keyword.
_LEADING_NOISE = re.compile(r"(?:[\s;]|--[^\n]*|/\*.*?(?:\*/|$))*", re.DOTALL)
_FIRST_WORD = re.compile(r"[A-Za-z]+")
# How many SQLite VM instructions run between two looks at a read's deadline.
_PROGRESS_STEPS = 1000


class D1Error(Exception):
    """Every error the binding raises; str() reads like D1's: "<code>: <message>"."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass
class D1Result:
    results: list[dict[str, Any]]
    success: bool
    meta: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"results": self.results, "success": self.success, "meta": self.meta}


@dataclass
class _Outcome:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    meta: dict[str, Any]

    def result(self) -> D1Result:
        # dict() keeps the last of duplicate column names, as D1 does.
        rows = [dict(zip(self.columns, row)) for row in self.rows]
        return D1Result(results=rows, success=True, meta=self.meta)


class D1PreparedStatement:
    __slots__ = ("_db", "sql", "params")

    def __init__(self, db: D1Database, sql: str, params: tuple[Any, ...] = ()) -> None:
        self._db = db
        self.sql = sql
        self.params = params

    def bind(self, *values: Any) -> D1PreparedStatement:
        return D1PreparedStatement(self._db, self.sql, tuple(_coerce(v) for v in values))

    async def all(self) -> D1Result:
        return (await self._db._run_statement(self)).result()

    async def run(self) -> D1Result:
        return await self.all()

    async def first(self, column: str | None = None) -> Any:
        rows = (await self.all()).results
        if not rows:
            return None
        if column is None:
            return rows[0]
        if column not in rows[0]:
            raise D1Error("D1_COLUMN_NOTFOUND", f"Column not found: {column}")
        return rows[0][column]

    async def raw(self, column_names: bool = False) -> list[list[Any]]:
        outcome = await self._db._run_statement(self)
        rows = [list(row) for row in outcome.rows]
        return [list(outcome.columns), *rows] if column_names else rows


class D1Database:
    def __init__(
        self,
        path: str | Path,
        *,
        readers: int = 4,
        busy_timeout_ms: int = 5000,
        query_timeout_s: float = 30.0,
    ) -> None:
        self.path = Path(path)
        self._reader_count = readers
        self._busy_timeout_ms = int(busy_timeout_ms)
        self._query_timeout_s = query_timeout_s
        self._writer: aiosqlite.Connection | None = None
        self._readers: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        self._write_lock = asyncio.Lock()
        self._size_after = 0
        self._closing = False
        self._closed = asyncio.Event()

    async def open(self) -> None:
        """The writer, then the readers. If any fails, those already open are closed: each
        connection runs its own thread, and one left running keeps the process from exiting."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        opened: list[aiosqlite.Connection] = []
        try:
            opened.append(await aiosqlite.connect(self.path, isolation_level=None))
            await _in_thread(opened[0], self._configure, True)
            # Readers open after the writer so the file exists and is already in WAL mode.
            uri = f"{self.path.resolve().as_uri()}?mode=ro"
            for _ in range(self._reader_count):
                opened.append(await aiosqlite.connect(uri, uri=True, isolation_level=None))
                await _in_thread(opened[-1], self._configure, False)
        except BaseException:
            for connection in opened:
                await connection.close()
            raise
        self._writer = opened[0]
        for reader in opened[1:]:
            self._readers.put_nowait(reader)

    async def close(self) -> None:
        if self._closing:
            await self._closed.wait()
            return
        self._closing = True
        if self._writer is not None:
            async with self._write_lock:  # lets writes already queued finish first
                await self._writer.close()
        for _ in range(self._reader_count if self._writer is not None else 0):
            await (await self._readers.get()).close()
        self._closed.set()

    def prepare(self, sql: str) -> D1PreparedStatement:
        return D1PreparedStatement(self, sql)

    async def batch(self, statements: Sequence[D1PreparedStatement]) -> list[D1Result]:
        for statement in statements:
            _check_limits(statement.sql, statement.params)

        def run_all(conn: sqlite3.Connection) -> list[_Outcome]:
            return [self._execute(conn, s.sql, s.params, write=True) for s in statements]

        try:
            outcomes = await self._write(lambda conn: _atomically(conn, run_all))
        except (sqlite3.Error, OverflowError) as error:
            raise _d1_error(error) from error
        return [outcome.result() for outcome in outcomes]

    async def exec(self, sql: str) -> dict[str, Any]:
        statements = _split_statements(sql)
        for statement in statements:
            _check_limits(statement, ())

        def run_all(conn: sqlite3.Connection) -> dict[str, Any]:
            started = time.perf_counter()
            for number, statement in enumerate(statements, start=1):
                try:
                    conn.execute(statement).close()
                except sqlite3.Error as error:
                    raise _d1_error(error, f"Error in statement {number}: ") from error
            duration = (time.perf_counter() - started) * 1000
            self._size_after = _database_size(conn)
            return {"count": len(statements), "duration": duration}

        return await self._write(run_all)

    async def transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run the synchronous fn on the writer's thread inside BEGIN IMMEDIATE ... COMMIT.

        Anything fn raises rolls the transaction back and is re-raised unchanged. This is
        our counterpart of a Durable Object's transactionSync: one thread hop for a whole
        group of writes.
        """

        def run(conn: sqlite3.Connection) -> T:
            result = _atomically(conn, fn)
            self._size_after = _database_size(conn)
            return result

        return await self._write(run)

    async def _run_statement(self, statement: D1PreparedStatement) -> _Outcome:
        sql, params = statement.sql, statement.params
        _check_limits(sql, params)
        try:
            if self._reader_count and _is_read(sql):
                try:
                    return await self._read(sql, params)
                except sqlite3.Error as error:
                    # A WITH ... INSERT looks like a read; only a read-only connection can tell.
                    if getattr(error, "sqlite_errorcode", 0) & 0xFF != sqlite3.SQLITE_READONLY:
                        raise
            return await self._write(lambda conn: self._execute(conn, sql, params, write=True))
        except sqlite3.Error as error:
            if getattr(error, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_INTERRUPT:
                raise D1Error(
                    "D1_ERROR", f"query timed out after {self._query_timeout_s} s: SQLITE_INTERRUPT"
                ) from error
            raise _d1_error(error) from error
        except OverflowError as error:
            raise _d1_error(error) from error

    async def _read(self, sql: str, params: tuple[Any, ...]) -> _Outcome:
        self._require_open()
        reader = await self._readers.get()
        try:
            self._require_open()
            return await _in_thread(reader, self._read_with_deadline, sql, params)
        finally:
            self._readers.put_nowait(reader)

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        writer = self._require_open()
        async with self._write_lock:
            return await _in_thread(writer, fn)

    def _require_open(self) -> aiosqlite.Connection:
        if self._writer is None or self._closing:
            raise D1Error("D1_ERROR", "database is not open")
        return self._writer

    def _configure(self, conn: sqlite3.Connection, writer: bool) -> None:
        # D1's own limits, enforced by SQLite itself as well as checked up front.
        conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, MAX_BOUND_PARAMETERS)
        conn.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, MAX_STATEMENT_BYTES)
        # PRAGMA takes no bound parameters; the value is an int from configuration.
        conn.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
        if writer:
            self._enter_wal(conn)
            conn.execute("PRAGMA foreign_keys = ON")
            # Safe in WAL mode: a power loss may drop the last commits, never corrupts.
            conn.execute("PRAGMA synchronous = NORMAL")
            self._size_after = _database_size(conn)

    def _enter_wal(self, conn: sqlite3.Connection) -> None:
        """Switch to WAL, retrying while the file is locked. Two processes opening a new file at
        once can each hold a read lock and both want to write the header; SQLite answers one of
        them "database is locked" at once, without waiting on the busy timeout."""
        deadline = time.monotonic() + self._busy_timeout_ms / 1000
        while True:
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(0.005)

    def _read_with_deadline(
        self, conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]
    ) -> _Outcome:
        deadline = time.monotonic() + self._query_timeout_s
        conn.set_progress_handler(lambda: time.monotonic() > deadline, _PROGRESS_STEPS)
        try:
            return self._execute(conn, sql, params, write=False)
        finally:
            conn.set_progress_handler(None, 0)

    def _execute(
        self, conn: sqlite3.Connection, sql: str, params: tuple[Any, ...], *, write: bool
    ) -> _Outcome:
        total_before = conn.total_changes
        schema_before = _schema_version(conn) if write else 0
        started = time.perf_counter()
        cursor = conn.execute(sql, params)
        try:
            rows = cursor.fetchall()
            columns = [column[0] for column in cursor.description or ()]
            row_count = cursor.rowcount
            last_row_id = cursor.lastrowid or 0
        finally:
            cursor.close()
        duration = (time.perf_counter() - started) * 1000
        written = conn.total_changes - total_before
        # sqlite3 reports no rowcount for a DML statement that starts with WITH.
        changes = row_count if row_count >= 0 else written
        changed_db = False
        if write:
            self._size_after = _database_size(conn)
            changed_db = written > 0 or _schema_version(conn) != schema_before
        meta = {
            "served_by": SERVED_BY,
            "duration": duration,
            "changes": changes,
            "last_row_id": last_row_id,
            "changed_db": changed_db,
            "size_after": self._size_after,
            # Python's sqlite3 does not expose how many rows SQLite scanned, so rows_read
            # counts rows returned, or rows changed when that is larger: a lower bound.
            "rows_read": max(len(rows), written),
            # Counted through total_changes, so rows touched by triggers are included.
            "rows_written": written,
        }
        return _Outcome(columns=columns, rows=rows, meta=meta)


async def _in_thread(
    conn: aiosqlite.Connection, fn: Callable[..., T], *args: Any
) -> T:
    """Run fn(sqlite3_connection, *args) on conn's own thread and await its result.

    aiosqlite has no public way to run a callable on its connection thread, and the
    sqlite3 connection may only be used from that thread. Connection._execute is the
    queue every public aiosqlite method goes through; it is private, so aiosqlite is
    pinned below 0.23 and this is the one place that touches it.
    """
    return await conn._execute(fn, conn._conn, *args)


def select_in(conn: sqlite3.Connection, sql: str, workspace_id: str, ids: Iterable[str]) -> Iterator[tuple[Any, ...]]:
    """The rows of `sql`, whose parameters are a workspace and the list `IN ({})`, for all of `ids`:
    one query per chunk of ids under D1's limit of bound parameters (only the count of ids shapes
    the SQL)."""
    ids = list(ids)
    for start in range(0, len(ids), _IN_CHUNK):
        chunk = ids[start:start + _IN_CHUNK]
        yield from conn.execute(sql.format(", ".join("?" * len(chunk))), (workspace_id, *chunk))


def _atomically(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = fn(conn)
        conn.execute("COMMIT")
    except BaseException:
        # Some errors (a full disk, for one) have already rolled the transaction back.
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return result


def _coerce(value: Any) -> None | int | float | str | bytes:
    if isinstance(value, bool):
        return int(value)
    if value is None or isinstance(value, (int, float, str, bytes)):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise D1Error(
        "D1_TYPE_ERROR", f"Type '{type(value).__name__}' not supported for value '{value}'"
    )


def _check_limits(sql: str, params: tuple[Any, ...]) -> None:
    size = len(sql.encode())
    if size > MAX_STATEMENT_BYTES:
        raise D1Error(
            "D1_ERROR",
            f"statement too long: {size} bytes, the limit is {MAX_STATEMENT_BYTES}: SQLITE_TOOBIG",
        )
    if len(params) > MAX_BOUND_PARAMETERS:
        raise D1Error(
            "D1_ERROR",
            f"too many SQL variables: {len(params)} bound, the limit is "
            f"{MAX_BOUND_PARAMETERS}: SQLITE_ERROR",
        )


def _d1_error(error: BaseException, prefix: str = "") -> D1Error:
    # Extended names (SQLITE_CONSTRAINT_UNIQUE) shortened to the primary code D1 shows;
    # errors raised by Python's sqlite3 itself (wrong number of bindings) have none.
    name = getattr(error, "sqlite_errorname", None) or "SQLITE_ERROR"
    return D1Error("D1_ERROR", f"{prefix}{error}: {'_'.join(name.split('_')[:2])}")


def _is_read(sql: str) -> bool:
    body = sql[_LEADING_NOISE.match(sql).end() :]  # type: ignore[union-attr]
    word = _FIRST_WORD.match(body)
    return word is not None and word.group().upper() in _READ_KEYWORDS


def _split_statements(sql: str) -> list[str]:
    """Split a script into statements; a ";" inside a string, comment or trigger body stays."""
    statements: list[str] = []
    pending = ""
    pieces = sql.split(";")
    for index, piece in enumerate(pieces):
        pending += piece if index == len(pieces) - 1 else piece + ";"
        if sqlite3.complete_statement(pending) or index == len(pieces) - 1:
            body = pending[_LEADING_NOISE.match(pending).end() :]  # type: ignore[union-attr]
            if body:
                statements.append(pending.strip())
            pending = ""
    return statements


def _database_size(conn: sqlite3.Connection) -> int:
    row = conn.execute(
        "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()"
    ).fetchone()
    return int(row[0])


def _schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA schema_version").fetchone()[0])
