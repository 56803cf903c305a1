"""The rollups of migrations 0002 and 0004 follow every change of the rows they summarise."""
from __future__ import annotations


from starlette.applications import Starlette

from tests.analytics import assert_identities, dashboard, get_json, raw_numbers
from tests.seed import DAY, HOUR, V1, Workspace, datetime_string

async def test_rollups_follow_every_kind_of_session_change(client, app: Starlette, workspace: Workspace) -> None:
    db = app.state.env.DB
    today = workspace.today
    changes = [
        # late events moved a session's start to the day before, with new aggregates
        ("UPDATE sessions SET started_at = ?, engagement_score = 88, duration_ms = 500000"
         " WHERE session_id = 's2'", (today - 2 * DAY + 23 * HOUR,)),
        ("UPDATE sessions SET visitor_id = ? WHERE session_id = 's4'", (V1,)),
        ("UPDATE sessions SET country = 'DE', referrer_domain = 'duckduckgo.com' WHERE session_id = 's3'", ()),
        ("UPDATE sessions SET country = NULL WHERE session_id = 's1'", ()),
        ("UPDATE sessions SET fingerprint = 'fpD' WHERE session_id = 's5'", ()),
        ("UPDATE sessions SET fingerprint = NULL WHERE session_id = 's7'", ()),
        ("UPDATE sessions SET ended_at = last_activity_at, engagement_score = 81 WHERE session_id = 's7'", ()),
        ("UPDATE sessions SET engagement_score = 20, vpn_suspected = 1 WHERE session_id = 's1'", ()),
        ("UPDATE sessions SET ended_at = NULL WHERE session_id = 's4'", ()),
        # a session removed with its events (page views stay counted: they are history, see metrics)
        ("DELETE FROM sessions WHERE session_id = 's3'; DELETE FROM events WHERE session_id = 's3'", ()),
    ]
    for sql, params in changes:
        await db.batch([db.prepare(statement).bind(*params) for statement in sql.split("; ")])
        numbers = await dashboard(client)
        raw = await raw_numbers(app)
        for name in raw:
            if name != "pages":  # page views are counted as events arrive, and no event changed
                assert numbers[name] == raw[name], (sql, name)
    assert numbers["overview"]["unique_fingerprints"] == 3  # fpA, fpB, fpD
    assert_identities(numbers, completed=4, leads=3)


async def test_follow_ups_follow_message_and_log_changes(client, app: Starlette, workspace: Workspace) -> None:
    db = app.state.env.DB

    async def follow_ups(lead_id: int) -> tuple[int, str | None]:
        lead = (await get_json(client, f"/analytics/leads/{lead_id}"))["lead"]
        return lead["follow_ups_count"], lead["last_follow_up_at"]

    await db.prepare("UPDATE messages SET draft_state = NULL WHERE id = 'm3'").run()
    assert await follow_ups(1) == (3, datetime_string(workspace.today - DAY + 18 * HOUR))
    await db.prepare("UPDATE messages SET lead_id = 3 WHERE id = 'm3'").run()
    assert await follow_ups(1) == (2, datetime_string(workspace.follow_up[1]))
    assert await follow_ups(3) == (2, datetime_string(workspace.today - DAY + 18 * HOUR))
    await db.prepare("DELETE FROM action_logs WHERE id = 'a1'").run()
    await db.prepare("UPDATE action_logs SET is_follow_up = 1 WHERE id = 'a3'").run()
    assert await follow_ups(1) == (1, datetime_string(workspace.today - DAY + 15 * HOUR))
    assert await follow_ups(3) == (3, datetime_string(workspace.today - DAY + 20 * HOUR))
    await db.prepare("DELETE FROM messages WHERE id = 'm1'").run()
    assert await follow_ups(1) == (0, None)
