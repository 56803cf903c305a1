"""Call analyses: the record as call-analyses-api.md shows it, the list, the upload that starts one,
and each workspace's analysis settings.

| rule | definition |
| --- | --- |
| id | a random UUID (version 4) |
| status | `processing` from the upload until the result is stored, then `completed` or `failed` |
| created | epoch seconds of the upload |
| livemode | the mode of the key that uploaded it (`keys create --test` makes a test key) |
| list order | newest first: upload time, then id, both descending, so pages never overlap or skip |
| filters | `status_filter`, `agent_id` and `contact_id` are exact; `search` is a substring of agent_id or contact_id, ASCII case ignored, `%` and `_` taken literally |
| total, has_more | every analysis matching the filters; `has_more` when offset + page size < total |
| lead | contact_id names a lead when it is a visible lead's UUID, email address (normalised) or phone number (digits, spaces and `+-().` only; matched on the last 10 digits) in the workspace |
| audio | kept in the RECORDINGS bucket at `recordings/<workspace>/<yyyy>/<mm>/<dd>/<id>.<wav or mp3>`; `audio.url` is a presigned GET valid for an hour, made at each read |
| mandatory disclosures | the workspace's phrases; until set, `call_findings.DEFAULT_DISCLOSURES` |
"""
from __future__ import annotations

import json
import re
import sqlite3
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

from domain import leads
from domain.call_audio import CONTENT_TYPES
from domain.call_findings import DEFAULT_DISCLOSURES, Results
from domain.dates import iso
from domain.transcription import Segment, Transcript
from storage.d1 import D1Database
from storage.r2 import R2Bucket, R2Error

STATUSES = ("processing", "completed", "failed")
AUDIO_URL_SECONDS = 3600
MAX_DISCLOSURES = 20
MAX_DISCLOSURE_CHARS = 300

_PHONE_LIKE = re.compile(r"\+?[0-9 ()\-.]+")


class CallInfo(TypedDict):
    agent_id: str
    contact_id: str
    duration_ms: int | None
    duration_seconds: float | None


class AudioInfo(TypedDict):
    url: str
    size_bytes: int
    format: str
    duration_seconds: float | None


class Metadata(TypedDict):
    webhook_url: str | None
    completed_at: str | None
    processing_time_ms: int | None
    error_message: str | None


class Analysis(TypedDict):
    id: str
    object: str
    created: int
    status: str
    livemode: bool
    call: CallInfo
    audio: AudioInfo
    transcript: Transcript | None
    results: Results | None
    metadata: Metadata


class AnalysisList(TypedDict):
    object: str
    data: list[Analysis]
    has_more: bool
    total: int


class AnalysisSettings(TypedDict):
    object: str
    mandatory_disclosures: list[str]


@dataclass(frozen=True)
class NewAnalysis:
    workspace_id: str
    livemode: bool
    agent_id: str
    contact_id: str
    audio: bytes
    format: str  # call_audio.FORMATS
    duration_ms: int | None = None  # from the headers when they could be read
    webhook_url: str | None = None
    transcript: list[Segment] | None = None  # the caller's own, used instead of recognition


@dataclass(frozen=True)
class FinishedAnalysis:
    """An analysis whose result is already known (seeded or imported): no audio processing."""

    id: str
    workspace_id: str
    created_at: int
    status: str  # any of STATUSES
    agent_id: str
    contact_id: str
    audio_key: str
    audio_size: int
    audio_format: str
    livemode: bool = False
    duration_ms: int | None = None
    transcript: Transcript | None = None
    results: Results | None = None
    webhook_url: str | None = None
    completed_at: int | None = None
    error_message: str | None = None
    lease_until: int | None = None  # a processing row's lease; None: the next cron run takes it


# Every column the record shows; the queue's own columns stay inside domain/.
_COLUMNS = (
    "id, workspace_id, created_at, status, livemode, agent_id, contact_id, duration_ms, audio_key, audio_size,"
    " audio_format, transcript, results, webhook_url, completed_at, processing_time_ms, error_message"
)
_ANALYSIS = f"SELECT {_COLUMNS} FROM analyses WHERE workspace_id = ? AND id = ?"
_INSERT = (
    "INSERT INTO analyses (id, workspace_id, lead_id, created_at, status, livemode, agent_id, contact_id, duration_ms,"
    " audio_key, audio_size, audio_format, transcript_upload, transcript, results, webhook_url, completed_at,"
    " processing_time_ms, error_message, attempts, lease_until)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_LEAD_BY_UUID = f"SELECT lead_id FROM leads WHERE workspace_id = ? AND id = ? AND {leads.VISIBLE}"
_FILTERS = {
    "status": " AND status = ?",
    "agent_id": " AND agent_id = ?",
    "contact_id": " AND contact_id = ?",
    "search": " AND (agent_id LIKE ? ESCAPE '\\' OR contact_id LIKE ? ESCAPE '\\')",
}
_COUNT = "SELECT count(*) AS n FROM analyses WHERE workspace_id = ?{where}"
_PAGE = (f"SELECT {_COLUMNS} FROM analyses WHERE workspace_id = ?{{where}}"
         " ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?")
_DISCLOSURES = "SELECT disclosures FROM call_settings WHERE workspace_id = ?"
_SET_DISCLOSURES = (
    "INSERT INTO call_settings (workspace_id, disclosures, updated_at) VALUES (?, ?, ?)"
    " ON CONFLICT (workspace_id) DO UPDATE SET disclosures = excluded.disclosures, updated_at = excluded.updated_at"
)


def audio_key(workspace_id: str, analysis_id: str, created_at: int, fmt: str) -> str:
    day = time.strftime("%Y/%m/%d", time.gmtime(created_at // 1000))
    return f"recordings/{workspace_id}/{day}/{analysis_id}.{fmt}"


def lead_for_contact(conn: sqlite3.Connection, workspace_id: str, contact_id: str) -> int | None:
    """The visible lead contact_id names (UUID, else email, else phone), inside a write transaction."""
    row = conn.execute(_LEAD_BY_UUID, (workspace_id, contact_id)).fetchone()
    if row is not None:
        return int(row[0])
    email = leads.normalise_email(contact_id)
    phone = leads.normalise_phone(contact_id) if _PHONE_LIKE.fullmatch(contact_id.strip()) else None
    return leads.find_match(conn, workspace_id, email, leads.phone_match_key(phone) if phone else None)


async def create_analysis(db: D1Database, bucket: R2Bucket, new: NewAnalysis, now: int, lease_until: int
                          ) -> dict[str, Any]:
    """Store the audio, then the `processing` row, held by the caller until `lease_until`.

    The audio goes first so a row never points at nothing; if the row cannot be written the
    object is removed again, so a failed upload leaves no trace.
    """
    analysis_id = str(uuid.uuid4())
    key = audio_key(new.workspace_id, analysis_id, now, new.format)
    await bucket.put(key, new.audio, http_metadata={"contentType": CONTENT_TYPES[new.format]},
                     custom_metadata={"analysis_id": analysis_id, "workspace_id": new.workspace_id})
    uploaded = json.dumps(new.transcript) if new.transcript is not None else None

    def insert(conn: sqlite3.Connection) -> None:
        lead_id = lead_for_contact(conn, new.workspace_id, new.contact_id)
        conn.execute(_INSERT, (
            analysis_id, new.workspace_id, lead_id, now, "processing", int(new.livemode), new.agent_id,
            new.contact_id, new.duration_ms, key, len(new.audio), new.format, uploaded, None, None,
            new.webhook_url, None, None, None, 1, lease_until))

    try:
        await db.transaction(insert)
    except BaseException:
        try:
            await bucket.delete(key)
        except R2Error:
            pass  # the row was never written, so nothing points at the orphan; the original error matters
        raise
    row = await get_row(db, new.workspace_id, analysis_id)
    assert row is not None
    return row


async def record_finished_analysis(db: D1Database, done: FinishedAnalysis) -> None:
    """Insert an analysis whose outcome is known, linked to its lead like an upload."""
    processing_time = done.completed_at - done.created_at if done.completed_at is not None else None
    lease_until = done.lease_until if done.lease_until is not None or done.status != "processing" \
        else done.created_at

    def insert(conn: sqlite3.Connection) -> None:
        conn.execute(_INSERT, (
            done.id, done.workspace_id, lead_for_contact(conn, done.workspace_id, done.contact_id), done.created_at,
            done.status, int(done.livemode), done.agent_id, done.contact_id, done.duration_ms, done.audio_key,
            done.audio_size, done.audio_format, None, _json(done.transcript), _json(done.results), done.webhook_url,
            done.completed_at, processing_time, done.error_message, 1, lease_until))

    await db.transaction(insert)


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"))


async def get_row(db: D1Database, workspace_id: str, analysis_id: str) -> dict[str, Any] | None:
    return await db.prepare(_ANALYSIS).bind(workspace_id, analysis_id).first()


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def list_rows(db: D1Database, workspace_id: str, *, limit: int, offset: int, status: str | None = None,
                    agent_id: str | None = None, contact_id: str | None = None, search: str | None = None
                    ) -> tuple[list[dict[str, Any]], int]:
    """A page of the workspace's analyses, newest first, and how many match in all."""
    where, params = "", [workspace_id]
    for name, value in (("status", status), ("agent_id", agent_id), ("contact_id", contact_id)):
        if value is not None:
            where += _FILTERS[name]
            params.append(value)
    if search is not None:
        where += _FILTERS["search"]
        params += [_like_pattern(search)] * 2
    total = int(await db.prepare(_COUNT.format(where=where)).bind(*params).first("n"))
    rows: list[dict[str, Any]] = []
    if limit > 0 and offset < total:
        rows = (await db.prepare(_PAGE.format(where=where)).bind(*params, limit, offset).all()).results
    return rows, total


async def render(row: dict[str, Any], bucket: R2Bucket) -> Analysis:
    """A stored row as the document's AnalysisResponse."""
    duration_ms = row["duration_ms"]
    seconds = duration_ms / 1000 if duration_ms is not None else None
    return {
        "id": row["id"],
        "object": "analysis",
        "created": row["created_at"] // 1000,
        "status": row["status"],
        "livemode": bool(row["livemode"]),
        "call": {"agent_id": row["agent_id"], "contact_id": row["contact_id"], "duration_ms": duration_ms,
                 "duration_seconds": seconds},
        "audio": {"url": await bucket.presigned_url(row["audio_key"], expires_in=AUDIO_URL_SECONDS),
                  "size_bytes": row["audio_size"], "format": row["audio_format"], "duration_seconds": seconds},
        "transcript": json.loads(row["transcript"]) if row["transcript"] else None,
        "results": json.loads(row["results"]) if row["results"] else None,
        "metadata": {"webhook_url": row["webhook_url"], "completed_at": iso(row["completed_at"]),
                     "processing_time_ms": row["processing_time_ms"], "error_message": row["error_message"]},
    }


async def analysis(db: D1Database, bucket: R2Bucket, workspace_id: str, analysis_id: str) -> Analysis | None:
    row = await get_row(db, workspace_id, analysis_id)
    return await render(row, bucket) if row is not None else None


async def list_analyses(db: D1Database, bucket: R2Bucket, workspace_id: str, *, limit: int, offset: int,
                        status: str | None = None, agent_id: str | None = None, contact_id: str | None = None,
                        search: str | None = None) -> AnalysisList:
    rows, total = await list_rows(db, workspace_id, limit=limit, offset=offset, status=status, agent_id=agent_id,
                                  contact_id=contact_id, search=search)
    return {"object": "list", "data": [await render(row, bucket) for row in rows],
            "has_more": offset + len(rows) < total, "total": total}


# --- settings ------------------------------------------------------------------------------


async def disclosures(db: D1Database, workspace_id: str) -> list[str]:
    stored = await db.prepare(_DISCLOSURES).bind(workspace_id).first("disclosures")
    return list(DEFAULT_DISCLOSURES) if stored is None else json.loads(stored)


async def settings(db: D1Database, workspace_id: str) -> AnalysisSettings:
    return {"object": "analysis_settings", "mandatory_disclosures": await disclosures(db, workspace_id)}


async def set_disclosures(db: D1Database, workspace_id: str, phrases: Sequence[str], now: int) -> AnalysisSettings:
    """Replace the workspace's mandatory disclosure phrases, checked by the caller against MAX_DISCLOSURES,
    MAX_DISCLOSURE_CHARS and `call_findings.words` (a phrase needs a word)."""
    await db.prepare(_SET_DISCLOSURES).bind(workspace_id, json.dumps(list(phrases)), now).run()
    return {"object": "analysis_settings", "mandatory_disclosures": list(phrases)}

