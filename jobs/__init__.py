"""Scheduled jobs, run in order by the cron handler (`worker.scheduled`)."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from runtime import Env, ExecutionContext, ScheduledEvent

Job = Callable[[ScheduledEvent, Env, ExecutionContext], Awaitable[Any]]

JOBS: list[Job] = []
