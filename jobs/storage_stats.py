"""Reconcile the dashboard's storage counts with the SESSIONS bucket, a slice per cron run.

`/analytics/storage` never lists the bucket: it reads `storage_objects`, which triggers keep
from `sessions.blob_key` as the archive job records blobs. This job checks those counts
against the bucket itself. Each run lists on from where the last one stopped (the last key
listed, kept in `storage_scans`, so a pass over millions of objects spans many runs and
survives restarts) for at most `RUN_SECONDS`, attributing each listed object:

- the current blob of a session (its `blob_key`) archived before the pass started: counted as
  an object and a session of that session's workspace;
- the current blob of a session archived since the pass started, or handed back for archiving
  (`archived_at` cleared by new events, its blob still in place): skipped here, counted from
  `sessions` when the pass completes, so a blob written during the pass is counted once;
- `sessions/YYYY/MM/DD/<session_id>[@<workspace_id>].json.gz` (the archive job's keys) of a
  known session but not its current blob, a copy the archive job did not get to delete: an
  object of that workspace, not a session;
- anything else: unattributed (logged, shown to no workspace).

When the listing reaches the end, each workspace's counts become the pass's tallies plus the
sessions archived since the pass started (or awaiting re-archiving), in one transaction, and the
next run starts a new pass. A session whose state changes while a pass runs (re-archived, its
blob removed) can leave its workspace's counts off by one until the next pass.
"""
from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from typing import Any
from urllib.parse import unquote

from runtime import Env, ExecutionContext, ScheduledEvent, log_event, now_ms
from storage.d1 import D1Database
from storage.r2 import R2Bucket

RUN_SECONDS = 10.0
PAGE_SIZE = 1000
_SESSION_KEY = re.compile(r"sessions/\d{4}/\d{2}/\d{2}/(?P<session>[^/@]+)(?:@(?P<workspace>[^/@]+))?\.json\.gz")

_CURRENT_BLOBS = (
    "SELECT blob_key, workspace_id, archived_at FROM sessions"
    " WHERE blob_key IN (SELECT value FROM json_each(?))"
)
# Session ids are unique per workspace only: look each one up in every workspace, by the
# (workspace_id, session_id) index (CROSS JOIN keeps workspaces as the outer loop).
_KNOWN_SESSIONS = (
    "SELECT s.session_id, s.workspace_id FROM workspaces w"
    " CROSS JOIN sessions s ON s.workspace_id = w.id AND s.session_id IN (SELECT value FROM json_each(?))"
)
# `+workspace_id`: group after reading the few recent rows through the archived_at index,
# instead of walking every session in workspace order.
_ARCHIVED_SINCE = (
    "SELECT workspace_id, count(*) FROM sessions"
    " WHERE (archived_at >= ? OR archived_at IS NULL) AND blob_key IS NOT NULL GROUP BY +workspace_id"
)


async def reconcile_storage(event: ScheduledEvent, env: Env, ctx: ExecutionContext) -> dict[str, Any]:
    """The cron job: one slice of the pass over the SESSIONS bucket."""
    return await reconcile(env.DB, env.SESSIONS, run_seconds=RUN_SECONDS)


async def reconcile(db: D1Database, bucket: R2Bucket, *, run_seconds: float = RUN_SECONDS,
                    page_size: int = PAGE_SIZE, max_pages: int | None = None) -> dict[str, Any]:
    name = bucket.bucket_name
    scan = await db.prepare("SELECT started_at, after_key FROM storage_scans WHERE bucket = ?").bind(name).first()
    if scan is None:
        started_at = now_ms()
        await db.batch([
            db.prepare("INSERT INTO storage_scans (bucket, started_at) VALUES (?, ?)").bind(name, started_at),
            db.prepare("DELETE FROM storage_scan_tallies WHERE bucket = ?").bind(name),
        ])
        after_key = None
    else:
        started_at, after_key = scan["started_at"], scan["after_key"]

    loop = asyncio.get_running_loop()
    deadline = loop.time() + run_seconds
    listed = pages = 0
    while True:
        page = await bucket.list(start_after=after_key, limit=page_size)
        tallies, unattributed = await _attribute(db, [o.key for o in page.objects], started_at)
        if page.objects:
            after_key = page.objects[-1].key
        listed += len(page.objects)
        pages += 1
        await db.batch(_record_page(db, name, after_key, tallies, unattributed))
        if not page.truncated:
            result = await db.transaction(lambda conn: _complete_pass(conn, name, started_at, now_ms()))
            log_event("storage.reconciled", bucket=name, **result)
            return {"listed": listed, "completed": True, **result}
        if loop.time() >= deadline or (max_pages is not None and pages >= max_pages):
            return {"listed": listed, "completed": False}


async def _attribute(db: D1Database, keys: list[str], started_at: int) -> tuple[dict[str, list[int]], int]:
    """Per workspace [objects, sessions] for these keys, and how many belong to no session."""
    tallies: dict[str, list[int]] = {}
    if not keys:
        return tallies, 0
    current = {row["blob_key"]: row for row in
               (await db.prepare(_CURRENT_BLOBS).bind(json.dumps(keys)).all()).results}
    others: dict[str, tuple[str, str | None]] = {}
    for key in keys:
        if key not in current:
            match = _SESSION_KEY.fullmatch(key)
            if match:
                workspace = match["workspace"]
                others[key] = (unquote(match["session"]), unquote(workspace) if workspace else None)
    owners: dict[str, list[str]] = {}
    if others:
        session_ids = sorted({session_id for session_id, _ in others.values()})
        for row in (await db.prepare(_KNOWN_SESSIONS).bind(json.dumps(session_ids)).all()).results:
            owners.setdefault(row["session_id"], []).append(row["workspace_id"])
    unattributed = 0
    for key in keys:
        session = current.get(key)
        if session is not None:
            if session["archived_at"] is not None and session["archived_at"] < started_at:
                tally = tallies.setdefault(session["workspace_id"], [0, 0])
                tally[0] += 1
                tally[1] += 1
            continue
        session_id, named = others.get(key, ("", None))
        workspaces = [w for w in owners.get(session_id, []) if named is None or w == named]
        for workspace_id in workspaces:  # one, unless two workspaces' clients chose the same session id
            tallies.setdefault(workspace_id, [0, 0])[0] += 1
        if not workspaces:
            unattributed += 1
    return tallies, unattributed


def _record_page(db: D1Database, bucket: str, after_key: str | None, tallies: dict[str, list[int]],
                 unattributed: int) -> list[Any]:
    statements = [
        db.prepare("UPDATE storage_scans SET after_key = ?, unattributed = unattributed + ? WHERE bucket = ?")
        .bind(after_key, unattributed, bucket)
    ]
    for workspace_id, (objects, sessions) in tallies.items():
        statements.append(db.prepare(
            "INSERT INTO storage_scan_tallies (bucket, workspace_id, objects, sessions) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (bucket, workspace_id) DO UPDATE SET objects = objects + excluded.objects,"
            " sessions = sessions + excluded.sessions"
        ).bind(bucket, workspace_id, objects, sessions))
    return statements


def _complete_pass(conn: sqlite3.Connection, bucket: str, started_at: int, now: int) -> dict[str, Any]:
    counts: dict[str, list[int]] = {
        workspace_id: [objects, sessions] for workspace_id, objects, sessions in conn.execute(
            "SELECT workspace_id, objects, sessions FROM storage_scan_tallies WHERE bucket = ?", (bucket,))
    }
    for workspace_id, archived in conn.execute(_ARCHIVED_SINCE, (started_at,)):
        tally = counts.setdefault(workspace_id, [0, 0])
        tally[0] += archived
        tally[1] += archived
    drift = 0
    known = {row[0]: (row[1], row[2]) for row in conn.execute("SELECT workspace_id, objects, sessions FROM storage_objects")}
    for workspace_id in known.keys() - counts.keys():
        counts[workspace_id] = [0, 0]
    for workspace_id, (objects, sessions) in counts.items():
        before = known.get(workspace_id, (0, 0))
        drift += abs(objects - before[0]) + abs(sessions - before[1])
        conn.execute(
            "INSERT INTO storage_objects (workspace_id, objects, sessions, reconciled_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (workspace_id) DO UPDATE SET objects = excluded.objects, sessions = excluded.sessions,"
            " reconciled_at = excluded.reconciled_at",
            (workspace_id, objects, sessions, now),
        )
    unattributed = conn.execute("SELECT unattributed FROM storage_scans WHERE bucket = ?", (bucket,)).fetchone()[0]
    conn.execute(
        "UPDATE storage_scans SET started_at = ?, after_key = NULL, unattributed = 0, passes = passes + 1,"
        " last_completed_at = ?, last_unattributed = ? WHERE bucket = ?",
        (now, now, unattributed, bucket),
    )
    conn.execute("DELETE FROM storage_scan_tallies WHERE bucket = ?", (bucket,))
    return {"workspaces": len(counts), "drift": drift, "unattributed": unattributed}
