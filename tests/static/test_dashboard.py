"""The dashboard page in headless Chromium against the real worker, as a person would use it.

The worker runs in uvicorn on a loopback port with the seeded workspace of tests/seed.py, plus
visits and form submissions sent through POST /track (devices, UTM campaigns, more leads) and
one empty workspace. Each test signs in through the page and compares what the page shows with
what the API answers for the same key. Screenshots of every view are saved under the test run's
base temporary directory, in `dashboard-screenshots/` (pytest --basetemp=DIR puts them in DIR).
"""
from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, Page, expect

import handlers
from domain import auth, sites
from storage import migrations
from storage.bindings import bindings, database_file
from storage.config import load_config
from storage.d1 import D1Database
from storage.r2 import R2Bucket
from storage.s3local import free_port
from tests.conftest import API_KEY, write_config
from tests.seed import DAY, HOUR, MINUTE, Workspace, seed_workspace
from tests.tracking import ORIGIN, batch, event, form
from worker import create_app

pytest_plugins = ["tests.browser"]

ROOT = Path(__file__).resolve().parents[2]
WINDOWS_CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
                  " Chrome/126.0.0.0 Safari/537.36")
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko)"
          " Version/17.5 Mobile/15E148 Safari/604.1")
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
FORM_LEADS = 30  # leads made by form submissions, so the list has more than one page


@dataclass(frozen=True)
class Worker:
    url: str
    database: Path
    workspace: Workspace
    empty_key: str  # a workspace with a site and no visits
    site_key: str  # that workspace's site
    screenshots: Path

    def api(self, path: str, key: str = API_KEY, **params: Any) -> Any:
        response = httpx.get(self.url + path, params=params, headers={"Authorization": f"Bearer {key}"}, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def sql(self, statement: str, *params: Any) -> None:
        async def run() -> None:
            db = D1Database(self.database)
            await db.open()
            try:
                await db.prepare(statement).bind(*params).run()
            finally:
                await db.close()

        run_async(run())

    def shot(self, page: Page, name: str, full_page: bool = True) -> None:
        page.screenshot(path=str(self.screenshots / f"{name}.png"), full_page=full_page)


def run_async(coroutine: Any) -> Any:
    """Run a coroutine to its end on a thread of its own: Playwright's sync API keeps an event loop
    running in this thread."""
    result: list[Any] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coroutine))
        except BaseException as error:  # handed back to the caller below
            failure.append(error)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


async def _prepare(config: Any, endpoint: Any) -> tuple[Workspace, str, str, str]:
    found = bindings(config, endpoint)
    for binding in found.values():
        await binding.open()
    try:
        db = found["DB"]
        await migrations.apply(db, ROOT / "migrations")
        for binding in found.values():
            if isinstance(binding, R2Bucket):
                await binding.create_bucket()
        workspace = await seed_workspace(db)
        await db.prepare("INSERT INTO workspaces (id, name, created_at) VALUES ('ws-empty', 'Empty', 0)").run()
        empty_key, _ = await auth.create_key(db, "ws-empty", "empty workspace")
        empty_site = await sites.create_site(db, "ws-empty", ["https://new-site.example"], name="New site")
        site = await sites.create_site(db, "default", [ORIGIN], name="Example")
        return workspace, empty_key, empty_site["site_key"], site["site_key"]
    finally:
        for binding in found.values():
            await binding.close()


def _track(url: str, body: dict[str, Any], agent: str) -> None:
    response = httpx.post(url + "/track", content=json.dumps(body), timeout=10,
                          headers={"Origin": ORIGIN, "User-Agent": agent, "Content-Type": "text/plain"})
    assert response.status_code == 202, response.text


def _ingest(url: str, site_key: str, workspace: Workspace) -> None:
    """Visits with devices and UTM campaigns, crawler hits, and form submissions that make leads."""
    now = workspace.now
    _track(url, batch(site_key, [event(ts=now - 5 * MINUTE)], visitor="v_win", session="s_win",
                      utm={"source": "google", "medium": "cpc", "campaign": "launch"}), WINDOWS_CHROME)
    _track(url, batch(site_key, [event(ts=max(workspace.today, now - HOUR))], visitor="v_phone", session="s_phone",
                      utm={"source": "newsletter", "medium": "email", "campaign": "launch"}), IPHONE)
    _track(url, batch(site_key, [event()], visitor="v_bot", session="s_bot"), GOOGLEBOT)
    for n in range(FORM_LEADS):
        fields = {"name": f"Form Lead {n:02d}", "email": f"form{n:02d}@leads.example", "project": "Lake View"}
        _track(url, batch(site_key, [form(fields, ts=workspace.today - 5 * DAY + n * MINUTE)],
                          visitor=f"v_form{n}", session=f"s_form{n}"), WINDOWS_CHROME)


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory, s3_server: Any) -> Iterator[Worker]:
    root = tmp_path_factory.mktemp("dashboard")
    config = load_config(write_config(root), local=True, environ={})
    endpoint = getattr(s3_server, "endpoint", s3_server)
    workspace, empty_key, empty_site, site_key = run_async(_prepare(config, endpoint))
    app = create_app(config, local_s3=endpoint)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the worker did not start"
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    _ingest(url, site_key, workspace)
    screenshots = tmp_path_factory.getbasetemp() / "dashboard-screenshots"
    screenshots.mkdir(exist_ok=True)
    yield Worker(url, database_file(config, config.d1_databases[0]), workspace, empty_key, empty_site, screenshots)
    server.should_exit = True
    thread.join(timeout=20)


def sign_in(page: Page, worker: Worker, key: str = API_KEY, view: str = "") -> None:
    page.goto(f"{worker.url}/{'#' + view if view else ''}")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#nav")).to_be_visible()


def formatted(value: Any) -> str:
    """A number as the page shows it: integers grouped by thousands, other numbers as the API wrote them."""
    return f"{value:,}" if isinstance(value, int) else str(value)


class Held:
    """The page's first request whose URL matches `pattern`, kept unanswered until `answer_late`
    (later ones go through): an answer that arrives after the answers to newer requests."""

    def __init__(self, page: Page, pattern: str) -> None:
        self.page = page
        self.routes: list[Any] = []
        page.route(re.compile(pattern), lambda route: route.continue_() if self.routes else self.routes.append(route))

    def wait(self) -> None:
        for _ in range(200):
            if self.routes:
                return
            self.page.wait_for_timeout(50)
        raise AssertionError("the page never made the request")

    def answer_late(self) -> None:
        self.wait()
        with self.page.expect_response(lambda response: response.request == self.routes[0].request) as answered:
            self.routes[0].continue_()
        assert answered.value.ok
        self.page.wait_for_timeout(300)  # time for the answer to be read (and, were it drawn, drawn)


# --- sign-in -----------------------------------------------------------------------------------------


def test_a_wrong_key_shows_the_apis_message(page: Page, worker: Worker) -> None:
    page.goto(worker.url + "/")
    page.get_by_label("API key").fill("not-a-key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Invalid API key")
    expect(page.locator("#nav")).to_be_hidden()
    worker.shot(page, "sign-in-error")


# --- overview ----------------------------------------------------------------------------------------


def tile_values(page: Page, panel: str) -> dict[str, str]:
    tiles = page.locator(f"#{panel} .tile")
    expect(tiles.first).to_be_visible()
    return {tiles.nth(i).get_attribute("data-key"): tiles.nth(i).locator(".tile-value").inner_text()
            for i in range(tiles.count())}


def test_overview_tiles_equal_the_api(page: Page, worker: Worker) -> None:
    sign_in(page, worker)
    overview = worker.api("/analytics/overview")
    # the seed's 7, two tracked visits and 30 form visits; the crawler made none
    assert overview["total_sessions"] == 7 + 2 + FORM_LEADS
    assert tile_values(page, "overview-tiles") == {key: formatted(value) for key, value in overview.items()}
    expect(page.locator("#storage .tile")).to_have_count(2)
    storage = worker.api("/analytics/storage")
    assert tile_values(page, "storage") == {key: formatted(value) for key, value in storage.items()}
    realtime = worker.api("/analytics/realtime")
    assert tile_values(page, "realtime") == {key: formatted(value) for key, value in realtime.items()}
    expect(page.locator("#realtime .updated")).to_contain_text("Updated")
    worker.shot(page, "overview")


def test_a_late_answer_for_the_previous_range_does_not_replace_the_new_one(page: Page, worker: Worker) -> None:
    held = Held(page, r".*/analytics/sessions/daily\?days=30$")  # the default range, asked for on sign-in
    sign_in(page, worker)
    held.wait()
    page.get_by_role("button", name="7 days").click()
    expect(page.locator("#daily circle.point")).to_have_count(14)
    held.answer_late()
    expect(page.locator("#daily circle.point")).to_have_count(14)
    expect(page.locator("#daily svg").first).to_have_attribute("aria-label", "Sessions and unique visitors, last 7 days")


def test_the_chart_has_a_point_per_day_and_series_for_each_range(page: Page, worker: Worker) -> None:
    sign_in(page, worker)
    for days in (7, 30, 90):
        page.get_by_role("button", name=f"{days} days").click()
        expect(page.get_by_role("button", name=f"{days} days")).to_have_attribute("aria-pressed", "true")
        expect(page.locator("#daily circle.point")).to_have_count(2 * days)
        series = worker.api("/analytics/sessions/daily", days=days)
        for key in ("total_sessions", "unique_visitors"):
            points = page.locator(f"#daily [data-series={key}] circle.point")
            shown = points.evaluate_all("nodes => nodes.map(n => [n.dataset.date, Number(n.dataset.value)])")
            assert shown == [[day["date"], day[key]] for day in series], (days, key)
        if days == 7:
            worker.shot(page, "overview-7-days")


def ranked(page: Page, selector: str) -> list[list[str]]:
    rows = page.locator(f"{selector} tbody tr")
    expect(rows.first).to_be_visible()
    return rows.evaluate_all("rows => rows.map(r => [r.dataset.label, ...Array.from(r.querySelectorAll('td.num'),"
                             " td => Number(td.dataset.value))])")


def test_ranked_tables_and_histogram_equal_the_api(page: Page, worker: Worker) -> None:
    sign_in(page, worker)
    pages = worker.api("/analytics/pages/top", limit=20)
    assert ranked(page, "#pages") == [[p["page"], p["views"], p["unique_sessions"]] for p in pages]
    sources = worker.api("/analytics/sources")
    assert ranked(page, "#sources") == [[s["referrer_domain"], s["sessions"]] for s in sources]
    geo = worker.api("/analytics/geo")
    assert ranked(page, "#geo") == [[c["country"] or "", c["sessions"], c["unique_visitors"]] for c in geo]
    buckets = worker.api("/analytics/engagement")
    bars = page.locator("#engagement rect.bar").evaluate_all(
        "bars => bars.map(b => [b.dataset.label, Number(b.dataset.value)])")
    assert bars == [[b["bucket"], b["count"]] for b in buckets]


def test_devices_utm_and_bots_equal_the_api(page: Page, worker: Worker) -> None:
    sign_in(page, worker)
    devices = worker.api("/analytics/devices", days=30, limit=10)
    assert ranked(page, "#devices [data-list=Devices]") == [[d["device"] or "", d["sessions"]]
                                                           for d in devices["devices"]]
    assert ranked(page, "#devices [data-list=Browsers]") == [[b["browser"] or "", b["sessions"]]
                                                            for b in devices["browsers"]]
    assert ["Windows", 31] in ranked(page, "#devices [data-list='Operating systems']")  # the tracked desktop visits
    utm = worker.api("/analytics/campaigns/utm", days=30, limit=10)
    assert ranked(page, "#utm [data-list='UTM campaigns']") == [["launch", 2]] == [
        [c["utm_campaign"], c["sessions"]] for c in utm["campaigns"]]
    bots = worker.api("/analytics/bots", days=30)
    shown = page.locator("#bots rect.bar").evaluate_all(
        "bars => bars.map(b => [b.dataset.label, Number(b.dataset.value)])")
    assert shown == [[d["date"], d["hits"]] for d in bots]
    assert bots[-1]["hits"] == 1  # the crawler's request today
    expect(page.locator("#bots .total")).to_have_attribute("data-value", "1")
    page.locator("#devices").scroll_into_view_if_needed()
    worker.shot(page, "overview-breakdowns")


def test_an_empty_workspace_shows_how_to_install_the_snippet(page: Page, worker: Worker) -> None:
    sign_in(page, worker, key=worker.empty_key)
    snippet = page.locator("#install code.snippet")
    expect(snippet).to_have_text(f'<script src="{worker.url}/t.js" data-site="{worker.site_key}" defer></script>')
    expect(page.locator(".tile")).to_have_count(0)  # no zeros
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_role("button", name="Copy").click()
    expect(page.locator("#install .copied")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == snippet.inner_text()
    worker.shot(page, "empty-workspace")


# --- leads -------------------------------------------------------------------------------------------

STAGES = ("new", "contacted", "qualified", "proposal", "won", "lost")


def column(page: Page, stage: str) -> Any:
    return page.locator(f".column[data-status={stage}]")


def board_state(page: Page) -> dict[str, tuple[str, list[int]]]:
    """Each column's count and the lead ids of its cards, top to bottom."""
    cards = "cards => cards.map(card => card.dataset.leadId)"
    return {stage: (column(page, stage).locator(".count").inner_text(),
                    [int(i) for i in column(page, stage).locator(".card").evaluate_all(cards)])
            for stage in STAGES}


def api_board(worker: Worker) -> dict[str, tuple[str, list[int]]]:
    pages = {stage: worker.api("/analytics/leads", status=stage, limit=100) for stage in STAGES}
    return {stage: (formatted(page["total"]), [lead["lead_id"] for lead in page["leads"]])
            for stage, page in pages.items()}


def open_board(page: Page, worker: Worker) -> None:
    sign_in(page, worker, view="leads/board")
    expect(column(page, "new").locator(".count")).not_to_have_text("…")
    for stage in STAGES:
        expect(column(page, stage).locator(".loading")).to_have_count(0)


def test_the_board_has_a_column_per_stage_with_the_apis_leads(page: Page, worker: Worker) -> None:
    open_board(page, worker)
    assert board_state(page) == api_board(worker)
    card = page.locator('.card[data-lead-id="2"]')
    expect(card.locator(".card-name")).to_have_text("Priya Patel")
    expect(card.locator(".card-project")).to_have_text("Green Valley")
    expect(card.locator(".heat")).to_have_text("Very Hot · 85")
    expect(card.locator(".suspicion")).to_have_text("Suspicion 40")
    worker.shot(page, "leads-board")


def test_dragging_a_card_from_new_to_contacted_changes_the_lead(page: Page, worker: Worker) -> None:
    open_board(page, worker)
    before = api_board(worker)
    page.locator('.card[data-lead-id="2"]').drag_to(column(page, "contacted").locator(".cards"))
    expect(column(page, "contacted").locator('.card[data-lead-id="2"]')).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="Moved")).to_have_text("Moved Priya Patel to Contacted")
    assert worker.api("/analytics/leads/2")["lead"]["status"] == "contacted"
    assert int(before["new"][0]) - 1 == int(api_board(worker)["new"][0])
    assert board_state(page)["new"][0] == api_board(worker)["new"][0]
    assert board_state(page)["contacted"][0] == api_board(worker)["contacted"][0]
    worker.shot(page, "leads-board-after-drag")


def test_a_failed_move_is_rolled_back_with_the_apis_message(page: Page, worker: Worker) -> None:
    open_board(page, worker)
    before = board_state(page)
    # Someone deletes lead 3 while the board is open: the API refuses the move.
    worker.sql("UPDATE leads SET deleted_at = ? WHERE lead_id = 3", worker.workspace.now)
    try:
        page.locator('.card[data-lead-id="3"]').drag_to(column(page, "lost").locator(".cards"))
        expect(page.locator(".board-message")).to_have_text("Could not move alex smith to Lost: Lead not found")
        expect(column(page, "won").locator('.card[data-lead-id="3"]')).to_be_visible()
        assert board_state(page) == before
        worker.shot(page, "leads-board-failed-move")
    finally:
        worker.sql("UPDATE leads SET deleted_at = NULL WHERE lead_id = 3")
    assert worker.api("/analytics/leads/3")["lead"]["status"] == "won"


def test_the_board_works_from_the_keyboard(page: Page, worker: Worker) -> None:
    open_board(page, worker)
    card = page.locator('.card[data-lead-id="1"]')
    card.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("dialog")).to_be_visible()
    expect(page.locator("#drawer-title")).to_have_text("Rahul Sharma")
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_be_hidden()
    expect(card).to_be_focused()
    page.keyboard.press("Tab")  # the card's "Move to" menu
    expect(card.locator("select")).to_be_focused()
    card.locator("select").select_option("qualified")
    expect(column(page, "qualified").locator('.card[data-lead-id="1"]')).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="Moved")).to_have_text("Moved Rahul Sharma to Qualified")
    assert worker.api("/analytics/leads/1")["lead"]["status"] == "qualified"


def list_ids(page: Page) -> list[int]:
    rows = page.locator(".leads-table tbody tr")
    return [int(i) for i in rows.evaluate_all("rows => rows.map(r => r.dataset.leadId)")]


def test_the_list_searches_filters_sorts_and_pages_like_the_api(page: Page, worker: Worker) -> None:
    sign_in(page, worker, view="leads/list")
    expect(page.locator(".leads-table")).to_be_visible()
    first = worker.api("/analytics/leads", limit=25)
    assert list_ids(page) == [lead["lead_id"] for lead in first["leads"]]
    expect(page.locator(".pager .range")).to_have_text(f"1–25 of {first['total']}")
    page.get_by_role("button", name="Next").click()
    second = worker.api("/analytics/leads", limit=25, offset=25)
    expect(page.locator(".pager .range")).to_have_text(f"26–{first['total']} of {first['total']}")
    assert list_ids(page) == [lead["lead_id"] for lead in second["leads"]]
    expect(page.get_by_role("button", name="Next")).to_be_disabled()

    page.get_by_label("Search").fill("sky")
    expect(page.locator(".pager .range")).to_have_text(re.compile(r"^1–\d+ of \d+$"))
    expected = worker.api("/analytics/leads", q="sky", limit=25)
    expect(page.locator(".pager .range")).to_have_text(f"1–{expected['total']} of {expected['total']}")
    assert list_ids(page) == [lead["lead_id"] for lead in expected["leads"]]
    worker.shot(page, "leads-list-search")

    page.get_by_label("Search").fill("")
    for sort in ("newest", "oldest", "last_follow_up", "score_desc", "score_asc", "risk_desc", "risk_asc", "name_asc"):
        page.get_by_label("Sort").select_option(sort)
        expected_ids = [lead["lead_id"] for lead in worker.api("/analytics/leads", sort=sort, limit=25)["leads"]]
        expect(page.locator(".leads-table tbody tr").first).to_have_attribute("data-lead-id", str(expected_ids[0]))
        page.wait_for_function("ids => Array.from(document.querySelectorAll('.leads-table tbody tr'),"
                               " r => Number(r.dataset.leadId)).join() === ids.join()", arg=expected_ids)
    page.get_by_label("Stage").select_option("won")
    expect(page.locator(".leads-table tbody tr")).to_have_count(worker.api("/analytics/leads", status="won")["total"])


def test_a_late_answer_does_not_replace_the_newer_list_or_lead(page: Page, worker: Worker) -> None:
    held = Held(page, r".*/analytics/leads\?")  # the list as the view opens
    sign_in(page, worker, view="leads/list")
    held.wait()
    page.get_by_label("Sort").select_option("name_asc")
    by_name = [lead["lead_id"] for lead in worker.api("/analytics/leads", sort="name_asc", limit=25)["leads"]]
    assert by_name != [lead["lead_id"] for lead in worker.api("/analytics/leads", limit=25)["leads"]]
    page.wait_for_function("ids => Array.from(document.querySelectorAll('.leads-table tbody tr'),"
                           " r => Number(r.dataset.leadId)).join() === ids.join()", arg=by_name)
    held.answer_late()
    assert list_ids(page) == by_name

    # A lead opened, closed while it loads, and another opened: the drawer is the second one's.
    held = Held(page, r".*/analytics/leads/3$")
    page.get_by_role("button", name="alex smith").click()
    held.wait()
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Form Lead 00").click()
    drawer = page.get_by_role("dialog")
    expect(drawer.locator("#drawer-title")).to_have_text("Form Lead 00")
    expect(drawer.locator(".fields").first).to_contain_text("form00@leads.example")
    held.answer_late()
    expect(drawer.locator("#drawer-title")).to_have_text("Form Lead 00")


def test_the_lead_drawer_shows_contact_sessions_submissions_checklist_and_messages(page: Page,
                                                                                   worker: Worker) -> None:
    sent = httpx.post(f"{worker.url}/api/v1/leads/uuid-1/messages", headers={"X-API-Key": API_KEY}, timeout=10,
                      json={"channel": "sms", "direction": "outbound", "status": "sent",
                            "body": "Site visit on Saturday at 11?"})
    assert sent.status_code == 201, sent.text
    sign_in(page, worker, view="leads/list")
    page.get_by_role("button", name="Rahul Sharma").click()
    drawer = page.get_by_role("dialog")
    expect(drawer.locator("#drawer-title")).to_have_text("Rahul Sharma")
    detail = worker.api("/analytics/leads/1")
    expect(drawer.locator(".timeline li")).to_have_count(len(detail["sessions"]))
    expect(drawer.locator(".submission")).to_have_count(len(detail["submissions"]))
    expect(drawer.locator(".fields").first).to_contain_text("rahul@example.com")
    second = drawer.locator(".submission").nth(1)
    expect(second.locator(".payload")).to_contain_text("Rahul S")
    expect(second).to_contain_text("Within duplicate window")
    # The checklist and the last message come from the lead-record surface, by the lead's UUID.
    record = worker.api(f"/api/v1/leads/{detail['lead']['uuid']}")
    items = [item for group in record["checklistItems"] for item in group["items"]]
    done = sum(item["status"] == "COMPLETED" for item in items)
    expect(drawer.locator(".progress-line")).to_contain_text(f"{done} of {len(items)} completed")
    expect(drawer.locator(".checklist .item")).to_have_count(len(items))
    expect(drawer.locator(".action-log li")).to_have_count(len(record["actionLogs"]))
    expect(drawer.locator(".record")).to_contain_text("Site visit on Saturday at 11?")
    drawer.locator(".record").scroll_into_view_if_needed()
    page.screenshot(path=str(worker.screenshots / "lead-drawer.png"))


# --- campaigns, calls, export ------------------------------------------------------------------------


def post(worker: Worker, path: str, body: dict[str, Any], method: str = "POST") -> Any:
    response = httpx.request(method, worker.url + path, json=body, headers={"Authorization": f"Bearer {API_KEY}"},
                             timeout=10)
    assert response.status_code in (200, 201), response.text
    return response.json()


def test_campaign_metrics_equal_the_api_with_their_explainers(page: Page, worker: Worker) -> None:
    campaign = post(worker, "/api/campaigns", {"name": "Dashboard launch"})
    campaign_id = campaign.get("id") or campaign["campaign"]["id"]
    line = post(worker, "/api/lines", {"name": "Sales line", "address": "+14155550100"})
    line_id = line.get("id") or line["line"]["id"]
    for contact, status in [("+14155550123", "delivered"), ("+14155550124", "sent"), ("+14155550125", "failed")]:
        post(worker, "/api/messages", {"direction": "outbound", "contact": contact, "channel": "sms", "status": status,
                                       "campaignId": campaign_id, "lineId": line_id, "userId": "user_dash",
                                       "body": "Hello from the launch"})
    post(worker, "/api/messages", {"direction": "inbound", "contact": "+14155550123", "channel": "sms",
                                   "campaignId": campaign_id, "body": "Interested!"})
    sign_in(page, worker, view="campaigns")
    page.get_by_label("Campaign id").fill(campaign_id)
    page.get_by_role("button", name="Show metrics").click()
    expect(page.locator(".filter-echo")).to_contain_text(campaign_id)
    today = time.strftime("%Y-%m-%d", time.gmtime())
    start = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 29 * 86400))
    answer = worker.api("/api/analytics", campaignId=campaign_id, dateFrom=f"{start}T00:00:00Z",
                        dateTo=f"{today}T23:59:59.999Z")
    assert answer["metrics"]["reached"] == 2 and answer["metrics"]["failed"] == 1
    tiles = page.locator(".metrics .tile")
    shown = tiles.evaluate_all("ts => Object.fromEntries(ts.map(t => [t.dataset.key, JSON.parse(t.dataset.value)]))")
    assert shown == answer["metrics"]
    reply_rate = page.locator(".tile[data-key=repliedPct]")
    expect(reply_rate.locator(".tile-value")).to_have_text(f"{answer['metrics']['repliedPct'] * 100:.2f}%")
    reply_rate.hover()
    expect(reply_rate.locator(".explainer")).to_be_visible()
    expect(reply_rate.locator(".explainer")).to_have_text(answer["explainer"]["repliedPct"])
    worker.shot(page, "campaigns")
    page.get_by_label("Line id").fill("not-hex")
    page.get_by_label("Campaign id").fill("")
    page.locator("#campaign-lineId").evaluate("input => input.removeAttribute('pattern')")  # let the API judge it
    page.get_by_role("button", name="Show metrics").click()
    expect(page.locator("[data-view=campaigns] .error")).to_contain_text("lineId")


def test_calls_list_filters_and_one_analysis(page: Page, worker: Worker) -> None:
    sign_in(page, worker, view="calls")
    listed = worker.api("/api/v1/analysis/", limit=20)
    rows = page.locator(".calls-table tbody tr")
    expect(rows).to_have_count(len(listed["data"]))
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.analysisId)") == [a["id"] for a in listed["data"]]
    page.get_by_label("Status").select_option("completed")
    page.get_by_role("button", name="Filter").click()
    completed = worker.api("/api/v1/analysis/", status_filter="completed", limit=20)
    expect(rows).to_have_count(len(completed["data"]))
    first = completed["data"][0]
    rows.first.get_by_role("button").click()
    analysis = worker.api(f"/api/v1/analysis/{first['id']}")
    panel = page.locator(".analysis")
    expect(panel.locator(".transcript li")).to_have_count(len(analysis["transcript"]["segments"]))
    expect(panel.locator(".transcript li").first).to_contain_text(analysis["transcript"]["segments"][0]["text"])
    expect(panel).to_contain_text("coaching")
    worker.shot(page, "calls")


def test_late_answers_do_not_replace_newer_calls_or_campaign_metrics(page: Page, worker: Worker) -> None:
    held = Held(page, r".*/api/v1/analysis/\?")  # the list as the view opens, every status
    sign_in(page, worker, view="calls")
    held.wait()
    page.get_by_label("Status").select_option("completed")
    page.get_by_role("button", name="Filter").click()
    completed = [a["id"] for a in worker.api("/api/v1/analysis/", status_filter="completed", limit=20)["data"]]
    assert completed != [a["id"] for a in worker.api("/api/v1/analysis/", limit=20)["data"]]
    rows = page.locator(".calls-table tbody tr")
    expect(rows).to_have_count(len(completed))
    held.answer_late()
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.analysisId)") == completed

    # One analysis opened, then another before the first has loaded: the panel shows the second.
    first, second = (worker.api(f"/api/v1/analysis/{analysis_id}") for analysis_id in completed[:2])
    held = Held(page, rf".*/api/v1/analysis/{first['id']}$")
    rows.nth(0).get_by_role("button").click()
    held.wait()
    rows.nth(1).get_by_role("button").click()
    heading = f"Call {second['call']['contact_id']} with {second['call']['agent_id']}"
    assert heading != f"Call {first['call']['contact_id']} with {first['call']['agent_id']}"
    expect(page.locator(".analysis h2")).to_have_text(heading)
    held.answer_late()
    expect(page.locator(".analysis h2")).to_have_text(heading)

    held = Held(page, r".*/api/analytics\?")  # the metrics for everything, as the view opens
    page.goto(f"{worker.url}/#campaigns")
    held.wait()
    page.get_by_label("User id").fill("user_late")
    page.get_by_role("button", name="Show metrics").click()
    expect(page.locator(".filter-echo")).to_contain_text("user_late")
    held.answer_late()
    expect(page.locator(".filter-echo")).to_contain_text("user_late")


def test_export_downloads_the_csv(page: Page, worker: Worker) -> None:
    sign_in(page, worker, view="export")
    with page.expect_download() as waiting:
        page.get_by_role("button", name="Export CSV").click()
    download = waiting.value
    text = Path(download.path()).read_text(encoding="utf-8")
    header = text.splitlines()[0].split(",")
    assert header[:3] == ["leadId", "firstName", "lastName"]
    ids = [line.split(",")[0] for line in text.strip().splitlines()[1:]]
    # The page asked for leads created in the last 30 UTC days: the JSON answer for the same range agrees.
    today = time.strftime("%Y-%m-%d", time.gmtime())
    start = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 29 * 86400))
    answer = worker.api("/api/v0/analytics", start=f"{start}T00:00:00Z", end=f"{today}T23:59:59.999Z")
    assert len(ids) == answer["totals"]["count"] >= 3 + FORM_LEADS
    assert set(ids) == {lead["leadId"] for lead in answer["breakdown"]}
    assert "uuid-1" in ids
    expect(page.locator(".export-result a.download")).to_be_visible()
    worker.shot(page, "export")


# --- the reference, the page's hosts, phone width ------------------------------------------------------


def test_docs_render_every_operation_of_the_openapi_document(page: Page, worker: Worker) -> None:
    document = httpx.get(worker.url + "/openapi.json", timeout=10).json()
    operations = [(path, method) for path, item in document["paths"].items() for method in item]
    page.goto(worker.url + "/docs")
    expect(page.locator("article.operation[id]:not([id^=schema-])")).to_have_count(len(operations))
    devices = page.locator("#tracking_devices")
    expect(devices).to_contain_text("/analytics/devices")
    expect(devices.locator(".badge.extension")).to_have_text("extension")
    expect(devices.locator("table.params")).to_contain_text("≤ 90")
    expect(page.locator("#schema-Devices")).to_contain_text("browsers")
    for surface in handlers.SURFACES:
        expect(page.locator(f"#tag-{surface.dialect.name}")).to_be_visible()
    worker.shot(page, "docs", full_page=False)
    devices.scroll_into_view_if_needed()
    worker.shot(page, "docs-devices", full_page=False)


def test_the_page_talks_only_to_its_own_host(page: Page, worker: Worker) -> None:
    requested: list[str] = []
    errors: list[str] = []  # script errors and Content-Security-Policy violations
    page.on("request", lambda request: requested.append(request.url))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    sign_in(page, worker)
    expect(page.locator("#bots rect.bar").first).to_be_attached()
    for view in ("leads/board", "leads/list", "campaigns", "calls", "export"):
        page.goto(f"{worker.url}/#{view}")
        page.wait_for_load_state("networkidle")
    page.goto(worker.url + "/docs")
    page.wait_for_load_state("networkidle")
    others = [url for url in requested if not url.startswith(worker.url + "/")]
    assert requested and not others, others
    assert not errors, errors
    response = httpx.get(worker.url + "/", timeout=10)
    assert response.headers["content-security-policy"].startswith("default-src 'self';")
    assert "connect-src 'self'" in response.headers["content-security-policy"]


def test_it_works_at_phone_width(browser: Browser, worker: Worker) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        sign_in(page, worker)
        expect(page.locator("#daily circle.point").first).to_be_attached()
        expect(page.locator("#bots rect.bar").first).to_be_attached()
        # Nothing wider than the screen: the page never scrolls sideways (the board and tables scroll in place).
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        worker.shot(page, "phone-overview")
        page.goto(f"{worker.url}/#leads/board")
        expect(column(page, "won").locator(".card").first).to_be_attached()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        # No dragging on a touch screen: each card's menu moves it.
        card = page.locator('.card[data-lead-id="3"]')
        card.locator("select").select_option("proposal")
        expect(column(page, "proposal").locator('.card[data-lead-id="3"]')).to_be_attached()
        assert worker.api("/analytics/leads/3")["lead"]["status"] == "proposal"
        worker.shot(page, "phone-leads-board")
        page.goto(f"{worker.url}/#leads/list")
        expect(page.locator(".leads-table")).to_be_attached()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        worker.shot(page, "phone-leads-list")
    finally:
        context.close()
