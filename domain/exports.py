"""CSV exports of per-lead analytics, streamed to the EXPORTS bucket and handed out as signed links.

| rule | definition |
| --- | --- |
| rows | one per lead of the filter, in the breakdown's order, with the breakdown's numbers (domain.lead_analytics) |
| columns | base fields, `channels.<sms/email/whatsapp>.*`, `completion.*`, `interventions.*`, then `checklist.<i>.code/required/status/value/updatedAt/source` for i from 0, padded with empty cells to the longest lead |
| cells | empty for null, `true`/`false` for booleans, numbers and text as they are |
| streaming | rows are read `PAGE_SIZE` leads at a time and uploaded as they are made (a multipart upload once past 5 MiB), so memory stays flat whatever the number of leads |
| key | `analytics-exports/<workspace>/<export id>.csv` |
| link | a presigned GET URL valid `LINK_SECONDS` (one hour); `expiresAt` is when it stops working |
| expiry | every export is recorded in `exports` with that time; the cron job deletes the object and the row once it has passed |
| failure | a failed upload is aborted and its row removed: nothing is left behind |
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import csv
import io
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TypedDict

from domain import checklists, lead_analytics
from domain.checklists import Template
from domain.dates import iso
from domain.lead_analytics import LeadFilter, Page
from runtime import now_ms
from storage.d1 import D1Database
from storage.r2 import R2Bucket

PAGE_SIZE = 250
LINK_SECONDS = 3600
PREFIX = "analytics-exports"
DELETE_BATCH = 1000

_RENDERER = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="csv-export")

_RECORD = "INSERT INTO exports (id, workspace_id, r2_key, created_at, expires_at) VALUES (?, ?, ?, ?, ?)"
_FINISH = "UPDATE exports SET size = ?, row_count = ?, expires_at = ? WHERE id = ? AND workspace_id = ?"
_FORGET = "DELETE FROM exports WHERE id = ? AND workspace_id = ?"
_EXPIRED = "SELECT id, r2_key FROM exports INDEXED BY exports_expiry WHERE expires_at < ? ORDER BY expires_at LIMIT ?"
_FORGET_MANY = "DELETE FROM exports WHERE id IN (SELECT value FROM json_each(?))"


class ExportLink(TypedDict):
    downloadUrl: str
    expiresAt: str | None


def render_rows(template: Template, page: Page, width: int) -> bytes:
    """CSV lines of one page of leads."""
    return lead_analytics.csv_rows(template, page, width).encode("utf-8")


def _header(width: int) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(lead_analytics.csv_header(width))
    return out.getvalue().encode("utf-8")


@dataclass
class _Progress:
    rows: int = 0


async def _rendered(db: D1Database, leads: LeadFilter, template: Template, width: int,
                    after: tuple[int, int] | None) -> tuple[bytes, Page]:
    page = await lead_analytics.read_page(db, leads, after, PAGE_SIZE)
    # Rendering is CPU work: off the event loop, so other requests go on meanwhile; always on the
    # same thread, whose memory the next page reuses.
    rows = await asyncio.get_running_loop().run_in_executor(_RENDERER, render_rows, template, page, width)
    return rows, page


async def _csv(db: D1Database, leads: LeadFilter, template: Template, counter: _Progress) -> AsyncIterator[bytes]:
    """The CSV, page by page; the next page is read and rendered while the store takes this one."""
    width = lead_analytics.checklist_width(template)
    yield _header(width)
    pending = asyncio.ensure_future(_rendered(db, leads, template, width, None))
    try:
        while True:
            rows, page = await pending
            more = len(page.leads) == PAGE_SIZE
            if more:
                pending = asyncio.ensure_future(_rendered(db, leads, template, width, page.last))
            counter.rows += len(page.leads)
            if rows:
                yield rows
            if not more:
                return
    finally:
        pending.cancel()  # the upload stopped early: nothing reads ahead any more


async def export_csv(db: D1Database, bucket: R2Bucket, leads: LeadFilter, now: int, *,
                     link_seconds: int = LINK_SECONDS, clock: Callable[[], int] = now_ms) -> ExportLink:
    """Write the filter's leads as CSV to the bucket; a signed link to it and when the link expires."""
    export_id = str(uuid.uuid4())
    key = f"{PREFIX}/{leads.workspace_id}/{export_id}.csv"
    # Recorded first, so the cron job removes the object even if this process dies mid-upload.
    await db.prepare(_RECORD).bind(export_id, leads.workspace_id, key, now, now + link_seconds * 1000).run()
    counter = _Progress()
    try:
        template = await checklists.read_template(db, leads.workspace_id)
        written = await bucket.put(key, _csv(db, leads, template, counter), http_metadata={
            "contentType": "text/csv; charset=utf-8", "contentDisposition": 'attachment; filename="analytics.csv"'})
        signed_at = clock()
        url = await bucket.presigned_url(key, expires_in=link_seconds)
        expires_at = signed_at + link_seconds * 1000
        await db.prepare(_FINISH).bind(written.size, counter.rows, expires_at, export_id, leads.workspace_id).run()
    except BaseException:
        with contextlib.suppress(Exception):
            await bucket.delete(key)
        with contextlib.suppress(Exception):
            await db.prepare(_FORGET).bind(export_id, leads.workspace_id).run()
        raise
    return {"downloadUrl": url, "expiresAt": iso(expires_at)}


async def delete_expired(db: D1Database, bucket: R2Bucket, now: int, *, limit: int = DELETE_BATCH) -> int:
    """Delete exports whose link has expired: the objects first, then their rows. How many went."""
    rows = (await db.prepare(_EXPIRED).bind(now, limit).all()).results
    if not rows:
        return 0
    # Objects first: if the store is down this raises, the rows stay and the next run tries again.
    await bucket.delete([row["r2_key"] for row in rows])
    await db.prepare(_FORGET_MANY).bind(json.dumps([row["id"] for row in rows])).run()
    return len(rows)
