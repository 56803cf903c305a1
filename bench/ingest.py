"""Ingestion throughput: `POST /track` under wrk, the real path against a naive baseline.

Starts the worker as a deployment runs it (`worker.py serve`: several processes, no reload,
a production config pointing at a local S3 server), drives it with wrk (compiled, so the load
generator does not eat the cores it measures), then does the same against bench/naive_ingest.py
(one insert and commit per request). After each run it counts the committed events and checks
that every acknowledged event is there.

    python bench/ingest.py [--duration 10] [--connections 64] [--workers 2]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from domain.sites import create_site  # noqa: E402
from storage import migrations  # noqa: E402
from storage.d1 import D1Database  # noqa: E402
from storage.s3local import LocalS3Server  # noqa: E402


TARGET_EVENTS_PER_S, TARGET_P99_MS = 30_000, 50.0


@dataclass
class Run:
    name: str
    batch: int
    requests: int
    failed: int
    seconds: float
    p50_ms: float
    p99_ms: float
    acknowledged_events: int
    committed_events: int

    @property
    def events_per_s(self) -> float:
        return self.acknowledged_events / self.seconds


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError("server did not become healthy")


def _stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=40)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wrk(port: int, site_key: str, batch: int, args: argparse.Namespace) -> dict:
    # RUN keeps event ids unique across runs against the same database.
    env = {**os.environ, "SITE_KEY": site_key, "BATCH": str(batch), "RUN": secrets.token_hex(4)}
    out = subprocess.run(
        ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s", "--timeout", "5s",
         "-s", str(ROOT / "bench" / "track.lua"), f"http://127.0.0.1:{port}/track"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout
    line = next(l for l in out.splitlines() if l.startswith("WRK_RESULT "))
    return json.loads(line.removeprefix("WRK_RESULT "))


def _count_events(db_path: Path) -> int:
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute("SELECT count(*) FROM events").fetchone()[0]
    finally:
        conn.close()


async def _prepare_db(path: Path) -> str:
    db = D1Database(path)
    await db.open()
    try:
        await migrations.apply(db, ROOT / "migrations")
        site = await create_site(db, "default", ["https://example.com"], name="bench")
        return site["site_key"]
    finally:
        await db.close()


def _measure(name: str, command: list[str], env: dict, port: int, db_path: Path, site_key: str,
             batch: int, args: argparse.Namespace) -> Run:
    before = _count_events(db_path)
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_healthy(port, process)
        result = _wrk(port, site_key, batch, args)
    finally:
        _stop(process)
    acknowledged = (result["requests"] - result["non2xx"]) * batch
    return Run(name, batch, result["requests"], result["non2xx"], result["duration_us"] / 1e6,
               result["p50_us"] / 1000, result["p99_us"] / 1000, acknowledged, _count_events(db_path) - before)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2, help="server processes")
    parser.add_argument("--batches", default="10,1", help="events per request, comma-separated")
    args = parser.parse_args()

    runs: list[Run] = []
    with tempfile.TemporaryDirectory() as tmp, LocalS3Server(Path(tmp) / "r2") as s3server:
        s3 = s3server.endpoint
        for bucket in ("bench-sessions", "bench-exports"):
            (Path(tmp) / "r2" / bucket).mkdir()
        real_db, naive_db = Path(tmp) / "real.sqlite", Path(tmp) / "naive.sqlite"
        site_key = asyncio.run(_prepare_db(real_db))
        asyncio.run(_prepare_db(naive_db))
        config = Path(tmp) / "wrangler.toml"
        buckets = "".join(
            f'\n[[r2_buckets]]\nbinding = "{b}"\nbucket_name = "bench-{b.lower()}"\ns3_endpoint = "{s3.url}"\n'
            for b in ("SESSIONS", "EXPORTS")
        )
        config.write_text(
            'name = "leadlight-bench"\nmain = "worker.py"\ncompatibility_date = "2026-11-01"\n'
            'secrets = ["ANALYTICS_API_KEY"]\n[triggers]\ncrons = []\n'
            f'[[d1_databases]]\nbinding = "DB"\ndatabase_name = "leadlight"\ndatabase_id = "bench"\n'
            f'database_path = "{real_db}"\nmigrations_dir = "{ROOT / "migrations"}"\n{buckets}'
        )
        env = {**os.environ, "S3_ACCESS_KEY_ID": s3.access_key_id, "S3_SECRET_ACCESS_KEY": s3.secret_access_key,
               "ANALYTICS_API_KEY": "bench"}
        for batch in (int(b) for b in args.batches.split(",")):
            port = _free_port()
            runs.append(_measure(
                "leadlight", [sys.executable, "worker.py", "--config", str(config), "serve", "--port", str(port),
                              "--workers", str(args.workers)], env, port, real_db, site_key, batch, args))
            port = _free_port()
            runs.append(_measure(
                "naive", [sys.executable, "-m", "uvicorn", "bench.naive_ingest:app", "--port", str(port),
                          "--workers", str(args.workers), "--log-level", "warning", "--no-access-log"],
                {**env, "NAIVE_DB": str(naive_db)}, port, naive_db, site_key, batch, args))

    print(f"\nPOST /track, wrk -t{args.threads} -c{args.connections} -d{args.duration}s, {args.workers} server processes\n")
    print(f"{'path':<10} {'batch':>5} {'requests':>9} {'non-2xx':>7} {'events/s':>10} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'acked':>9} {'committed':>9}  all acked committed")
    for run in runs:
        print(f"{run.name:<10} {run.batch:>5} {run.requests:>9} {run.failed:>7} {run.events_per_s:>10.0f} "
              f"{run.p50_ms:>8.1f} {run.p99_ms:>8.1f} {run.acknowledged_events:>9} {run.committed_events:>9}  "
              f"{'yes' if run.committed_events >= run.acknowledged_events else 'NO'}")
    for batch in sorted({r.batch for r in runs}, reverse=True):
        real = next(r for r in runs if r.batch == batch and r.name == "leadlight")
        naive = next(r for r in runs if r.batch == batch and r.name == "naive")
        print(f"batch {batch}: leadlight/naive events/s ratio {real.events_per_s / naive.events_per_s:.2f}x, "
              f"p99 ratio {real.p99_ms / naive.p99_ms:.2f}x")
    for run in runs:
        if run.name == "leadlight" and run.batch == 10:
            met = run.events_per_s >= TARGET_EVENTS_PER_S and run.p99_ms < TARGET_P99_MS
            print(f"target (10-event batches): >= {TARGET_EVENTS_PER_S:,} events/s, p99 < {TARGET_P99_MS:.0f} ms: "
                  f"{'met' if met else 'NOT met'}")
    return 0 if all(r.committed_events >= r.acknowledged_events for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
