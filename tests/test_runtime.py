"""runtime.log_event: one JSON object per line, whatever the values."""
from __future__ import annotations

import datetime
import json

import pytest

from runtime import log_event


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
