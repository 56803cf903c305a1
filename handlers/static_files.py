"""Files the worker serves from static/, one way for all of them.

| rule | why |
| --- | --- |
| read again when the file's mtime or size changes | editing a file needs no restart |
| gzipped once per content, `mtime=0` | every process sends the same bytes and the same ETag |
| strong ETag from the content (`"…-gz"` for the gzipped form) | a browser revalidates with If-None-Match and gets a 304 |
| gzip only when asked for and smaller | never grow a response |
"""
from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response


@dataclass(frozen=True)
class StaticFile:
    body: bytes
    gzip: bytes
    etag: str


_loaded: dict[Path, tuple[int, int, StaticFile]] = {}


def load(path: Path) -> StaticFile | None:
    """The file's content, or None when there is no such file."""
    try:
        stat = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    cached = _loaded.get(path)
    if cached is not None and cached[:2] == (stat.st_mtime_ns, stat.st_size):
        return cached[2]
    body = path.read_bytes()
    found = StaticFile(body=body, gzip=gzip.compress(body, compresslevel=9, mtime=0),
                       etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"')
    _loaded[path] = (stat.st_mtime_ns, stat.st_size, found)
    return found


def respond(request: Request, found: StaticFile, media_type: str, headers: dict[str, str]) -> Response:
    """200 with the body (gzipped when the client takes it), or 304 when its copy is current."""
    gzipped = "gzip" in request.headers.get("accept-encoding", "") and len(found.gzip) < len(found.body)
    etag = found.etag[:-1] + '-gz"' if gzipped else found.etag
    headers = {**headers, "ETag": etag, "Vary": "Accept-Encoding"}
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    return Response(found.gzip if gzipped else found.body, media_type=media_type, headers=headers)


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    # If-None-Match compares weakly: W/"x" matches "x".
    return any(tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(","))
