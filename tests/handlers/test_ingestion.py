"""POST /track as the snippet speaks it: batches in, 202 only after the commit, errors naming the field;
the snippet and the development demo page."""
from __future__ import annotations

import asyncio
import gzip
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from domain import sites
from domain.enrich import geo_for
from handlers import ingestion as track
from tests.tracking import BROWSER, ORIGIN, batch, event, form, headers, site  # noqa: F401  (fixture)

DAY_MS = 86_400_000


async def count(app: Starlette, table: str) -> int:
    return await app.state.env.DB.prepare(f"SELECT count(*) AS n FROM {table}").first("n")


async def post(client: httpx.AsyncClient, body: Any, **extra: str) -> httpx.Response:
    content = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return await client.post("/track", content=content, headers=headers(**extra))


async def test_a_batch_is_committed_before_the_202(client: httpx.AsyncClient, app: Starlette, site: dict) -> None:
    events = [event(), event("click", tag="a", text="Book a demo"), event("scroll", depth=50)]
    response = await post(client, batch(site["site_key"], events))
    assert response.status_code == 202
    assert response.json() == {"accepted": 3, "duplicates": 0}
    assert await count(app, "events") == 3


async def test_sendbeacon_text_plain_and_fetch_json_are_both_accepted(client, app, site) -> None:
    as_text = await post(client, batch(site["site_key"], [event()]))
    as_json = await client.post("/track", json=batch(site["site_key"], [event()]),
                                headers={"Origin": ORIGIN, "User-Agent": BROWSER})
    assert (as_text.status_code, as_json.status_code) == (202, 202)
    assert await count(app, "events") == 2


async def test_a_retried_batch_is_counted_once(client, app, site) -> None:
    body = batch(site["site_key"], [event(), event("engagement", active_ms=15000)])
    first = await post(client, body)
    again = await post(client, body)
    assert first.json() == {"accepted": 2, "duplicates": 0}
    assert again.json() == {"accepted": 0, "duplicates": 2}
    session = await app.state.env.DB.prepare("SELECT event_count, active_ms, page_views FROM sessions").first()
    assert session == {"event_count": 2, "active_ms": 15000, "page_views": 1}


async def test_a_partly_retried_batch_counts_only_the_new_events(client, app, site) -> None:
    old = event()
    await post(client, batch(site["site_key"], [old]))
    response = await post(client, batch(site["site_key"], [old, event("click"), event("click")]))
    assert response.json() == {"accepted": 2, "duplicates": 1}
    assert await app.state.env.DB.prepare("SELECT event_count AS n FROM sessions").first("n") == 3


async def test_duplicates_are_told_apart_from_rows_that_triggers_write(client, app, site) -> None:
    # A new page view makes the rollup triggers write two more rows: as many as the two duplicates.
    first, second = event("click"), event("click")
    await post(client, batch(site["site_key"], [first, second]))
    response = await post(client, batch(site["site_key"], [first, second, event()]))
    assert response.json() == {"accepted": 1, "duplicates": 2}
    assert await app.state.env.DB.prepare("SELECT event_count AS n FROM sessions").first("n") == 3


async def test_the_same_id_twice_in_one_batch_is_one_event(client, app, site) -> None:
    same = event()
    response = await post(client, batch(site["site_key"], [same, same]))
    assert response.json() == {"accepted": 1, "duplicates": 1}


async def test_concurrent_requests_are_all_committed(client, app, site) -> None:
    bodies = [batch(site["site_key"], [event() for _ in range(10)], session=f"s_{i % 7}", visitor=f"v_{i % 5}")
              for i in range(60)]
    responses = await asyncio.gather(*(post(client, body) for body in bodies))
    assert {r.status_code for r in responses} == {202}
    assert sum(r.json()["accepted"] for r in responses) == 600
    assert await count(app, "events") == 600
    assert await count(app, "sessions") == 7
    assert await app.state.env.DB.prepare("SELECT sum(event_count) AS n FROM sessions").first("n") == 600


def _with(changes: dict[str, Any], **event_changes: Any):
    def build(site_key: str) -> dict[str, Any]:
        events = [event(), event("click"), event("scroll", depth=25), event()]
        events[3].update(event_changes)
        return {**batch(site_key, events), **changes}
    return build


def _drop(key: str):
    def build(site_key: str) -> dict[str, Any]:
        body = batch(site_key, [event()])
        del body[key]
        return body
    return build


def _event_without(key: str):
    def build(site_key: str) -> dict[str, Any]:
        body = batch(site_key, [event(), event()])
        del body["events"][1][key]
        return body
    return build


def _events(n: int):
    return lambda site_key: batch(site_key, [event() for _ in range(n)])


INVALID = [
    (_drop("visitor_id"), "visitor_id: required"),
    (_drop("session_id"), "session_id: required"),
    (_with({"session_id": "s" * 65}), "session_id: expected a non-empty string of at most 64 characters"),
    (_with({"visitor_id": 42}), "visitor_id: expected a non-empty string of at most 64 characters"),
    (_drop("events"), "events: required: a list of 1 to 100 events"),
    (_events(0), "events: expected 1 to 100 events, got 0"),
    (_events(101), "events: expected 1 to 100 events, got 101"),
    (_with({}, type="foo"), "events[3].type: unknown event type 'foo'"),
    (_event_without("type"), "events[1].type: required"),
    (_with({}, id="short"), "events[3].id: expected 8 to 64 characters of A-Z a-z 0-9 _ -"),
    (_with({}, id="has spaces in it"), "events[3].id: expected 8 to 64 characters of A-Z a-z 0-9 _ -"),
    (_event_without("id"), "events[1].id: expected 8 to 64 characters of A-Z a-z 0-9 _ -"),
    (_with({}, ts="1740280000000"), "events[3].ts: expected an integer (epoch milliseconds)"),
    (_with({}, ts=1740280000000.5), "events[3].ts: expected an integer (epoch milliseconds)"),
    (_with({}, ts=1_500_000_000_000), "events[3].ts: out of range (before 2020 or more than a day ahead)"),
    (_with({}, ts=int(time.time() * 1000) + 2 * DAY_MS),
     "events[3].ts: out of range (before 2020 or more than a day ahead)"),
    (_with({}, url="ftp://example.com/"), "events[3].url: expected an http(s) URL of at most 2048 characters"),
    (_with({}, url="https://example.com/" + "a" * 2048),
     "events[3].url: expected an http(s) URL of at most 2048 characters"),
    (_event_without("props"), "events[1].props: expected an object"),
    (_with({}, type="scroll", props={"depth": 150}), "events[3].props.depth: expected an integer from 0 to 100"),
    (_with({}, type="engagement", props={"active_ms": -1}),
     "events[3].props.active_ms: expected an integer from 0 to 3600000"),
    (_with({}, type="form_submit", props={"fields": {"email": 5}}),
     "events[3].props.fields.email: expected a string of at most 2000 characters"),
    (_with({}, type="form_submit", props={"payload": []}), "events[3].props.payload: expected an object"),
    (_with({"utm": {"source": "x", "foo": "y"}}), "utm.foo: unknown key (known: source, medium, campaign, term, content)"),
    (_with({"webdriver": "no"}), "webdriver: expected true or false"),
    (_with({"timezone": 5}), "timezone: expected a string of at most 64 characters"),
]


@pytest.mark.parametrize(("build", "error"), INVALID, ids=[error.split(":")[0] + ":" + error.split(":")[1][:30]
                                                             for _, error in INVALID])
async def test_an_invalid_batch_is_rejected_whole_naming_the_field(client, app, site, build, error) -> None:
    response = await post(client, build(site["site_key"]))
    assert response.status_code == 400
    assert response.json() == {"error": error}
    assert response.headers["access-control-allow-origin"] == ORIGIN  # the snippet sees the 400 and drops the batch
    assert await count(app, "events") == 0 and await count(app, "sessions") == 0


@pytest.mark.parametrize(("body", "error"), [
    (b"{not json", "body: invalid JSON"),
    (b"[1, 2]", "body: expected a JSON object"),
    (b"\xff\xfe\x00", "body: invalid JSON"),
    (json.dumps({"events": []}).encode(), "site: required"),
    (json.dumps({"site": ""}).encode(), "site: expected a non-empty string of at most 64 characters"),
])
async def test_a_body_that_is_not_a_batch_is_400(client, body: bytes, error: str) -> None:
    response = await post(client, body)
    assert (response.status_code, response.json()) == (400, {"error": error})


async def test_an_unknown_site_key_is_404(client, app) -> None:
    response = await post(client, batch("site_nope", [event()]))
    assert (response.status_code, response.json()) == (404, {"error": "Unknown site key"})
    assert await count(app, "events") == 0


async def test_a_body_over_64_kib_is_413(client, site) -> None:
    body = json.dumps(batch(site["site_key"], [event(title="x" * 70_000)]))
    response = await post(client, body)
    assert response.status_code == 413
    assert response.json() == {"error": "Request body too large (max 65536 bytes)"}
    assert response.headers["access-control-allow-origin"] == ORIGIN


async def test_a_streamed_body_over_64_kib_is_413(client, site) -> None:
    async def chunks():
        for _ in range(9):
            yield b"x" * 8192

    response = await client.post("/track", content=chunks(), headers=headers())
    assert response.status_code == 413
    assert response.json() == {"error": "Request body too large (max 65536 bytes)"}


async def test_a_body_of_exactly_64_kib_is_read(client, site) -> None:
    body = batch(site["site_key"], [event(title="")])
    padding = 65_536 - len(json.dumps(body))
    body["events"][0]["props"]["title"] = "x" * padding
    assert len(json.dumps(body)) == 65_536
    assert (await post(client, json.dumps(body))).status_code == 202


# --- CORS ------------------------------------------------------------------------------------


async def test_preflight_answers_a_configured_origin(client, site) -> None:
    response = await client.options("/track", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"})
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in response.headers["access-control-allow-methods"]
    assert response.headers["access-control-allow-headers"].lower() == "content-type"


async def test_preflight_refuses_an_unknown_origin(client, site) -> None:
    response = await client.options("/track", headers={"Origin": "https://evil.example",
                                                      "Access-Control-Request-Method": "POST"})
    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers


async def test_preflight_naming_a_site_checks_that_sites_origins(client, app, site) -> None:
    other = await sites.create_site(app.state.env.DB, "default", ["https://other.example"])
    response = await client.options(f"/track?site={other['site_key']}", headers={"Origin": ORIGIN})
    assert response.status_code == 403
    response = await client.options(f"/track?site={site['site_key']}", headers={"Origin": ORIGIN})
    assert response.status_code == 204


async def test_post_from_an_allowed_origin_gets_cors_headers(client, site) -> None:
    response = await post(client, batch(site["site_key"], [event()]))
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "Origin" in response.headers["vary"]


async def test_post_from_a_disallowed_origin_is_403_and_stores_nothing(client, app, site) -> None:
    response = await post(client, batch(site["site_key"], [event()]), Origin="https://evil.example")
    assert (response.status_code, response.json()) == (403, {"error": "Origin not allowed for this site"})
    assert "access-control-allow-origin" not in response.headers
    assert await count(app, "events") == 0


async def test_origins_compare_without_case_or_trailing_slash(client, app) -> None:
    created = await sites.create_site(app.state.env.DB, "default", ["https://Shop.Example/"])
    response = await post(client, batch(created["site_key"], [event()]), Origin="https://shop.example")
    assert response.status_code == 202


# --- bots, privacy, capture ------------------------------------------------------------------


@pytest.mark.parametrize("agent", [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/126.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0 Safari/537.36 "
    "Chrome-Lighthouse",
    "curl/8.5.0",
    "python-requests/2.32.3",
    "",
])
async def test_bot_user_agents_are_counted_not_stored(client, app, site, agent: str) -> None:
    response = await post(client, batch(site["site_key"], [event(), event("click")]), **{"User-Agent": agent})
    assert (response.status_code, response.json()) == (202, {"accepted": 0, "duplicates": 0})
    assert await count(app, "events") == 0
    assert await count(app, "visitors") == 0 and await count(app, "sessions") == 0
    hits = await app.state.env.DB.prepare("SELECT workspace_id, day, hits FROM bot_hits").all()
    assert hits.results == [{"workspace_id": "default", "day": time.strftime("%Y-%m-%d", time.gmtime()), "hits": 1}]


async def test_webdriver_browsers_are_counted_not_stored(client, app, site) -> None:
    for _ in range(3):
        response = await post(client, batch(site["site_key"], [event()], webdriver=True))
        assert response.status_code == 202
    assert await count(app, "events") == 0
    assert await app.state.env.DB.prepare("SELECT hits FROM bot_hits").first("hits") == 3


async def test_a_phone_maker_named_cubot_is_not_a_bot(client, app, site) -> None:
    agent = "Mozilla/5.0 (Linux; Android 10; CUBOT X30) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36"
    response = await post(client, batch(site["site_key"], [event()]), **{"User-Agent": agent})
    assert response.json()["accepted"] == 1


@pytest.mark.parametrize("header", ["DNT", "Sec-GPC"])
async def test_do_not_track_is_honoured_when_the_site_says_so(client, app, site, header: str) -> None:
    db = app.state.env.DB
    body = batch(site["site_key"], [event()])
    assert (await post(client, body, **{header: "1"})).json()["accepted"] == 1  # the default: not honoured
    await sites.update_site(db, site["site_key"], settings={"respect_dnt": True})
    response = await post(client, batch(site["site_key"], [event()]), **{header: "1"})
    assert (response.status_code, response.json()) == (202, {"accepted": 0, "duplicates": 0})
    assert await count(app, "events") == 1
    assert (await post(client, batch(site["site_key"], [event()]))).json()["accepted"] == 1


async def test_the_capture_list_filters_fields_and_payload(client, app, site) -> None:
    await sites.update_site(app.state.env.DB, site["site_key"], settings={"capture": ["email", "project"]})
    submitted = form(
        {"name": "Rahul Sharma", "email": "rahul@example.com", "phone": "9876543210", "project": "Sky Towers"},
        {"FIRSTNAME": "Rahul Sharma", "EMAIL": "rahul@example.com", "PHONE": "9876543210",
         "PROJECT": "Sky Towers", "BUDGET": "2 Cr", "user_password": "hunter2", "card": "4111 1111 1111 1111"},
    )
    await post(client, batch(site["site_key"], [submitted]))
    db = app.state.env.DB
    stored = json.loads(await db.prepare("SELECT props FROM events WHERE type = 'form_submit'").first("props"))
    assert stored["fields"] == {"email": "rahul@example.com", "project": "Sky Towers"}
    assert stored["payload"] == {"EMAIL": "rahul@example.com", "PROJECT": "Sky Towers", "BUDGET": "2 Cr"}
    submission = await db.prepare("SELECT contact_name, contact_phone, payload_json FROM submissions").first()
    assert submission["contact_name"] is None and submission["contact_phone"] is None
    assert submission["payload_json"] == '{"EMAIL":"rahul@example.com","PROJECT":"Sky Towers","BUDGET":"2 Cr"}'


# --- what a session records --------------------------------------------------------------------


async def test_a_session_takes_the_first_fingerprint_it_is_sent(client, app, site) -> None:
    """A session opened without a fingerprint takes the one a later batch brings, and keeps it."""
    await post(client, batch(site["site_key"], [event()], fingerprint=None))
    await post(client, batch(site["site_key"], [event("click")], fingerprint="fp_later_0001"))
    await post(client, batch(site["site_key"], [event("click")], fingerprint="fp_other_0002"))
    row = await app.state.env.DB.prepare("SELECT fingerprint, event_count FROM sessions").first()
    assert (row["fingerprint"], row["event_count"]) == ("fp_later_0001", 3)
    fingerprints = (await app.state.env.DB.prepare(
        "SELECT fingerprint, sessions FROM rollup_fingerprint ORDER BY fingerprint").all()).results
    assert fingerprints == [{"fingerprint": "fp_later_0001", "sessions": 1}]


async def test_a_session_records_its_aggregates(client, app, site) -> None:
    start = int(time.time() * 1000) - 60_000
    events = [
        event(url="https://example.com/landing?utm_source=google", ts=start),
        event("scroll", depth=75, ts=start + 5_000, url="https://example.com/landing"),
        event("click", tag="a", ts=start + 10_000, url="https://example.com/landing"),
        event("engagement", active_ms=15_000, ts=start + 15_000, url="https://example.com/landing"),
        event(url="https://example.com/pricing", ts=start + 40_000),
    ]
    body = batch(site["site_key"], events, referrer="https://www.google.com/search?q=x",
                 utm={"source": "google", "medium": "cpc", "campaign": "spring"})
    await post(client, body)
    # A later batch, sent before an earlier one arrived, still leaves entry and exit right.
    await post(client, batch(site["site_key"], [event("scroll", depth=100, ts=start + 50_000,
                                                      url="https://example.com/pricing")]))
    await post(client, batch(site["site_key"], [event("click", ts=start - 1_000, url="https://example.com/first")]))
    row = await app.state.env.DB.prepare("SELECT * FROM sessions").first()
    assert row["started_at"] == start - 1_000 and row["last_activity_at"] == start + 50_000
    assert row["duration_ms"] == 51_000
    assert row["entry_page"] == "https://example.com/first"
    assert row["exit_page"] == "https://example.com/pricing"
    assert (row["page_views"], row["event_count"], row["clicks"], row["max_scroll"], row["active_ms"]) == (2, 7, 2, 100, 15_000)
    assert row["referrer_domain"] == "google.com"
    assert (row["utm_source"], row["utm_medium"], row["utm_campaign"]) == ("google", "cpc", "spring")
    assert (row["device"], row["browser"], row["os"]) == ("desktop", "Chrome", "Linux")
    assert row["timezone"] == "Asia/Kolkata" and row["fingerprint"] == "0123456789abcdef"
    visitor = await app.state.env.DB.prepare("SELECT * FROM visitors").first()
    assert visitor["session_count"] == 1
    assert (visitor["first_seen_at"], visitor["last_seen_at"]) == (start - 1_000, start + 50_000)


async def test_late_events_hand_a_closed_archived_session_back(client, app, site) -> None:
    db = app.state.env.DB
    start = int(time.time() * 1000) - 3_600_000
    await post(client, batch(site["site_key"], [event(ts=start), event("click", ts=start + 60_000)]))
    await db.prepare("UPDATE sessions SET ended_at = last_activity_at, blob_key = 'k', archived_at = ?") \
        .bind(start + 120_000).run()
    # A queued event from before the close: still closed, but archived again with it.
    await post(client, batch(site["site_key"], [event("scroll", depth=50, ts=start + 30_000)]))
    row = await db.prepare("SELECT ended_at, archived_at, blob_key FROM sessions").first()
    assert row == {"ended_at": start + 60_000, "archived_at": None, "blob_key": "k"}
    # Activity after the close reopens the session.
    await post(client, batch(site["site_key"], [event("click", ts=start + 90_000)]))
    row = await db.prepare("SELECT ended_at, last_activity_at FROM sessions").first()
    assert row == {"ended_at": None, "last_activity_at": start + 90_000}


@pytest.mark.parametrize(("referrer", "domain"), [
    ("", "(direct)"),
    ("https://example.com/other", "(direct)"),
    ("https://www.example.com/other", "(direct)"),
    ("https://m.facebook.com/", "m.facebook.com"),
    ("android-app://com.google.android.gm/", "com.google.android.gm"),
])
async def test_referrer_domain(client, app, site, referrer: str, domain: str) -> None:
    await post(client, batch(site["site_key"], [event()], referrer=referrer))
    assert await app.state.env.DB.prepare("SELECT referrer_domain AS d FROM sessions").first("d") == domain


async def test_a_new_session_of_a_known_visitor_counts_once(client, app, site) -> None:
    for session in ("s_one", "s_two", "s_two"):
        await post(client, batch(site["site_key"], [event()], session=session))
    assert await app.state.env.DB.prepare("SELECT session_count AS n FROM visitors").first("n") == 2


async def test_hosting_network_and_timezone_mismatch_flag_vpn(app: Starlette, site) -> None:
    async def session_from(ip: str, timezone: str) -> int:
        transport = httpx.ASGITransport(app=app, client=(ip, 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            await post(http, batch(site["site_key"], [event()], session=f"s_{ip}_{timezone[:4]}", timezone=timezone))
        return await app.state.env.DB.prepare("SELECT vpn_suspected AS v FROM sessions WHERE session_id = ?") \
            .bind(f"s_{ip}_{timezone[:4]}").first("v")

    assert await session_from("167.99.1.1", "America/New_York") == 1  # DigitalOcean
    assert geo_for("49.36.1.1", {}, False).country == "IN"
    assert await session_from("49.36.1.1", "Asia/Kolkata") == 0  # Jio, in India
    assert await session_from("49.36.1.1", "America/Chicago") == 1


# --- failures: never a 2xx for what was not committed ----------------------------------------------


async def test_a_failed_commit_is_503_and_stores_nothing(client, app, site) -> None:
    db = app.state.env.DB
    await db.exec("CREATE TRIGGER refuse BEFORE INSERT ON sessions BEGIN SELECT RAISE(ABORT, 'disk trouble'); END")
    response = await post(client, batch(site["site_key"], [event(), event()]))
    assert (response.status_code, response.json()) == (503, {"error": "Could not store the batch; retry later"})
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert await count(app, "events") == 0
    await db.exec("DROP TRIGGER refuse")
    retried = await post(client, batch(site["site_key"], [event()]))
    assert retried.status_code == 202


# --- the snippet and the demo page -----------------------------------------------------------------

SNIPPET = Path(track.STATIC / "t.js")


@pytest.mark.skipif(not SNIPPET.is_file(), reason="static/t.js is not there")
async def test_the_snippet_is_served_with_caching_headers_and_an_etag(client) -> None:
    response = await client.get("/t.js", headers={"Accept-Encoding": "identity"})
    assert response.status_code == 200
    assert response.content == SNIPPET.read_bytes()
    assert response.headers["content-type"].startswith("application/javascript")
    assert response.headers["cache-control"] == "public, max-age=3600"
    etag = response.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"')
    again = await client.get("/t.js", headers={"If-None-Match": etag, "Accept-Encoding": "identity"})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    weak = await client.get("/t.js", headers={"If-None-Match": f'"other", W/{etag}', "Accept-Encoding": "identity"})
    assert weak.status_code == 304
    stale = await client.get("/t.js", headers={"If-None-Match": '"other"', "Accept-Encoding": "identity"})
    assert stale.status_code == 200


@pytest.mark.skipif(not SNIPPET.is_file(), reason="static/t.js is not there")
async def test_the_snippet_is_served_gzipped_when_asked(client) -> None:
    response = await client.get("/t.js", headers={"Accept-Encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert response.content == SNIPPET.read_bytes()  # httpx decoded it
    assert len(gzip.compress(SNIPPET.read_bytes())) < 4096
    plain = await client.get("/t.js", headers={"Accept-Encoding": "identity"})
    assert plain.headers["etag"] != response.headers["etag"]


@pytest.mark.skipif(not (track.STATIC / "demo.html").is_file(), reason="static/demo.html is not there")
async def test_the_demo_page_installs_the_snippet_for_the_development_site(client, app) -> None:
    # `dev` makes the site at start-up, with the origins of its configured address.
    await sites.ensure_dev_site(app.state.env.DB, sites.dev_origins("127.0.0.1", 8787))
    response = await client.get("/demo")
    assert response.status_code == 200
    assert "{{SITE_KEY}}" not in response.text and sites.DEV_SITE_KEY in response.text
    assert '<script src="http://testserver/t.js" data-site="site_dev" defer>' in response.text


async def test_the_demo_page_never_writes_origins(client, app) -> None:
    db = app.state.env.DB
    await sites.ensure_dev_site(db, sites.dev_origins("127.0.0.1", 8787))
    response = await client.get("/demo", headers={"Host": "evil.example"})
    assert response.status_code == 200 and "http://evil.example/t.js" in response.text
    [dev] = [site for site in await sites.list_sites(db) if site["site_key"] == sites.DEV_SITE_KEY]
    assert dev["origins"] == ["http://127.0.0.1:8787", "http://localhost:8787"]


async def test_the_demo_page_without_a_development_site_is_404(client, app) -> None:
    response = await client.get("/demo")
    assert response.status_code == 404
    assert await count(app, "sites") == 0


def test_development_origins_come_from_the_configured_address() -> None:
    assert sites.dev_origins("127.0.0.1", 9000) == ["http://127.0.0.1:9000", "http://localhost:9000"]
    assert sites.dev_origins("0.0.0.0", 8787) == ["http://0.0.0.0:8787", "http://127.0.0.1:8787",
                                                  "http://localhost:8787"]
    assert sites.dev_origins("::1", 8787)[0] == "http://[::1]:8787"


# --- hostile input: 400 naming the field, nothing stored, never a 5xx -------------------------------

LONE = "\ud800"  # half of a UTF-16 surrogate pair: JSON can carry it, UTF-8 (and so SQLite) cannot


def _nested(levels: int, key: str = "a") -> str:
    """Props nested `levels` deep, as JSON text (deeper than json.dumps itself can write)."""
    return f'{{"{key}":' * levels + "{}" + "}" * levels


def _with_props(props_json: str):
    def build(site_key: str) -> str:
        return json.dumps(batch(site_key, [event(marker=0)])).replace('{"marker": 0}', props_json)
    return build


HOSTILE = [
    (lambda key: batch(key, [event(url="https://a.example/" + LONE)]),
     "events[0].url: contains a lone UTF-16 surrogate"),
    (lambda key: batch(key, [event(title="Sky " + LONE)]), "events[0].props.title: contains a lone UTF-16 surrogate"),
    (lambda key: batch(key, [event(**{"k" + LONE: 1})]), "events[0].props: a key contains a lone UTF-16 surrogate"),
    (lambda key: batch(key, [event("click", text=["ok", {"deep": LONE}])]),
     "events[0].props.text[1].deep: contains a lone UTF-16 surrogate"),
    (lambda key: batch(key, [event()], visitor="v_" + LONE), "visitor_id: contains a lone UTF-16 surrogate"),
    (lambda key: batch(key, [event()], session="s_" + LONE), "session_id: contains a lone UTF-16 surrogate"),
    (lambda key: batch(key, [event()], fingerprint=LONE), "fingerprint: contains a lone UTF-16 surrogate"),
    (lambda key: batch(key, [event()], referrer="https://r.example/" + LONE),
     "referrer: contains a lone UTF-16 surrogate"),
    (lambda key: batch(key, [event()], utm={"campaign": "spring" + LONE}),
     "utm.campaign: contains a lone UTF-16 surrogate"),
    (lambda key: batch(key, [form({"email": "a@example.com", "name": "Asha " + LONE})]),
     "events[0].props.fields.name: contains a lone UTF-16 surrogate"),
    (lambda key: batch(key, [form({"email": "a@example.com"}, {"EMAIL" + LONE: "a@example.com"})]),
     "events[0].props.payload: a key contains a lone UTF-16 surrogate"),
    (lambda key: batch("site_" + LONE, [event()]), "site: contains a lone UTF-16 surrogate"),
    (lambda key: batch(key, [event(), {**event(), "type": []}]),
     "events[1].type: expected one of click, engagement, form_submit, page_view, scroll"),
    (lambda key: batch(key, [{**event(), "type": "\ud83d"}]), "events[0].type: unknown event type '\\ud83d'"),
    (lambda key: batch(key, [{**event(), "type": {}}]),
     "events[0].type: expected one of click, engagement, form_submit, page_view, scroll"),
    (_with_props(_nested(200)), "events[0].props" + ".a" * 29 + ": nested deeper than 32 levels"),
    (_with_props(_nested(970)), "body: nested deeper than 32 levels"),  # too deep for the parser itself
    (_with_props(_nested(40, "x" * 300)), "events[0].props." + "x" * 184 + "…: nested deeper than 32 levels"),
    (lambda key: batch(key, [event(score=1e308 * 10)]),
     "body: holds a number that is not finite (NaN, Infinity or past a float's range)"),
]


@pytest.mark.parametrize(("build", "error"), HOSTILE, ids=[error.split(":")[0][:40] for _, error in HOSTILE])
async def test_what_cannot_be_stored_is_400_naming_the_field(client, app, site, build, error) -> None:
    response = await post(client, build(site["site_key"]))
    assert (response.status_code, response.json()) == (400, {"error": error})
    assert response.headers["access-control-allow-origin"] == ORIGIN
    for table in ("events", "sessions", "visitors", "submissions", "leads", "bot_hits"):
        assert await count(app, table) == 0, table


@pytest.mark.parametrize(("body", "error"), [
    (b'{"site": "k", "events": [{"props": {"x": NaN}}]}',
     "body: holds a number that is not finite (NaN, Infinity or past a float's range)"),
    (b'{"site": "k", "x": -Infinity}', "body: holds a number that is not finite (NaN, Infinity or past a float's range)"),
    (b"[" * 30_000 + b"]" * 30_000, "body: nested deeper than 32 levels"),
    (b'{"site": "\\udc00"}', "site: contains a lone UTF-16 surrogate"),
])
async def test_a_body_no_batch_can_come_from_is_400(client, body: bytes, error: str) -> None:
    response = await post(client, body)
    assert (response.status_code, response.json()) == (400, {"error": error})


async def test_a_surrogate_pair_is_a_character_and_is_stored(client, app, site) -> None:
    response = await post(client, batch(site["site_key"], [event("click", text="Book now \U0001F600")]))
    assert response.status_code == 202
    stored = await app.state.env.DB.prepare("SELECT props FROM events").first("props")
    assert json.loads(stored) == {"text": "Book now \U0001F600"}


async def test_a_megabyte_user_agent_is_read_no_further_than_its_start(client, app, site) -> None:
    agent = BROWSER + " " + "".join(f"x{n:07d}" for n in range(131_072))  # unique: no cache can help

    async def healthz_ms() -> float:
        started = time.perf_counter()
        assert (await client.get("/healthz")).status_code == 200
        return (time.perf_counter() - started) * 1000

    await healthz_ms()
    started = time.perf_counter()
    response, health = await asyncio.gather(post(client, batch(site["site_key"], [event()]), **{"User-Agent": agent}),
                                            healthz_ms())
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code == 202 and response.json()["accepted"] == 1
    assert elapsed < 50 and health < 50, (elapsed, health)
    row = await app.state.env.DB.prepare("SELECT browser, os, device FROM sessions").first()
    assert row == {"browser": "Chrome", "os": "Linux", "device": "desktop"}
