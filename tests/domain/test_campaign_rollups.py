"""The rollups of migration 0008 against the definitions, over random histories.

Random messages (out of time order, ties, repeats, every status), status moves, deletions and tag
changes go in through the triggers; then every filter combination and many windows (whole days,
instants inside days, a single day, empty) are answered by `campaign_metrics` and by a
straightforward reading of the raw rows, which must agree exactly.
"""
from __future__ import annotations

import random
from typing import Any

import pytest

from domain import campaigns
from domain.campaigns import Filter
from domain.dates import DAY_MS, HOUR_MS
from domain.messages import NewMessage, record_message
from storage import migrations
from storage.d1 import D1Database
from tests.earlier import MIGRATIONS, database_before

WS = "default"
BASE = 20_000 * DAY_MS  # 2024-10-04
CAMPAIGNS = [f"{n:024x}" for n in (0xA1, 0xA2, 0xA3)]
LINES = [f"{n:024x}" for n in (0xB1, 0xB2)]
USERS = ["user_a", "user_b"]
CONTACTS = [f"+1415555{n:04d}" for n in range(40)] + ["Mixed.Case@Example.com", "mixed.case@example.com"]
TAGS = ["Interested", "to respond", "TO-ANSWER", "to_answer", "later", "interested!", " interested"]


async def naive(db: D1Database, flt: Filter) -> dict[str, Any]:
    rows = (await db.prepare("SELECT * FROM messages WHERE workspace_id = ?").bind(WS).all()).results
    positive_leads = {r["lead_id"] for r in (await db.prepare(
        "SELECT lead_id, tag FROM conversation_tags").all()).results if r["tag"].lower() in campaigns.POSITIVE_TAGS}
    positive_contacts = {r["contact_key"] for r in rows
                         if r["direction"] == "inbound" and r["lead_id"] in positive_leads}
    lo = flt.date_from if flt.date_from is not None else -1
    hi = flt.date_to if flt.date_to is not None else campaigns.END_OF_TIME
    chosen = [r for r in rows if lo <= r["created_at"] <= hi
              and (flt.campaign_id is None or r["campaign_id"] == flt.campaign_id)
              and (flt.line_id is None or r["line_id"] == flt.line_id)
              and (flt.user_id is None or r["user_id"] == flt.user_id)]
    sent = [r for r in chosen if r["direction"] == "outbound" and r["status"] in ("sent", "delivered")]
    replies = [r for r in chosen if r["direction"] == "inbound"]
    reached = len({r["contact_key"] for r in sent})
    replied_contacts = {r["contact_key"] for r in replies}
    positive = len(replied_contacts & positive_contacts)
    return {
        "reached": reached, "sent": len(sent),
        "fallback": sum(1 for r in chosen if r["direction"] == "outbound"
                        and (r["status"] == "fallback" or r["fallback_sms_dispatched"])),
        "failed": sum(1 for r in chosen if r["direction"] == "outbound" and r["status"] == "failed"),
        "replied": len(replies), "uniqueReplied": len(replied_contacts),
        "repliedPct": campaigns.ratio(len(replied_contacts), reached),
        "positiveReplied": positive, "positivePct": campaigns.ratio(positive, len(replied_contacts)),
    }


async def write_history(db: D1Database, rng: random.Random, count: int, tags: bool = True) -> None:
    await db.batch([db.prepare("INSERT INTO campaigns (id, workspace_id, name, created_at) VALUES (?, ?, ?, 0)")
                    .bind(c, WS, c) for c in CAMPAIGNS]
                   + [db.prepare("INSERT INTO lines (id, workspace_id, name, address) VALUES (?, ?, ?, ?)")
                      .bind(line, WS, line, "+14155550000") for line in LINES])

    def pick(values: list[str]) -> str | None:
        return rng.choice(values + [None])

    def new_message(n: int) -> NewMessage:
        inbound = rng.random() < 0.35
        # A few instants shared by several messages, so ties are ordered by id.
        at = BASE + rng.choice([rng.randrange(6 * DAY_MS), 2 * DAY_MS + 5 * HOUR_MS])
        return NewMessage(
            workspace_id=WS, contact=rng.choice(CONTACTS), channel=rng.choice(["sms", "imessage", "email"]),
            direction="inbound" if inbound else "outbound", created_at=at,
            status=None if inbound else rng.choice(["queued", "sent", "delivered", "fallback", "failed"]),
            campaign_id=pick(CAMPAIGNS), line_id=pick(LINES), user_id=pick(USERS),
            fallback_sms_dispatched=not inbound and rng.random() < 0.2, id=f"{n:024x}")

    ids: list[str] = []
    for n in range(count):
        message = new_message(n)
        await db.transaction(lambda conn, m=message: record_message(conn, m, BASE))
        ids.append(message.id or "")
        roll = rng.random()
        if roll < 0.1:
            await db.prepare("UPDATE messages SET status = ? WHERE id = ? AND direction = 'outbound'").bind(
                rng.choice(["sent", "delivered", "failed", "fallback"]), rng.choice(ids)).run()
        elif roll < 0.14:
            await db.prepare("DELETE FROM messages WHERE id = ?").bind(ids.pop(rng.randrange(len(ids)))).run()
        elif roll < 0.17:
            await db.prepare("UPDATE messages SET created_at = created_at + ? WHERE id = ?").bind(
                rng.randrange(-DAY_MS, DAY_MS), rng.choice(ids)).run()
        elif roll < 0.30 and tags:
            lead = await db.prepare("SELECT lead_id FROM messages WHERE id = ?").bind(rng.choice(ids)).first("lead_id")
            if lead is not None:
                if rng.random() < 0.3:
                    await db.prepare("DELETE FROM conversation_tags WHERE lead_id = ?").bind(lead).run()
                else:
                    await db.prepare("INSERT OR IGNORE INTO conversation_tags (workspace_id, lead_id, tag, created_at)"
                                     " VALUES (?, ?, ?, 0)").bind(WS, lead, rng.choice(TAGS)).run()


def windows(rng: random.Random) -> list[tuple[int | None, int | None]]:
    found: list[tuple[int | None, int | None]] = [(None, None), (BASE + DAY_MS, None), (None, BASE + 3 * DAY_MS - 1),
                                                 (BASE + DAY_MS, BASE + 4 * DAY_MS - 1), (BASE + 5 * DAY_MS, BASE)]
    for _ in range(14):
        a, b = sorted(BASE + rng.randrange(-DAY_MS, 7 * DAY_MS) for _ in range(2))
        found.append((a, b))
        found.append((a, None))
    found.append((BASE + 2 * DAY_MS + HOUR_MS, BASE + 2 * DAY_MS + 20 * HOUR_MS))  # inside one day
    return found


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_metrics_match_the_raw_rows(db: D1Database, seed: int) -> None:
    rng = random.Random(seed)
    await write_history(db, rng, 300)
    assert await db.prepare("SELECT count(*) AS n FROM campaign_changes").first("n") == 0
    for date_from, date_to in windows(rng):
        for campaign in (None, CAMPAIGNS[0]):
            for line in (None, LINES[1]):
                for user in (None, USERS[0]):
                    flt = Filter(campaign, line, user, date_from, date_to)
                    assert await campaigns.campaign_metrics(db, WS, flt) == await naive(db, flt), flt


async def test_messages_written_before_the_migration_are_counted(tmp_path) -> None:
    async with database_before(tmp_path, "0008") as database:
        await write_history(database, random.Random(7), 120, tags=False)
        await migrations.apply(database, MIGRATIONS)
        rng = random.Random(8)
        for date_from, date_to in windows(rng)[:12]:
            for campaign in (None, CAMPAIGNS[1]):
                flt = Filter(campaign, None, USERS[1], date_from, date_to)
                assert await campaigns.campaign_metrics(database, WS, flt) == await naive(database, flt), flt
