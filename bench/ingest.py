"""Ingestion throughput: `POST /track` under wrk, the real path against a ceiling and a naive baseline.

Starts the worker as a deployment runs it (`worker.py serve`: several processes, no reload,
a production config pointing at a local S3 server), drives it with wrk (compiled, so the load
generator does not eat the cores it measures), then does the same against
bench/ceiling_ingest.py (the ceiling: parse, insert, one commit per group, nothing else, on the
same events table and indexes) and bench/naive_ingest.py (one insert and commit per request),
each with as many processes. After each run it counts the committed events and checks that
every acknowledged event is there. Absolute figures move from machine to machine; what it
reports against its targets is leadlight's share of the ceiling measured in the same run.

The apps take turns, round after round (`--rounds`), so a burst of other load on a shared
machine lands on one round's pair rather than on one app; each round gives leadlight's share of
that round's ceiling, and the verdict uses the median round.

    python bench/ingest.py [--rounds 3] [--duration 8] [--connections 64] [--workers 2] [--paths leadlight,ceiling,naive]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from domain.sites import create_site  # noqa: E402
from storage import migrations  # noqa: E402
from storage.d1 import D1Database  # noqa: E402
from storage.s3local import LocalS3Server, S3Endpoint, free_port  # noqa: E402


# leadlight's share of the ceiling's events/s (10-event batches) and requests/s (1-event requests).
TARGET_SHARE_BATCH, TARGET_SHARE_SINGLE, TARGET_P99_MS = 0.80, 0.60, 50.0
PATHS = ("leadlight", "ceiling", "naive")


@dataclass
class Run:
    round: int
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

    @property
    def requests_per_s(self) -> float:
        return (self.requests - self.failed) / self.seconds


def _wait_ready(log: Path, process: subprocess.Popen) -> None:
    """Until the supervisor says every worker listens. One worker answers /healthz before the
    others are up, and connections opened then would all be that worker's for the whole run."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        if "leadlight: listening on" in log.read_text():
            return
        time.sleep(0.1)
    raise RuntimeError("server did not become ready")


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


def _prepare_ceiling_db(path: Path, schema_from: Path) -> None:
    """The events table and its indexes exactly as leadlight's schema has them, and nothing else."""
    source = sqlite3.connect(schema_from)
    try:
        ddl = [sql for (sql,) in source.execute(
            "SELECT sql FROM sqlite_master WHERE tbl_name = 'events' AND type IN ('table', 'index') AND sql IS NOT NULL"
            " ORDER BY type DESC")]
    finally:
        source.close()
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        for sql in ddl:
            conn.execute(sql)
        conn.commit()
    finally:
        conn.close()


def bench_config(tmp: Path, s3: S3Endpoint) -> tuple[Path, dict[str, str], Path]:
    """A production configuration in `tmp` (buckets on the S3 server whose root is `tmp/r2`): its
    path, the environment `serve` needs with it, and its database's path."""
    for bucket in ("bench-sessions", "bench-exports"):
        (tmp / "r2" / bucket).mkdir()
    db = tmp / "real.sqlite"
    config = tmp / "wrangler.toml"
    buckets = "".join(
        f'\n[[r2_buckets]]\nbinding = "{b}"\nbucket_name = "bench-{b.lower()}"\ns3_endpoint = "{s3.url}"\n'
        for b in ("SESSIONS", "EXPORTS")
    )
    config.write_text(
        'name = "leadlight-bench"\nmain = "worker.py"\ncompatibility_date = "2026-11-01"\n'
        'secrets = ["ANALYTICS_API_KEY"]\n[triggers]\ncrons = []\n'
        f'[[d1_databases]]\nbinding = "DB"\ndatabase_name = "leadlight"\ndatabase_id = "bench"\n'
        f'database_path = "{db}"\nmigrations_dir = "{ROOT / "migrations"}"\n{buckets}'
    )
    env = {**os.environ, "S3_ACCESS_KEY_ID": s3.access_key_id, "S3_SECRET_ACCESS_KEY": s3.secret_access_key,
           "ANALYTICS_API_KEY": "bench"}
    return config, env, db


def _machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "unknown CPU") if Path("/proc/cpuinfo").exists() else "unknown CPU"
    return f"{os.cpu_count()} cores ({model}), Python {sys.version.split()[0]}"


def _measure(round_: int, name: str, command: list[str], env: dict, port: int, db_path: Path, site_key: str,
             batch: int, args: argparse.Namespace) -> Run:
    before = _count_events(db_path)
    log = db_path.with_name(f"{name}.log")
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.DEVNULL)
    try:
        _wait_ready(log, process)
        result = _wrk(port, site_key, batch, args)
    finally:
        _stop(process)
    acknowledged = (result["requests"] - result["non2xx"]) * batch
    return Run(round_, name, batch, result["requests"], result["non2xx"], result["duration_us"] / 1e6,
               result["p50_us"] / 1000, result["p99_us"] / 1000, acknowledged, _count_events(db_path) - before)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="turns of every app at every batch size")
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2, help="server processes")
    parser.add_argument("--batches", default="10,1", help="events per request, comma-separated")
    parser.add_argument("--paths", default=",".join(PATHS), help="apps to measure, comma-separated: " + ", ".join(PATHS))
    args = parser.parse_args()
    paths = [p for p in PATHS if p in args.paths.split(",")]

    runs: list[Run] = []
    with tempfile.TemporaryDirectory() as tmp, LocalS3Server(Path(tmp) / "r2") as s3server:
        config, env, real_db = bench_config(Path(tmp), s3server.endpoint)
        naive_db, ceiling_db = (Path(tmp) / f"{name}.sqlite" for name in ("naive", "ceiling"))
        # The ceiling and the naive app run under serve's own supervisor, as leadlight does: the same
        # processes, one listening socket each, so connections are spread alike.
        def supervised(app: str, port: int) -> list[str]:
            return [sys.executable, "-c", "import sys, supervisor; sys.exit(supervisor.run(sys.argv[1], host='127.0.0.1',"
                    " port=int(sys.argv[2]), workers=int(sys.argv[3]), log_level='warning', access_log=False))",
                    app, str(port), str(args.workers)]

        for round_ in range(1, args.rounds + 1):
            # Fresh databases each round: an index that outgrows SQLite's page cache slows inserts,
            # and it must not slow one app more than another because it ran later.
            for path in (real_db, naive_db, ceiling_db):
                for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
                    file.unlink(missing_ok=True)
            site_key = asyncio.run(_prepare_db(real_db))
            asyncio.run(_prepare_db(naive_db))
            _prepare_ceiling_db(ceiling_db, real_db)
            for batch in (int(b) for b in args.batches.split(",")):
                for path in paths:
                    port = free_port()
                    if path == "leadlight":
                        command = [sys.executable, "worker.py", "--config", str(config), "serve", "--port", str(port),
                                   "--workers", str(args.workers)]
                        runs.append(_measure(round_, path, command, env, port, real_db, site_key, batch, args))
                    elif path == "ceiling":
                        runs.append(_measure(round_, path, supervised("bench.ceiling_ingest:create_app", port),
                                             {**env, "CEILING_DB": str(ceiling_db)}, port, ceiling_db, site_key,
                                             batch, args))
                    else:
                        runs.append(_measure(round_, path, supervised("bench.naive_ingest:create_app", port),
                                             {**env, "NAIVE_DB": str(naive_db)}, port, naive_db, site_key, batch,
                                             args))

    print(f"\nPOST /track, wrk -t{args.threads} -c{args.connections} -d{args.duration}s, {args.workers} server processes"
          f" each; {_machine()}\n")
    print(f"{'round':>5} {'path':<10} {'batch':>5} {'requests':>9} {'non-2xx':>7} {'requests/s':>10} {'events/s':>10} {'p50 ms':>8} "
          f"{'p99 ms':>8} {'acked':>9} {'committed':>9}  all acked committed")
    for run in runs:
        print(f"{run.round:>5} {run.name:<10} {run.batch:>5} {run.requests:>9} {run.failed:>7} {run.requests_per_s:>10.0f} "
              f"{run.events_per_s:>10.0f} {run.p50_ms:>8.1f} {run.p99_ms:>8.1f} {run.acknowledged_events:>9} "
              f"{run.committed_events:>9}  {'yes' if run.committed_events >= run.acknowledged_events else 'NO'}")
    for batch in sorted({r.batch for r in runs}, reverse=True):
        real = [r for r in runs if r.batch == batch and r.name == "leadlight"]
        for name in (p for p in paths if p != "leadlight"):
            other = [r for r in runs if r.batch == batch and r.name == name]
            shares = [mine.events_per_s / theirs.events_per_s for mine, theirs in zip(real, other)]
            if not shares:
                continue
            p99 = [mine.p99_ms / theirs.p99_ms for mine, theirs in zip(real, other)]
            print(f"batch {batch}: leadlight/{name} events/s by round {', '.join(f'{x:.2f}x' for x in shares)} "
                  f"(median {statistics.median(shares):.2f}x), p99 median {statistics.median(p99):.2f}x")
            if name != "ceiling":
                continue
            share, p99_ms = statistics.median(shares), statistics.median(r.p99_ms for r in real)
            if batch == 1:
                ok = share >= TARGET_SHARE_SINGLE
                print(f"target (1-event requests): >= {TARGET_SHARE_SINGLE:.0%} of the ceiling's requests/s: "
                      f"median {share:.0%} (rounds {min(shares):.0%} to {max(shares):.0%}), {'met' if ok else 'NOT met'}")
            else:
                ok = share >= TARGET_SHARE_BATCH and p99_ms < TARGET_P99_MS
                print(f"target ({batch}-event batches): >= {TARGET_SHARE_BATCH:.0%} of the ceiling's events/s and p99 < "
                      f"{TARGET_P99_MS:.0f} ms: median {share:.0%} (rounds {min(shares):.0%} to {max(shares):.0%}), "
                      f"p99 median {p99_ms:.1f} ms, {'met' if ok else 'NOT met'}")
    return 0 if all(r.committed_events >= r.acknowledged_events for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
