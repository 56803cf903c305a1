"""Hostile clients against `worker.py serve`, with the figures they leave: memory, health latency, 5xx.

Run by hand (it holds 10,000 sockets and takes a few minutes):

    python bench/hostile.py [--workers 2] [--stalled 10000]

The server runs as a deployment runs it, with the default `[leadlight]` limits (server.py). Each
attack is measured the same way: the server processes' total RSS before, during and after, and
the time `/healthz` takes meanwhile, on a keep-alive connection opened before the attack and on
a new connection (`refused` when the connection cap turned it away).

1. stalled uploads: headers and 10 bytes of a body, then nothing (the 10,000-connection figure);
2. the same under the cap (1,500 for two processes of 1,000);
3. slow headers: a header line every 5 s, never finished;
4. idle sockets that send nothing;
5. ten requests with 50 MB headers, never finished;
6. one valid `POST /track` with a 1 MB User-Agent, and one with 3,000 characters;
7. malformed input: batches, `/analytics/*` parameters and bodies; counts the 5xx;
8. poison batches (lone surrogates, as the issue reproduced: 203) interleaved with 2,000 good
   batches of another workspace: counts the good ones not acknowledged or not stored;
9. aborted uploads: what the log grows by.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from domain.sites import create_site  # noqa: E402
from storage import migrations  # noqa: E402
from storage.config import Settings  # noqa: E402
from storage.d1 import D1Database  # noqa: E402
from storage.s3local import LocalS3Server, free_port  # noqa: E402

ORIGIN = "https://example.com"
AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
KEY = "hostile-bench-key"
DEFAULTS = Settings()


# --- the server -------------------------------------------------------------------------------


async def _prepare(database: Path) -> tuple[str, str]:
    db = D1Database(database)
    await db.open()
    try:
        await migrations.apply(db, ROOT / "migrations")
        await db.prepare("INSERT INTO workspaces (id, name, created_at) VALUES ('ws-poison', 'Poison', 0)").run()
        good = (await create_site(db, "default", [ORIGIN]))["site_key"]
        poison = (await create_site(db, "ws-poison", [ORIGIN]))["site_key"]
        return good, poison
    finally:
        await db.close()


def _processes(pid: int) -> list[int]:
    found = [pid]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


def _rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


class Target:
    def __init__(self, port: int, pids: list[int], log: Path, database: Path, good: str, poison: str) -> None:
        self.port, self.pids, self.log, self.database, self.good, self.poison = port, pids, log, database, good, poison
        self.base = f"http://127.0.0.1:{port}"

    def rss(self) -> float:
        return _rss_mb(self.pids)

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", self.port)


# --- measuring ----------------------------------------------------------------------------------


async def _healthz_on(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> float:
    started = time.monotonic()
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n")
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    await reader.readexactly(length)
    return (time.monotonic() - started) * 1000


async def _healthz_new(target: Target) -> float | None:
    try:
        reader, writer = await asyncio.wait_for(target.connect(), 5)
        try:
            return await _healthz_on(reader, writer)
        finally:
            writer.close()
    except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError):
        return None  # refused or closed at once: the cap is full


class Probe:
    """Samples /healthz (a kept connection and a new one) and RSS while an attack runs."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.kept: list[float] = []
        self.new: list[float | None] = []
        self.rss: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Probe:
        self._connection = await self.target.connect()
        self._task = asyncio.create_task(self._sample())
        return self

    async def _sample(self) -> None:
        while True:
            self.rss.append(self.target.rss())
            try:
                self.kept.append(await _healthz_on(*self._connection))
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError):
                self._connection = await self.target.connect()
            self.new.append(await _healthz_new(self.target))
            await asyncio.sleep(0.5)

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._connection[1].close()

    def summary(self) -> str:
        served = [ms for ms in self.new if ms is not None]
        refused = len(self.new) - len(served)
        kept = f"kept connection p50 {statistics.median(self.kept):.1f} ms, max {max(self.kept):.1f} ms" \
            if self.kept else "kept connection: no sample"
        new = f"new connection p50 {statistics.median(served):.1f} ms, max {max(served):.1f} ms" if served \
            else "new connection: no sample served"
        return f"/healthz: {kept}; {new}; {refused} of {len(self.new)} new ones refused; peak RSS {max(self.rss):.0f} MB"


class Held:
    """A client connection kept open, and whether the server has closed it yet."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.closed = asyncio.ensure_future(self._until_closed(reader))

    @staticmethod
    async def _until_closed(reader: asyncio.StreamReader) -> None:
        try:
            while await reader.read(65536):
                pass
        except OSError:
            pass

    def close(self) -> None:
        self.writer.close()
        self.closed.cancel()


async def _open_many(target: Target, count: int, first_bytes: bytes) -> list[Held]:
    held: list[Held] = []

    async def one() -> None:
        try:
            reader, writer = await asyncio.wait_for(target.connect(), 10)
            if first_bytes:
                writer.write(first_bytes)
            held.append(Held(reader, writer))
        except (OSError, asyncio.TimeoutError):
            pass

    for start in range(0, count, 500):
        await asyncio.gather(*(one() for _ in range(min(500, count - start))))
    return held


async def _still_open(held: list[Held], wait: float) -> int:
    await asyncio.sleep(wait)
    return sum(1 for connection in held if not connection.closed.done())


def _track_head(length: int, agent: str = AGENT) -> bytes:
    return (f"POST /track HTTP/1.1\r\nHost: bench\r\nOrigin: {ORIGIN}\r\nUser-Agent: {agent}\r\n"
            f"Content-Type: text/plain\r\nContent-Length: {length}\r\n\r\n").encode()


def _batch(site: str, events: list[dict[str, Any]], session: str = "s_bench") -> dict[str, Any]:
    return {"site": site, "visitor_id": "v_bench", "session_id": session, "fingerprint": "abc", "timezone": "UTC",
            "language": "en", "screen": "1x1", "referrer": "", "utm": {}, "webdriver": False,
            "sent_at": int(time.time() * 1000), "events": events}


def _event(event_id: str, **changes: Any) -> dict[str, Any]:
    return {"id": event_id, "type": "click", "ts": int(time.time() * 1000), "url": "https://example.com/",
            "props": {"text": "Book"}, **changes}


# --- the attacks ------------------------------------------------------------------------------


async def stalled_uploads(target: Target, count: int) -> str:
    before = target.rss()
    body = json.dumps(_batch(target.good, [_event("stall_000001")])).encode()
    async with Probe(target) as probe:
        started = time.monotonic()
        held = await _open_many(target, count, _track_head(len(body)) + body[:10])
        opened = time.monotonic() - started
        await asyncio.sleep(2)
        during = target.rss()
        open_now = await _still_open(held, 0)
        left = await _still_open(held, DEFAULTS.body_timeout_seconds + 2)
    for connection in held:
        connection.close()
    await asyncio.sleep(1)
    return (f"{count} stalled uploads (opened in {opened:.1f} s): RSS {before:.0f} -> {during:.0f} MB "
            f"(after {target.rss():.0f} MB); {open_now} held open by the server, {left} still open after the "
            f"{DEFAULTS.body_timeout_seconds} s body deadline\n    {probe.summary()}")


async def slow_headers(target: Target, count: int) -> str:
    before = target.rss()
    async with Probe(target) as probe:
        held = await _open_many(target, count, b"GET /healthz HTTP/1.1\r\n")
        for n in range(3):  # a line every 5 s
            await asyncio.sleep(5)
            for connection in held:
                if not connection.closed.done():
                    connection.writer.write(f"X-Slow-{n}: 1\r\n".encode())
        left = await _still_open(held, 1)
    for connection in held:
        connection.close()
    return (f"{count} slow-header connections (a line every 5 s): RSS {before:.0f} -> peak {max(probe.rss):.0f} MB; "
            f"{left} still open after 16 s (header deadline {DEFAULTS.header_timeout_seconds} s)\n    "
            f"{probe.summary()}")


async def idle_sockets(target: Target, count: int) -> str:
    async with Probe(target) as probe:
        held = await _open_many(target, count, b"")
        left = await _still_open(held, DEFAULTS.header_timeout_seconds + 2)
    for connection in held:
        connection.close()
    return f"{count} idle sockets: {left} still open after {DEFAULTS.header_timeout_seconds + 2} s\n    {probe.summary()}"


async def huge_headers(target: Target) -> str:
    before = target.rss()
    answers = []

    async def one() -> None:
        reader, writer = await target.connect()
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: bench\r\nX-Big: ")
        try:
            for _ in range(50 * 16):  # 50 MB
                writer.write(b"a" * 65536)
                await writer.drain()
        except OSError:
            pass
        try:
            answers.append((await asyncio.wait_for(reader.read(200), 5)).split(b"\r\n")[0].decode())
        except (OSError, asyncio.TimeoutError):
            answers.append("closed")
        writer.close()

    async with Probe(target) as probe:
        await asyncio.gather(*(one() for _ in range(10)))
    return (f"10 requests with 50 MB headers: RSS {before:.0f} -> peak {max(probe.rss):.0f} MB; answers "
            f"{sorted(set(answers))}\n    {probe.summary()}")


async def long_agents(target: Target) -> str:
    async with httpx.AsyncClient(base_url=target.base, timeout=30) as http:
        body = json.dumps(_batch(target.good, [_event("agent_00001")]))
        started = time.monotonic()
        big, health = await asyncio.gather(
            http.post("/track", content=body, headers={"Origin": ORIGIN, "User-Agent": "x" * 1024 * 1024}),
            _healthz_new(target))
        big_ms = (time.monotonic() - started) * 1000
        started = time.monotonic()
        long = await http.post("/track", content=json.dumps(_batch(target.good, [_event("agent_00002")])),
                               headers={"Origin": ORIGIN, "User-Agent": AGENT + " " + "y" * 3000})
        long_ms = (time.monotonic() - started) * 1000
    return (f"1 MB User-Agent: {big.status_code} in {big_ms:.1f} ms (/healthz meanwhile {health:.1f} ms); "
            f"3,000-character User-Agent: {long.status_code} in {long_ms:.1f} ms")


def _malformed_batches(site: str) -> list[bytes]:
    rng = random.Random(7)
    lone, deep = "\ud800", '{"a":' * 970 + "{}" + "}" * 970
    base = _batch(site, [_event(f"mal_{n:06d}") for n in range(3)])
    values: list[Any] = [None, True, 0, -1, 2**70, 1.5, "", "x" * 5000, lone, "ok" + lone, [], {}, [[[]]],
                         {"a": {"b": lone}}, "\U0001F600" * 300]
    bodies: list[bytes] = [b"", b"{", b"[" * 30_000 + b"]" * 30_000, b'{"site": NaN}', b"\xff\xfe", b"null", b"[]"]
    fields = list(base) + [f"events.{i}.{key}" for i in range(3) for key in ("id", "type", "ts", "url", "props")]
    for field in fields:
        for value in values:
            document = json.loads(json.dumps(base))
            if field.startswith("events."):
                _, index, key = field.split(".")
                document["events"][int(index)][key] = value
                document["events"][int(index)]["id"] = f"mal_{rng.randrange(10**9):09d}"
            else:
                document[field] = value
            bodies.append(json.dumps(document).encode())
    raw = json.dumps(_batch(site, [_event("mal_deep01", props={"x": 1})])).replace('{"x": 1}', deep)
    bodies.append(raw.encode())
    return bodies


def _malformed_analytics() -> list[tuple[str, str, bytes]]:
    values = ["", "-1", "1.5", "abc", "99999999999999999999999", "%00", "\U0001F600", "a" * 5000, "NaN", " 1 ",
              "0x10", "1e3", "null"]
    requests: list[tuple[str, str, bytes]] = []
    for path, params in [("/analytics/sessions/daily", ["days"]), ("/analytics/pages/top", ["limit"]),
                         ("/analytics/leads", ["limit", "offset", "status", "sort", "q"]),
                         ("/analytics/devices", ["days", "limit"]), ("/analytics/bots", ["days"])]:
        for param in params:
            for value in values:
                requests.append(("GET", f"{path}?{param}={httpx.QueryParams({param: value})[param]}", b""))
    for lead in ["1", "0", "-1", "abc", "99999999999999999999999", "1.0", "%2F"]:
        requests.append(("GET", f"/analytics/leads/{lead}", b""))
        for body in [b'{"status": "contacted"}', b'{"status": "\\ud800"}', b'{"status": NaN}', b"[" * 5000,
                     b'{"a":' * 5000 + b"1" + b"}" * 5000, b"", b"{", b'{"status": []}', b'{"status": {}}',
                     b'{"status": 5}', b'{"status": "nope"}', b"\xff"]:
            requests.append(("PATCH", f"/analytics/leads/{lead}", body))
    return requests


async def malformed(target: Target) -> str:
    batches = _malformed_batches(target.good)
    analytics = _malformed_analytics()
    statuses: dict[int, int] = {}
    limits = httpx.Limits(max_connections=16)
    async with httpx.AsyncClient(base_url=target.base, timeout=30, limits=limits) as http:
        async def track(body: bytes) -> None:
            response = await http.post("/track", content=body, headers={"Origin": ORIGIN, "User-Agent": AGENT})
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        async def api(method: str, url: str, body: bytes) -> None:
            response = await http.request(method, url, content=body or None, headers={"X-API-Key": KEY})
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        await asyncio.gather(*(track(body) for body in batches))
        await asyncio.gather(*(api(*request) for request in analytics))
    fives = sum(count for status, count in statuses.items() if status >= 500)
    return (f"malformed input: {len(batches)} POST /track bodies and {len(analytics)} /analytics requests; "
            f"5xx: {fives}; statuses {dict(sorted(statuses.items()))}")


async def poison(target: Target) -> str:
    good_total, poison_total = 2000, 203
    kinds = ["good"] * good_total + ["poison"] * poison_total
    random.Random(3).shuffle(kinds)
    limits = httpx.Limits(max_connections=64)
    results: list[tuple[str, int, list[str]]] = []
    gate = asyncio.Semaphore(64)  # requests in flight; more only queue inside the client, which slows it down
    async with Probe(target) as probe, httpx.AsyncClient(base_url=target.base, timeout=60, limits=limits) as http:
        async def send(n: int, kind: str) -> None:
            async with gate:
                await _send(n, kind)

        async def _send(n: int, kind: str) -> None:
            if kind == "good":
                ids = [f"good_{n:05d}_{i}" for i in range(10)]
                body = _batch(target.good, [_event(event_id) for event_id in ids], session=f"s_{n % 50}")
            else:
                ids = [f"bad_{n:05d}"]
                body = _batch(target.poison, [_event(ids[0], url="https://a.example/\ud800")])
            response = await http.post("/track", content=json.dumps(body), headers={"Origin": ORIGIN,
                                                                                   "User-Agent": AGENT})
            results.append((kind, response.status_code, ids))

        started = time.monotonic()
        await asyncio.gather(*(send(n, kind) for n, kind in enumerate(kinds)))
        took = time.monotonic() - started
    conn = sqlite3.connect(target.database)
    try:
        stored = {row[0] for row in conn.execute("SELECT event_id FROM events WHERE event_id LIKE 'good_%'")}
    finally:
        conn.close()
    good_failed = sum(1 for kind, status, ids in results if kind == "good" and
                      (status != 202 or not set(ids) <= stored))
    poison_statuses = sorted({status for kind, status, _ in results if kind == "poison"})
    fives = sum(1 for _, status, _ in results if status >= 500)
    return (f"{poison_total} poison batches among {good_total} good ones of another workspace ({took:.1f} s): "
            f"good batches failed {good_failed}; poison answered {poison_statuses}; 5xx {fives}\n    "
            f"{probe.summary()}")


async def aborted_uploads(target: Target, count: int) -> str:
    before = target.log.stat().st_size
    body = json.dumps(_batch(target.good, [_event("abort_00001")])).encode()
    for start in range(0, count, 200):
        held = await _open_many(target, min(200, count - start), _track_head(len(body)) + body[:30])
        await asyncio.sleep(0.2)
        for connection in held:
            connection.writer.transport.abort()
            connection.closed.cancel()
    await asyncio.sleep(2)
    grown = target.log.read_bytes()[before:].decode(errors="replace")
    lines = grown.splitlines()
    gone = sum(1 for line in lines if '"status":499' in line)
    return (f"{count} aborted uploads: the log grew {len(grown) / 1024:.0f} KB in {len(lines)} lines "
            f"({gone} with status 499, {grown.count('Traceback')} tracebacks)")


# --- main ---------------------------------------------------------------------------------------


async def run(target: Target, stalled: int, workers: int) -> list[str]:
    results = [f"idle: RSS {target.rss():.0f} MB, /healthz {await _healthz_new(target):.1f} ms"]
    for attack in (
        lambda: stalled_uploads(target, stalled),
        lambda: stalled_uploads(target, int(DEFAULTS.max_connections * workers * 0.75)),
        lambda: slow_headers(target, 500),
        lambda: idle_sockets(target, 1000),
        lambda: huge_headers(target),
        lambda: long_agents(target),
        lambda: malformed(target),
        lambda: poison(target),
        lambda: aborted_uploads(target, 2000),
    ):
        line = await attack()
        print(line, flush=True)
        results.append(line)
        await asyncio.sleep(2)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--stalled", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, LocalS3Server(Path(tmp) / "r2") as s3server:
        s3 = s3server.endpoint
        for bucket in ("hostile-sessions", "hostile-exports"):
            (Path(tmp) / "r2" / bucket).mkdir()
        database = Path(tmp) / "hostile.sqlite"
        good, poison_key = asyncio.run(_prepare(database))
        config = Path(tmp) / "wrangler.toml"
        buckets = "".join(f'\n[[r2_buckets]]\nbinding = "{b}"\nbucket_name = "hostile-{b.lower()}"\n'
                          f's3_endpoint = "{s3.url}"\n' for b in ("SESSIONS", "EXPORTS"))
        config.write_text(
            'name = "leadlight-hostile"\nmain = "worker.py"\ncompatibility_date = "2026-11-01"\n'
            'secrets = ["ANALYTICS_API_KEY"]\n[triggers]\ncrons = []\n'
            f'[[d1_databases]]\nbinding = "DB"\ndatabase_name = "leadlight"\ndatabase_id = "hostile"\n'
            f'database_path = "{database}"\nmigrations_dir = "{ROOT / "migrations"}"\n{buckets}')
        env = {**os.environ, "S3_ACCESS_KEY_ID": s3.access_key_id, "S3_SECRET_ACCESS_KEY": s3.secret_access_key,
               "ANALYTICS_API_KEY": KEY}
        port = free_port()
        log = Path(tmp) / "server.log"
        process = subprocess.Popen(
            [sys.executable, "worker.py", "--config", str(config), "serve", "--port", str(port),
             "--workers", str(args.workers)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log.open("wb"),
            start_new_session=True)
        try:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"the server exited: {log.read_text()[-2000:]}")
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("the server did not become healthy")
                time.sleep(0.2)
            target = Target(port, _processes(process.pid), log, database, good, poison_key)
            print(f"worker.py serve --workers {args.workers}, default limits: {DEFAULTS}\n", flush=True)
            results = asyncio.run(run(target, args.stalled, args.workers))
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
    print("\n" + "\n".join(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
