"""Time as every surface writes it: epoch milliseconds in storage, one format per document.

| name | meaning |
| --- | --- |
| `MINUTE_MS`, `HOUR_MS`, `DAY_MS` | spans in milliseconds |
| day | UTC days since 1970-01-01: `epoch_ms // DAY_MS` |
| `iso(ms)` | `2026-01-30T02:00:00.000Z`, the lead and campaign documents' instants |
| `sql_datetime(ms)` | `2026-02-23 11:15:00`, the tracking document's datetimes (UTC) |
| `parse_instant(text)` | ISO 8601 with a date, optional time and offset (none means UTC) to epoch ms |
"""
from __future__ import annotations

import re
import time
from datetime import UTC, datetime

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000

# A date, optionally a time (seconds and fraction optional) and an offset; Z, +hh:mm, +hhmm or +hh.
_ISO_8601 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?"
    r"(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?"
)


def day_of(epoch_ms: int) -> int:
    return epoch_ms // DAY_MS


def date_of(day: int) -> str:
    """A day number as `YYYY-MM-DD`."""
    return time.strftime("%Y-%m-%d", time.gmtime(day * 86_400))


def iso(epoch_ms: int | None) -> str | None:
    if epoch_ms is None:
        return None
    seconds, millis = divmod(epoch_ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def sql_datetime(epoch_ms: int | None) -> str | None:
    if epoch_ms is None:
        return None
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch_ms // 1000))


def parse_instant(text: str) -> int | None:
    """Epoch milliseconds for an ISO 8601 date or date-time; None when it is not one.

    A date alone is its midnight UTC; a time without an offset is UTC. Fractions beyond
    milliseconds are truncated.
    """
    match = _ISO_8601.fullmatch(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    try:
        moment = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0),
                          tzinfo=UTC)
    except ValueError:
        return None
    if int(off_h or 0) > 23 or int(off_m or 0) > 59:
        return None
    ms = int(moment.timestamp()) * 1000 + int((fraction or "0")[:3].ljust(3, "0"))
    if sign:
        offset = (int(off_h) * 60 + int(off_m or 0)) * MINUTE_MS
        ms += -offset if sign == "+" else offset
    return ms
