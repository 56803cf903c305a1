"""serve's process supervisor, with real worker processes: ready, fail fast, replace, drain."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
_RUN = ("import sys, supervisor; sys.exit(supervisor.run(sys.argv[1], host='127.0.0.1', port=int(sys.argv[3]), "
        "workers=int(sys.argv[2]), timeout_graceful_shutdown=5, log_level='warning'))")
_LISTENING = re.compile(r"leadlight: listening on (http://127\.0\.0\.1:\d+) with (\d+) workers?")


class Supervised:
    def __init__(self, tmp_path: Path, app: str, workers: int, port: int = 0, notify: str | None = None) -> None:
        self.out, self.err = tmp_path / "stdout.log", tmp_path / "stderr.log"
        env = {**os.environ, **({"NOTIFY_SOCKET": notify} if notify else {})}
        self.process = subprocess.Popen(
            [sys.executable, "-c", _RUN, app, str(workers), str(port)], cwd=ROOT, env=env,
            stdout=self.out.open("w"), stderr=self.err.open("w"),
            start_new_session=True,  # its own process group, to find (and clean up) every worker
        )

    @property
    def stdout(self) -> str:
        return self.out.read_text()

    @property
    def stderr(self) -> str:
        return self.err.read_text()

    def url(self, timeout: float = 150) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = _LISTENING.search(self.stdout)
            if found:
                return found.group(1)
            assert self.process.poll() is None, f"exited {self.process.returncode}: {self.stdout}{self.stderr}"
            time.sleep(0.1)
        raise AssertionError(f"not listening after {timeout} s: {self.stdout}{self.stderr}")

    def wait(self, timeout: float = 120) -> int:
        return self.process.wait(timeout=timeout)

    def group_alive(self) -> list[int]:
        return [pid for pid in _pids() if _pgid(pid) == self.process.pid]

    def group_left(self, grace: float = 5.0) -> list[int]:
        """The group's processes still running `grace` seconds after the server exited, if any
        (multiprocessing's resource tracker ends on its own a moment after the server)."""
        deadline = time.monotonic() + grace
        while (alive := self.group_alive()) and time.monotonic() < deadline:
            time.sleep(0.05)
        return alive

    def cleanup(self) -> None:
        if self.group_alive():
            os.killpg(self.process.pid, signal.SIGKILL)
        if self.process.poll() is None:
            self.process.wait()


def _pids() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def _pgid(pid: int) -> int | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[2]) if fields[0] != "Z" else None


@pytest.fixture
def supervised(tmp_path: Path) -> Iterator[list[Supervised]]:
    started: list[Supervised] = []
    yield started
    for one in started:
        one.cleanup()


def _start(started: list[Supervised], tmp_path: Path, app: str, workers: int, **kwargs: object) -> Supervised:
    one = Supervised(tmp_path, f"tests.supervised_apps:{app}", workers, **kwargs)  # type: ignore[arg-type]
    started.append(one)
    return one


def test_ready_workers_then_sigterm_drains_a_request_in_flight_and_exits_0(
        tmp_path: Path, supervised: list[Supervised]) -> None:
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    notify.settimeout(150)
    server = _start(supervised, tmp_path, "serving", 2, notify=str(tmp_path / "notify.sock"))
    url = server.url()
    assert notify.recv(100) == b"READY=1"  # sent once every worker serves, as systemd's Type=notify waits for
    answers: list[httpx.Response] = []
    started = tmp_path / "started"
    slow = threading.Thread(target=lambda: answers.append(
        httpx.get(f"{url}/slow", params={"seconds": 2, "started": str(started)}, timeout=60)))
    slow.start()
    deadline = time.monotonic() + 60
    while not started.exists():  # the request is in a worker
        assert time.monotonic() < deadline
        time.sleep(0.05)
    server.process.send_signal(signal.SIGTERM)
    slow.join()
    assert server.wait() == 0
    assert [(a.status_code, a.text) for a in answers] == [(200, "done")]
    assert notify.recv(100) == b"STOPPING=1"
    assert server.stdout.splitlines()[-2:] == ["leadlight: SIGTERM: draining 2 workers (up to 20 s)",
                                               "leadlight: stopped"]
    assert server.group_left() == []
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/pid", timeout=2)


def test_one_worker_also_exits_0_on_sigterm(tmp_path: Path, supervised: list[Supervised]) -> None:
    server = _start(supervised, tmp_path, "serving", 1)
    assert httpx.get(f"{server.url()}/pid", timeout=10).status_code == 200
    server.process.send_signal(signal.SIGTERM)
    assert server.wait() == 0


def test_a_started_worker_freezes_what_startup_built_and_collects_less_often(
        tmp_path: Path, supervised: list[Supervised]) -> None:
    answer = httpx.get(f"{_start(supervised, tmp_path, 'serving', 1).url()}/gc", timeout=10).text
    threshold, frozen = re.fullmatch(r"threshold (\d+), frozen (\d+)", answer).groups()  # type: ignore[union-attr]
    assert int(threshold) == 20_000 and int(frozen) > 10_000  # the app, uvicorn, Starlette and their modules


def test_a_worker_that_fails_at_start_stops_the_server(tmp_path: Path, supervised: list[Supervised]) -> None:
    server = _start(supervised, tmp_path, "broken", 2)
    assert server.wait() == os.EX_SOFTWARE
    assert re.search(r"leadlight: error: a worker \(pid \d+\) exited with status 1 before it was ready; stopping",
                     server.stderr)
    assert "RuntimeError: the factory cannot build its app" in server.stderr  # the worker's own account
    assert server.group_left() == []


def test_a_workers_configuration_error_keeps_its_status(tmp_path: Path, supervised: list[Supervised]) -> None:
    server = _start(supervised, tmp_path, "misconfigured", 2)
    assert server.wait() == os.EX_CONFIG
    assert "error: wrangler.toml: d1_databases[0].database_path: required" in server.stderr
    assert "Traceback" not in server.stderr


def test_a_lifespan_that_fails_stops_the_server(tmp_path: Path, supervised: list[Supervised]) -> None:
    server = _start(supervised, tmp_path, "failing_lifespan", 1)
    assert server.wait() == os.EX_SOFTWARE
    assert "before it was ready" in server.stderr and "cannot open the database" in server.stderr


def test_a_ready_worker_that_dies_is_replaced(tmp_path: Path, supervised: list[Supervised]) -> None:
    server = _start(supervised, tmp_path, "serving", 2)
    url = server.url()
    victim = int(httpx.get(f"{url}/pid", timeout=10).text)
    os.kill(victim, signal.SIGKILL)
    # New connections meanwhile: those the kernel hands to the dead worker's socket wait in its
    # queue for the replacement; none is refused.
    meanwhile = [httpx.get(f"{url}/pid", timeout=150) for _ in range(16)]
    assert [answer.status_code for answer in meanwhile] == [200] * 16
    deadline = time.monotonic() + 150
    while "starting another" not in server.stdout or len(server.group_alive()) < 3:
        assert time.monotonic() < deadline, server.stdout
        time.sleep(0.2)
    assert f"leadlight: a worker (pid {victim}) exited with status -9; starting another" in server.stdout
    answering = {int(httpx.get(f"{url}/pid", timeout=30).text) for _ in range(20)}
    assert victim not in answering and answering
    server.process.send_signal(signal.SIGTERM)
    assert server.wait() == 0


def test_new_connections_are_spread_across_the_workers(tmp_path: Path, supervised: list[Supervised]) -> None:
    server = _start(supervised, tmp_path, "serving", 2)
    url = server.url()
    # Opened together and kept open, as a load balancer's pool or a load generator does: on one
    # shared socket the first worker to wake would take them all.
    clients = [httpx.Client(timeout=30) for _ in range(32)]
    try:
        pids = [int(client.get(f"{url}/pid").text) for client in clients]
    finally:
        for client in clients:
            client.close()
    workers = set(server.group_alive()) - {server.process.pid}
    counts = {pid: pids.count(pid) for pid in set(pids)}
    assert set(counts) <= workers and len(counts) == 2, counts  # all on one: a chance of 1 in 2**31
    server.process.send_signal(signal.SIGTERM)
    assert server.wait() == 0


def test_a_second_server_on_the_same_port_is_refused(tmp_path: Path, supervised: list[Supervised]) -> None:
    for name in ("first", "second"):
        (tmp_path / name).mkdir()
    first = _start(supervised, tmp_path / "first", "serving", 2)
    port = int(first.url().rsplit(":", 1)[1])
    second = _start(supervised, tmp_path / "second", "serving", 2, port=port)
    assert second.wait() == os.EX_OSERR  # not a share of the first one's connections
    assert second.stderr == f"leadlight: error: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    first.process.send_signal(signal.SIGTERM)
    assert first.wait() == 0


@pytest.mark.parametrize("workers", [1, 2])
def test_an_address_in_use_is_one_line_and_71(tmp_path: Path, supervised: list[Supervised], workers: int) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = _start(supervised, tmp_path, "serving", workers, port=port)
        assert server.wait() == os.EX_OSERR
    assert server.stderr == f"leadlight: error: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    assert server.stdout == ""
