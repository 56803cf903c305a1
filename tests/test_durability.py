"""A 202 means committed: kill -9 the production server right after a burst of 202s, every event is there."""
import asyncio
import itertools
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx

from domain.sites import create_site
from storage import migrations
from storage.d1 import D1Database
from storage.r2 import R2Bucket
from storage.s3local import free_port
from tests.tracking import BROWSER, ORIGIN, batch, event

ROOT = Path(__file__).resolve().parent.parent
ACKNOWLEDGED = 200  # requests whose 202 we wait for before the kill
IN_FLIGHT = 50  # more requests still on their way when the kill lands
EVENTS_PER_REQUEST = 10


async def _prepare(database: Path) -> str:
    db = D1Database(database)
    await db.open()
    try:
        await migrations.apply(db, ROOT / "migrations")
        return (await create_site(db, "default", [ORIGIN]))["site_key"]
    finally:
        await db.close()


def _config(root: Path, database: Path, s3_url: str) -> Path:
    buckets = "".join(
        f'\n[[r2_buckets]]\nbinding = "{binding}"\nbucket_name = "durability-{binding.lower()}"\n'
        f's3_endpoint = "{s3_url}"\n'
        for binding in ("SESSIONS", "EXPORTS")
    )
    path = root / "wrangler.toml"
    path.write_text(
        'name = "leadlight-durability"\nmain = "worker.py"\ncompatibility_date = "2026-11-01"\n'
        'secrets = ["ANALYTICS_API_KEY"]\n[triggers]\ncrons = []\n'
        f'[[d1_databases]]\nbinding = "DB"\ndatabase_name = "leadlight"\ndatabase_id = "durability"\n'
        f'database_path = "{database}"\nmigrations_dir = "{ROOT / "migrations"}"\n{buckets}'
    )
    return path


async def _wait_healthy(http: httpx.AsyncClient, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    answer = "no answer"
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the server exited with {process.returncode}: {log.read_text()[-2000:]}"
        try:
            response = await http.get("/healthz", timeout=2)
            if response.status_code == 200:
                return
            answer = response.text
        except httpx.TransportError as error:
            answer = repr(error)
        await asyncio.sleep(0.2)
    raise AssertionError(f"the server did not become healthy: {answer}\n{log.read_text()[-2000:]}")


async def test_every_acknowledged_event_survives_kill_9(tmp_path: Path, s3_server) -> None:
    if not s3_server.running:
        s3_server.start()
    endpoint = s3_server.endpoint
    for binding in ("sessions", "exports"):
        # Through the S3 API: a directory made behind the server's back may be hidden by its listing cache.
        bucket = R2Bucket(f"durability-{binding}", endpoint_url=endpoint.url, access_key_id=endpoint.access_key_id,
                          secret_access_key=endpoint.secret_access_key, region=endpoint.region)
        await bucket.open()
        try:
            await bucket.create_bucket()
        finally:
            await bucket.close()
    database = tmp_path / "leadlight.sqlite"
    site_key = await _prepare(database)
    port = free_port()
    env = {**os.environ, "S3_ACCESS_KEY_ID": endpoint.access_key_id,
           "S3_SECRET_ACCESS_KEY": endpoint.secret_access_key, "ANALYTICS_API_KEY": "durability"}
    log = tmp_path / "server.log"
    process = subprocess.Popen(
        [sys.executable, "worker.py", "--config", str(_config(tmp_path, database, endpoint.url)), "serve",
         "--port", str(port), "--workers", "2"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log.open("wb"),
        start_new_session=True,  # its own process group: the kill reaches the supervisor and its workers
    )
    acknowledged: list[str] = []
    try:
        limits = httpx.Limits(max_connections=64)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=30) as http:
            await _wait_healthy(http, process, log)
            numbers = itertools.count()

            async def send(n: int) -> tuple[int, list[str]]:
                ids = [f"dur_{n:04d}_{i:02d}" for i in range(EVENTS_PER_REQUEST)]
                body = batch(site_key, [event("click", id=i) for i in ids], session=f"s_{n % 40}",
                             visitor=f"v_{n % 25}")
                response = await http.post("/track", json=body, headers={"Origin": ORIGIN, "User-Agent": BROWSER})
                return response.status_code, ids

            tasks = [asyncio.ensure_future(send(next(numbers))) for _ in range(ACKNOWLEDGED + IN_FLIGHT)]
            for finished in asyncio.as_completed(tasks):
                status, ids = await finished
                if status == 202:
                    acknowledged.extend(ids)
                if len(acknowledged) >= ACKNOWLEDGED * EVENTS_PER_REQUEST:
                    break
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    assert len(acknowledged) >= ACKNOWLEDGED * EVENTS_PER_REQUEST
    # Opening the file replays its write-ahead log, as a restarted server would.
    conn = sqlite3.connect(database)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = {row[0] for row in conn.execute("SELECT event_id FROM events")}
        sessions_total = conn.execute("SELECT sum(event_count) FROM sessions").fetchone()[0]
    finally:
        conn.close()
    missing = set(acknowledged) - stored
    assert not missing, f"{len(missing)} acknowledged events were lost, e.g. {sorted(missing)[:3]}"
    assert sessions_total == len(stored)  # the aggregates committed with their events
