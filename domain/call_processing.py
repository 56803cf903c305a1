"""Processing a call after its upload, and telling the caller: the queue behind every analysis.

| rule | definition |
| --- | --- |
| start | the upload's request processes the call after its response (`ctx.wait_until`), holding the row's lease |
| lease | `LEASE_MS` (2 minutes), renewed every `RENEW_MS` while the work runs, so a row past its lease belongs to no live runner |
| restart | each cron run takes up to `CLAIM_BATCH` processing rows past their lease, oldest lease first; after `MAX_ATTEMPTS` started runs the analysis fails instead |
| result | one UPDATE writes status, duration, transcript, results, `completed_at` and `processing_time_ms` (from upload to result) together, only while the row is still `processing` |
| failure | an unusable recording (not decodable, no speech, too long), a missing audio object or an unknown recogniser fails the analysis with the reason in `error_message` (`completed_at` and `processing_time_ms` stay null); a storage outage or a killed analysis process leaves the row to be retried |
| webhook | with a `webhook_url`, the finished analysis, completed or failed, is POSTed at once and then on domain.webhooks' retry schedule by the cron handler; an attempt in flight holds the row for `WEBHOOK_HOLD_MS` |
"""
from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from domain import call_analysis, calls, transcription, webhooks
from domain.call_audio import AudioError
from runtime import Env, ExecutionContext, log_event, now_ms
from storage.d1 import D1Database, D1Error
from storage.r2 import R2Error

LEASE_MS = 120_000
RENEW_MS = 40_000
MAX_ATTEMPTS = 3
CLAIM_BATCH = 4
WEBHOOK_BATCH = 20
WEBHOOK_CONCURRENCY = 8
WEBHOOK_HOLD_MS = 3 * webhooks.TIMEOUT_SECONDS * 1000
RECORDINGS = "RECORDINGS"  # the R2 binding that holds the audio

_JOB = (
    "SELECT id, workspace_id, status, created_at, audio_key, audio_format, transcript_upload"
    " FROM analyses WHERE id = ?"
)
_RENEW = "UPDATE analyses SET lease_until = ? WHERE id = ? AND status = 'processing'"
_WEBHOOK_START = (
    ", webhook_state = CASE WHEN webhook_url IS NULL THEN NULL ELSE 'pending' END,"
    " webhook_next_at = CASE WHEN webhook_url IS NULL THEN NULL ELSE ?2 END"
)
_COMPLETE = (
    "UPDATE analyses SET status = 'completed', duration_ms = ?3, transcript = ?4, results = ?5, completed_at = ?2,"
    " processing_time_ms = ?2 - created_at, lease_until = NULL, transcript_upload = NULL" + _WEBHOOK_START
    + " WHERE id = ?1 AND status = 'processing'"
)
_FAIL = (
    "UPDATE analyses SET status = 'failed', error_message = ?3, lease_until = NULL, transcript_upload = NULL"
    + _WEBHOOK_START + " WHERE id = ?1 AND status = 'processing'"
)
_EXPIRED = (
    "SELECT id, attempts FROM analyses INDEXED BY analyses_leases"
    " WHERE status = 'processing' AND lease_until < ? ORDER BY lease_until LIMIT ?"
)
_CLAIM = (
    "UPDATE analyses SET lease_until = ?, attempts = attempts + 1"
    " WHERE id = ? AND status = 'processing' AND lease_until < ?"
)
_GIVE_UP = (
    "UPDATE analyses SET status = 'failed', error_message = ?3, lease_until = NULL, transcript_upload = NULL"
    + _WEBHOOK_START + " WHERE id = ?1 AND status = 'processing' AND lease_until < ?2"
)
_DUE_WEBHOOKS = (
    "SELECT id FROM analyses INDEXED BY analyses_webhooks_due"
    " WHERE webhook_state = 'pending' AND webhook_next_at <= ? ORDER BY webhook_next_at LIMIT ?"
)
_WEBHOOK = (
    "SELECT id, workspace_id, webhook_url, webhook_attempts, status FROM analyses"
    " WHERE id = ? AND webhook_state = 'pending'"
)
_HOLD_WEBHOOK = (
    "UPDATE analyses SET webhook_next_at = ? WHERE id = ? AND webhook_state = 'pending' AND webhook_next_at <= ?"
)
_WEBHOOK_DONE = (
    "UPDATE analyses SET webhook_state = ?, webhook_attempts = webhook_attempts + 1, webhook_next_at = ?,"
    " webhook_last_error = ?, webhook_delivered_at = ? WHERE id = ? AND webhook_state = 'pending'"
)


def recognizer_name(env: Env) -> str:
    return str(env.get("SPEECH_RECOGNIZER") or transcription.DEFAULT_RECOGNIZER)


@contextlib.asynccontextmanager
async def _lease(db: D1Database, analysis_id: str) -> AsyncIterator[None]:
    """Keep the row's lease alive while the body runs."""

    async def renew() -> None:
        while True:
            await asyncio.sleep(RENEW_MS / 1000)
            try:
                await db.prepare(_RENEW).bind(now_ms() + LEASE_MS, analysis_id).run()
            except D1Error as error:  # a lapsed lease only means a later run may redo the work
                log_event("analysis.lease", analysisId=analysis_id, error=repr(error))

    task = asyncio.create_task(renew())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def process(env: Env, analysis_id: str) -> str:
    """Process one analysis whose lease the caller holds; its status afterwards."""
    db = env.DB
    job = await db.prepare(_JOB).bind(analysis_id).first()
    if job is None or job["status"] != "processing":
        return job["status"] if job else "missing"
    async with _lease(db, analysis_id):
        outcome = await _analyse(env, job)
    if outcome is None:  # left for a later run
        return "processing"
    if isinstance(outcome, str):
        status = "failed"
        await db.prepare(_FAIL).bind(analysis_id, now_ms(), outcome).run()
    else:
        status = "completed"
        await db.prepare(_COMPLETE).bind(analysis_id, now_ms(), outcome["duration_ms"],
                                         json.dumps(outcome["transcript"], separators=(",", ":")),
                                         json.dumps(outcome["results"], separators=(",", ":"))).run()
    log_event("analysis.processed", analysisId=analysis_id, workspaceId=job["workspace_id"], status=status)
    await deliver_webhook(env, analysis_id, now_ms())
    return status


async def _analyse(env: Env, job: dict[str, Any]) -> call_analysis.Analysed | str | None:
    """The analysis, an error message that fails it, or None to leave it for a retry."""
    name = recognizer_name(env)
    if name not in transcription.RECOGNIZERS:
        return f"unknown speech recognizer {name!r}"
    try:
        stored = await env.get(RECORDINGS).get(job["audio_key"])
        if stored is None:
            return "the audio file is missing from storage"
        audio = await stored.read()
        phrases = await calls.disclosures(env.DB, job["workspace_id"])
        uploaded = json.loads(job["transcript_upload"]) if job["transcript_upload"] else None
        return await call_analysis.analyse_in_worker(audio, job["audio_format"], uploaded, phrases, name)
    except AudioError as error:
        return str(error)
    except (R2Error, call_analysis.RecognitionInterrupted) as error:
        log_event("analysis.retry", analysisId=job["id"], workspaceId=job["workspace_id"], error=repr(error))
        return None


async def resume_expired(env: Env, ctx: ExecutionContext, now: int) -> int:
    """Take processing rows whose runner is gone; returns how many were taken or given up."""
    db = env.DB
    rows = (await db.prepare(_EXPIRED).bind(now, CLAIM_BATCH).all()).results
    taken = 0
    for row in rows:
        if row["attempts"] >= MAX_ATTEMPTS:
            message = f"processing was interrupted {row['attempts']} times; giving up"
            result = await db.prepare(_GIVE_UP).bind(row["id"], now, message).run()
            if result.meta["changes"]:
                taken += 1
                ctx.wait_until(deliver_webhook(env, row["id"], now))
            continue
        result = await db.prepare(_CLAIM).bind(now + LEASE_MS, row["id"], now).run()
        if result.meta["changes"]:  # another runner may have taken it in between
            taken += 1
            ctx.wait_until(process(env, row["id"]))
    return taken


async def deliver_webhook(env: Env, analysis_id: str, now: int) -> bool | None:
    """One delivery attempt of a pending webhook: True delivered, False failed, None when not due or held."""
    db = env.DB
    row = await db.prepare(_WEBHOOK).bind(analysis_id).first()
    if row is None:
        return None
    held = await db.prepare(_HOLD_WEBHOOK).bind(now + WEBHOOK_HOLD_MS, analysis_id, now).run()
    if not held.meta["changes"]:
        return None
    stored = await calls.get_row(db, row["workspace_id"], analysis_id)
    assert stored is not None
    body = json.dumps(await calls.render(stored, env.get(RECORDINGS)), separators=(",", ":")).encode()
    attempt = row["webhook_attempts"] + 1
    headers = {"Leadlight-Event": f"analysis.{row['status']}", "Leadlight-Delivery": f"{analysis_id}:{attempt}"}
    secret = env.get("WEBHOOK_SIGNING_SECRET")
    if secret:
        headers["Leadlight-Signature"] = webhooks.signature(str(secret), now // 1000, body)
    delivery = await webhooks.deliver(row["webhook_url"], body, headers,
                                      allow_private=webhooks.allows_private(env.get("WEBHOOK_ALLOW_PRIVATE_NETWORKS")))
    if delivery.ok:
        await db.prepare(_WEBHOOK_DONE).bind("delivered", None, None, now, analysis_id).run()
    else:
        retry_at = webhooks.next_attempt_at(attempt, now)
        await db.prepare(_WEBHOOK_DONE).bind("pending" if retry_at else "failed", retry_at, delivery.error, None,
                                             analysis_id).run()
    log_event("analysis.webhook", analysisId=analysis_id, workspaceId=row["workspace_id"], attempt=attempt,
              status=delivery.status, delivered=delivery.ok, error=delivery.error)
    return delivery.ok


async def deliver_due_webhooks(env: Env, now: int) -> int:
    """Every webhook whose retry is due (a batch per cron run); returns how many were attempted."""
    rows = (await env.DB.prepare(_DUE_WEBHOOKS).bind(now, WEBHOOK_BATCH).all()).results
    gate = asyncio.Semaphore(WEBHOOK_CONCURRENCY)

    async def attempt(analysis_id: str) -> bool | None:
        async with gate:
            return await deliver_webhook(env, analysis_id, now)

    outcomes = await asyncio.gather(*(attempt(row["id"]) for row in rows))
    return sum(1 for outcome in outcomes if outcome is not None)
