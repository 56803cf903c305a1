"""The counting rules behind per-lead analytics: the rollups of migration 0007, kept by triggers
whoever writes, and the day totals, which must equal the lead-by-lead answer for any range."""
from __future__ import annotations

from typing import Any

import pytest

from domain import checklists, lead_analytics, lead_records
from domain.dates import DAY_MS, HOUR_MS
from domain.messages import NewMessage, record_message
from storage.d1 import D1Database

NOW = 1_770_000_000_000


async def stats(db: D1Database) -> list[dict[str, Any]]:
    return (await db.prepare("SELECT lead_id, channel, inbound, outbound, last_inbound_at, last_outbound_at, edited,"
                             " rejected FROM lead_message_stats ORDER BY lead_id, channel").all()).results


async def test_the_message_rollup_counts_what_the_rule_says(db: D1Database) -> None:
    rows = [  # (id, lead contact, channel, direction, status, draft state, at)
        ("m1", "+15550000001", "sms", "outbound", "delivered", None, 1),
        ("m2", "+15550000001", "sms", "inbound", None, None, 2),
        ("m3", "+15550000001", "sms", "outbound", "failed", None, 3),  # failed: not counted
        ("m4", "+15550000001", "sms", "outbound", "queued", "pending", 4),  # held back
        ("m5", "+15550000001", "sms", "outbound", "queued", "rejected", 5),  # held back, a reject
        ("m6", "+15550000001", "whatsapp", "outbound", "sent", "edited", 6),  # sent, an edit
        ("m7", "+15550000001", "imessage", "inbound", None, None, 7),  # not one of the three channels
        ("m8", "a@example.com", "email", "inbound", None, None, 8),
    ]

    def write(conn: Any) -> None:
        for mid, contact, channel, direction, status, draft, at in rows:
            record_message(conn, NewMessage("default", contact, channel, direction, NOW + at, status=status,
                                            draft_state=draft, id=mid), NOW)

    await db.transaction(write)
    lead_a, lead_b = (r["lead_id"] for r in (await db.prepare(
        "SELECT lead_id FROM messages WHERE id IN ('m1', 'm8') ORDER BY id").all()).results)
    assert await stats(db) == [
        {"lead_id": lead_a, "channel": "sms", "inbound": 1, "outbound": 1, "last_inbound_at": NOW + 2,
         "last_outbound_at": NOW + 1, "edited": 0, "rejected": 1},
        {"lead_id": lead_a, "channel": "whatsapp", "inbound": 0, "outbound": 1, "last_inbound_at": None,
         "last_outbound_at": NOW + 6, "edited": 1, "rejected": 0},
        {"lead_id": lead_b, "channel": "email", "inbound": 1, "outbound": 0, "last_inbound_at": NOW + 8,
         "last_outbound_at": None, "edited": 0, "rejected": 0},
    ]
    # Any writer: a status corrected by direct SQL, a message deleted, one moved to another lead.
    await db.prepare("UPDATE messages SET status = 'sent' WHERE id = 'm3'").run()
    await db.prepare("DELETE FROM messages WHERE id = 'm2'").run()
    await db.prepare("UPDATE messages SET lead_id = ? WHERE id = 'm6'").bind(lead_b).run()
    assert await stats(db) == [
        {"lead_id": lead_a, "channel": "sms", "inbound": 0, "outbound": 2, "last_inbound_at": None,
         "last_outbound_at": NOW + 3, "edited": 0, "rejected": 1},
        {"lead_id": lead_b, "channel": "email", "inbound": 1, "outbound": 0, "last_inbound_at": NOW + 8,
         "last_outbound_at": None, "edited": 0, "rejected": 0},
        {"lead_id": lead_b, "channel": "whatsapp", "inbound": 0, "outbound": 1, "last_inbound_at": None,
         "last_outbound_at": NOW + 6, "edited": 1, "rejected": 0},
    ]


async def test_the_intervention_rollup_follows_action_logs(db: D1Database) -> None:
    await db.prepare("INSERT INTO leads (lead_id, id, workspace_id, created_at, updated_at)"
                     " VALUES (7, 'u7', 'default', 0, 0)").run()
    insert = ("INSERT INTO action_logs (id, workspace_id, lead_id, type, status, intervention, created_at)"
              " VALUES (?, 'default', 7, ?, 'COMPLETED', ?, 0)")
    await db.batch([db.prepare(insert).bind("a1", "MANUAL_ACTIVITY", "manual_update"),
                    db.prepare(insert).bind("a2", "ESCALATION", "escalation"),
                    db.prepare(insert).bind("a3", "ESCALATION", "escalation"),
                    db.prepare(insert).bind("a4", "NOTE", None)])
    read = "SELECT manual_updates, document_overrides, escalations FROM lead_interventions WHERE lead_id = 7"
    assert await db.prepare(read).first() == {"manual_updates": 1, "document_overrides": 0, "escalations": 2}
    await db.prepare("UPDATE action_logs SET intervention = 'document_override' WHERE id = 'a3'").run()
    await db.prepare("DELETE FROM action_logs WHERE id = 'a1'").run()
    assert await db.prepare(read).first() == {"manual_updates": 0, "document_overrides": 1, "escalations": 1}


DAY0 = 20_500 * DAY_MS  # a midnight UTC
TEMPLATE = {"items": [
    {"code": "name", "label": "Name", "fieldType": "TEXT", "isRequired": True},
    {"code": "kind", "label": "Kind", "fieldType": "SELECT", "validationRules": {"options": ["a", "b"]}},
    {"code": "extra", "label": "Extra", "fieldType": "NUMBER", "isRequired": True,
     "conditions": [{"item": "kind", "equals": "b"}]}]}
RANGES = [(None, None), (DAY0 + 3 * HOUR_MS, None), (None, DAY0 + DAY_MS + 5 * HOUR_MS),
          (DAY0 + HOUR_MS, DAY0 + 20 * HOUR_MS), (DAY0, DAY0 + 2 * DAY_MS - 1), (DAY0 + DAY_MS, DAY0 + DAY_MS),
          (DAY0 + 12 * HOUR_MS, DAY0 + 2 * DAY_MS + 12 * HOUR_MS), (DAY0 - DAY_MS, DAY0 + 3 * DAY_MS)]


async def assert_day_totals_exact(db: D1Database) -> lead_analytics.Totals:
    """Every range's totals both ways; the whole workspace's."""
    template = await checklists.read_template(db, "default")
    for start, end in RANGES:
        leads = lead_analytics.lead_filter("default", start, end)
        assert await lead_analytics.totals(db, leads, template) == \
            await lead_analytics.totals(db, leads, template, rollups=False), (start, end)
    return await lead_analytics.totals(db, lead_analytics.lead_filter("default", None, None), template)


async def test_day_totals_equal_the_lead_by_lead_answer(db: D1Database) -> None:
    await db.transaction(lambda conn: checklists.replace_template(conn, "default", TEMPLATE, DAY0))
    ids: list[str] = []

    def create(conn: Any) -> None:
        for n in range(12):
            at = DAY0 + n * 5 * HOUR_MS
            body: dict[str, Any] = {"firstName": f"L{n}", "phoneNumber": f"+1555000{n:04d}"}
            if n % 2:
                body["checklist"] = {"name": f"L{n}", "kind": "b" if n % 3 else "a"}
            lead_id = lead_records.create_in(conn, "default", body, at)
            ids.append(conn.execute("SELECT id FROM leads WHERE lead_id = ?", (lead_id,)).fetchone()[0])
            for k in range(n % 4):
                lead_records.message_in(conn, "default", ids[-1], {
                    "channel": ("sms", "whatsapp", "email")[k % 2], "direction": ("inbound", "outbound")[k % 2],
                    "body": "x", **({"draftState": "edited"} if k == 3 else {})}, at + k)
    await db.transaction(create)
    await db.transaction(lambda conn: lead_records.create_in(conn, "default", {"firstName": "Tess", "isTest": True},
                                                             DAY0 + 1))
    whole = await assert_day_totals_exact(db)
    assert (whole["count"], whole["totalMessages"], whole["completion"]["totalRequired"]) == (12, 18, 16)

    def change(conn: Any) -> None:
        lead_records.update_in(conn, "default", ids[1], {"submit": True, "source": "manual",
                                                        "checklist": {"extra": 5}}, DAY0 + 3 * DAY_MS)
        lead_records.update_in(conn, "default", ids[2], {"didOptOut": True}, DAY0 + 3 * DAY_MS)
        lead_records.update_in(conn, "default", ids[3], {"deleted": True}, DAY0 + 3 * DAY_MS)
        lead_records.update_in(conn, "default", ids[4], {"isTest": True}, DAY0 + 3 * DAY_MS)
        escalation = lead_records.action_in(conn, "default", ids[5], {"type": "ESCALATION"}, DAY0 + 3 * DAY_MS)
        assert escalation is not None
        lead_records.decide_in(conn, "default", ids[5], escalation[1], {"status": "COMPLETED"}, DAY0 + 3 * DAY_MS)
        # Moved to another day by direct SQL; a message moved to another lead.
        conn.execute("UPDATE leads SET created_at = created_at + 2 * 86400000 WHERE id = ?", (ids[7],))
        conn.execute("UPDATE messages SET lead_id = (SELECT lead_id FROM leads WHERE id = ?)"
                     " WHERE lead_id = (SELECT lead_id FROM leads WHERE id = ?)", (ids[0], ids[11]))
    await db.transaction(change)
    await assert_day_totals_exact(db)
    # A template change re-evaluates every lead: "extra" is no longer required.
    relaxed = {"items": [*TEMPLATE["items"][:2], {**TEMPLATE["items"][2], "isRequired": False}]}
    await db.transaction(lambda conn: checklists.replace_template(conn, "default", relaxed, DAY0 + 4 * DAY_MS))
    await assert_day_totals_exact(db)
    await db.prepare("UPDATE leads SET deleted_at = NULL, is_test = 0").run()  # everyone back, Tess too
    assert (await assert_day_totals_exact(db))["count"] == 13


@pytest.mark.parametrize("ms", [0, 1, DAY0, DAY0 + 86_399_999, 1_773_570_120_123, 4_102_444_800_000])
def test_instants_are_the_dates_format(ms: int) -> None:
    from domain.dates import iso

    assert lead_analytics.instant(ms) == iso(ms)
