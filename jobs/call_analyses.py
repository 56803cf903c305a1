"""The call-analysis queue's cron work: resume processing whose runner is gone, retry due webhooks.

Resumed processing continues after this run (`ctx.wait_until`), so a long recording never
holds up the other jobs; webhook attempts are awaited, a batch at a time.
"""
from __future__ import annotations

from domain import call_processing
from runtime import Env, ExecutionContext, ScheduledEvent


async def drain_call_analyses(event: ScheduledEvent, env: Env, ctx: ExecutionContext) -> dict[str, int]:
    now = event.scheduled_time
    resumed = await call_processing.resume_expired(env, ctx, now)
    webhooks = await call_processing.deliver_due_webhooks(env, now)
    return {"resumed": resumed, "webhooks": webhooks}
