"""Close idle sessions, archive each closed session to the SESSIONS bucket, prune raw event rows.

Each cron run, in order:

1. Close: a session whose last activity is older than its site's `session_timeout_minutes`
   gets `ended_at = last_activity_at` and its final `duration_ms`.
2. Archive: closed, unarchived sessions, oldest first, a page at a time for at most
   `RUN_SECONDS`, `CONCURRENCY` at once. Each becomes one gzip-compressed JSON object,
   `sessions/YYYY/MM/DD/<session_id>.json.gz` (the UTC day the session started), holding
   `{"session": <the sessions row>, "events": [<its events ordered by ts>]}` with each event's
   `props` parsed back to an object. The key and the time are then recorded on the session,
   only if the session still has exactly the events the object holds; otherwise it is
   archived again by a later run.
3. Prune: event rows of sessions archived more than `raw_event_retention_days` ago (the
   `[leadlight]` setting; 0 keeps them forever), in bounded chunks.

Safety:

- Nothing is deleted unless it is in an object the store acknowledged: only events received
  before their session's `archived_at` go, and `archived_at` is recorded after the put and
  only when the object holds every event the session had at that moment.
- An outage stops the run: the store unreachable (connection refused, a timeout) or refusing
  our credentials, or a put that failed followed by a bucket check that fails too (5xx from
  every call). The sessions stay as they are, it is logged, and the next run tries again.
- One object the store will not take (a put that fails while the bucket still answers) is
  skipped: logged as `archive.skipped` with its key and the store's reason, counted in
  `skipped`, left unarchived for the next run, and the run moves on to the other sessions.
- The same inputs give the same bytes (fixed gzip header time, stable ordering), so writing a
  session again, after a put whose recording was lost or under an overlapping run, replaces the
  object with an identical one.
- A session handed back for archiving (its `archived_at` cleared, as when new events arrive for
  it) keeps the events of its previous object that were already pruned: the two are merged.
- Keys are safe by construction: an id made of 1 to 64 `[A-Za-z0-9_-]` (every id the snippet
  makes) is its own key segment; any other id is `~` and 32 hex digits of its SHA-256, so no
  key has a character a store's paths treat specially or grows past any file name limit.
  Custom metadata keeps the ids themselves, percent-encoded.
- Session ids are unique per workspace only, so when another session already holds a key the
  session is stored under `sessions/YYYY/MM/DD/<session_id>@<workspace_id>.json.gz` instead of
  overwriting it.
"""
from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import re
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from domain.dates import DAY_MS
from domain.sites import DEFAULT_SETTINGS
from runtime import Env, ExecutionContext, ScheduledEvent, log_event, now_ms
from storage.config import Settings
from storage.d1 import D1Database, D1Error
from storage.r2 import R2Bucket, R2Error

BATCH_SIZE = 200
CONCURRENCY = 8
RUN_SECONDS = 20.0
CLOSE_CHUNK = 1000
PURGE_CHUNK = 1000
PURGE_SECONDS = 10.0

_FIRST = (-(2**63), -(2**63))  # before every (time, id) pair
_HTTP_METADATA = {"contentType": "application/json", "contentEncoding": "gzip"}
# Statuses that say the store refuses us, whatever the object.
_REFUSED_STATUSES = frozenset({401, 403})
_SAFE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

# The site's timeout is looked up through the sessions -> sites join inside the statement; the
# range on sessions_open uses the smallest timeout a site may set (one minute).
_CLOSE_IDLE = (
    "UPDATE sessions SET ended_at = last_activity_at, duration_ms = last_activity_at - started_at"
    " WHERE id IN (SELECT s.id FROM sessions s LEFT JOIN sites ON sites.id = s.site_id"
    "  WHERE s.ended_at IS NULL AND s.last_activity_at < ?1 - 60000"
    "   AND s.last_activity_at < ?1 - 60000 * coalesce(CASE WHEN json_valid(sites.settings)"
    "    THEN json_extract(sites.settings, '$.session_timeout_minutes') END, ?2)"
    "  LIMIT ?3)"
)
# Oldest first, by the sessions_unarchived index (archived_at, ended_at, id).
_CLOSED_PAGE = (
    "SELECT ended_at, id FROM sessions WHERE archived_at IS NULL AND ended_at IS NOT NULL"
    " AND (ended_at, id) > (?, ?) ORDER BY ended_at, id LIMIT ?"
)
_SESSION = "SELECT * FROM sessions WHERE id = ? AND archived_at IS NULL AND ended_at IS NOT NULL"
_EVENTS = (
    "SELECT id, event_id, type, url, ts, received_at, props FROM events"
    " WHERE workspace_id = ? AND session_id = ? ORDER BY ts, id"
)
_KEY_OWNER = "SELECT id FROM sessions WHERE blob_key = ? AND id != ?"
# Recorded only while the session still has exactly the events written and nobody else holds
# the key; archived_at is taken before this runs, so events committed after it have a later
# received_at and are never pruned on the strength of this object.
_RECORD = (
    "UPDATE sessions SET blob_key = ?1, archived_at = ?2"
    " WHERE id = ?3 AND archived_at IS NULL AND ended_at IS NOT NULL"
    " AND (SELECT count(*) FROM events WHERE workspace_id = ?4 AND session_id = ?5) = ?6"
    " AND NOT EXISTS (SELECT 1 FROM sessions other WHERE other.blob_key = ?1 AND other.id != ?3)"
)
# Walks the old end of events_received; rows that must stay are stepped over, not re-read.
_OLD_EVENTS = (
    "SELECT id, received_at FROM events WHERE workspace_id = ? AND received_at < ?"
    " AND (received_at, id) > (?, ?) ORDER BY received_at, id LIMIT ?"
)
_PURGE = (
    "DELETE FROM events WHERE id IN (SELECT value FROM json_each(?1)) AND EXISTS ("
    " SELECT 1 FROM sessions s WHERE s.workspace_id = events.workspace_id AND s.session_id = events.session_id"
    " AND s.blob_key IS NOT NULL AND s.archived_at < ?2 AND events.received_at < s.archived_at)"
)


async def archive_sessions(event: ScheduledEvent, env: Env, ctx: ExecutionContext) -> dict[str, int]:
    """The cron job: close, archive, prune. Returns the counts the cron handler logs."""
    settings: Settings = env.get("LEADLIGHT_SETTINGS") or Settings()
    closed = await close_idle_sessions(env.DB, now_ms())
    counts = await archive_closed_sessions(env.DB, env.SESSIONS)
    purged = await purge_archived_events(env.DB, settings.raw_event_retention_days, now_ms())
    return {"closed": closed, **counts, "purged": purged}


async def close_idle_sessions(db: D1Database, now: int, *, chunk: int = CLOSE_CHUNK) -> int:
    closed = 0
    while True:
        changes = (await db.prepare(_CLOSE_IDLE).bind(
            now, DEFAULT_SETTINGS["session_timeout_minutes"], chunk).run()).meta["changes"]
        closed += changes
        if changes < chunk:
            return closed


@dataclass
class _Run:
    db: D1Database
    bucket: R2Bucket
    archived: int = 0
    failed: int = 0
    skipped: int = 0  # of `failed`: objects the store would not take while it answered
    deferred: int = 0
    outage: Exception | None = None
    keys: set[str] = field(default_factory=set)  # claimed by this run's sessions


class _KeyTaken(Exception):
    pass


async def archive_closed_sessions(db: D1Database, bucket: R2Bucket, *, batch_size: int = BATCH_SIZE,
                                  concurrency: int = CONCURRENCY, run_seconds: float = RUN_SECONDS) -> dict[str, int]:
    """Archive closed sessions, a page at a time; `deferred` counts sessions that changed meanwhile,
    `skipped` the ones whose object the store would not take (also counted in `failed`)."""
    run = _Run(db, bucket)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + run_seconds
    after = _FIRST
    while run.outage is None:
        page = await db.prepare(_CLOSED_PAGE).bind(*after, batch_size).raw()
        if not page:
            break
        after = (page[-1][0], page[-1][1])
        ids = iter([row[1] for row in page])

        async def worker() -> None:
            for session_pk in ids:  # shared by the workers: each session is taken once
                if run.outage is not None:
                    return
                await _archive_one(run, session_pk)

        async with asyncio.TaskGroup() as workers:
            for _ in range(min(concurrency, len(page))):
                workers.create_task(worker())
        if len(page) < batch_size or loop.time() >= deadline:
            break
    if run.outage is not None:
        log_event("archive.unavailable", bucket=bucket.bucket_name, error=repr(run.outage), failed=run.failed)
    return {"archived": run.archived, "failed": run.failed, "skipped": run.skipped, "deferred": run.deferred}


async def _archive_one(run: _Run, session_pk: int) -> None:
    workspace_id: str | None = None
    session_id: str | None = None
    key: str | None = None
    try:
        session = await run.db.prepare(_SESSION).bind(session_pk).first()
        if session is None:  # archived by an overlapping run, or reopened, since the page was read
            return
        workspace_id, session_id = session["workspace_id"], session["session_id"]
        rows = (await run.db.prepare(_EVENTS).bind(workspace_id, session_id).all()).results
        current = [{**row, "props": json.loads(row["props"])} for row in rows]
        previous_key = session["blob_key"]
        events = current
        if previous_key is not None:
            events = await _merged(run.bucket, previous_key, current)
        key = await _claim_key(run, session)
        body = _blob(session, events)
        written = await run.bucket.put(key, body, http_metadata=_HTTP_METADATA, custom_metadata={
            "event_count": str(len(events)),
            "visitor_id": _quoted(session["visitor_id"]),
            "workspace_id": _quoted(workspace_id),
            "session_id": _quoted(session_id),
        })
        if not written.etag:
            raise R2Error("NoETag", f"put {key!r} was answered without an ETag")
        recorded = await run.db.prepare(_RECORD).bind(
            key, now_ms(), session_pk, workspace_id, session_id, len(current)).run()
        if recorded.meta["changes"] == 0:
            run.deferred += 1
            log_event("archive.deferred", workspaceId=workspace_id, sessionId=session_id, key=key)
            return
        run.archived += 1
        if previous_key is not None and previous_key != key:
            await _delete_replaced(run.bucket, previous_key)
    except (R2Error, OSError) as error:
        run.failed += 1
        if await _is_outage(run.bucket, error):
            if run.outage is None:
                run.outage = error
        else:
            run.skipped += 1
            log_event("archive.skipped", workspaceId=workspace_id, sessionId=session_id, key=key,
                      reason=repr(error))
    except (D1Error, ValueError, _KeyTaken) as error:
        run.failed += 1
        log_event("archive.failed", workspaceId=workspace_id, sessionId=session_id, error=repr(error))


async def _claim_key(run: _Run, session: dict[str, Any]) -> str:
    day = datetime.fromtimestamp(session["started_at"] / 1000, UTC).strftime("%Y/%m/%d")
    name, workspace = key_segment(session["session_id"]), key_segment(session["workspace_id"])
    for key in (f"sessions/{day}/{name}.json.gz", f"sessions/{day}/{name}@{workspace}.json.gz"):
        if key in run.keys:
            continue
        run.keys.add(key)  # before the await: concurrent sessions of this run never share a key
        if await run.db.prepare(_KEY_OWNER).bind(key, session["id"]).first() is None:
            return key
    raise _KeyTaken(f"every key for session {session['session_id']!r} is held by another session")


async def _merged(bucket: R2Bucket, key: str, current: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The previous object's events with the current rows (which win), ordered as the rows are."""
    found = await bucket.get(key)
    if found is None:
        log_event("archive.previous_missing", key=key)
        return current
    data = await found.read()
    try:
        by_event = {event["event_id"]: event for event in json.loads(gzip.decompress(data))["events"]}
    except (OSError, EOFError, zlib.error, ValueError, KeyError, TypeError) as error:
        # Never overwrite what cannot be read: it may hold pruned events.
        raise ValueError(f"previous object {key!r} is unreadable: {error!r}") from error
    by_event.update((event["event_id"], event) for event in current)
    return sorted(by_event.values(), key=lambda event: (event["ts"], event["id"]))


async def _delete_replaced(bucket: R2Bucket, key: str) -> None:
    try:
        await bucket.delete(key)
    except (R2Error, OSError) as error:  # left for the storage reconciliation to count
        log_event("archive.stale_copy", key=key, error=repr(error))


def _blob(session: dict[str, Any], events: list[dict[str, Any]]) -> bytes:
    document = json.dumps({"session": session, "events": events}, ensure_ascii=False, separators=(",", ":"))
    return gzip.compress(document.encode("utf-8"), compresslevel=6, mtime=0)


def key_segment(value: str) -> str:
    """An id as one segment of an object key: itself when it is 1 to 64 `[A-Za-z0-9_-]`, else `~`
    and a digest (`~` is outside that set, so the two kinds never meet)."""
    if _SAFE_ID.fullmatch(value):
        return value
    return "~" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _quoted(value: str) -> str:
    return quote(value, safe="")


async def _is_outage(bucket: R2Bucket, error: Exception) -> bool:
    """The store is down or refuses us (stop the run), rather than refusing this one object."""
    if not isinstance(error, R2Error) or error.status is None:  # unreachable: refused, reset, timed out
        return True
    if error.status in _REFUSED_STATUSES:
        return True
    try:  # a failure of every call, or of this object only? Ask the bucket itself.
        await bucket.ping()
    except (R2Error, OSError):
        return True
    return False


async def purge_archived_events(db: D1Database, retention_days: int, now: int, *, chunk: int = PURGE_CHUNK,
                                run_seconds: float = PURGE_SECONDS) -> int:
    """Delete event rows archived more than `retention_days` ago, `chunk` rows per write."""
    if retention_days <= 0:
        return 0
    cutoff = now - retention_days * DAY_MS
    loop = asyncio.get_running_loop()
    deadline = loop.time() + run_seconds
    purged = 0
    for (workspace_id,) in await db.prepare("SELECT id FROM workspaces ORDER BY id").raw():
        if loop.time() >= deadline:
            break
        purged += await _purge_workspace(db, workspace_id, cutoff, chunk, deadline)
    if purged:
        log_event("archive.purged", events=purged, retentionDays=retention_days)
    return purged


async def _purge_workspace(db: D1Database, workspace_id: str, cutoff: int, chunk: int, deadline: float) -> int:
    # events_received leads with the workspace: its old end is walked once, a chunk per step.
    loop = asyncio.get_running_loop()
    purged = 0
    after = _FIRST
    while loop.time() < deadline:
        rows = await db.prepare(_OLD_EVENTS).bind(workspace_id, cutoff, *after, chunk).raw()
        if not rows:
            break
        deleted = await db.prepare(_PURGE).bind(json.dumps([row[0] for row in rows]), cutoff).run()
        purged += deleted.meta["changes"]
        if len(rows) < chunk:
            break
        after = (rows[-1][1], rows[-1][0])
    return purged
