"""The rules of domain/campaigns.py and the status callbacks of domain/messages.py, one by one."""
from __future__ import annotations

import pytest

from domain import campaigns, messages
from domain.campaigns import Filter, MessageInput
from domain.dates import DAY_MS, HOUR_MS, parse_instant
from storage.d1 import D1Database


@pytest.mark.parametrize("numerator, denominator, expected", [
    (312, 1245, 0.2506), (71, 312, 0.2275),  # the document's example: truncated, not rounded (0.22756)
    (2, 3, 0.6666), (1, 3, 0.3333), (3, 3, 1.0), (0, 5, 0.0), (0, 0, 0.0), (4, 0, 0.0),
    (5, 4, 1.0),  # a window that cuts conversations can see more repliers than contacts reached
])
def test_ratio(numerator: int, denominator: int, expected: float) -> None:
    assert campaigns.ratio(numerator, denominator) == expected


def test_a_date_alone_as_date_to_covers_the_day() -> None:
    day = parse_instant("2026-06-30") or 0
    assert campaigns.inclusive_end("2026-06-30", day) == day + DAY_MS - 1
    assert campaigns.inclusive_end("2026-06-30T00:00:00Z", day) == day


def test_tags_are_trimmed_and_kept_once() -> None:
    assert campaigns.normalise_tags([" Interested ", "interested", "", "  ", "VIP", "vip ", "to respond"]) == [
        "Interested", "VIP", "to respond"]


@pytest.mark.parametrize("raw, stored", [
    ("+1 (415) 555-0100", "+14155550100"), ("0044 20 7946 0000", "+442079460000"),
    (" Sales@Example.COM ", "sales@example.com"), ("sales@", None), ("123", None), ("line one", None),
])
def test_line_addresses(raw: str, stored: str | None) -> None:
    assert campaigns.line_address(raw) == stored


def test_a_window_is_whole_days_hours_and_edges() -> None:
    day, hour = DAY_MS, HOUR_MS
    lo, hi = 10 * day + 5 * hour + 7, 13 * day + 2 * hour + 99
    parts, edges = campaigns._cover(lo, hi, (day, hour))
    # hours 6-23 of day 10, days 11-12, hours 0-1 of day 13; the instants before 06:00 and after 02:00.
    assert sorted(parts) == [(0, 11, 12), (1, 10 * 24 + 6, 10 * 24 + 23), (1, 13 * 24, 13 * 24 + 1)]
    assert edges == [(lo, 10 * day + 6 * hour - 1), (13 * day + 2 * hour, hi)]
    assert campaigns._cover(day, 3 * day - 1, (day, hour)) == ([(0, 1, 2)], [])
    assert campaigns._cover(day + 5, day + 6, (day,)) == ([], [(day + 5, day + 6)])
    assert campaigns._cover(day + 5, 4 * day, (day,)) == ([(0, 2, 3)], [(day + 5, 2 * day - 1), (4 * day, 4 * day)])


async def test_an_empty_workspace_has_zeros(db: D1Database) -> None:
    zero = {"reached": 0, "sent": 0, "fallback": 0, "failed": 0, "replied": 0, "uniqueReplied": 0, "repliedPct": 0.0,
            "positiveReplied": 0, "positivePct": 0.0}
    assert await campaigns.campaign_metrics(db, "default", Filter()) == zero
    assert await campaigns.campaign_metrics(db, "default", Filter(date_from=5, date_to=4)) == zero
    answer = await campaigns.analytics(db, "default", Filter(campaign_id="0" * 24, date_to=DAY_MS - 1))
    assert answer == {"success": True, "filter": {"campaignId": "0" * 24, "dateTo": "1970-01-01T23:59:59.999Z"},
                      "metrics": zero, "explainer": campaigns.EXPLAINER}


async def status_of(db: D1Database, message_id: str) -> tuple[str, int]:
    row = await db.prepare("SELECT status, fallback_sms_dispatched FROM messages WHERE id = ?").bind(message_id).first()
    return row["status"], row["fallback_sms_dispatched"]


async def test_status_callbacks(db: D1Database) -> None:
    written = await campaigns.write_message(db, "default", MessageInput(
        direction="outbound", contact="+14155550100", channel="imessage", created_at=1000, status="queued"), 2000)

    async def move(status: str, flag: bool = False) -> None:
        await db.transaction(lambda conn: messages.move_status(conn, "default", written["id"], status, 3000,
                                                               fallback_sms_dispatched=flag))

    await move("fallback")
    await move("fallback")  # again: nothing changes
    assert await status_of(db, written["id"]) == ("fallback", 0)
    await move("delivered")  # leaving fallback keeps the fact
    assert await status_of(db, written["id"]) == ("delivered", 1)
    for final in ("sent", "queued", "failed", "fallback"):
        with pytest.raises(messages.StatusMoveError, match=f"a delivered message cannot become {final}"):
            await move(final)
    assert not await db.transaction(lambda conn: messages.move_status(conn, "ws-two", written["id"], "sent", 1))


@pytest.mark.parametrize("start, moves, end", [
    ("queued", ["sent", "delivered"], ("delivered", 0)),
    ("queued", ["failed"], ("failed", 0)),
    ("sent", ["fallback", "sent"], ("sent", 1)),
    ("sent", [("sent", True)], ("sent", 1)),  # the flag alone, set by a callback, is never cleared
])
async def test_status_paths(db: D1Database, start: str, moves: list, end: tuple[str, int]) -> None:
    written = await campaigns.write_message(db, "default", MessageInput(
        direction="outbound", contact="+14155550111", channel="sms", created_at=1000, status=start), 2000)
    for step in moves:
        status, flag = step if isinstance(step, tuple) else (step, False)
        await db.transaction(lambda conn, s=status, f=flag: messages.move_status(
            conn, "default", written["id"], s, 3000, fallback_sms_dispatched=f))
    assert await status_of(db, written["id"]) == end


async def test_a_rejected_message_rolls_back(db: D1Database) -> None:
    with pytest.raises(campaigns.NotFound, match="campaignId"):
        await campaigns.write_message(db, "default", MessageInput(
            direction="outbound", contact="+14155550122", channel="sms", created_at=1, campaign_id="a" * 24), 2)
    with pytest.raises(messages.MessageError, match="contact"):
        await campaigns.write_message(db, "default", MessageInput(
            direction="outbound", contact="nobody", channel="sms", created_at=1), 2)
    assert await db.prepare("SELECT count(*) AS n FROM leads").first("n") == 0
    assert await db.prepare("SELECT count(*) AS n FROM messages").first("n") == 0
