"""The ceiling for bench/ingest.py: the least an ingestion endpoint with group commit can do.

Parse the JSON, turn each event into a row, insert the rows of every request that arrived in
the last 2 ms in one transaction, answer each request after its commit. No validation, no
site lookup, no enrichment, no sessions, no rollups, no request log: a Starlette route over
aiosqlite, on the same `events` table and indexes as leadlight's (the database is made by
bench/ingest.py from leadlight's own schema, without triggers). What leadlight does beyond
this is what its events/s is measured against. bench/ingest.py runs it under `serve`'s
supervisor (`create_app`), as leadlight runs; by hand, `uvicorn bench.ceiling_ingest:app`
with CEILING_DB pointing at that database.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import aiosqlite
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

LINGER_SECONDS = 0.002  # as leadlight's writer
_INSERT = (
    "INSERT OR IGNORE INTO events (workspace_id, session_id, event_id, type, url, ts, received_at, props)"
    " VALUES ('default', ?, ?, ?, ?, ?, ?, ?)"
)

_db: aiosqlite.Connection | None = None
_pending: list[tuple[list[tuple[Any, ...]], asyncio.Future[None]]] = []
_writer: asyncio.Task[None] | None = None


async def _connection() -> aiosqlite.Connection:
    global _db
    if _db is None:
        _db = await aiosqlite.connect(os.environ["CEILING_DB"], isolation_level=None)
        await _db.execute("PRAGMA journal_mode=WAL")
        await _db.execute("PRAGMA synchronous=NORMAL")
        await _db.execute("PRAGMA busy_timeout=5000")
    return _db


async def _write_groups() -> None:
    global _pending, _writer
    db = await _connection()
    try:
        while _pending:
            await asyncio.sleep(LINGER_SECONDS)
            group, _pending = _pending, []
            try:
                await db.execute("BEGIN IMMEDIATE")
                await db.executemany(_INSERT, [row for rows, _ in group for row in rows])
                await db.execute("COMMIT")
            # Whatever fails (SQLite, an int it cannot bind), the group fails together: no isolation here,
            # and no request may be left waiting on its future.
            except Exception as error:  # noqa: BLE001
                if db.in_transaction:
                    await db.execute("ROLLBACK")
                for _, future in group:
                    future.set_exception(error)
                continue
            for _, future in group:
                future.set_result(None)
    finally:
        _writer = None


async def track(request: Request) -> JSONResponse:
    global _writer
    batch = json.loads(await request.body())
    now = int(time.time() * 1000)
    session = batch["session_id"]
    rows = [(session, e["id"], e["type"], e["url"], e["ts"], now, json.dumps(e.get("props", {})))
            for e in batch["events"]]
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    _pending.append((rows, future))
    if _writer is None:
        _writer = asyncio.create_task(_write_groups())
    await future
    return JSONResponse({"accepted": len(rows), "duplicates": 0}, status_code=202)


async def healthz(request: Request) -> JSONResponse:
    await _connection()
    return JSONResponse({"ok": True})


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    yield
    if _db is not None:  # its thread would keep the process from exiting
        await _db.close()


app = Starlette(routes=[Route("/track", track, methods=["POST"]), Route("/healthz", healthz)], lifespan=lifespan)


def create_app() -> Starlette:
    """The app, for serve's supervisor, which takes a factory."""
    return app
