"""Fixtures for the real local S3-compatible server and R2 bindings on it."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator

import pytest

from storage.r2 import R2Bucket
from storage.s3local import LocalS3Server


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalS3Server]:
    """One rclone server for the session; `.endpoint` gives its address and credentials.

    A test may `stop()` it to stage an outage; `start()` brings it back on the same port
    with the same credentials.
    """
    server = LocalS3Server(tmp_path_factory.mktemp("s3"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def r2_bucket(s3_server: LocalS3Server) -> AsyncIterator[R2Bucket]:
    """An open binding on a fresh, empty bucket."""
    if not s3_server.running:
        s3_server.start()
    endpoint = s3_server.endpoint
    bucket = R2Bucket(
        f"test-{secrets.token_hex(6)}",
        endpoint_url=endpoint.url,
        access_key_id=endpoint.access_key_id,
        secret_access_key=endpoint.secret_access_key,
        region=endpoint.region,
    )
    await bucket.open()
    await bucket.create_bucket()
    yield bucket
    await bucket.close()
