"""The local S3-compatible server: start, stop, restart."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from storage.r2 import R2Bucket, R2Error
from storage.s3local import LocalS3Error, LocalS3Server, S3Endpoint, rclone_binary


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _binding(endpoint: S3Endpoint, bucket_name: str) -> R2Bucket:
    return R2Bucket(
        bucket_name,
        endpoint_url=endpoint.url,
        access_key_id=endpoint.access_key_id,
        secret_access_key=endpoint.secret_access_key,
        region=endpoint.region,
    )


def test_rclone_binary_is_found() -> None:
    assert os.access(rclone_binary(), os.X_OK)


def test_start_creates_buckets_and_stop_leaves_no_process(tmp_path: Path) -> None:
    server = LocalS3Server(tmp_path / "r2")

    endpoint = server.start(buckets=["sessions", "exports"])
    pid = server.pid

    assert pid is not None and _process_exists(pid)
    assert endpoint.url == f"http://127.0.0.1:{server.port}"
    assert (tmp_path / "r2" / "sessions").is_dir()
    assert (tmp_path / "r2" / "exports").is_dir()

    server.stop()
    server.stop()  # a second stop is harmless

    assert not _process_exists(pid)
    assert not server.running
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=1).close()


def test_context_manager_stops_the_server(tmp_path: Path) -> None:
    with LocalS3Server(tmp_path) as server:
        pid = server.pid
        assert server.running
    assert pid is not None and not _process_exists(pid)


async def test_restart_serves_the_same_data_on_the_same_port(tmp_path: Path) -> None:
    server = LocalS3Server(tmp_path, access_key_id="leadlight-dev", secret_access_key="dev-secret")
    try:
        first = server.start(buckets=["sessions"])
        async with _binding(first, "sessions") as bucket:
            await bucket.put("s/1.json", b'{"events": []}')

            server.stop()
            with pytest.raises(R2Error):
                await bucket.ping()

            second = server.start()
            assert second == first
            # The same open binding carries on once the server is back.
            body = await bucket.get("s/1.json")
            assert body is not None
            assert await body.read() == b'{"events": []}'
    finally:
        server.stop()


def test_start_twice_is_refused(tmp_path: Path) -> None:
    with LocalS3Server(tmp_path) as server:
        with pytest.raises(LocalS3Error, match="already running"):
            server.start()


def test_port_held_by_another_program_is_reported(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        server = LocalS3Server(tmp_path, port=holder.getsockname()[1])

        with pytest.raises(LocalS3Error, match="address already in use"):
            server.start()

    assert not server.running
