"""Leads from forms, through POST /track: matching, duplicate window, primary flag, counts, lead fields."""
import json
import time
import uuid
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from domain import sites
from domain.forms import canonical_field
from domain.leads import normalise_email, normalise_phone, phone_match_key
from tests.tracking import batch, event, form, headers, site  # noqa: F401  (fixture)

HOUR_MS = 3_600_000
SEED_PAYLOAD = {"FIRSTNAME": "Rahul Sharma", "EMAIL": "rahul@example.com", "PHONE": "9876543210",
                "PROJECT": "Sky Towers"}
SEED_FIELDS = {"name": "Rahul Sharma", "email": "rahul@example.com", "phone": "9876543210", "project": "Sky Towers"}


def now_ms() -> int:
    return int(time.time() * 1000)


async def submit(client: httpx.AsyncClient, site_key: str, fields: dict[str, str],
                 payload: dict[str, str] | None = None, *, session: str = "s_session1", visitor: str = "v_visitor1",
                 ts: int | None = None, extra: list[dict[str, Any]] | None = None) -> httpx.Response:
    body = batch(site_key, [*(extra or []), form(fields, payload, ts=ts)], session=session, visitor=visitor)
    response = await client.post("/track", content=json.dumps(body), headers=headers())
    assert response.status_code == 202
    return response


async def rows(app: Starlette, sql: str, *args: Any) -> list[dict[str, Any]]:
    return (await app.state.env.DB.prepare(sql).bind(*args).all()).results


# --- normalising ---------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "email"), [
    ("  Rahul@Example.COM ", "rahul@example.com"), ("rahul@example", None), ("no-at.example.com", None),
    ("", None), (None, None), ("a b@example.com", None),
])
def test_normalise_email(raw, email) -> None:
    assert normalise_email(raw) == email


@pytest.mark.parametrize(("raw", "phone", "key"), [
    ("9876543210", "9876543210", "9876543210"),
    ("+91 98765-43210", "+919876543210", "9876543210"),
    ("0091 98765 43210", "+919876543210", "9876543210"),
    ("(098765) 43210", "09876543210", "9876543210"),
    ("+1 (415) 555-0100", "+14155550100", "4155550100"),
    ("12345", None, None),
    ("call me", None, None),
])
def test_normalise_phone_and_match_on_the_last_ten_digits(raw: str, phone, key) -> None:
    assert normalise_phone(raw) == phone
    if phone:
        assert phone_match_key(phone) == key


@pytest.mark.parametrize(("name", "field"), [
    ("EMAIL", "email"), ("your-e-mail", "email"), ("PHONE", "phone"), ("mobile_no", "phone"), ("tel", "phone"),
    ("MESSAGE", "message"), ("PROJECT", "project"), ("FIRSTNAME", "name"), ("full_name", "name"),
    ("company_name", None), ("username", None), ("BUDGET", None), ("hotel", None),
])
def test_canonical_field_names(name: str, field) -> None:
    assert canonical_field(name) == field


# --- through POST /track -------------------------------------------------------------------------


async def test_a_form_with_an_email_creates_a_new_lead_and_its_primary_submission(client, app, site) -> None:
    await submit(client, site["site_key"], SEED_FIELDS, SEED_PAYLOAD)
    [lead] = await rows(app, "SELECT * FROM leads")
    assert isinstance(lead["lead_id"], int) and uuid.UUID(lead["id"])
    assert lead["status"] == "new" and lead["form_submit_count"] == 1
    assert (lead["contact_name"], lead["email"], lead["phone"], lead["project_name"]) == \
        ("Rahul Sharma", "rahul@example.com", "9876543210", "Sky Towers")
    assert (lead["first_name"], lead["last_name"]) == ("Rahul", "Sharma")
    assert (lead["visitor_id"], lead["session_id"]) == ("v_visitor1", "s_session1")
    assert lead["project_source"] == "WebSite"
    [submission] = await rows(app, "SELECT * FROM submissions")
    assert lead["enquiry_at"] == submission["submitted_at"]
    assert submission["lead_id"] == lead["lead_id"]
    assert (submission["is_primary_lead"], submission["is_duplicate_window"]) == (1, 0)
    assert submission["payload_json"] == json.dumps(SEED_PAYLOAD, separators=(",", ":"))
    assert submission["cta_name"] == "hero-form" and submission["source"] == "WebSite"
    assert submission["referer"] == "https://example.com/sky-towers"
    assert submission["contact_ip"] == "203.0.113.7"
    assert submission["fill_ms"] == 8200 and submission["fingerprint"] == "0123456789abcdef"


async def test_the_payload_keeps_the_forms_key_order(client, app, site) -> None:
    payload = {"PROJECT": "Sky Towers", "zeta": "1", "EMAIL": "rahul@example.com", "alpha": "2"}
    await submit(client, site["site_key"], {"email": "rahul@example.com"}, payload)
    stored = (await rows(app, "SELECT payload_json FROM submissions"))[0]["payload_json"]
    assert list(json.loads(stored)) == ["PROJECT", "zeta", "EMAIL", "alpha"]


async def test_the_same_email_in_another_case_is_the_same_lead_and_a_duplicate(client, app, site) -> None:
    await submit(client, site["site_key"], {"email": "rahul@example.com", "name": "Rahul"})
    await submit(client, site["site_key"], {"email": "  RAHUL@Example.com", "name": "Rahul Sharma"},
                 session="s_session2")
    [lead] = await rows(app, "SELECT * FROM leads")
    assert lead["form_submit_count"] == 2 and lead["contact_name"] == "Rahul Sharma"
    assert lead["session_id"] == "s_session2"
    flags = await rows(app, "SELECT is_primary_lead, is_duplicate_window FROM submissions ORDER BY submission_id")
    assert flags == [{"is_primary_lead": 1, "is_duplicate_window": 0}, {"is_primary_lead": 0, "is_duplicate_window": 1}]


async def test_a_phone_in_another_format_matches_a_lead_without_email(client, app, site) -> None:
    await submit(client, site["site_key"], {"email": "rahul@example.com", "phone": "9876543210"})
    await submit(client, site["site_key"], {"phone": "+91 98765 43210", "name": "R. Sharma"}, visitor="v_other",
                 session="s_other")
    [lead] = await rows(app, "SELECT * FROM leads")
    assert lead["form_submit_count"] == 2
    assert lead["email"] == "rahul@example.com"  # kept: the later form had none
    assert lead["phone"] == "+919876543210" and lead["visitor_id"] == "v_other"


async def test_email_wins_over_phone_when_they_point_at_different_leads(client, app, site) -> None:
    await submit(client, site["site_key"], {"email": "a@example.com"})
    await submit(client, site["site_key"], {"phone": "9876543210"})
    await submit(client, site["site_key"], {"email": "a@example.com", "phone": "9876543210"})
    counts = await rows(app, "SELECT email_norm, form_submit_count FROM leads ORDER BY lead_id")
    assert counts == [{"email_norm": "a@example.com", "form_submit_count": 2},
                      {"email_norm": None, "form_submit_count": 1}]


async def test_a_submission_outside_the_window_is_not_a_duplicate(client, app, site) -> None:
    await submit(client, site["site_key"], {"email": "rahul@example.com"}, ts=now_ms() - 30 * HOUR_MS)
    await submit(client, site["site_key"], {"email": "rahul@example.com"}, session="s_later")
    flags = await rows(app, "SELECT is_primary_lead, is_duplicate_window FROM submissions ORDER BY submitted_at")
    assert flags == [{"is_primary_lead": 1, "is_duplicate_window": 0}, {"is_primary_lead": 0, "is_duplicate_window": 0}]
    [lead] = await rows(app, "SELECT enquiry_at, form_submit_count FROM leads")
    assert lead["form_submit_count"] == 2 and lead["enquiry_at"] < now_ms() - 29 * HOUR_MS


async def test_the_sites_duplicate_window_is_used(client, app, site) -> None:
    await sites.update_site(app.state.env.DB, site["site_key"], settings={"duplicate_window_hours": 1})
    await submit(client, site["site_key"], {"email": "rahul@example.com"}, ts=now_ms() - 2 * HOUR_MS)
    await submit(client, site["site_key"], {"email": "rahul@example.com"}, ts=now_ms() - 30 * 60_000)
    await submit(client, site["site_key"], {"email": "rahul@example.com"})
    flags = await rows(app, "SELECT is_duplicate_window AS d FROM submissions ORDER BY submitted_at")
    assert [f["d"] for f in flags] == [0, 0, 1]


async def test_two_submissions_in_one_batch(client, app, site) -> None:
    body = batch(site["site_key"], [form({"email": "rahul@example.com"}), form({"email": "rahul@example.com"})])
    await client.post("/track", content=json.dumps(body), headers=headers())
    flags = await rows(app, "SELECT is_primary_lead AS p, is_duplicate_window AS d FROM submissions")
    assert sorted((f["p"], f["d"]) for f in flags) == [(0, 1), (1, 0)]
    assert (await rows(app, "SELECT form_submit_count AS n FROM leads"))[0]["n"] == 2


async def test_a_form_without_email_or_phone_makes_no_lead(client, app, site) -> None:
    await submit(client, site["site_key"], {"name": "Someone", "message": "Hello"})
    await submit(client, site["site_key"], {"email": "not an email"})
    assert await rows(app, "SELECT * FROM leads") == []
    assert await rows(app, "SELECT * FROM submissions") == []
    assert len(await rows(app, "SELECT * FROM events WHERE type = 'form_submit'")) == 2


async def test_a_retried_form_batch_is_one_submission(client, app, site) -> None:
    body = batch(site["site_key"], [form({"email": "rahul@example.com"})])
    for _ in range(3):
        await client.post("/track", content=json.dumps(body), headers=headers())
    assert len(await rows(app, "SELECT * FROM submissions")) == 1
    assert (await rows(app, "SELECT form_submit_count AS n FROM leads"))[0]["n"] == 1


async def test_leads_belong_to_their_workspace(client, app, site) -> None:
    db = app.state.env.DB
    await db.prepare("INSERT INTO workspaces (id, name, created_at) VALUES ('other', 'Other', 0)").run()
    other = await sites.create_site(db, "other", ["https://example.com"])
    await submit(client, site["site_key"], {"email": "rahul@example.com"})
    await submit(client, other["site_key"], {"email": "rahul@example.com"})
    leads = await rows(app, "SELECT workspace_id, form_submit_count FROM leads ORDER BY workspace_id")
    assert leads == [{"workspace_id": "default", "form_submit_count": 1}, {"workspace_id": "other", "form_submit_count": 1}]
    flags = await rows(app, "SELECT is_primary_lead AS p FROM submissions")
    assert [f["p"] for f in flags] == [1, 1]


async def test_a_lead_takes_its_best_session_score_and_follows_it_up(client, app, site) -> None:
    start = now_ms() - 120_000
    browsing = [event(ts=start), event(ts=start + 1, url="https://example.com/pricing"),
                event("scroll", depth=100, ts=start + 2)]
    await submit(client, site["site_key"], {"email": "rahul@example.com"}, extra=browsing)
    session = (await rows(app, "SELECT engagement_score AS s FROM sessions"))[0]["s"]
    lead = (await rows(app, "SELECT engagement_score, engagement_label FROM leads"))[0]
    assert session == 6 + 15 + 20 and lead == {"engagement_score": 41, "engagement_label": "Warm"}

    # The visitor keeps reading after the form: the lead's score follows the session up.
    more = [event("engagement", active_ms=180_000), *(event("click") for _ in range(5))]
    body = batch(site["site_key"], more)
    await client.post("/track", content=json.dumps(body), headers=headers())
    lead = (await rows(app, "SELECT engagement_score, engagement_label FROM leads"))[0]
    assert lead == {"engagement_score": 91, "engagement_label": "Very Hot"}

    # A weaker later session of the same visitor does not lower it.
    await submit(client, site["site_key"], {"email": "rahul@example.com"}, session="s_quick")
    assert (await rows(app, "SELECT engagement_score AS s FROM leads"))[0]["s"] == 91


async def test_every_visitor_that_submitted_raises_the_lead(client, app, site) -> None:
    await submit(client, site["site_key"], {"email": "rahul@example.com"}, visitor="v_laptop1", session="s_laptop1")
    await submit(client, site["site_key"], {"email": "rahul@example.com"}, visitor="v_phone01", session="s_phone01")
    assert (await rows(app, "SELECT visitor_id, engagement_score FROM leads"))[0] == {
        "visitor_id": "v_phone01", "engagement_score": 20}

    # The first device keeps reading: its session counts for the lead, though the lead's latest visitor is another.
    more = [event("engagement", active_ms=180_000), *(event("click") for _ in range(5))]
    body = batch(site["site_key"], more, session="s_laptop1", visitor="v_laptop1")
    assert (await client.post("/track", content=json.dumps(body), headers=headers())).status_code == 202
    assert (await rows(app, "SELECT engagement_score AS s FROM leads"))[0]["s"] == 35 + 15 + 20
