"""`serve`'s process supervisor: worker processes on one port, a listening socket each.

| event | what happens | exit status |
| --- | --- | --- |
| the address cannot be bound | nothing starts | 71 (EX_OSERR) |
| every worker is ready | one line with the address; `READY=1` to systemd (`Type=notify`) | |
| a worker exits before it is ready | the others are stopped | the worker's 69, 75 or 78, else 70 |
| a worker is not ready within `START_TIMEOUT` | all are stopped | 70 (EX_SOFTWARE) |
| a ready worker exits (a crash, `limit_max_requests`) | a replacement starts, and must become ready in turn | |
| SIGTERM or SIGINT | each worker stops accepting, finishes its requests and `ctx.wait_until` work, closes its bindings | 0 once all drained, 70 if one had to be killed |

A worker's start-up failure is its app's failure (a bad configuration, a database it cannot
open) and would repeat on every restart, so the whole server stops and a process manager sees
it; uvicorn's own supervisor would restart such a worker forever and then exit 0.

Each worker has its own listening socket on the port (SO_REUSEPORT), so the kernel spreads
new connections across the workers. On one shared socket, whichever process woke first would
accept every connection waiting (asyncio accepts up to its backlog per wake-up), and a burst of
keep-alive connections could all land on one process while the others idle: measured here, a
client opening 64 connections at once got all 64 on one of two workers in two runs of three,
at half the requests/s. The supervisor holds every socket for the whole run, so a replaced
worker's socket keeps its place in the port's group: connections that arrive meanwhile wait in
its queue for the replacement instead of being refused.

Everything about processes, signals and exit statuses is here; a worker runs uvicorn's `Server`
on the inherited socket, which is the one part to swap for another ASGI server.
"""
from __future__ import annotations

import gc
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.importer import import_from_string

START_TIMEOUT = 120.0  # importing the app and warming its data takes seconds, longer on a busy machine
DRAIN_MARGIN = 15.0  # beyond timeout_graceful_shutdown, for the lifespan's own shutdown (wait_until work)
_PASSED_THROUGH = {os.EX_CONFIG, os.EX_TEMPFAIL, os.EX_UNAVAILABLE}  # a worker's own verdict on its start
_READY = b"ready"
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _say(line: str) -> None:
    print(f"leadlight: {line}", flush=True)


def _complain(line: str) -> None:
    print(f"leadlight: error: {line}", file=sys.stderr, flush=True)


def run(app: str, *, host: str, port: int, workers: int, timeout_graceful_shutdown: int = 30,
        say: Callable[[str], None] = _say, **options: Any) -> int:
    """Serve the app factory named by `app` ("module:function") from `workers` processes until
    SIGTERM or SIGINT; return the exit status. `options` are uvicorn.Config's keyword arguments."""
    try:
        sockets = _listen(host, port, workers)
    except OSError as error:
        _complain(f"cannot listen on {host}:{port}: {error.strerror or error}")
        return os.EX_OSERR
    bound_host, bound_port = sockets[0].getsockname()[:2]
    url = f"http://[{bound_host}]:{bound_port}" if ":" in bound_host else f"http://{bound_host}:{bound_port}"
    options = {**options, "timeout_graceful_shutdown": timeout_graceful_shutdown}
    grace = timeout_graceful_shutdown + DRAIN_MARGIN
    received: list[int] = []
    wake_reader, wake_writer = socket.socketpair()
    wake_writer.setblocking(False)

    def on_signal(number: int, frame: FrameType | None) -> None:
        received.append(number)
        try:
            wake_writer.send(b"\0")
        except BlockingIOError:  # already awake
            pass

    previous = {number: signal.signal(number, on_signal) for number in _STOP_SIGNALS}
    pool = [_Worker.start(app, options, sock) for sock in sockets]
    announced = False
    try:
        while not received:
            waitables: list[Any] = [wake_reader] + [w.ready_reader for w in pool if not w.ready]
            multiprocessing.connection.wait(waitables + [w.process.sentinel for w in pool], timeout=1.0)
            if received:
                break
            for index, worker in enumerate(pool):
                worker.poll_ready()
                if worker.process.exitcode is not None:
                    if not worker.ready:
                        return _abort(pool, grace, f"a worker (pid {worker.process.pid}) exited with status "
                                      f"{worker.process.exitcode} before it was ready; stopping")
                    say(f"a worker (pid {worker.process.pid}) exited with status {worker.process.exitcode}; "
                        "starting another")
                    worker.ready_reader.close()
                    pool[index] = _Worker.start(app, options, worker.sock)
                elif not worker.ready and time.monotonic() - worker.started_at > START_TIMEOUT:
                    return _abort(pool, grace, f"a worker (pid {worker.process.pid}) was not ready within "
                                  f"{START_TIMEOUT:.0f} s; stopping", os.EX_SOFTWARE)
            if not announced and all(w.ready for w in pool):
                announced = True
                say(f"listening on {url} with {workers} worker{'s' if workers != 1 else ''}")
                _notify("READY=1")
        name = signal.Signals(received[0]).name
        say(f"{name}: draining {len(pool)} worker{'s' if len(pool) != 1 else ''} (up to {grace:.0f} s)")
        _notify("STOPPING=1")
        drained = _stop(pool, grace)
        if drained:
            say("stopped")
        else:
            _complain("stopped, but a worker had to be killed before it drained")
        return 0 if drained else os.EX_SOFTWARE
    finally:
        for worker in pool:
            if worker.process.exitcode is None:  # only after a failure of this loop itself
                worker.process.kill()
                worker.process.join()
            worker.ready_reader.close()
        for number, handler in previous.items():
            signal.signal(number, handler)
        for sock in sockets:
            sock.close()
        wake_reader.close()
        wake_writer.close()


@dataclass
class _Worker:
    process: BaseProcess
    sock: socket.socket
    ready_reader: Connection
    started_at: float
    ready: bool = False

    @classmethod
    def start(cls, app: str, options: dict[str, Any], sock: socket.socket) -> _Worker:
        # spawn, as uvicorn does: a worker imports the app afresh instead of inheriting this
        # process's threads and half-used connections.
        context = multiprocessing.get_context("spawn")
        reader, writer = context.Pipe(duplex=False)
        process = context.Process(target=_serve_worker, args=(app, options, sock, writer), name="leadlight-worker")
        process.start()
        writer.close()  # the worker holds the only writer, so its death reads as end of file
        return cls(process, sock, reader, time.monotonic())

    def poll_ready(self) -> None:
        if self.ready:
            return
        try:
            if self.ready_reader.poll() and self.ready_reader.recv_bytes() == _READY:
                self.ready = True
        except (EOFError, OSError):  # it exited first; its exit status tells why
            pass


def _abort(pool: list[_Worker], grace: float, message: str, status: int | None = None) -> int:
    failed = next((w.process.exitcode for w in pool if w.process.exitcode not in (None, 0)), None)
    _complain(message)
    _stop(pool, grace)
    if status is not None:
        return status
    return failed if failed in _PASSED_THROUGH else os.EX_SOFTWARE


def _stop(pool: list[_Worker], grace: float) -> bool:
    """SIGTERM every worker, wait for each to drain; True when none had to be killed."""
    for worker in pool:
        if worker.process.exitcode is None and worker.process.pid is not None:
            os.kill(worker.process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for worker in pool:
        worker.process.join(max(0.0, deadline - time.monotonic()))
    drained = True
    for worker in pool:
        if worker.process.exitcode is None:
            worker.process.kill()
            worker.process.join()
            drained = False
        elif worker.process.exitcode != 0 and worker.ready:
            drained = False
    return drained


def _listen(host: str, port: int, count: int) -> list[socket.socket]:
    """`count` sockets bound to one address (for port 0, a free port).

    The address is first bound once without SO_REUSEPORT, which fails while anything listens
    there, another `serve` with its own group of sockets included: sharing a port with a
    server still running (an older version, say) would split the traffic without a word.
    """
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(address)
        address = probe.getsockname()
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if count > 1:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(address)
            sock.set_inheritable(True)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _notify(state: str) -> None:
    """sd_notify(3): tell systemd (a `Type=notify` unit) where the service stands."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        try:
            notify.sendto(state.encode(), address)
        except OSError as error:
            _complain(f"cannot notify systemd: {error}")


class _ReportingServer(uvicorn.Server):
    """uvicorn's server, telling the supervisor once it accepts connections."""

    def __init__(self, config: uvicorn.Config, ready: Connection) -> None:
        super().__init__(config)
        self._ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            settle_collector()
            try:
                self._ready.send_bytes(_READY)
            except OSError:  # the supervisor is gone; the server runs on until it is stopped
                pass


def settle_collector() -> None:
    """Once a worker has started: what startup built (the app, its caches, the GeoIP and
    user-agent tables) lives as long as the process, so the cyclic collector stops walking it,
    and it runs once 20,000 container objects have been allocated instead of 700, which a few
    requests reach (bench/ingest_cost.py: 2.7 % fewer instructions per POST /track; 50,000
    saves no more)."""
    gc.freeze()
    gc.set_threshold(20_000)


def _exit_cleanly(number: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def _serve_worker(app: str, options: dict[str, Any], sock: socket.socket, ready: Connection) -> None:
    """A worker process. uvicorn handles SIGTERM while it serves and raises it again once it has
    drained; exiting 0 then (or on a SIGTERM before it serves) is what the stop asked for."""
    signal.signal(signal.SIGTERM, _exit_cleanly)
    # A terminal's Ctrl-C reaches the supervisor and every worker; the supervisor's SIGTERM is the
    # one that counts.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    application = import_from_string(app)()
    _ReportingServer(uvicorn.Config(application, **options), ready).run(sockets=[sock])
