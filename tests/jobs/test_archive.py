"""The session archive job: close idle sessions, one gzip JSON object per closed session, retention.

Sessions and events are stored straight through the D1 binding (the columns ingestion fills),
on a real SQLite file; objects go to the real local S3 server.
"""
from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import http.server
import json
import logging
import re
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from domain import sites
from jobs.archive import CONCURRENCY, archive_closed_sessions, archive_sessions, key_segment, purge_archived_events
from runtime import Env, ExecutionContext, ScheduledEvent, now_ms
from storage import migrations
from storage.config import load_config
from storage.d1 import D1Database
from storage.r2 import R2Bucket
from storage.s3local import LocalS3Server
from tests.conftest import write_config
from tests.tracking import batch, event, form, headers, site  # noqa: F401  (fixture)
from worker import create_app

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
EVENT_TYPES = ("page_view", "click", "scroll", "engagement", "form_submit")
_INSERT_SESSION = (
    "INSERT INTO sessions (workspace_id, site_id, session_id, visitor_id, fingerprint, started_at, last_activity_at,"
    " ended_at, duration_ms, entry_page, exit_page, referrer_domain, country, page_views, event_count,"
    " engagement_score) VALUES (?, ?, ?, ?, 'fp0123', ?, ?, ?, ?, ?, ?, '(direct)', 'IN', 1, ?, 40)"
)
_INSERT_EVENT = (
    "INSERT INTO events (workspace_id, session_id, event_id, type, url, ts, received_at, props)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_EVENT_COLUMNS = "id, event_id, type, url, ts, received_at, props"


async def run_job(env: Env) -> dict[str, int]:
    return await archive_sessions(ScheduledEvent(cron="* * * * *", scheduled_time=now_ms()), env, ExecutionContext())


@pytest.fixture
def env(app: Starlette) -> Env:
    return app.state.env


@pytest.fixture
async def site_id(env: Env) -> int:
    return (await sites.create_site(env.DB, "default", ["https://example.com"]))["id"]


async def store_session(db: D1Database, site_id: int, session_id: str, *, started_at: int, last_activity_at: int,
                        ended: bool = False, events: int = 3, received_at: int | None = None,
                        workspace_id: str = "default", visitor_id: str = "v_visitor1") -> int:
    """A session with `events` events spread from started_at to last_activity_at; its row id."""
    ended_at = last_activity_at if ended else None
    await db.prepare(_INSERT_SESSION).bind(
        workspace_id, site_id, session_id, visitor_id, started_at, last_activity_at, ended_at,
        last_activity_at - started_at, "https://example.com/", "https://example.com/end", events).run()
    step = (last_activity_at - started_at) // max(events - 1, 1)
    for n in range(events):
        ts = started_at + n * step if n < events - 1 else last_activity_at
        props = {"n": n, "label": "café ✓", "nested": {"depth": [25, 50]}}
        await add_event(db, session_id, f"{session_id}_evt{n:03d}", ts=ts, received_at=received_at or ts + 500,
                        kind=EVENT_TYPES[n % len(EVENT_TYPES)], props=props, workspace_id=workspace_id)
    return await db.prepare("SELECT id FROM sessions WHERE workspace_id = ? AND session_id = ?").bind(
        workspace_id, session_id).first("id")


async def add_event(db: D1Database, session_id: str, event_id: str, *, ts: int, received_at: int,
                    kind: str = "click", props: dict[str, Any] | None = None, workspace_id: str = "default") -> None:
    await db.prepare(_INSERT_EVENT).bind(workspace_id, session_id, event_id, kind, "https://example.com/p",
                                         ts, received_at, json.dumps(props or {})).run()


async def session_row(db: D1Database, session_id: str, workspace_id: str = "default") -> dict[str, Any]:
    return await db.prepare("SELECT * FROM sessions WHERE workspace_id = ? AND session_id = ?").bind(
        workspace_id, session_id).first()


async def event_rows(db: D1Database, session_id: str, workspace_id: str = "default") -> list[dict[str, Any]]:
    rows = (await db.prepare(f"SELECT {_EVENT_COLUMNS} FROM events WHERE workspace_id = ? AND session_id = ?"
                             " ORDER BY ts, id").bind(workspace_id, session_id).all()).results
    return [{**row, "props": json.loads(row["props"])} for row in rows]


async def read_blob(bucket: R2Bucket, key: str) -> dict[str, Any]:
    found = await bucket.get(key)
    assert found is not None, key
    return json.loads(gzip.decompress(await found.read()))


async def keys(bucket: R2Bucket) -> list[str]:
    return [o.key for o in (await bucket.list(prefix="sessions/")).objects]


def day_path(epoch_ms: int) -> str:
    return time.strftime("%Y/%m/%d", time.gmtime(epoch_ms // 1000))


# --- closing --------------------------------------------------------------------------------


async def test_closes_sessions_idle_past_their_sites_timeout(env: Env, site_id: int) -> None:
    short = await sites.create_site(env.DB, "default", ["https://short.example"])
    await sites.update_site(env.DB, short["site_key"], settings={"session_timeout_minutes": 5})
    now = now_ms()
    for owner, session_id, started, last in ((site_id, "idle_default", 50, 31), (site_id, "quiet_default", 20, 10),
                                            (short["id"], "idle_short", 20, 10), (short["id"], "active_short", 3, 1)):
        await store_session(env.DB, owner, session_id, started_at=now - started * MINUTE,
                            last_activity_at=now - last * MINUTE)

    result = await run_job(env)

    assert result["closed"] == 2
    for session_id, started, last in (("idle_default", now - 50 * MINUTE, now - 31 * MINUTE),
                                      ("idle_short", now - 20 * MINUTE, now - 10 * MINUTE)):
        row = await session_row(env.DB, session_id)
        assert (row["ended_at"], row["duration_ms"]) == (last, last - started)
        assert row["blob_key"] == f"sessions/{day_path(started)}/{session_id}.json.gz"
    for session_id in ("quiet_default", "active_short"):
        row = await session_row(env.DB, session_id)
        assert (row["ended_at"], row["blob_key"], row["archived_at"]) == (None, None, None)
    assert await keys(env.SESSIONS) == sorted(
        [f"sessions/{day_path(now - 50 * MINUTE)}/idle_default.json.gz",
         f"sessions/{day_path(now - 20 * MINUTE)}/idle_short.json.gz"])


# --- the object -----------------------------------------------------------------------------


async def test_object_holds_the_session_row_and_its_events(env: Env, site_id: int) -> None:
    now = now_ms()
    started = now - 2 * HOUR
    await store_session(env.DB, site_id, "s_full", started_at=started, last_activity_at=now - HOUR, events=7)
    before = await session_row(env.DB, "s_full")

    result = await run_job(env)

    assert (result["archived"], result["failed"]) == (1, 0)
    row = await session_row(env.DB, "s_full")
    key = f"sessions/{day_path(started)}/s_full.json.gz"
    assert row["blob_key"] == key and row["archived_at"] is not None
    raw = await (await env.SESSIONS.get(key)).read()
    assert raw[4:8] == b"\0\0\0\0"  # no time in the gzip header: writing it again gives the same bytes
    blob = json.loads(gzip.decompress(raw))
    assert blob["session"] == {**before, "ended_at": now - HOUR, "duration_ms": HOUR}
    assert blob["events"] == await event_rows(env.DB, "s_full")
    assert [e["ts"] for e in blob["events"]] == sorted(e["ts"] for e in blob["events"])
    assert blob["events"][0]["props"] == {"n": 0, "label": "café ✓", "nested": {"depth": [25, 50]}}

    head = await env.SESSIONS.head(key)
    assert head.http_metadata == {"contentType": "application/json", "contentEncoding": "gzip"}
    assert head.custom_metadata == {"event_count": "7", "visitor_id": "v_visitor1", "workspace_id": "default",
                                    "session_id": "s_full"}


async def test_each_session_is_written_once(env: Env, site_id: int) -> None:
    now = now_ms()
    await store_session(env.DB, site_id, "s_once", started_at=now - 2 * HOUR, last_activity_at=now - HOUR)
    first = await run_job(env)
    row = await session_row(env.DB, "s_once")
    head = await env.SESSIONS.head(row["blob_key"])

    second = await run_job(env)

    assert (first["archived"], second["archived"], second["closed"]) == (1, 0, 0)
    assert await keys(env.SESSIONS) == [row["blob_key"]]
    again = await env.SESSIONS.head(row["blob_key"])
    assert (again.etag, again.uploaded) == (head.etag, head.uploaded)
    assert (await session_row(env.DB, "s_once"))["archived_at"] == row["archived_at"]


async def test_a_lost_record_is_written_again_identically(env: Env, site_id: int) -> None:
    now = now_ms()
    await store_session(env.DB, site_id, "s_again", started_at=now - 2 * HOUR, last_activity_at=now - HOUR)
    await run_job(env)
    key = (await session_row(env.DB, "s_again"))["blob_key"]
    etag = (await env.SESSIONS.head(key)).etag
    # As if the put had succeeded and recording it had not.
    await env.DB.prepare("UPDATE sessions SET blob_key = NULL, archived_at = NULL WHERE session_id = 's_again'").run()

    assert (await run_job(env))["archived"] == 1
    assert await keys(env.SESSIONS) == [key]
    assert (await env.SESSIONS.head(key)).etag == etag
    assert (await session_row(env.DB, "s_again"))["blob_key"] == key


async def test_pages_through_every_closed_session(env: Env, site_id: int) -> None:
    now = now_ms()
    for n in range(5):
        await store_session(env.DB, site_id, f"s_page{n}", started_at=now - (10 - n) * HOUR,
                            last_activity_at=now - (9 - n) * HOUR, ended=True, events=2)

    result = await archive_closed_sessions(env.DB, env.SESSIONS, batch_size=2, concurrency=2)

    assert result == {"archived": 5, "failed": 0, "skipped": 0, "deferred": 0}
    unarchived = await env.DB.prepare("SELECT count(*) AS n FROM sessions WHERE archived_at IS NULL").first("n")
    assert len(await keys(env.SESSIONS)) == 5 and unarchived == 0


async def test_overlapping_runs_record_each_session_once(env: Env, site_id: int) -> None:
    now = now_ms()
    for n in range(6):
        await store_session(env.DB, site_id, f"s_overlap{n}", started_at=now - 3 * HOUR,
                            last_activity_at=now - 2 * HOUR, ended=True)

    results = await asyncio.gather(archive_closed_sessions(env.DB, env.SESSIONS, concurrency=3),
                                   archive_closed_sessions(env.DB, env.SESSIONS, concurrency=3))

    assert sum(r["archived"] for r in results) == 6 and sum(r["failed"] for r in results) == 0
    assert len(await keys(env.SESSIONS)) == 6
    for n in range(6):
        row = await session_row(env.DB, f"s_overlap{n}")
        assert (await read_blob(env.SESSIONS, row["blob_key"]))["events"] == await event_rows(env.DB, row["session_id"])


async def test_one_unreadable_session_does_not_hold_up_the_others(env: Env, site_id: int) -> None:
    now = now_ms()
    await store_session(env.DB, site_id, "s_bad", started_at=now - 3 * HOUR, last_activity_at=now - 2 * HOUR)
    await store_session(env.DB, site_id, "s_good", started_at=now - 3 * HOUR, last_activity_at=now - 2 * HOUR + 1)
    await env.DB.prepare("UPDATE events SET props = '{not json' WHERE event_id = 's_bad_evt001'").run()

    result = await run_job(env)

    assert (result["archived"], result["failed"]) == (1, 1)
    assert (await session_row(env.DB, "s_bad"))["archived_at"] is None
    assert (await session_row(env.DB, "s_good"))["archived_at"] is not None
    assert (await env.DB.prepare("SELECT count(*) AS n FROM events WHERE session_id = 's_bad'").first("n")) == 3


async def test_same_session_id_in_two_workspaces_gets_two_objects(env: Env, site_id: int) -> None:
    await env.DB.prepare("INSERT INTO workspaces (id, name, created_at) VALUES ('acme', 'Acme', 0)").run()
    other_site = (await sites.create_site(env.DB, "acme", ["https://acme.example"]))["id"]
    now = now_ms()
    started = now - 3 * HOUR
    await store_session(env.DB, site_id, "s_shared", started_at=started, last_activity_at=now - 2 * HOUR, events=2)
    await store_session(env.DB, other_site, "s_shared", started_at=started, last_activity_at=now - 2 * HOUR, events=4,
                        workspace_id="acme", visitor_id="v_acme")

    assert (await run_job(env))["archived"] == 2

    # Whichever is written first takes the plain key; the other adds its workspace.
    day = day_path(started)
    plain = f"sessions/{day}/s_shared.json.gz"
    assert set(await keys(env.SESSIONS)) in ({plain, f"sessions/{day}/s_shared@acme.json.gz"},
                                             {plain, f"sessions/{day}/s_shared@default.json.gz"})
    for workspace_id in ("default", "acme"):
        row = await session_row(env.DB, "s_shared", workspace_id)
        blob = await read_blob(env.SESSIONS, row["blob_key"])
        assert blob["session"]["workspace_id"] == workspace_id
        assert blob["events"] == await event_rows(env.DB, "s_shared", workspace_id)


async def test_odd_session_ids_get_a_digest_as_their_key_segment(env: Env, site_id: int) -> None:
    now = now_ms()
    started = now - 3 * HOUR
    await store_session(env.DB, site_id, "../a b/ü", started_at=started, last_activity_at=now - 2 * HOUR,
                        visitor_id="visitor ü")
    # 64 "é": percent-encoded, a 384-character file name, longer than the local server's filesystem takes.
    await store_session(env.DB, site_id, "é" * 64, started_at=started, last_activity_at=now - 2 * HOUR + 1)

    assert (await run_job(env))["archived"] == 2

    key = f"sessions/{day_path(started)}/~{hashlib.sha256('../a b/ü'.encode()).hexdigest()[:32]}.json.gz"
    assert (await session_row(env.DB, "../a b/ü"))["blob_key"] == key
    head = await env.SESSIONS.head(key)
    assert head.custom_metadata["session_id"] == "..%2Fa%20b%2F%C3%BC"  # the id itself, percent-encoded
    assert head.custom_metadata["visitor_id"] == "visitor%20%C3%BC"
    long_key = (await session_row(env.DB, "é" * 64))["blob_key"]
    assert long_key == f"sessions/{day_path(started)}/~{hashlib.sha256(('é' * 64).encode()).hexdigest()[:32]}.json.gz"
    assert (await read_blob(env.SESSIONS, long_key))["session"]["session_id"] == "é" * 64


def test_key_segments_are_safe_by_construction() -> None:
    assert key_segment("s_Ab3-x_9") == "s_Ab3-x_9"  # what the snippet makes, as it is
    assert key_segment("a" * 64) == "a" * 64
    assert key_segment("a" * 65) == "~" + hashlib.sha256(b"a" * 65).hexdigest()[:32]
    for odd in ("", "a/b", "a@b", "~x", "..", "a b", "é", "\ud800"):
        segment = key_segment(odd)
        assert re.fullmatch(r"~[0-9a-f]{32}", segment), odd


async def test_an_object_the_store_refuses_is_skipped_and_the_rest_archived(
        env: Env, site_id: int, s3_server: LocalS3Server) -> None:
    now = now_ms()
    started = now - 3 * HOUR
    for n in range(CONCURRENCY + 4):
        await store_session(env.DB, site_id, f"s_many{n:02d}", started_at=started,
                            last_activity_at=now - 2 * HOUR + n, events=2)
    # Oldest first, the run meets these before the others: a directory stands where each object would go.
    blocked = [f"s_blocked{n}" for n in range(3)]
    for n, session_id in enumerate(blocked):
        await store_session(env.DB, site_id, session_id, started_at=started, last_activity_at=now - 3 * HOUR + n)
        (s3_server.root / env.SESSIONS.bucket_name / f"sessions/{day_path(started)}/{session_id}.json.gz").mkdir(
            parents=True)

    with capture_logs() as lines:
        result = await run_job(env)

    assert (result["archived"], result["failed"], result["skipped"]) == (CONCURRENCY + 4, 3, 3)
    for session_id in blocked:
        assert (await session_row(env.DB, session_id))["archived_at"] is None
        assert len(await event_rows(env.DB, session_id)) == 3
    skipped = [line for line in lines if line["event"] == "archive.skipped"]
    assert sorted(line["sessionId"] for line in skipped) == blocked
    assert all(line["key"].endswith(".json.gz") and "InternalError" in line["reason"] for line in skipped)
    assert not [line for line in lines if line["event"] == "archive.unavailable"]


async def test_a_store_failing_every_call_is_an_outage(env: Env, site_id: int) -> None:
    now = now_ms()
    for n in range(4):
        await store_session(env.DB, site_id, f"s_down{n}", started_at=now - 3 * HOUR,
                            last_activity_at=now - 2 * HOUR + n, ended=True)
    with failing_store() as url:
        bucket = R2Bucket("sessions", endpoint_url=url, access_key_id="key", secret_access_key="secret")
        await bucket.open()
        try:
            with capture_logs() as lines:
                result = await archive_closed_sessions(env.DB, bucket, concurrency=2)
        finally:
            await bucket.close()

    # Stopped at the first failures: only the puts already under way were tried, none skipped.
    assert result["archived"] == 0 and result["skipped"] == 0 and 1 <= result["failed"] <= 2
    unarchived = await env.DB.prepare("SELECT count(*) AS n FROM sessions WHERE archived_at IS NULL").first("n")
    assert unarchived == 4
    [outage] = [line for line in lines if line["event"] == "archive.unavailable"]
    assert "503" in outage["error"] or "ServiceUnavailable" in outage["error"]


@contextlib.contextmanager
def capture_logs() -> Iterator[list[dict[str, Any]]]:
    """The job's JSON log lines, as parsed objects."""
    lines: list[dict[str, Any]] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(json.loads(record.getMessage()))

    handler = Collect()
    logger = logging.getLogger("leadlight")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


@contextlib.contextmanager
def failing_store() -> Iterator[str]:
    """An HTTP server on loopback answering every S3 call 503, as a store in trouble does."""
    class Failing(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # answers `Expect: 100-continue`, which the S3 client sends with a put

        def answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            body = b"<Error><Code>ServiceUnavailable</Code><Message>down</Message></Error>"
            self.send_response(503)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = answer

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Failing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# --- an object store outage -----------------------------------------------------------------


async def test_store_outage_keeps_everything_and_the_next_run_archives(
        env: Env, site_id: int, s3_server: LocalS3Server) -> None:
    now = now_ms()
    count = CONCURRENCY + 4
    for n in range(count):
        await store_session(env.DB, site_id, f"s_outage{n}", started_at=now - 3 * HOUR,
                            last_activity_at=now - 2 * HOUR + n, events=4)
    s3_server.stop()
    try:
        during = await run_job(env)
    finally:
        s3_server.start()

    # The first failures stop the run: only the puts already under way were tried.
    assert during["closed"] == count and during["archived"] == 0 and 1 <= during["failed"] <= CONCURRENCY
    for n in range(count):
        row = await session_row(env.DB, f"s_outage{n}")
        assert (row["ended_at"], row["blob_key"], row["archived_at"]) == (now - 2 * HOUR + n, None, None)
        assert len(await event_rows(env.DB, f"s_outage{n}")) == 4

    after = await run_job(env)

    assert (after["archived"], after["failed"]) == (count, 0)
    for n in range(count):
        row = await session_row(env.DB, f"s_outage{n}")
        assert (await read_blob(env.SESSIONS, row["blob_key"]))["events"] == await event_rows(env.DB, f"s_outage{n}")


# --- retention ------------------------------------------------------------------------------


async def test_retention_deletes_only_events_archived_long_enough_ago(env: Env, site_id: int) -> None:
    now = now_ms()
    long_ago = now - 45 * DAY
    await store_session(env.DB, site_id, "s_old", started_at=long_ago, last_activity_at=long_ago + HOUR, events=5)
    await store_session(env.DB, site_id, "s_recent", started_at=now - 3 * HOUR, last_activity_at=now - 2 * HOUR)
    # Still open, with old rows of its own: never archived, never pruned.
    await store_session(env.DB, site_id, "s_open", started_at=now - 5 * MINUTE, last_activity_at=now - MINUTE,
                        received_at=long_ago)
    first = await run_job(env)
    assert (first["archived"], first["purged"]) == (2, 0)
    # Archived 40 days ago, after its events arrived; then one late event arrived after that.
    await env.DB.prepare("UPDATE sessions SET archived_at = ? WHERE session_id = 's_old'").bind(now - 40 * DAY).run()
    await add_event(env.DB, "s_old", "s_old_late", ts=long_ago + 2 * HOUR, received_at=now - 39 * DAY)

    result = await run_job(env)

    assert result["purged"] == 5
    assert [e["event_id"] for e in await event_rows(env.DB, "s_old")] == ["s_old_late"]
    assert len(await event_rows(env.DB, "s_recent")) == 3
    assert len(await event_rows(env.DB, "s_open")) == 3
    # The pruned events are all in the object.
    blob = await read_blob(env.SESSIONS, (await session_row(env.DB, "s_old"))["blob_key"])
    assert len(blob["events"]) == 5
    assert (await run_job(env))["purged"] == 0


async def test_retention_in_small_chunks(env: Env, site_id: int) -> None:
    now = now_ms()
    for n in range(3):
        await store_session(env.DB, site_id, f"s_chunk{n}", started_at=now - 50 * DAY,
                            last_activity_at=now - 50 * DAY + HOUR, events=4, ended=True)
    await store_session(env.DB, site_id, "s_chunk_open", started_at=now - 5 * MINUTE, last_activity_at=now - MINUTE,
                        received_at=now - 50 * DAY)
    await archive_closed_sessions(env.DB, env.SESSIONS)
    await env.DB.prepare("UPDATE sessions SET archived_at = archived_at - ? WHERE archived_at IS NOT NULL").bind(
        45 * DAY).run()

    assert await purge_archived_events(env.DB, 30, now_ms(), chunk=2) == 12
    assert (await env.DB.prepare("SELECT count(*) AS n FROM events").first("n")) == 3


@pytest.fixture
async def keeping_app(tmp_path: Path, s3_server: LocalS3Server) -> AsyncIterator[Starlette]:
    """The app with `raw_event_retention_days = 0` in its [leadlight] table."""
    root = tmp_path / "keep"
    root.mkdir()
    config = load_config(write_config(root, "\n[leadlight]\nraw_event_retention_days = 0\n"), local=True, environ={})
    application = create_app(config, local_s3=s3_server.endpoint)
    async with application.router.lifespan_context(application):
        env = application.state.env
        await migrations.apply(env.DB, Path(config.d1_databases[0].migrations_dir))
        await env.SESSIONS.create_bucket()
        yield application


async def test_retention_zero_keeps_events_forever(keeping_app: Starlette) -> None:
    env = keeping_app.state.env
    assert env.LEADLIGHT_SETTINGS.raw_event_retention_days == 0
    site = (await sites.create_site(env.DB, "default", ["https://example.com"]))["id"]
    now = now_ms()
    await store_session(env.DB, site, "s_keep", started_at=now - 400 * DAY, last_activity_at=now - 400 * DAY + HOUR)
    await run_job(env)
    await env.DB.prepare("UPDATE sessions SET archived_at = ? WHERE session_id = 's_keep'").bind(now - 390 * DAY).run()

    assert (await run_job(env))["purged"] == 0
    assert len(await event_rows(env.DB, "s_keep")) == 3


async def test_a_session_archived_again_keeps_its_pruned_events(env: Env, site_id: int) -> None:
    now = now_ms()
    long_ago = now - 45 * DAY
    await store_session(env.DB, site_id, "s_reopen", started_at=long_ago, last_activity_at=long_ago + HOUR)
    await run_job(env)
    await env.DB.prepare("UPDATE sessions SET archived_at = ? WHERE session_id = 's_reopen'").bind(now - 40 * DAY).run()
    assert (await run_job(env))["purged"] == 3
    # New events for the session: ingestion hands it back for archiving.
    await add_event(env.DB, "s_reopen", "s_reopen_late", ts=long_ago + 2 * HOUR, received_at=now - MINUTE)
    await env.DB.prepare("UPDATE sessions SET archived_at = NULL, event_count = 4 WHERE session_id = 's_reopen'").run()

    assert (await run_job(env))["archived"] == 1

    row = await session_row(env.DB, "s_reopen")
    blob = await read_blob(env.SESSIONS, row["blob_key"])
    assert [e["event_id"] for e in blob["events"]] == [f"s_reopen_evt{n:03d}" for n in range(3)] + ["s_reopen_late"]
    assert await keys(env.SESSIONS) == [row["blob_key"]]


# --- through the cron handler ---------------------------------------------------------------


async def test_scheduled_endpoint_runs_the_archive(client: httpx.AsyncClient, env: Env, site_id: int) -> None:
    now = now_ms()
    started = now - 2 * HOUR
    await store_session(env.DB, site_id, "s_cron", started_at=started, last_activity_at=now - HOUR)

    response = await client.get("/__scheduled?cron=*+*+*+*+*")

    assert response.status_code == 200 and response.json()["cron"] == "* * * * *"
    row = await session_row(env.DB, "s_cron")
    assert row["ended_at"] == now - HOUR and row["blob_key"] == f"sessions/{day_path(started)}/s_cron.json.gz"
    assert (await read_blob(env.SESSIONS, row["blob_key"]))["events"] == await event_rows(env.DB, "s_cron")


async def test_archives_what_ingestion_stored(client: httpx.AsyncClient, env: Env, site: dict[str, Any]) -> None:
    start = now_ms() - 2 * HOUR
    events = [event(url="https://example.com/landing", ts=start), event("scroll", depth=50, ts=start + 5_000),
              event("click", tag="a", ts=start + 9_000),
              form({"name": "Asha Rao", "email": "asha@example.com"}, ts=start + 30_000)]
    response = await client.post("/track", content=json.dumps(batch(site["site_key"], events, session="s_ingested")),
                                 headers=headers())
    assert response.status_code == 202

    assert (await run_job(env))["archived"] == 1

    row = await session_row(env.DB, "s_ingested")
    assert row["ended_at"] == start + 30_000 and row["blob_key"] == f"sessions/{day_path(start)}/s_ingested.json.gz"
    blob = await read_blob(env.SESSIONS, row["blob_key"])
    assert blob["session"] == {**row, "blob_key": None, "archived_at": None}
    assert blob["events"] == await event_rows(env.DB, "s_ingested")
    assert [e["event_id"] for e in blob["events"]] == [e["id"] for e in events]
    assert blob["events"][3]["props"]["fields"]["email"] == "asha@example.com"
