"""D1 migrations: numbered files applied in order and recorded in `d1_migrations`."""
from __future__ import annotations

import re
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from storage.d1 import D1Database

_FILE = re.compile(r"^(\d{4})_[A-Za-z0-9_\-]+\.sql$")


def _table_sql(table: str) -> str:
    # Exactly wrangler's table, so a database moves between the two unchanged.
    return (
        f"CREATE TABLE IF NOT EXISTS {table}(id INTEGER PRIMARY KEY AUTOINCREMENT, "
        "name TEXT UNIQUE, applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL)"
    )


def migration_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*.sql") if _FILE.match(p.name))


def create(directory: Path, message: str) -> Path:
    slug = re.sub(r"[^A-Za-z0-9]+", "_", message).strip("_").lower()
    if not slug:
        raise ValueError("a migration needs a name made of letters or digits")
    directory.mkdir(parents=True, exist_ok=True)
    files = migration_files(directory)
    number = int(files[-1].name[:4]) + 1 if files else 1
    path = directory / f"{number:04d}_{slug}.sql"
    stamp = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    path.write_text(f"-- Migration number: {number:04d} \t {stamp}\n")
    return path


async def applied(db: D1Database, table: str = "d1_migrations") -> list[str]:
    await db.exec(_table_sql(table))
    result = await db.prepare(f"SELECT name FROM {table} ORDER BY id").all()
    return [row["name"] for row in result.results]


async def pending(db: D1Database, directory: Path, table: str = "d1_migrations") -> list[Path]:
    done = set(await applied(db, table))
    return [p for p in migration_files(directory) if p.name not in done]


async def apply(db: D1Database, directory: Path, table: str = "d1_migrations") -> list[str]:
    """Apply pending migrations in order, each in one transaction; stop at the first failure."""
    names = []
    for path in await pending(db, directory, table):
        script = path.read_text()

        def run(conn, script: str = script, name: str = path.name) -> None:
            for statement in statements(script):
                conn.execute(statement)
            conn.execute(f"INSERT INTO {table} (name) VALUES (?)", (name,))

        await db.transaction(run)
        names.append(path.name)
    return names


def statements(script: str) -> list[str]:
    """Split a script into complete statements (wrangler runs a file statement by statement).

    Split at every ";" that ends a statement, so `SELECT 1; SELECT 2` on one line is two; a
    ";" inside a string, a comment or a trigger body leaves the statement incomplete and stays.
    """
    statements, buffer = [], ""
    pieces = script.split(";")
    for index, piece in enumerate(pieces):
        buffer += piece if index == len(pieces) - 1 else piece + ";"
        if index < len(pieces) - 1 and sqlite3.complete_statement(buffer):
            if _body(buffer):
                statements.append(buffer.strip())
            buffer = ""
    rest = _body(buffer)
    if rest:  # a last statement may omit its semicolon, as with `d1 execute --command`
        if not sqlite3.complete_statement(rest + "\n;"):
            raise ValueError(f"incomplete SQL statement: {rest[:80]!r}")
        statements.append(rest)
    return statements


# Whitespace, comments and empty statements before a statement's first keyword.
_LEADING_NOISE = re.compile(r"(?:[\s;]|--[^\n]*|/\*.*?(?:\*/|$))*", re.DOTALL)


def _body(text: str) -> str:
    """The text from its first keyword on; empty when it holds only comments."""
    match = _LEADING_NOISE.match(text)
    return text[match.end() if match else 0:].strip()


async def status(db: D1Database, directory: Path, table: str = "d1_migrations") -> tuple[list[str], list[str]]:
    """(applied, pending) migration names, read only: no migrations table means nothing applied."""
    exists = await db.prepare("SELECT 1 AS found FROM sqlite_master WHERE type = 'table' AND name = ?") \
        .bind(table).first()
    done = [row["name"] for row in (await db.prepare(f"SELECT name FROM {table} ORDER BY id").all()).results] \
        if exists else []
    applied_names = set(done)
    return done, [p.name for p in migration_files(directory) if p.name not in applied_names]


def schema_sql(conn: sqlite3.Connection) -> str:
    """The database's schema as one script, in creation order (what `schema.sql` holds)."""
    rows = conn.execute(
        "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
    ).fetchall()
    return "".join(f"{sql};\n\n" for (sql,) in rows)


async def _print_schema(directory: Path) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        db = D1Database(Path(tmp) / "schema.sqlite")
        await db.open()
        try:
            await apply(db, directory)
            dump = await db.transaction(schema_sql)
        finally:
            await db.close()
    print("-- The whole current schema, generated by `make schema` from migrations/ (do not edit by hand).\n"
          "-- A database is created by applying the migrations: `python worker.py d1 migrations apply`.\n")
    print(dump, end="")


if __name__ == "__main__":
    import asyncio

    asyncio.run(_print_schema(Path(__file__).resolve().parent.parent / "migrations"))
