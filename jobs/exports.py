"""Delete analytics exports whose download link has expired (domain.exports), a batch per cron run.

The object goes first, then its row; if the store is down the rows stay and the next run retries.
"""
from __future__ import annotations

from typing import Any

from domain import exports
from runtime import Env, ExecutionContext, ScheduledEvent, now_ms


async def delete_expired_exports(event: ScheduledEvent, env: Env, ctx: ExecutionContext) -> dict[str, Any]:
    return {"deleted": await exports.delete_expired(env.DB, env.EXPORTS, now_ms())}
