"""runtime.log_event: one JSON object per line, whatever the values; cli's logging writes it as it is."""
from __future__ import annotations

import datetime
import json
import subprocess
import sys
from pathlib import Path

import pytest

from runtime import log_event

ROOT = Path(__file__).resolve().parent.parent


def _lines(caplog: pytest.LogCaptureFixture) -> list[dict]:
    return [json.loads(record.getMessage()) for record in caplog.records if record.name == "leadlight"]


def test_a_log_line_is_one_json_object(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="leadlight")
    log_event("request", method="POST", route="/track", status=202, durationMs=8.25, workspaceId=None,
              page="https://ünï.example/çafé", error=ValueError("bad"), at=datetime.date(2026, 12, 7))
    assert _lines(caplog) == [{"event": "request", "method": "POST", "route": "/track", "status": 202,
                               "durationMs": 8.25, "workspaceId": None, "page": "https://ünï.example/çafé",
                               "error": "bad", "at": "2026-12-07"}]


def test_a_value_msgspec_refuses_is_written_by_json(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="leadlight")
    log_event("request.error", route="/track/\ud800", count=float("inf"))  # a lone surrogate
    assert _lines(caplog) == [{"event": "request.error", "route": "/track/\ud800", "count": float("inf")}]


def test_a_served_process_writes_each_line_as_its_message_and_a_traceback_in_full() -> None:
    """`serve` and `dev` configure logging as cli._configure_logging does: a JSON line alone, as
    the format "%(message)s" writes it; a record with a traceback keeps it; libraries' INFO is quiet."""
    script = (
        "import logging, cli\n"
        "cli._configure_logging()\n"
        "from runtime import log_event\n"
        "log_event('request', route='/track', status=202)\n"
        "logging.getLogger('botocore').info('not shown')\n"
        "logging.getLogger('botocore').warning('retry %d of %d', 1, 3)\n"
        "try:\n"
        "    1 / 0\n"
        "except ZeroDivisionError:\n"
        "    logging.getLogger('leadlight').exception('failed')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    lines = done.stderr.splitlines()
    assert lines[:3] == ['{"event":"request","route":"/track","status":202}', "retry 1 of 3", "failed"]
    assert lines[3] == "Traceback (most recent call last):" and lines[-1] == "ZeroDivisionError: division by zero"
