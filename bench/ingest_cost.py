"""Instructions per `POST /track`: leadlight's app against the ceiling's, counted by callgrind.

bench/ingest.py measures requests/s through real sockets, which is what a deployment sees, but on
a shared 2-core machine the same code swings by 15 % or more from one run to the next: a change
worth 5 % cannot be told from noise there. A count of executed instructions does not swing. This
runs each app in one process under `valgrind --tool=callgrind` (instrumentation switched on only
for the measured requests): its ASGI callable, its lifespan, its writer thread and its own
database, as `serve` builds them. After a warm-up it sends `--waves` waves of `--concurrency`
requests at once, so each wave is one group commit as under load, and reports instructions per
request and per event, and leadlight's count as a multiple of the ceiling's.

What it leaves out is the same for both apps: the HTTP server (uvicorn parses a request and
writes a response alike for both) and the kernel (socket I/O, the WAL's writes). So it ranks
changes to the request path and the writer; bench/ingest.py says what they are worth end to end.

    python bench/ingest_cost.py [--batch 10] [--waves 10] [--concurrency 32] [--sessions 160]
                                [--paths leadlight,ceiling]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PATHS = ("leadlight", "ceiling")
_AGENT = b"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
_PAGES = ("/", "/pricing", "/features", "/blog/launch", "/contact", "/sky-towers", "/about")
_TYPES = ("page_view", "click", "scroll", "engagement")
_PROPS = {"scroll": {"depth": 50}, "engagement": {"active_ms": 15000},
          "click": {"tag": "a", "text": "Book a demo", "href": "https://example.com/demo", "outbound": False},
          "page_view": {"title": "Example page"}}
_WARM_WAVES = 3


def bodies(site_key: str, count: int, batch: int, now_ms: int, sessions: int) -> list[bytes]:
    """Batches as bench/track.lua sends them (the same pages and events), over `sessions` sessions
    and as many visitors."""
    out = []
    for counter in range(1, count + 1):
        events = []
        for i in range(1, batch + 1):
            kind = _TYPES[(counter + i) % len(_TYPES)]
            events.append({"id": f"evt_cost_{counter}_{i}", "type": kind, "ts": now_ms + i,
                           "url": f"https://example.com{_PAGES[(counter + i) % len(_PAGES)]}", "props": _PROPS[kind]})
        out.append(json.dumps({
            "site": site_key, "visitor_id": f"v_bench_{counter % sessions}",
            "session_id": f"s_bench_{counter % sessions}", "fingerprint": f"f{counter % sessions:08x}",
            "timezone": "Europe/Berlin", "language": "de-DE",
            "screen": "1920x1080", "referrer": "https://www.google.com/", "utm": {"source": "google"},
            "webdriver": False, "sent_at": now_ms, "events": events,
        }, separators=(",", ":")).encode())
    return out


async def post(app: Callable[..., Awaitable[None]], body: bytes) -> int:
    """One POST /track through the ASGI callable, as uvicorn would make it; the response's status."""
    scope: dict[str, Any] = {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
        "method": "POST", "scheme": "http", "path": "/track", "raw_path": b"/track", "root_path": "",
        "query_string": b"", "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8787), "state": {},
        "headers": [(b"host", b"127.0.0.1:8787"), (b"content-type", b"text/plain;charset=UTF-8"),
                    (b"origin", b"https://example.com"), (b"user-agent", _AGENT),
                    (b"content-length", str(len(body)).encode())],
    }
    done = asyncio.Event()
    status = 0
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif not message.get("more_body", False):
            done.set()

    await app(scope, receive, send)
    return status


def _instrument(on: bool) -> None:
    subprocess.run(["callgrind_control", "-i", "on" if on else "off", str(os.getpid())], check=True,
                   capture_output=True)


async def _measure_here(path: str, site_key: str, args: argparse.Namespace) -> None:
    """The child, under valgrind: build the app, warm it, count the measured waves."""
    from supervisor import settle_collector

    if path == "leadlight":
        from cli import app_from_environment

        app = app_from_environment()
    else:
        from bench.ceiling_ingest import app
    all_bodies = bodies(site_key, (_WARM_WAVES + args.waves) * args.concurrency, args.batch,
                        int(time.time() * 1000), args.sessions)
    waves = [all_bodies[i:i + args.concurrency] for i in range(0, len(all_bodies), args.concurrency)]
    async with app.router.lifespan_context(app):
        settle_collector()  # as a `serve` worker does once it has started
        for number, wave in enumerate(waves):
            if number == _WARM_WAVES:
                _instrument(True)
            statuses = await asyncio.gather(*(post(app, body) for body in wave))
            if set(statuses) != {202}:
                raise SystemExit(f"{path}: statuses {sorted(set(statuses))}")
        _instrument(False)


def _count(path: str, env: dict[str, str], site_key: str, args: argparse.Namespace, out: Path) -> int:
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
         sys.executable, __file__, "--child", path, "--site-key", site_key, "--batch", str(args.batch),
         "--waves", str(args.waves), "--concurrency", str(args.concurrency),
         "--sessions", str(args.sessions)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{path} under valgrind exited with {done.returncode}:\n{done.stderr[-3000:]}")
    totals = re.search(r"^totals: (\d+)", out.read_text(), re.MULTILINE)
    if totals is None:
        raise RuntimeError(f"no totals in {out}")
    return int(totals.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=10, help="events per request")
    parser.add_argument("--waves", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=32, help="requests per wave (one group commit)")
    parser.add_argument("--sessions", type=int, default=160,
                        help="sessions the requests cycle through (160: one request in four opens a session, "
                             "as in a bench/ingest.py run of about 20,000 requests over track.lua's 5,000)")
    parser.add_argument("--paths", default=",".join(PATHS))
    parser.add_argument("--child", choices=PATHS, help=argparse.SUPPRESS)
    parser.add_argument("--site-key", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        try:  # the event loop `serve` runs on (uvicorn's "auto": uvloop when it is installed)
            import uvloop
            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        except ImportError:
            pass
        asyncio.run(_measure_here(args.child, args.site_key, args))
        return 0

    from bench.ingest import _machine, _prepare_ceiling_db, _prepare_db, bench_config
    from storage.s3local import LocalS3Server

    paths = [p for p in PATHS if p in args.paths.split(",")]
    requests = args.waves * args.concurrency
    counts: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp, LocalS3Server(Path(tmp) / "r2") as s3server:
        config, env, db = bench_config(Path(tmp), s3server.endpoint)
        site_key = asyncio.run(_prepare_db(db))
        ceiling_db = Path(tmp) / "ceiling.sqlite"
        _prepare_ceiling_db(ceiling_db, db)
        env = {**env, "LEADLIGHT_CONFIG": str(config), "WORKER_ENV": "", "LEADLIGHT_LOCAL": "0",
               "CEILING_DB": str(ceiling_db), "PYTHONHASHSEED": "0"}
        for path in paths:
            counts[path] = _count(path, env, site_key, args, Path(tmp) / f"{path}.callgrind")

    print(f"\nPOST /track in-process under callgrind: {args.waves} waves of {args.concurrency} requests of "
          f"{args.batch} events (one group commit each) over {args.sessions} sessions, after {_WARM_WAVES} warm-up "
          f"waves; {_machine()}\n")
    print(f"{'path':<10} {'instructions':>14} {'per request':>12} {'per event':>10}")
    for path, total in counts.items():
        print(f"{path:<10} {total:>14,} {total / requests:>12,.0f} {total / requests / args.batch:>10,.0f}")
    if len(counts) == 2:
        print(f"leadlight/ceiling instructions per request: {counts['leadlight'] / counts['ceiling']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
