"""The storage figures: counted as blobs are archived, reconciled with a listing of the bucket a slice at a time."""
from __future__ import annotations


from starlette.applications import Starlette

from jobs.storage_stats import reconcile
from runtime import now_ms
from tests.analytics import get_json
from tests.seed import HOUR, Workspace

# --- storage -------------------------------------------------------------------------------------------------


async def test_storage_counts_archived_sessions_without_listing_the_bucket(client, workspace: Workspace) -> None:
    assert await get_json(client, "/analytics/storage") == {"total_objects": 2, "estimated_sessions": 2}


async def test_storage_is_reconciled_with_the_bucket_page_by_page(client, app: Starlette,
                                                                  workspace: Workspace) -> None:
    env = app.state.env
    bucket = env.SESSIONS
    # s1's blob is in the bucket, s2's never arrived; s3 left a copy under an older key besides its
    # current blob, and so did s2 under the archive job's workspace-qualified key; t1 belongs to the
    # other workspace; a key naming a workspace without that session, and two others, to no session.
    await env.DB.prepare("UPDATE sessions SET blob_key = ?, archived_at = ? WHERE session_id = 's3'").bind(
        "sessions/2026/01/05/s3.json.gz", workspace.now - HOUR).run()
    for key in ("sessions/2026/01/01/s1.json.gz", "sessions/2026/01/02/s2@default.json.gz",
                "sessions/2026/01/02/s2@ws-two.json.gz", "sessions/2026/01/04/s3.json.gz",
                "sessions/2026/01/05/s3.json.gz", "sessions/2026/01/03/t1.json.gz",
                "sessions/2026/01/06/unknown.json.gz", "notes/readme.txt"):
        await bucket.put(key, b"{}")
    assert await get_json(client, "/analytics/storage") == {"total_objects": 3, "estimated_sessions": 3}
    # New events handed s1 back for archiving: its blob stays, counted once at the end of the pass.
    await env.DB.prepare("UPDATE sessions SET archived_at = NULL WHERE session_id = 's1'").run()

    first = await reconcile(env.DB, bucket, page_size=2, max_pages=1)
    assert first == {"listed": 2, "completed": False}
    # A blob archived while the pass is under way is counted once, from sessions.
    await bucket.put("sessions/2026/01/07/s4.json.gz", b"{}")
    await env.DB.prepare("UPDATE sessions SET blob_key = ?, archived_at = ? WHERE session_id = 's4'").bind(
        "sessions/2026/01/07/s4.json.gz", now_ms()).run()
    second = await reconcile(env.DB, bucket, page_size=2, max_pages=2)
    assert second == {"listed": 4, "completed": False}
    last = await reconcile(env.DB, bucket, page_size=2)
    assert last["completed"] and last["unattributed"] == 3
    assert await get_json(client, "/analytics/storage") == {"total_objects": 5, "estimated_sessions": 3}
    assert await get_json(client, "/analytics/storage", key=workspace.other_key) == {
        "total_objects": 1, "estimated_sessions": 1}

    # After the pass the triggers carry on from the reconciled counts.
    await env.DB.prepare("UPDATE sessions SET blob_key = 'sessions/2026/01/08/s5.json.gz', archived_at = ?"
                         " WHERE session_id = 's5'").bind(now_ms()).run()
    assert await get_json(client, "/analytics/storage") == {"total_objects": 6, "estimated_sessions": 4}


async def test_the_cron_handler_runs_the_reconciliation(client, app: Starlette, workspace: Workspace) -> None:
    env = app.state.env
    await env.SESSIONS.put("sessions/2026/01/01/s1.json.gz", b"{}")
    response = await client.get("/__scheduled", params={"cron": "* * * * *"})
    assert response.status_code == 200
    assert await env.DB.prepare("SELECT passes FROM storage_scans").first("passes") == 1
    # s2's blob never reached the bucket: the pass leaves it out. (Other jobs may archive more.)
    keys = (await env.DB.prepare("SELECT blob_key FROM sessions WHERE workspace_id = 'default'"
                                 " AND blob_key IS NOT NULL").raw())
    present = [key for (key,) in keys if await env.SESSIONS.head(key) is not None]
    assert "sessions/2026/01/02/s2.json.gz" not in present
    assert await get_json(client, "/analytics/storage") == {"total_objects": len(present),
                                                            "estimated_sessions": len(present)}
