"""Scheduled jobs, run in order by the cron handler (`worker.scheduled`)."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from jobs.archive import archive_sessions
from jobs.call_analyses import drain_call_analyses
from jobs.exports import delete_expired_exports
from jobs.storage_stats import reconcile_storage
from runtime import Env, ExecutionContext, ScheduledEvent

Job = Callable[[ScheduledEvent, Env, ExecutionContext], Awaitable[Any]]

JOBS: list[Job] = [archive_sessions, reconcile_storage, drain_call_analyses, delete_expired_exports]
