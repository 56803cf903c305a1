"""The server's limits (server.py) against a real `worker.py serve`.

Raw sockets play the hostile clients: idle sockets, headers sent a line at a time, bodies that
stall, headers too large or too many, more connections than the cap, clients that go away. The
limits are set low in the test's `[leadlight]` table so each attack ends in a second or two.
Poison batches of one workspace, interleaved with good batches of another under load, fail
only themselves.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from domain.sites import create_site
from server import LIMITS_VAR, uvicorn_options
from storage import migrations
from storage.config import ConfigError, load_config
from storage.d1 import D1Database
from storage.r2 import R2Bucket
from storage.s3local import free_port
from tests.conftest import write_config
from tests.tracking import BROWSER, ORIGIN, batch, event

ROOT = Path(__file__).resolve().parent.parent
LIMITS = {"max_header_bytes": 4096, "max_headers": 20, "header_timeout_seconds": 2, "body_timeout_seconds": 1,
          "keep_alive_seconds": 1, "max_connections": 40}
POISON_WORKSPACE = "ws-poison"


@dataclass
class Server:
    port: int
    pids: list[int]  # the processes that serve requests
    log: Path
    database: Path
    site_key: str
    poison_key: str

    def rss_kb(self) -> int:
        return sum(_rss_kb(pid) for pid in self.pids)

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", self.port)


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def _prepare(database: Path) -> tuple[str, str]:
    db = D1Database(database)
    await db.open()
    try:
        await migrations.apply(db, ROOT / "migrations")
        await db.prepare("INSERT INTO workspaces (id, name, created_at) VALUES (?, 'Poison', 0)").bind(
            POISON_WORKSPACE).run()
        good = (await create_site(db, "default", [ORIGIN]))["site_key"]
        poison = (await create_site(db, POISON_WORKSPACE, [ORIGIN]))["site_key"]
        # Rows that no validation could foresee: the database itself refuses them.
        await db.exec(f"CREATE TRIGGER poison BEFORE INSERT ON events WHEN NEW.workspace_id = '{POISON_WORKSPACE}'"
                      " AND NEW.event_id LIKE 'trig%' BEGIN SELECT RAISE(ABORT, 'poisoned row'); END")
        return good, poison
    finally:
        await db.close()


def _config(root: Path, database: Path, s3_url: str) -> Path:
    buckets = "".join(
        f'\n[[r2_buckets]]\nbinding = "{binding}"\nbucket_name = "limits-{binding.lower()}"\n'
        f's3_endpoint = "{s3_url}"\n'
        for binding in ("SESSIONS", "EXPORTS")
    )
    leadlight = "".join(f"{key} = {value}\n" for key, value in LIMITS.items())
    path = root / "wrangler.toml"
    path.write_text(
        'name = "leadlight-limits"\nmain = "worker.py"\ncompatibility_date = "2026-11-01"\n'
        'secrets = ["ANALYTICS_API_KEY"]\n[triggers]\ncrons = []\n'
        f"[leadlight]\n{leadlight}"
        f'[[d1_databases]]\nbinding = "DB"\ndatabase_name = "leadlight"\ndatabase_id = "limits"\n'
        f'database_path = "{database}"\nmigrations_dir = "{ROOT / "migrations"}"\n{buckets}'
    )
    return path


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory, s3_server: object) -> Iterator[tuple[Path, dict[str, str]]]:
    """What starting a server needs: a prepared directory and the environment."""
    if not s3_server.running:  # type: ignore[attr-defined]
        s3_server.start()  # type: ignore[attr-defined]
    endpoint = s3_server.endpoint  # type: ignore[attr-defined]

    async def buckets() -> None:
        for binding in ("sessions", "exports"):
            bucket = R2Bucket(f"limits-{binding}", endpoint_url=endpoint.url, access_key_id=endpoint.access_key_id,
                              secret_access_key=endpoint.secret_access_key, region=endpoint.region)
            await bucket.open()
            try:
                await bucket.create_bucket()
            finally:
                await bucket.close()

    asyncio.run(buckets())
    env = {**os.environ, "S3_ACCESS_KEY_ID": endpoint.access_key_id,
           "S3_SECRET_ACCESS_KEY": endpoint.secret_access_key, "ANALYTICS_API_KEY": "limits"}
    yield tmp_path_factory.mktemp("limits"), env | {"LEADLIGHT_S3_URL": endpoint.url}


def _start(running: tuple[Path, dict[str, str]], name: str, workers: int) -> tuple[Server, subprocess.Popen]:
    base, env = running
    root = base / name
    root.mkdir()
    database = root / "leadlight.sqlite"
    good, poison = asyncio.run(_prepare(database))
    port = free_port()
    log = root / "server.log"
    config = _config(root, database, env["LEADLIGHT_S3_URL"])
    process = subprocess.Popen(
        [sys.executable, "worker.py", "--config", str(config), "serve", "--port", str(port), "--workers", str(workers)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log.open("wb"), start_new_session=True)
    deadline = time.monotonic() + 60
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
        while True:
            assert process.poll() is None, f"the server exited: {log.read_text()[-2000:]}"
            try:
                if http.get("/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.2)
    pids = [process.pid] if workers == 1 else _children(process.pid)
    return Server(port, pids, log, database, good, poison), process


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="module")
def server(running: tuple[Path, dict[str, str]]) -> Iterator[Server]:
    """One process for the attacks below; each closes what it opened and leaves the server idle."""
    started, process = _start(running, "limits", workers=1)
    try:
        yield started
    finally:
        _stop(process)


async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and how long that took."""
    started = time.monotonic()
    received = await asyncio.wait_for(reader.read(), seconds)
    return received, time.monotonic() - started


async def _closed_while(reader: asyncio.StreamReader, sending: Coroutine[Any, Any, None],
                        seconds: float) -> tuple[bytes, float]:
    """_closed_within while `sending` runs; it is stopped once the server has closed."""
    task = asyncio.ensure_future(sending)
    try:
        return await _closed_within(reader, seconds)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _response(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One answer on a kept connection: its head and its body."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    return head, await reader.readexactly(length)


async def _healthz_ms(server: Server) -> float:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as http:
        started = time.monotonic()
        response = await http.get("/healthz", timeout=10)
        assert response.status_code == 200
        return (time.monotonic() - started) * 1000


def _status_and_body(raw: bytes) -> tuple[int, dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body) if body else {}


def _track_head(length: int, extra: str = "") -> bytes:
    return (f"POST /track HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: {ORIGIN}\r\nUser-Agent: {BROWSER}\r\n"
            f"Content-Type: text/plain\r\nContent-Length: {length}\r\n{extra}\r\n").encode()


# --- the settings ------------------------------------------------------------------------------


def test_the_limits_come_from_the_leadlight_table_and_reach_the_server(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(write_config(tmp_path, "[leadlight]\nmax_connections = 7\nkeep_alive_seconds = 3\n"),
                         local=True, environ={})
    settings = config.settings
    assert (settings.max_connections, settings.keep_alive_seconds) == (7, 3)
    assert (settings.max_header_bytes, settings.max_headers, settings.header_timeout_seconds,
            settings.body_timeout_seconds) == (16_384, 100, 10, 30)  # the defaults
    monkeypatch.setenv(LIMITS_VAR, "")  # restored after the test
    assert uvicorn_options(settings) == {"http": "server:BoundedHttpToolsProtocol", "timeout_keep_alive": 3,
                                         "limit_concurrency": 8}
    # What uvicorn has no option for reaches the protocol in each worker process.
    assert json.loads(os.environ[LIMITS_VAR]) == {"max_header_bytes": 16_384, "max_headers": 100,
                                                  "header_timeout_seconds": 10, "body_timeout_seconds": 30,
                                                  "keep_alive_seconds": 3, "max_connections": 7}
    with pytest.raises(ConfigError, match="max_headers: 0 must be at least 8"):
        load_config(write_config(tmp_path, "[leadlight]\nmax_headers = 0\n"), local=True, environ={})


# --- connections that hold on ----------------------------------------------------------------


async def test_an_idle_socket_is_closed_after_the_header_timeout(server: Server) -> None:
    reader, writer = await server.connect()
    received, took = await _closed_within(reader, 6)
    assert received == b"" and 1.8 < took < 4
    writer.close()


async def test_headers_sent_a_line_at_a_time_are_cut_off_with_408(server: Server) -> None:
    reader, writer = await server.connect()

    async def drip() -> None:  # a header every 0.3 s, never the blank line that ends them
        writer.write(b"GET /healthz HTTP/1.1\r\n")
        for n in range(30):
            await asyncio.sleep(0.3)
            writer.write(f"X-Slow-{n}: {n}\r\n".encode())
            await writer.drain()

    received, took = await _closed_while(reader, drip(), 8)
    assert _status_and_body(received) == (408, {"error": "Request headers not received in time"})
    assert 1.8 < took < 4
    writer.close()


async def test_a_body_that_stalls_is_cut_off_with_408_and_stores_nothing(server: Server) -> None:
    body = json.dumps(batch(server.site_key, [event()])).encode()
    already = len(server.log.read_bytes())
    reader, writer = await server.connect()
    writer.write(_track_head(len(body)) + body[:20])
    await writer.drain()
    received, took = await _closed_within(reader, 6)
    assert _status_and_body(received) == (408, {"error": "Request body not received within 1 s"})
    assert 0.8 < took < 3
    assert sqlite3.connect(server.database).execute("SELECT count(*) FROM events").fetchone()[0] == 0
    writer.close()
    await asyncio.sleep(0.2)
    lines = [json.loads(line) for line in server.log.read_bytes()[already:].decode().splitlines()
             if line.startswith("{")]
    assert [(line["route"], line["status"]) for line in lines if line.get("event") == "request"] == [("/track", 408)]


async def test_a_body_that_trickles_past_the_deadline_is_cut_off(server: Server) -> None:
    body = json.dumps(batch(server.site_key, [event()])).encode()
    reader, writer = await server.connect()
    writer.write(_track_head(len(body)))

    async def trickle() -> None:  # a byte every 0.2 s: never idle, never done in time
        for byte in body[:40]:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.2)

    received, took = await _closed_while(reader, trickle(), 6)
    assert _status_and_body(received) == (408, {"error": "Request body not received within 1 s"})
    assert 0.8 < took < 3
    writer.close()


async def test_a_body_in_parts_within_the_deadline_is_stored_and_the_next_body_has_its_own(server: Server) -> None:
    reader, writer = await server.connect()
    body = json.dumps(batch(server.site_key, [event(id="evt_in_parts")])).encode()
    writer.write(_track_head(len(body)) + body[:20])
    await writer.drain()
    await asyncio.sleep(0.5)
    writer.write(body[20:])
    head, answer = await _response(reader)
    assert head.startswith(b"HTTP/1.1 202")
    assert json.loads(answer) == {"accepted": 1, "duplicates": 0}
    # The same connection's next request, within the first one's second, stalls: its deadline
    # starts at its own headers.
    body = json.dumps(batch(server.site_key, [event()])).encode()
    writer.write(_track_head(len(body)) + body[:20])
    await writer.drain()
    received, took = await _closed_within(reader, 6)
    assert _status_and_body(received) == (408, {"error": "Request body not received within 1 s"})
    assert 0.8 < took < 3
    writer.close()


async def test_a_keep_alive_connection_idle_between_requests_is_closed(server: Server) -> None:
    reader, writer = await server.connect()
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    head, _ = await _response(reader)
    assert head.startswith(b"HTTP/1.1 200")
    received, took = await _closed_within(reader, 5)
    assert received == b"" and took < 2.5
    writer.close()


# --- heads too large --------------------------------------------------------------------------


async def _everything(reader: asyncio.StreamReader, started: asyncio.Event | None = None) -> bytes:
    """What the server sent before it closed, even when it closed on data we were still sending;
    `started` is set when its first bytes arrive."""
    received = bytearray()
    try:
        while chunk := await reader.read(65536):
            received += chunk
            if started is not None:
                started.set()
    except ConnectionError:  # a reset once the server closed with our bytes unread
        pass
    return bytes(received)


async def test_a_ten_megabyte_header_is_refused_at_the_limit_without_buffering_it(server: Server) -> None:
    before = server.rss_kb()
    reader, writer = await server.connect()
    answered = asyncio.Event()
    answer = asyncio.ensure_future(_everything(reader, answered))
    started = time.monotonic()
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
    try:
        for _ in range(160):  # 10 MB, as fast as the socket takes it
            writer.write(b"a" * 65536)
            await writer.drain()
    except ConnectionError:
        pass
    await asyncio.wait_for(answered.wait(), 5)
    took = time.monotonic() - started
    received = await asyncio.wait_for(answer, 5)
    assert _status_and_body(received) == (431, {"error": "Request headers exceed 4096 bytes"})
    assert took < 2  # answered at the limit, not after a wait for the rest
    assert server.rss_kb() - before < 5 * 1024  # the rest was dropped as it came, never kept
    writer.close()


async def test_too_many_headers_are_refused(server: Server) -> None:
    reader, writer = await server.connect()
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: 1\r\n" % n for n in range(25)) + b"\r\n")
    received = await asyncio.wait_for(reader.read(), 5)
    assert _status_and_body(received) == (431, {"error": "More than 20 request headers"})
    writer.close()


async def test_a_megabyte_user_agent_is_refused_and_a_long_one_is_served_fast(server: Server) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}", headers={"Origin": ORIGIN}) as http:
        refused = await http.post("/track", json=batch(server.site_key, [event()]),
                                  headers={"User-Agent": "x" * 1024 * 1024})
        assert refused.status_code == 431
        started = time.monotonic()
        accepted = await http.post("/track", json=batch(server.site_key, [event()]),
                                   headers={"User-Agent": BROWSER + " " + "y" * 3000})
        assert accepted.status_code == 202 and time.monotonic() - started < 0.5


async def test_content_length_with_spaces_around_it_is_read(server: Server) -> None:
    body = json.dumps(batch(server.site_key, [event()])).encode()
    reader, writer = await server.connect()
    head = _track_head(0).replace(b"Content-Length: 0", f"Content-Length:  {len(body)} ".encode())
    writer.write(head + body)
    await writer.drain()
    status = await asyncio.wait_for(reader.readline(), 5)
    assert status.startswith(b"HTTP/1.1 202")
    writer.close()


# --- many connections -----------------------------------------------------------------------


async def test_connections_past_the_cap_are_closed_at_once_and_memory_stays_flat(server: Server) -> None:
    before = server.rss_kb()
    cap = LIMITS["max_connections"]
    body = json.dumps(batch(server.site_key, [event()])).encode()
    held = []
    for _ in range(cap - 2):  # stalled uploads, each holding a connection until its deadline
        reader, writer = await server.connect()
        writer.write(_track_head(len(body)) + body[:10])
        held.append((reader, writer))
    await asyncio.sleep(0.3)
    during = server.rss_kb()
    extra = [await server.connect() for _ in range(20)]
    closed = await asyncio.gather(*(_closed_within(reader, 0.5) for reader, _ in extra[2:]))
    assert all(received == b"" for received, _ in closed)  # refused before anything was read
    for _, writer in extra + held:
        writer.close()
    assert during - before < 10 * 1024, (before, during)
    await asyncio.sleep(1.5)
    assert await _healthz_ms(server) < 500  # everything was let go


async def test_healthz_stays_fast_while_uploads_stall(server: Server) -> None:
    body = json.dumps(batch(server.site_key, [event()])).encode()
    held = []
    for _ in range(30):
        reader, writer = await server.connect()
        writer.write(_track_head(len(body)) + body[:10])
        held.append(writer)
    await asyncio.sleep(0.2)
    assert await _healthz_ms(server) < 250
    for writer in held:
        writer.close()


# --- the log --------------------------------------------------------------------------------


async def test_a_client_that_goes_away_is_one_log_line_with_status_499(server: Server) -> None:
    body = json.dumps(batch(server.site_key, [event()])).encode()
    await asyncio.sleep(LIMITS["body_timeout_seconds"] + 0.5)  # earlier tests' uploads have ended by now
    already = len(server.log.read_bytes())
    for _ in range(3):
        reader, writer = await server.connect()
        writer.write(_track_head(len(body)) + body[:30])
        await writer.drain()
        await asyncio.sleep(0.1)
        writer.transport.abort()
    await asyncio.sleep(0.5)
    log = server.log.read_bytes()[already:].decode()
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    gone = [line for line in lines if line.get("event") == "request" and line.get("status") == 499]
    assert len(gone) == 3 and all(line["route"] == "/track" for line in gone)
    assert "Traceback" not in log and "Exception in ASGI application" not in log


# --- one bad batch never fails another -------------------------------------------------------


async def test_poison_batches_of_one_workspace_never_fail_the_good_batches_of_another(
        running: tuple[Path, dict[str, str]]) -> None:
    server, process = await asyncio.to_thread(_start, running, "poison", 2)
    try:
        limits = httpx.Limits(max_connections=32)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}", limits=limits, timeout=30) as http:
            headers = {"Origin": ORIGIN, "User-Agent": BROWSER}

            async def send(n: int) -> tuple[str, int]:
                if n % 3 == 0:  # good
                    body = batch(server.site_key, [event("click", id=f"good_{n:05d}_{i}") for i in range(5)],
                                 session=f"s_{n % 17}")
                    kind = "good"
                elif n % 3 == 1:  # what cannot be stored: refused by validation
                    body = batch(server.poison_key, [event(id=f"lone_{n:05d}", url="https://a.example/\ud800")])
                    kind = "lone"
                else:  # what the database refuses at commit, inside a group with good batches
                    body = batch(server.poison_key, [event(id=f"trig_{n:05d}")])
                    kind = "trigger"
                response = await http.post("/track", content=json.dumps(body), headers=headers)
                return kind, response.status_code

            results = await asyncio.gather(*(send(n) for n in range(600)))
    finally:
        _stop(process)
    statuses: dict[str, set[int]] = {}
    for kind, status in results:
        statuses.setdefault(kind, set()).add(status)
    assert statuses == {"good": {202}, "lone": {400}, "trigger": {503}}
    conn = sqlite3.connect(server.database)
    try:
        stored = {row[0] for row in conn.execute("SELECT event_id FROM events WHERE workspace_id = 'default'")}
        poisoned = conn.execute("SELECT count(*) FROM events WHERE workspace_id = ?", (POISON_WORKSPACE,)).fetchone()[0]
    finally:
        conn.close()
    assert stored == {f"good_{n:05d}_{i}" for n in range(0, 600, 3) for i in range(5)}
    assert poisoned == 0
