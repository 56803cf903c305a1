"""Documents uploaded for a lead: what is accepted, where it is kept, how it is shown.

| rule | definition |
| --- | --- |
| size | 1 byte to `MAX_BYTES` (10 MiB), and no more than a FILE item's `validationRules.maxBytes` |
| content type | the part's declared type must be one of `CONTENT_TYPES` (and of the item's `contentTypes` when it has them), and the bytes must look like it: PDF, PNG, JPEG, GIF, WebP and HEIC by their signatures, Word and Excel files as ZIP or OLE containers, text as UTF-8 without NUL bytes |
| storage | the DOCUMENTS bucket at `documents/<workspace>/<lead id>/<document id>`, with its content type and a sanitised `attachment` filename |
| attached | given a FILE item's code, the item's value becomes `s3://<bucket>/<key>` (COMPLETED) |
| links | presigned GET URLs valid `URL_SECONDS` (one hour) whenever a lead record is read |
| order | oldest first |
"""
from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

from domain.dates import iso
from storage.d1 import D1Database
from storage.r2 import R2Bucket

MAX_BYTES = 10 * 1024 * 1024
URL_SECONDS = 3600
_OFFICE_ZIP = b"PK\x03\x04"
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
CONTENT_TYPES = (
    "application/pdf", "image/png", "image/jpeg", "image/gif", "image/webp", "image/heic", "text/plain", "text/csv",
    "application/msword", "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.ms-excel", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
)


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        # The sample may end inside a multi-byte character; only an error before its last 3 bytes counts.
        return error.start >= len(head) - 3
    return True


def looks_like(content_type: str, head: bytes) -> bool:
    """Whether the first bytes of a file match its declared content type."""
    if content_type == "application/pdf":
        return head.startswith(b"%PDF-")
    if content_type == "image/png":
        return head.startswith(b"\x89PNG\r\n\x1a\n")
    if content_type == "image/jpeg":
        return head.startswith(b"\xff\xd8\xff")
    if content_type == "image/gif":
        return head[:6] in (b"GIF87a", b"GIF89a")
    if content_type == "image/webp":
        return head[:4] == b"RIFF" and head[8:12] == b"WEBP"
    if content_type == "image/heic":
        return head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"mif1", b"msf1")
    if content_type in ("text/plain", "text/csv"):
        return _is_text(head)
    if content_type.startswith("application/vnd.openxmlformats"):
        return head.startswith(_OFFICE_ZIP)
    return head.startswith(_OLE)  # application/msword, application/vnd.ms-excel


def problem(content_type: str, head: bytes, size: int, rules: Mapping[str, Any] | None) -> tuple[int, str] | None:
    """(status, message) when an upload cannot be kept, else None. 413 for size, 415 for type."""
    rules = rules or {}
    limit = min(MAX_BYTES, rules.get("maxBytes", MAX_BYTES))
    if size == 0:
        return 400, "file is empty"
    if size > limit:
        return 413, f"file is larger than {limit} bytes"
    allowed = rules.get("contentTypes") or CONTENT_TYPES
    if content_type not in allowed:
        return 415, f"file content type must be one of: {', '.join(allowed)}"
    if not looks_like(content_type, head):
        return 415, f"file content does not match its content type {content_type}"
    return None


def safe_filename(raw: str | None) -> str:
    """A filename fit for a header and a listing: no path, no control characters, at most 200 characters."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in unicodedata.normalize("NFC", name) if unicodedata.category(c)[0] != "C").strip()
    return name[:200] or "document"


def disposition(filename: str) -> str:
    ascii_name = re.sub(r'[^A-Za-z0-9._ -]', "_", filename)
    return f'attachment; filename="{ascii_name}"'


def key_for(workspace_id: str, lead_uuid: str, document_id: str) -> str:
    return f"documents/{workspace_id}/{lead_uuid}/{document_id}"


def uri(bucket: R2Bucket, key: str) -> str:
    """What a FILE item's value holds for one of our documents."""
    return f"s3://{bucket.bucket_name}/{key}"


class DocumentJson(TypedDict):
    id: str
    checklistItemId: str | None
    filename: str | None
    contentType: str | None
    size: int | None
    source: str | None
    createdAt: str | None
    url: str


_COLUMNS = "id, checklist_item_id, r2_key, filename, content_type, size, source, created_at"
_OF_LEAD = f"SELECT {_COLUMNS} FROM documents WHERE lead_id = ? AND workspace_id = ? ORDER BY created_at, id"
_BY_ID = (f"SELECT {_COLUMNS} FROM documents WHERE workspace_id = ? AND id IN (SELECT value FROM json_each(?))"
          " ORDER BY created_at, id")
INSERT = ("INSERT INTO documents (id, workspace_id, lead_id, checklist_item_id, r2_key, filename, content_type, size,"
          " source, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")


async def document_json(bucket: R2Bucket, row: Mapping[str, Any]) -> DocumentJson:
    return {"id": row["id"], "checklistItemId": row["checklist_item_id"], "filename": row["filename"],
            "contentType": row["content_type"], "size": row["size"], "source": row["source"],
            "createdAt": iso(row["created_at"]),
            "url": await bucket.presigned_url(row["r2_key"], expires_in=URL_SECONDS)}


async def lead_documents(db: D1Database, bucket: R2Bucket, workspace_id: str, lead_id: int) -> list[DocumentJson]:
    rows = (await db.prepare(_OF_LEAD).bind(lead_id, workspace_id).all()).results
    return [await document_json(bucket, row) for row in rows]


async def documents_by_id(db: D1Database, bucket: R2Bucket, workspace_id: str, ids: Sequence[str]
                          ) -> dict[str, DocumentJson]:
    if not ids:
        return {}
    rows = (await db.prepare(_BY_ID).bind(workspace_id, json.dumps(sorted(set(ids)))).all()).results
    return {row["id"]: await document_json(bucket, row) for row in rows}
