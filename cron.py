"""The cron loop: fires `[triggers] crons` (UTC) at the app's `scheduled` handler.

Several worker processes share one deployment; only the holder of a lock file next to the
database runs the schedule, so each cron fires once per deployment.
"""
from __future__ import annotations

import asyncio
import fcntl
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from croniter import croniter

from runtime import ScheduledEvent
from storage.bindings import STATE_DIR, database_file
from storage.config import Config

LOCK_RETRY_SECONDS = 60


async def run_scheduled(app: Any, cron: str, scheduled_time: int) -> None:
    """One run of the app's cron handler, as Cloudflare's runtime calls `scheduled`."""
    state = app.state
    await state.scheduled(ScheduledEvent(cron=cron, scheduled_time=scheduled_time), state.env, state.ctx)


async def cron_loop(app: Any) -> None:
    config: Config = app.state.config
    lock_path = database_file(config, config.d1_databases[0]).with_suffix(".cron.lock") if config.d1_databases \
        else config.root / STATE_DIR / "cron.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                await asyncio.sleep(LOCK_RETRY_SECONDS)
        while True:
            fire_at, due = next_fire(config.crons, datetime.now(timezone.utc))
            await asyncio.sleep(max(0.0, (fire_at - datetime.now(timezone.utc)).total_seconds()))
            for expr in due:
                await run_scheduled(app, expr, int(fire_at.timestamp() * 1000))


def next_fire(crons: Sequence[str], now: datetime) -> tuple[datetime, list[str]]:
    """The next UTC time any cron fires, and every expression due then."""
    times = {expr: croniter(expr, now).get_next(datetime) for expr in crons}
    first = min(times.values())
    return first, [expr for expr, when in times.items() if when == first]
