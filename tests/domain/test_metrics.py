"""One number, one definition: every endpoint's numbers agree with each other and with the raw tables."""
from __future__ import annotations

import json

from starlette.applications import Starlette

from runtime import now_ms
from tests.analytics import assert_identities, dashboard, get_json, raw_numbers
from tests.seed import HOME, SKY, Workspace
from tests.tracking import batch, event, form, headers, site  # noqa: F401  (fixture)

async def test_numbers_agree_across_endpoints(client, workspace: Workspace) -> None:
    numbers = await dashboard(client)
    assert_identities(numbers, completed=5, leads=3)
    assert sum(p["views"] for p in numbers["pages"]) == 16  # every page_view event
    assert numbers["overview"]["total_events"] == sum(len(s.events) for s in workspace.sessions.values())


async def test_rollups_equal_the_raw_tables(client, app: Starlette, workspace: Workspace) -> None:
    numbers = await dashboard(client)
    raw = await raw_numbers(app)
    for name in raw:
        assert numbers[name] == raw[name], name


async def test_data_from_the_snippet_reaches_every_endpoint(client, app: Starlette, site: dict) -> None:
    key = site["site_key"]
    now = now_ms()
    batches = [
        batch(key, [event(url=HOME, ts=now - 9000), event("scroll", url=HOME, ts=now - 8000, depth=75),
                    event(url=SKY, ts=now - 7000)], visitor="v-one", session="sess-one"),
        batch(key, [event("click", url=SKY, ts=now - 6000, tag="a"), event(url=HOME, ts=now - 5000),
                    form({"name": "Asha Rao", "email": "asha@example.com"}, url=SKY, ts=now - 4000)],
              visitor="v-one", session="sess-one"),
        batch(key, [event(url=SKY, ts=now - 3000), event("engagement", url=SKY, ts=now - 2000, active_ms=40000)],
              visitor="v-two", session="sess-two", referrer="https://www.google.com/search"),
    ]
    for body in batches:
        response = await client.post("/track", content=json.dumps(body), headers=headers())
        assert response.status_code == 202, response.text
    numbers = await dashboard(client)
    raw = await raw_numbers(app)
    for name in raw:
        assert numbers[name] == raw[name], name
    assert numbers["overview"]["total_sessions"] == 2 and numbers["overview"]["total_events"] == 8
    assert numbers["pages"] == [{"page": HOME, "views": 2, "unique_sessions": 1},
                                {"page": SKY, "views": 2, "unique_sessions": 2}]
    assert {s["referrer_domain"] for s in numbers["sources"]} == {"(direct)", "google.com"}
    assert_identities(numbers, completed=0, leads=1)
    (lead,) = numbers["leads"]["leads"]
    assert (lead["contact_name"], lead["contact_email"], lead["status"]) == ("Asha Rao", "asha@example.com", "new")
    detail = await get_json(client, f"/analytics/leads/{lead['lead_id']}")
    assert [s["session_id"] for s in detail["sessions"]] == ["sess-one"]
    assert detail["sessions"][0]["event_count"] == 6
    assert json.loads(detail["submissions"][0]["payload_json"]) == {"name": "Asha Rao", "email": "asha@example.com"}
