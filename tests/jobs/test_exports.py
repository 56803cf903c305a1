"""The cron job that deletes analytics exports once their link has expired."""
from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette

from domain import exports, lead_analytics
from jobs.exports import delete_expired_exports
from runtime import ScheduledEvent, now_ms
from storage.r2 import R2Error
from tests.seed import Workspace


async def test_expired_exports_are_deleted_fresh_ones_kept(app: Starlette, workspace: Workspace) -> None:
    env = app.state.env
    leads = lead_analytics.lead_filter("acme", None, None)
    old = await exports.export_csv(env.DB, env.EXPORTS, leads, now_ms(), link_seconds=1)
    fresh = await exports.export_csv(env.DB, env.EXPORTS, leads, now_ms())
    keys = {row["r2_key"]: row["expires_at"] for row in
            (await env.DB.prepare("SELECT r2_key, expires_at FROM exports").all()).results}
    assert len(keys) == 2
    # Nothing has expired yet.
    assert await exports.delete_expired(env.DB, env.EXPORTS, min(keys.values()) - 1) == 0
    # The cron handler, run after the short link expired.
    first = min(keys, key=lambda k: keys[k])
    assert await exports.delete_expired(env.DB, env.EXPORTS, keys[first] + 1) == 1
    assert await env.EXPORTS.head(first) is None
    remaining = [row["r2_key"] for row in (await env.DB.prepare("SELECT r2_key FROM exports").all()).results]
    assert remaining == [k for k in keys if k != first]
    async with httpx.AsyncClient() as http:
        assert (await http.get(fresh["downloadUrl"])).status_code == 200
        assert (await http.get(old["downloadUrl"])).status_code in (400, 403, 404)


async def test_the_job_runs_from_the_cron_handler(app: Starlette, workspace: Workspace) -> None:
    env = app.state.env
    await exports.export_csv(env.DB, env.EXPORTS, lead_analytics.lead_filter("acme", None, None), now_ms() - 7_200_000,
                             link_seconds=1, clock=lambda: now_ms() - 7_200_000)
    result = await delete_expired_exports(ScheduledEvent("* * * * *", now_ms()), env, app.state.ctx)
    assert result == {"deleted": 1}
    assert (await env.EXPORTS.list(prefix="analytics-exports/")).objects == []
    assert await env.DB.prepare("SELECT count(*) AS n FROM exports").first("n") == 0


async def test_a_store_outage_keeps_the_rows_for_the_next_run(app: Starlette, workspace: Workspace,
                                                              s3_server: object) -> None:
    env = app.state.env
    await exports.export_csv(env.DB, env.EXPORTS, lead_analytics.lead_filter("acme", None, None), now_ms(),
                             link_seconds=1, clock=lambda: now_ms() - 7_200_000)
    s3_server.stop()  # type: ignore[attr-defined]
    try:
        with pytest.raises(R2Error):
            await exports.delete_expired(env.DB, env.EXPORTS, now_ms())
        assert await env.DB.prepare("SELECT count(*) AS n FROM exports").first("n") == 1
    finally:
        s3_server.start()  # type: ignore[attr-defined]
    assert await exports.delete_expired(env.DB, env.EXPORTS, now_ms()) == 1
