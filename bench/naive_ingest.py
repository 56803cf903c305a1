"""The naive baseline for bench/ingest.py: one insert and one commit per request.

The same JSON in, the same events table, a 202 only after the commit, but no grouping:
every request pays for its own transaction. bench/ingest.py runs it under `serve`'s
supervisor (`create_app`), as leadlight runs; by hand, `uvicorn bench.naive_ingest:app`
with NAIVE_DB pointing at a migrated database.
"""
from __future__ import annotations

import json
import os
import sqlite3
import time

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

_conn: sqlite3.Connection | None = None


def _db() -> sqlite3.Connection:
    global _conn
    if _conn is None:
        _conn = sqlite3.connect(os.environ["NAIVE_DB"], isolation_level=None, check_same_thread=False)
        _conn.execute("PRAGMA journal_mode=WAL")
        _conn.execute("PRAGMA synchronous=NORMAL")
        _conn.execute("PRAGMA busy_timeout=5000")
    return _conn


async def track(request: Request) -> JSONResponse:
    batch = json.loads(await request.body())
    now = int(time.time() * 1000)
    conn = _db()
    conn.execute("BEGIN IMMEDIATE")
    changes_before = conn.total_changes
    for event in batch["events"]:
        conn.execute(
            "INSERT OR IGNORE INTO events (workspace_id, session_id, event_id, type, url, ts, received_at, props)"
            " VALUES ('default', ?, ?, ?, ?, ?, ?, ?)",
            (batch["session_id"], event["id"], event["type"], event["url"], event["ts"], now,
             json.dumps(event.get("props", {}))),
        )
    conn.execute("COMMIT")
    accepted = conn.total_changes - changes_before
    return JSONResponse({"accepted": accepted, "duplicates": len(batch["events"]) - accepted}, status_code=202)


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


app = Starlette(routes=[Route("/track", track, methods=["POST"]), Route("/healthz", healthz)])


def create_app() -> Starlette:
    """The app, for serve's supervisor, which takes a factory."""
    return app
