"""The R2 binding's contract, against the real local S3-compatible server."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC

import httpx
import pytest

from storage.r2 import R2Bucket, R2Error
from storage.s3local import LocalS3Server
from tests.s3fixture import r2_bucket  # noqa: F401  (s3_server comes from tests/conftest.py)

MIB = 1024 * 1024


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def test_put_bytes_then_get_and_head(r2_bucket: R2Bucket) -> None:
    written = await r2_bucket.put("a/blob.bin", b"\x00\x01hello")

    assert written.key == "a/blob.bin"
    assert written.size == 7
    assert written.etag == hashlib.md5(b"\x00\x01hello").hexdigest()
    assert written.http_etag == f'"{written.etag}"'

    body = await r2_bucket.get("a/blob.bin")
    assert body is not None
    assert await body.read() == b"\x00\x01hello"
    assert body.size == 7
    assert body.etag == written.etag
    assert body.range is None

    head = await r2_bucket.head("a/blob.bin")
    assert head is not None
    assert (head.key, head.size, head.etag, head.http_etag) == ("a/blob.bin", 7, written.etag, written.http_etag)
    assert head.uploaded.tzinfo == UTC


async def test_put_str_reads_back_as_text_and_json(r2_bucket: R2Bucket) -> None:
    await r2_bucket.put("doc.json", '{"name": "Zoë", "n": 3}')

    body = await r2_bucket.get("doc.json")
    assert body is not None
    assert await body.json() == {"name": "Zoë", "n": 3}

    body = await r2_bucket.get("doc.json")
    assert body is not None
    assert await body.text() == '{"name": "Zoë", "n": 3}'


async def test_put_small_stream(r2_bucket: R2Bucket) -> None:
    data = b"line\n" * 1000

    written = await r2_bucket.put("small.txt", _chunks(data, 333))

    assert written.size == len(data)
    assert written.etag == hashlib.md5(data).hexdigest()
    body = await r2_bucket.get("small.txt")
    assert body is not None
    assert await body.read() == data


async def test_put_large_stream_goes_up_in_parts(r2_bucket: R2Bucket) -> None:
    data = bytes(range(256)) * (12 * MIB // 256) + b"tail"

    written = await r2_bucket.put(
        "big.bin", _chunks(data, 256 * 1024), custom_metadata={"kind": "blob"}
    )

    assert written.size == len(data)
    # A multipart ETag is the MD5 of the parts' MD5s, suffixed with the part count.
    part_md5s = b"".join(
        hashlib.md5(data[start : start + 5 * MIB]).digest() for start in range(0, len(data), 5 * MIB)
    )
    assert written.etag == f"{hashlib.md5(part_md5s).hexdigest()}-3"
    body = await r2_bucket.get("big.bin")
    assert body is not None
    received = bytearray()
    async for chunk in body.iter_chunks():
        received += chunk
    assert bytes(received) == data
    assert body.custom_metadata == {"kind": "blob"}


async def test_a_stream_that_fails_midway_leaves_no_object(r2_bucket: R2Bucket) -> None:
    # What a CSV export relies on: parts already uploaded are abandoned with the upload, and the
    # source's error reaches the caller unchanged.
    async def broken() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b"x" * (4 * MIB)
        raise RuntimeError("the source broke")

    with pytest.raises(RuntimeError, match="the source broke"):
        await r2_bucket.put("half.csv", broken())

    assert await r2_bucket.head("half.csv") is None
    assert (await r2_bucket.list()).objects == []


async def test_http_and_custom_metadata_round_trip(r2_bucket: R2Bucket) -> None:
    compressed = gzip.compress(b"a,b\n1,2\n")
    http_metadata = {
        "contentType": "text/csv; charset=utf-8",
        "contentLanguage": "en-GB",
        "contentDisposition": 'attachment; filename="leads.csv"',
        "contentEncoding": "gzip",
        "cacheControl": "private, max-age=60",
    }
    custom_metadata = {"workspace": "ws_1", "rows": "2"}

    written = await r2_bucket.put(
        "exports/leads.csv", compressed, http_metadata=http_metadata, custom_metadata=custom_metadata
    )
    head = await r2_bucket.head("exports/leads.csv")
    body = await r2_bucket.get("exports/leads.csv")

    assert written.http_metadata == http_metadata
    assert written.custom_metadata == custom_metadata
    assert head is not None and body is not None
    assert head.http_metadata == http_metadata
    assert head.custom_metadata == custom_metadata
    assert body.http_metadata == http_metadata
    assert body.custom_metadata == custom_metadata
    # The stored bytes come back as stored, not decoded.
    assert await body.read() == compressed


async def test_unknown_http_metadata_field_is_refused(r2_bucket: R2Bucket) -> None:
    with pytest.raises(ValueError, match="content_type"):
        await r2_bucket.put("x", b"x", http_metadata={"content_type": "text/plain"})


async def test_missing_object_is_none(r2_bucket: R2Bucket) -> None:
    assert await r2_bucket.get("nope") is None
    assert await r2_bucket.head("nope") is None


async def test_range_offset_and_length(r2_bucket: R2Bucket) -> None:
    await r2_bucket.put("digits", b"0123456789")

    body = await r2_bucket.get("digits", range={"offset": 2, "length": 3})

    assert body is not None
    assert await body.read() == b"234"
    assert body.range == {"offset": 2, "length": 3}
    assert body.size == 10


async def test_range_offset_only_and_suffix(r2_bucket: R2Bucket) -> None:
    await r2_bucket.put("digits", b"0123456789")

    tail = await r2_bucket.get("digits", range={"offset": 7})
    suffix = await r2_bucket.get("digits", range={"suffix": 4})

    assert tail is not None and suffix is not None
    assert await tail.read() == b"789"
    assert await suffix.read() == b"6789"
    assert suffix.range == {"offset": 6, "length": 4}


async def test_bad_range_is_refused(r2_bucket: R2Bucket) -> None:
    with pytest.raises(ValueError):
        await r2_bucket.get("digits", range={"suffix": 2, "offset": 1})
    with pytest.raises(ValueError):
        await r2_bucket.get("digits", range={"offset": 0, "length": 0})


async def test_list_with_prefix(r2_bucket: R2Bucket) -> None:
    for key in ("sessions/1", "sessions/2", "exports/1"):
        await r2_bucket.put(key, key)

    listed = await r2_bucket.list(prefix="sessions/")

    assert [item.key for item in listed.objects] == ["sessions/1", "sessions/2"]
    assert [item.size for item in listed.objects] == [10, 10]
    assert listed.truncated is False
    assert listed.cursor is None
    assert listed.objects[0].custom_metadata == {}


async def test_list_pages_with_limit_and_cursor(r2_bucket: R2Bucket) -> None:
    keys = [f"k{index}" for index in range(7)]
    for key in keys:
        await r2_bucket.put(key, b"x")

    seen: list[str] = []
    pages = 0
    cursor: str | None = None
    while True:
        page = await r2_bucket.list(limit=3, cursor=cursor)
        pages += 1
        assert len(page.objects) <= 3
        seen += [item.key for item in page.objects]
        if not page.truncated:
            assert page.cursor is None
            break
        assert page.cursor is not None
        cursor = page.cursor

    assert seen == keys
    assert pages == 3


async def test_list_start_after(r2_bucket: R2Bucket) -> None:
    for key in ("a", "b", "c"):
        await r2_bucket.put(key, b"x")

    listed = await r2_bucket.list(start_after="a")

    assert [item.key for item in listed.objects] == ["b", "c"]


async def test_list_delimiter_gives_prefixes_with_trailing_slash(r2_bucket: R2Bucket) -> None:
    for key in ("root.txt", "a/1", "a/2", "b/c/3"):
        await r2_bucket.put(key, b"x")

    listed = await r2_bucket.list(delimiter="/")

    assert [item.key for item in listed.objects] == ["root.txt"]
    assert listed.delimited_prefixes == ["a/", "b/"]


async def test_list_include_fills_metadata(r2_bucket: R2Bucket) -> None:
    await r2_bucket.put(
        "m", b"x", http_metadata={"contentType": "text/plain"}, custom_metadata={"owner": "ops"}
    )

    both = await r2_bucket.list(include=("httpMetadata", "customMetadata"))
    custom_only = await r2_bucket.list(include=("customMetadata",))

    assert both.objects[0].http_metadata["contentType"] == "text/plain"
    assert both.objects[0].custom_metadata == {"owner": "ops"}
    assert custom_only.objects[0].http_metadata == {}
    assert custom_only.objects[0].custom_metadata == {"owner": "ops"}


async def test_list_argument_validation(r2_bucket: R2Bucket) -> None:
    for limit in (0, 1001):
        with pytest.raises(ValueError, match="limit"):
            await r2_bucket.list(limit=limit)
    with pytest.raises(ValueError, match="include"):
        await r2_bucket.list(include=("checksums",))


async def test_delete_one(r2_bucket: R2Bucket) -> None:
    await r2_bucket.put("gone", b"x")
    await r2_bucket.put("kept", b"x")

    await r2_bucket.delete("gone")

    assert await r2_bucket.head("gone") is None
    assert await r2_bucket.head("kept") is not None


async def test_delete_many(r2_bucket: R2Bucket) -> None:
    for index in range(5):
        await r2_bucket.put(f"d/{index}", b"x")

    await r2_bucket.delete(["d/0", "d/1", "d/2", "never-existed"])

    listed = await r2_bucket.list(prefix="d/")
    assert [item.key for item in listed.objects] == ["d/3", "d/4"]


async def test_delete_more_than_1000_keys_is_refused(r2_bucket: R2Bucket) -> None:
    with pytest.raises(ValueError, match="1000"):
        await r2_bucket.delete([f"k{index}" for index in range(1001)])


async def test_presigned_get_serves_the_body(r2_bucket: R2Bucket) -> None:
    await r2_bucket.put("shared/report.csv", b"id,name\n1,Ada\n")

    url = await r2_bucket.presigned_url("shared/report.csv", expires_in=60)
    async with httpx.AsyncClient() as client:
        response = await client.get(url)

    assert response.status_code == 200
    assert response.content == b"id,name\n1,Ada\n"


async def test_presigned_put_uploads(r2_bucket: R2Bucket) -> None:
    url = await r2_bucket.presigned_url("uploads/audio.wav", method="PUT")
    async with httpx.AsyncClient() as client:
        response = await client.put(url, content=b"RIFF....")

    assert response.status_code == 200
    body = await r2_bucket.get("uploads/audio.wav")
    assert body is not None
    assert await body.read() == b"RIFF...."


async def test_tampered_presigned_urls_are_refused(r2_bucket: R2Bucket) -> None:
    await r2_bucket.put("private/a.txt", b"secret a")
    await r2_bucket.put("private/b.txt", b"secret b")
    url = await r2_bucket.presigned_url("private/a.txt", expires_in=60)
    signature_at = url.index("X-Amz-Signature=") + len("X-Amz-Signature=")
    flipped = "0" if url[signature_at] != "0" else "1"
    bad_signature = url[:signature_at] + flipped + url[signature_at + 1 :]
    other_key = url.replace("private/a.txt", "private/b.txt")

    async with httpx.AsyncClient() as client:
        assert (await client.get(url)).status_code == 200
        assert (await client.get(bad_signature)).status_code == 403
        assert (await client.get(other_key)).status_code == 403


async def test_expired_presigned_url_is_refused(r2_bucket: R2Bucket) -> None:
    await r2_bucket.put("soon-expired", b"x")
    url = await r2_bucket.presigned_url("soon-expired", expires_in=1)

    await asyncio.sleep(2.1)
    async with httpx.AsyncClient() as client:
        response = await client.get(url)

    # R2 and AWS answer 403; rclone answers 400, with the same AccessDenied code.
    assert response.status_code in (400, 403)
    assert "<Code>AccessDenied</Code>" in response.text


async def test_presigned_url_validation(r2_bucket: R2Bucket) -> None:
    for expires_in in (0, 604801):
        with pytest.raises(ValueError, match="expires_in"):
            await r2_bucket.presigned_url("k", expires_in=expires_in)
    with pytest.raises(ValueError, match="method"):
        await r2_bucket.presigned_url("k", method="POST")
    assert "X-Amz-Expires=604800" in await r2_bucket.presigned_url("k", expires_in=604800)


async def test_wrong_secret_is_refused(s3_server: LocalS3Server, r2_bucket: R2Bucket) -> None:
    endpoint = s3_server.endpoint
    intruder = R2Bucket(
        r2_bucket.bucket_name,
        endpoint_url=endpoint.url,
        access_key_id=endpoint.access_key_id,
        secret_access_key="not-the-secret",
    )
    async with intruder:
        with pytest.raises(R2Error) as refused:
            await intruder.get("anything")
        with pytest.raises(R2Error):
            await intruder.ping()

    assert refused.value.status == 403
    assert refused.value.code == "SignatureDoesNotMatch"


async def test_ping_and_create_bucket(s3_server: LocalS3Server, r2_bucket: R2Bucket) -> None:
    await r2_bucket.ping()
    await r2_bucket.create_bucket()  # already there: no error

    endpoint = s3_server.endpoint
    missing = R2Bucket(
        "never-created",
        endpoint_url=endpoint.url,
        access_key_id=endpoint.access_key_id,
        secret_access_key=endpoint.secret_access_key,
    )
    async with missing:
        with pytest.raises(R2Error) as failed:
            await missing.ping()
    assert failed.value.status == 404


async def test_unreachable_endpoint_raises_r2_error() -> None:
    closed = R2Bucket("b", endpoint_url="http://127.0.0.1:9", access_key_id="k", secret_access_key="s")
    async with closed:
        with pytest.raises(R2Error) as failed:
            await closed.ping()
    assert failed.value.code == "NetworkError"


async def test_binding_must_be_open() -> None:
    bucket = R2Bucket("b", endpoint_url="http://127.0.0.1:9", access_key_id="k", secret_access_key="s")
    with pytest.raises(RuntimeError, match="not open"):
        await bucket.head("k")


@pytest.mark.parametrize("path_style", [True, False], ids=["path-style", "virtual-hosted"])
async def test_presigned_urls_are_the_ones_botocore_makes(path_style: bool) -> None:
    # Signing the object URL directly must give exactly what the S3 client's own presigner gives
    # (for keys that need quoting too), in either addressing style.
    bucket = R2Bucket("reports", endpoint_url="https://account.r2.example.com", access_key_id="AKID",
                      secret_access_key="secret", region="auto", path_style=path_style)
    await bucket.open()
    try:
        for key, method in [("exports/a b/é.csv", "GET"), ("x~y/z+1", "PUT"), ("plain", "HEAD")]:
            for _ in range(3):  # both must fall in the same second to sign the same X-Amz-Date
                ours = await bucket.presigned_url(key, expires_in=900, method=method)
                theirs = await bucket._s3.generate_presigned_url(
                    {"GET": "get_object", "PUT": "put_object", "HEAD": "head_object"}[method],
                    Params={"Bucket": "reports", "Key": key}, ExpiresIn=900)
                if ours == theirs:
                    break
            assert ours == theirs
    finally:
        await bucket.close()
