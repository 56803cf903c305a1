"""The tracking snippet (static/t.js) in headless Chromium against a real receiving server.

The server below serves static/ and test pages over HTTP on 127.0.0.1 and records every
POST /track: it checks each body against the wire protocol, can be told to answer a status
(503 for an outage, 400 for a rejected batch), and deduplicates events by id as the worker does.
"""

import gzip
import html
import io
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvicorn
from playwright.sync_api import Browser, BrowserContext, Page
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from domain.json_input import first_flaw

pytest_plugins = ["tests.browser"]

STATIC = Path(__file__).resolve().parents[2] / "static"
T = TypeVar("T")

_ENVELOPE_KEYS = {"site", "visitor_id", "session_id", "fingerprint", "timezone", "language", "screen",
                  "referrer", "utm", "webdriver", "sent_at", "events"}
_EVENT_TYPES = {"page_view", "click", "scroll", "engagement", "form_submit"}
_EVENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


def _protocol_error(body: Any) -> str | None:
    """What is wrong with a /track body according to the wire protocol, or None."""
    if not isinstance(body, dict):
        return "body is not an object"
    flaw = first_flaw(body)  # what the worker refuses: a lone surrogate, nesting past its limit
    if flaw is not None:
        return str(flaw)
    missing = _ENVELOPE_KEYS - body.keys()
    if missing:
        return f"missing {sorted(missing)}"
    if not re.fullmatch(r"v_[A-Za-z0-9_-]{22}", body["visitor_id"]):
        return f"visitor_id {body['visitor_id']!r}"
    if not re.fullmatch(r"s_[A-Za-z0-9_-]{22}", body["session_id"]):
        return f"session_id {body['session_id']!r}"
    if not re.fullmatch(r"[0-9a-f]{1,64}", body["fingerprint"]):
        return f"fingerprint {body['fingerprint']!r}"
    events = body["events"]
    if not isinstance(events, list) or not 1 <= len(events) <= 100:
        return f"{len(events)} events"
    for index, event in enumerate(events):
        if not _EVENT_ID.match(str(event.get("id"))):
            return f"events[{index}].id {event.get('id')!r}"
        if event.get("type") not in _EVENT_TYPES:
            return f"events[{index}].type {event.get('type')!r}"
        if not isinstance(event.get("ts"), int) or not isinstance(event.get("url"), str):
            return f"events[{index}] ts/url"
        if not isinstance(event.get("props"), dict):
            return f"events[{index}].props"
    return None


@dataclass
class Delivery:
    """One POST /track as the server saw it."""

    status: int
    content_type: str
    origin: str | None
    body: dict[str, Any]

    @property
    def event_ids(self) -> list[str]:
        return [event["id"] for event in self.body["events"]]


@dataclass
class Receiver:
    """The receiving end of /track, shared between the server thread and the test."""

    statuses: dict[str, list[int]] = field(default_factory=dict)  # per site, answered first, in order
    default_status: dict[str, int] = field(default_factory=dict)  # per site, afterwards; else 202
    deliveries: list[Delivery] = field(default_factory=list)
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)  # event id -> event + envelope
    protocol_errors: list[str] = field(default_factory=list)
    pages: dict[str, str] = field(default_factory=dict)
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def reset(self) -> None:
        with self._changed:
            self.statuses.clear()
            self.default_status.clear()
            self.deliveries.clear()
            self.accepted.clear()
            self.protocol_errors.clear()
            self.pages.clear()

    def answer(self, site: str, *statuses: int, then: int = 202) -> None:
        """How to answer the site's next requests (other sites' late beacons are not affected)."""
        with self._changed:
            self.statuses[site] = list(statuses)
            self.default_status[site] = then

    def receive(self, raw: bytes, content_type: str, origin: str | None) -> tuple[int, dict[str, Any]]:
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        with self._changed:
            error = _protocol_error(body)
            if error:
                self.protocol_errors.append(error)
                self._changed.notify_all()
                return 400, {"error": error}
            scripted = self.statuses.get(body["site"])
            status = scripted.pop(0) if scripted else self.default_status.get(body["site"], 202)
            self.deliveries.append(Delivery(status, content_type, origin, body))
            accepted = duplicates = 0
            if status == 202:
                envelope = {key: value for key, value in body.items() if key != "events"}
                for event in body["events"]:
                    if event["id"] in self.accepted:
                        duplicates += 1
                    else:
                        accepted += 1
                        self.accepted[event["id"]] = {**event, "envelope": envelope}
            self._changed.notify_all()
        if status == 202:
            return status, {"accepted": accepted, "duplicates": duplicates}
        return status, {"error": f"answered {status}"}

    def deliveries_of(self, site: str) -> list[Delivery]:
        with self._changed:
            return [delivery for delivery in self.deliveries if delivery.body["site"] == site]

    def events(self, site: str, type_: str | None = None) -> list[dict[str, Any]]:
        """Accepted events of one site (and type) in the order the snippet recorded them."""
        with self._changed:
            found = [event for event in self.accepted.values() if event["envelope"]["site"] == site
                     and (type_ is None or event["type"] == type_)]
        return sorted(found, key=lambda event: event["ts"])

    def wait_for(self, condition: Callable[[], T], what: str, timeout: float = 20.0) -> T:
        """Block until `condition()` is truthy (re-checked at every delivery) and return it."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not (result := condition()):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"timed out waiting for {what}; deliveries: {self.deliveries}")
                self._changed.wait(min(remaining, 0.25))
            return result

    def wait_event(self, site: str, type_: str, match: Callable[[dict[str, Any]], bool] = lambda e: True,
                   count: int = 1) -> list[dict[str, Any]]:
        """The first `count` accepted events of a site and type that match, once there are as many."""
        def found() -> list[dict[str, Any]] | None:
            events = [event for event in self.events(site, type_) if match(event)]
            return events[:count] if len(events) >= count else None

        return self.wait_for(found, f"{count} {type_} event(s) of {site}")


def _app(receiver: Receiver) -> Starlette:
    async def track(request: Request) -> Response:
        status, payload = receiver.receive(await request.body(), request.headers.get("content-type", ""),
                                           request.headers.get("origin"))
        # The snippet is installed on other origins; it reads the answer, so CORS must allow it.
        return JSONResponse(payload, status_code=status, headers={"Access-Control-Allow-Origin": "*"})

    async def demo(request: Request) -> Response:
        # As the worker serves it in development: its origin and a site key filled in.
        markup = (STATIC / "demo.html").read_text(encoding="utf-8")
        origin = f"{request.url.scheme}://{request.url.netloc}"
        return HTMLResponse(markup.replace("{{SITE_KEY}}", "demo").replace("{{ORIGIN}}", origin))

    async def test_page(request: Request) -> Response:
        markup = receiver.pages.get(request.path_params["name"])
        return HTMLResponse(markup) if markup is not None else HTMLResponse("not found", status_code=404)

    return Starlette(routes=[
        Route("/track", track, methods=["POST"]),
        Route("/demo", demo),
        Route("/page/{name:path}", test_page),
        Mount("/", StaticFiles(directory=STATIC)),
    ])


@dataclass
class Site:
    """The receiver plus where it listens."""

    receiver: Receiver
    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def page(self, name: str, body: str = "", title: str = "Test page", script_src: str = "/t.js",
             **data: str) -> str:
        """Register a test page carrying the snippet and return its URL."""
        attrs = {"flush": "1", **data}
        tag = f'<script src="{script_src}" ' + " ".join(
            f'data-{key.replace("_", "-")}="{html.escape(value)}"' for key, value in attrs.items()
        ) + " defer></script>"
        self.receiver.pages[name] = (f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
                                     f"{tag}</head><body>{body}</body></html>")
        return f"{self.base}/page/{name}"


@pytest.fixture(scope="module")
def _server() -> Iterator[Site]:
    receiver = Receiver()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(_app(receiver), log_level="warning", access_log=False,
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "test server did not start"
        time.sleep(0.01)
    yield Site(receiver, sock.getsockname()[1])
    server.should_exit = True
    thread.join(10)
    sock.close()


@pytest.fixture
def site(_server: Site) -> Iterator[Site]:
    _server.receiver.reset()
    yield _server
    assert _server.receiver.protocol_errors == []


@pytest.fixture
def key(request: pytest.FixtureRequest) -> str:
    """A site key per test, so a late beacon from another test's page is never counted here."""
    return re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(locale="en-IN", timezone_id="Europe/Berlin")
    yield ctx
    ctx.close()


@pytest.fixture
def tab(context: BrowserContext) -> Iterator[Page]:
    """A page that fails the test if the snippet ever throws into it."""
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    assert errors == []


def _storage(page: Page, name: str) -> Any:
    return page.evaluate("name => JSON.parse(localStorage.getItem(name))", name)


# -- size -------------------------------------------------------------------------------------

def test_snippet_is_under_4_kb_gzipped() -> None:
    # As `gzip -9 -c static/t.js | wc -c` counts it, file name header included.
    packed = io.BytesIO()
    with gzip.GzipFile(filename="t.js", mode="wb", compresslevel=9, fileobj=packed, mtime=0) as out:
        out.write((STATIC / "t.js").read_bytes())
    assert len(packed.getvalue()) < 4096


# -- page views -------------------------------------------------------------------------------

def test_page_view_on_load_carries_the_envelope(site: Site, key: str, tab: Page) -> None:
    url = site.page("landing", title="Sky Towers", site=key) + "?utm_source=google&utm_medium=cpc&x=1"
    tab.goto(url, referer="https://www.google.com/")

    [view] = site.receiver.wait_event(key, "page_view")

    assert view["url"] == url
    assert view["props"] == {"title": "Sky Towers"}
    envelope = view["envelope"]
    assert envelope["site"] == key
    assert envelope["timezone"] == "Europe/Berlin"
    assert envelope["language"] == "en-IN"
    assert re.fullmatch(r"\d+x\d+", envelope["screen"])
    assert envelope["referrer"] == "https://www.google.com/"
    assert envelope["utm"] == {"source": "google", "medium": "cpc"}
    assert envelope["webdriver"] is True  # Playwright drives this browser
    assert envelope["visitor_id"] == _storage(tab, "ll_vid")
    assert envelope["session_id"] == _storage(tab, "ll_sid")["session_id"]
    [delivery] = [d for d in site.receiver.deliveries_of(key) if view["id"] in d.event_ids]
    # text/plain is a CORS-safelisted type: no preflight before any send.
    assert delivery.content_type == "text/plain;charset=UTF-8"


def test_spa_navigation_records_each_new_url_once(site: Site, key: str, tab: Page) -> None:
    url = site.page("spa", site=key)
    tab.goto(url)
    site.receiver.wait_event(key, "page_view")

    tab.evaluate("""() => {
        history.pushState({}, "", "/page/spa/pricing");
        history.replaceState({}, "", "/page/spa/pricing");  // same URL: not a new view
    }""")
    site.receiver.wait_event(key, "page_view", lambda e: e["url"].endswith("/pricing"))
    tab.evaluate("""() => { location.hash = "#faq"; }""")  # an anchor on the same page
    tab.go_back()  # popstate back to /page/spa/pricing: still the same page
    tab.evaluate("""() => { history.pushState({}, "", "#/contact"); }""")  # a hash route is a page

    site.receiver.wait_event(key, "page_view", lambda e: e["url"].endswith("#/contact"))
    urls = [view["url"] for view in site.receiver.events(key, "page_view")]
    assert urls == [url, f"{site.base}/page/spa/pricing", f"{site.base}/page/spa/pricing#/contact"]


# -- clicks -----------------------------------------------------------------------------------

_CLICK_BODY = """
<a id="partner" href="{outbound}">Compare <b>home loans</b></a>
<a id="pricing" href="/page/pricing">Pricing</a>
<button id="cta-1"><span>Book a demo</span></button>
<div role="button" id="fake">Call me</div>
<input type="submit" value="Send" id="send">
<p id="plain">Just text</p>
<script>document.addEventListener("click", e => e.preventDefault());</script>
"""


def test_clicks_on_links_and_buttons(site: Site, key: str, tab: Page) -> None:
    outbound = f"http://localhost:{site.port}/page/partner"  # another host, still loopback
    tab.goto(site.page("clicks", _CLICK_BODY.format(outbound=outbound), site=key))
    site.receiver.wait_event(key, "page_view")

    for selector in ("#partner b", "#pricing", "#cta-1 span", "#plain", "#fake", "#send"):
        tab.click(selector)

    clicks = [c["props"] for c in site.receiver.wait_event(key, "click", count=5)]
    assert clicks == [
        {"tag": "a", "text": "Compare home loans", "target_id": "partner", "href": outbound, "outbound": True},
        {"tag": "a", "text": "Pricing", "target_id": "pricing", "href": f"{site.base}/page/pricing",
         "outbound": False},
        {"tag": "button", "text": "Book a demo", "target_id": "cta-1"},
        {"tag": "div", "text": "Call me", "target_id": "fake"},
        {"tag": "input", "text": "Send", "target_id": "send"},
    ]
    assert all(c["url"] == tab.url for c in site.receiver.events(key, "click"))


def test_long_texts_are_cut_between_characters_never_inside_one(site: Site, key: str, tab: Page) -> None:
    # 99 letters, then an emoji (two UTF-16 units): a cut at 100 units would split it.
    text = "a" * 99 + "\U0001F600" + "b" * 10
    tab.goto(site.page("emoji", f'<button id="long">{text}</button>', site=key))
    site.receiver.wait_event(key, "page_view")

    tab.click("#long")

    [click] = site.receiver.wait_event(key, "click")
    assert click["props"]["text"] == "a" * 99 + "\U0001F600"  # 100 characters as the worker counts them


def test_outbound_click_that_leaves_the_page_is_sent_on_pagehide(site: Site, key: str, tab: Page) -> None:
    site.receiver.pages["partner"] = "<p>partner</p>"
    outbound = f"http://localhost:{site.port}/page/partner"
    # A flush period longer than the test: only the pagehide beacon can deliver the click.
    tab.goto(site.page("leave", f'<a id="out" href="{outbound}">Partner</a>', site=key, flush="600"))
    tab.wait_for_function("() => JSON.parse(localStorage.getItem('ll_q') || '[]').length === 0")

    with tab.expect_navigation():
        tab.click("#out")

    [click] = site.receiver.wait_event(key, "click")
    assert click["props"]["outbound"] is True
    assert click["url"].endswith("/page/leave")


# -- scroll depth -----------------------------------------------------------------------------

def test_scroll_depth_milestones_once_each(site: Site, key: str, tab: Page) -> None:
    tab.goto(site.page("long", '<div style="height:6000px">long</div><button id="b">b</button>', site=key))
    site.receiver.wait_event(key, "page_view")
    tab.evaluate("() => document.body.click()")  # input at the top: only ~12% is in view

    for fraction in (0.2, 0.3, 0.55, 0.8, 1.0, 0.1, 1.0):
        tab.evaluate("""f => new Promise(resolve => {
            addEventListener("scroll", () => resolve(), {once: true});
            scrollTo(0, f * (document.documentElement.scrollHeight - innerHeight));
        })""", fraction)
    tab.evaluate("() => document.getElementById('b').click()")  # a marker after the scrolling

    site.receiver.wait_event(key, "click")
    depths = [event["props"]["depth"] for event in site.receiver.events(key, "scroll")]
    assert depths == [25, 50, 75, 100]


def test_short_page_reports_full_depth_only_after_interaction(site: Site, key: str, tab: Page) -> None:
    tab.goto(site.page("short", "<p>short</p>", site=key))
    site.receiver.wait_event(key, "page_view")
    tab.evaluate("""() => history.pushState({}, "", "/page/short/2")""")  # not an interaction
    site.receiver.wait_event(key, "page_view", count=2)
    assert site.receiver.events(key, "scroll") == []

    tab.mouse.move(20, 20)
    tab.mouse.move(40, 40)

    scrolls = site.receiver.wait_event(key, "scroll", count=4)
    assert [s["props"]["depth"] for s in scrolls] == [25, 50, 75, 100]
    assert all(s["url"].endswith("/page/short/2") for s in scrolls)


# -- engagement -------------------------------------------------------------------------------

def test_engagement_heartbeat_after_interaction(site: Site, key: str, tab: Page) -> None:
    # data-heartbeat="1": a heartbeat every second instead of every 15.
    tab.goto(site.page("engaged", "<p>read me</p>", site=key, heartbeat="1"))
    site.receiver.wait_event(key, "page_view")

    tab.mouse.move(10, 10)
    tab.mouse.move(30, 40)

    [beat] = site.receiver.wait_event(key, "engagement")
    assert beat["props"]["active_ms"] > 0
    assert beat["url"] == tab.url


def test_active_time_counts_30_seconds_after_the_last_input(site: Site, key: str, tab: Page) -> None:
    tab.clock.install()
    tab.goto(site.page("clocked", "<button id='b'>b</button>", site=key))
    site.receiver.wait_event(key, "page_view")
    tab.mouse.move(10, 10)  # one mousemove

    tab.clock.run_for(90_000)  # six 15 s heartbeats; input only at the start
    tab.evaluate("() => document.getElementById('b').click()")  # a marker after them

    [marker] = site.receiver.wait_event(key, "click")
    beats = [e for e in site.receiver.events(key, "engagement") if e["ts"] < marker["ts"]]
    assert sum(b["props"]["active_ms"] for b in beats) == 30_000
    assert len(beats) in (2, 3)  # idle heartbeats are not sent
    assert all(b["props"]["active_ms"] > 0 for b in beats)


def test_engagement_is_sent_when_the_page_is_hidden(site: Site, key: str, tab: Page) -> None:
    tab.clock.install()
    # Periods longer than the test: only the visibilitychange handler can send it.
    tab.goto(site.page("hidden", "<p>x</p>", site=key, heartbeat="600", flush="600"))
    tab.wait_for_function("() => JSON.parse(localStorage.getItem('ll_q') || '[]').length === 0")
    tab.mouse.move(10, 10)
    tab.clock.run_for(5_000)

    tab.evaluate("""() => {
        Object.defineProperty(document, "hidden", {value: true, configurable: true});
        Object.defineProperty(document, "visibilityState", {value: "hidden", configurable: true});
        document.dispatchEvent(new Event("visibilitychange"));
    }""")

    [beat] = site.receiver.wait_event(key, "engagement")
    assert beat["props"]["active_ms"] == 5_000


# -- forms ------------------------------------------------------------------------------------

def test_demo_form_captures_canonical_fields_and_payload(site: Site, tab: Page) -> None:
    tab.clock.install()
    tab.goto(f"{site.base}/demo")
    site.receiver.wait_event("demo", "page_view")

    tab.fill("input[name=FIRSTNAME]", "Rahul Sharma")
    tab.clock.run_for(8_000)
    tab.fill("input[name=EMAIL]", "rahul@example.com")
    tab.fill("input[name=PHONE]", "9876543210")
    tab.select_option("select[name=PROJECT]", "Sky Towers")
    tab.fill("textarea[name=MESSAGE]", "Weekend visit please")
    tab.fill("input[name=portal_password]", "hunter2")
    tab.click("#submit-visit")

    [submit] = site.receiver.wait_event("demo", "form_submit")
    props = submit["props"]
    assert props["form"] == "hero-form"
    assert props["fields"] == {"name": "Rahul Sharma", "email": "rahul@example.com", "phone": "9876543210",
                               "project": "Sky Towers", "message": "Weekend visit please"}
    assert props["payload"] == {"FIRSTNAME": "Rahul Sharma", "EMAIL": "rahul@example.com",
                                "PHONE": "9876543210", "PROJECT": "Sky Towers",
                                "MESSAGE": "Weekend visit please"}
    assert props["fill_ms"] >= 8_000
    assert "hunter2" not in json.dumps(submit) and "d41d8cd98f00" not in json.dumps(submit)


_FORMS_BODY = """
<form name="enquiry">
  <input name="first_name"> <input name="last_name"> <input name="work_email" type="email">
  <input name="mobile"> <input name="company_name">
  <input name="cc-number" autocomplete="cc-number"> <input name="card_cvc"> <input name="iban">
  <input name="ssn"> <input type="file" name="resume">
  <input type="checkbox" name="interest" value="2bhk" checked>
  <input type="checkbox" name="interest" value="3bhk" checked>
  <input type="checkbox" name="newsletter" value="yes">
  <input name="notes" value="disabled" disabled>
  <input type="hidden" name="utm" value="hidden-value">
  <input type="password" name="pw" value="hunter2">
  <fieldset><legend>More</legend><input name="city"></fieldset>
  <button>Send</button>
</form>
<form data-ll-form="footer"><input name="email"><button>Go</button></form>
<form><input name="email"><button>Go</button></form>
<script>document.addEventListener("submit", e => e.preventDefault());</script>
"""


def test_form_capture_skips_sensitive_fields_and_honours_capture(site: Site, key: str, tab: Page) -> None:
    tab.goto(site.page("forms", _FORMS_BODY, site=key, capture="name,email"))
    site.receiver.wait_event(key, "page_view")
    values = {"first_name": "Asha", "last_name": "Rao", "work_email": "asha@example.com",
              "mobile": "+91 98450 12345", "company_name": "Rao Builders", "cc-number": "4111 1111 1111 1111",
              "card_cvc": "123", "iban": "DE89370400440532013000", "ssn": "078-05-1120", "city": "Pune"}
    for name, value in values.items():
        tab.fill(f"form[name=enquiry] input[name='{name}']", value)
    tab.click("form[name=enquiry] button")
    tab.fill("form[data-ll-form] input", "footer@example.com")
    tab.evaluate("() => document.forms[1].requestSubmit()")
    tab.evaluate("() => document.forms[2].requestSubmit()")

    first, footer, anonymous = site.receiver.wait_event(key, "form_submit", count=3)
    assert first["props"]["form"] == "enquiry"
    assert first["props"]["fields"] == {"name": "Asha Rao", "email": "asha@example.com"}  # phone not asked
    assert first["props"]["payload"] == {
        "first_name": "Asha", "last_name": "Rao", "work_email": "asha@example.com", "mobile": "+91 98450 12345",
        "company_name": "Rao Builders", "interest": "2bhk,3bhk", "city": "Pune"}
    assert first["props"]["fill_ms"] > 0
    text = json.dumps(first)
    for secret in ("4111", "123\"", "DE89", "078-05", "hidden-value", "hunter2", "disabled"):
        assert secret not in text
    assert footer["props"]["form"] == "footer"
    assert footer["props"]["fields"] == {"email": "footer@example.com"}
    assert anonymous["props"]["form"] == "form"
    assert anonymous["props"]["fill_ms"] == 0  # nothing was typed into it


def test_form_submit_that_leaves_the_page_is_delivered(site: Site, key: str, tab: Page) -> None:
    site.receiver.pages["thanks"] = "<p>thanks</p>"
    body = '<form id="visit" action="/page/thanks"><input name="email" type="email"><button>Go</button></form>'
    tab.goto(site.page("leaving-form", body, site=key, flush="600"))
    tab.wait_for_function("() => JSON.parse(localStorage.getItem('ll_q') || '[]').length === 0")
    tab.fill("input[name=email]", "lead@example.com")

    with tab.expect_navigation():
        tab.click("button")

    [submit] = site.receiver.wait_event(key, "form_submit")
    assert submit["props"]["fields"] == {"email": "lead@example.com"}


# -- identity ---------------------------------------------------------------------------------

def test_visitor_stays_and_session_rotates_after_inactivity(site: Site, key: str, tab: Page) -> None:
    url = site.page("identity", "<a id='next' href='/page/identity-2'>next</a>", site=key)
    site.page("identity-2", "<p>two</p>", site=key)
    tab.goto(url + "?utm_campaign=launch", referer="https://ads.example.net/")
    [first] = site.receiver.wait_event(key, "page_view")
    visitor, session = first["envelope"]["visitor_id"], first["envelope"]["session_id"]

    tab.click("#next")
    second = site.receiver.wait_event(key, "page_view", lambda e: e["url"].endswith("identity-2"))[0]
    assert second["envelope"]["visitor_id"] == visitor
    assert second["envelope"]["session_id"] == session
    # Referrer and UTM are the landing page's, for the whole session.
    assert second["envelope"]["referrer"] == "https://ads.example.net/"
    assert second["envelope"]["utm"] == {"campaign": "launch"}

    def reload_with_last_activity(minutes_ago: float) -> dict[str, Any]:
        tab.evaluate("""minutes => {
            const s = JSON.parse(localStorage.getItem("ll_sid"));
            s.t = Date.now() - minutes * 60000;
            localStorage.setItem("ll_sid", JSON.stringify(s));
        }""", minutes_ago)
        seen = len(site.receiver.events(key, "page_view"))
        tab.reload()
        return site.receiver.wait_event(key, "page_view", count=seen + 1)[-1]

    recent = reload_with_last_activity(29)
    assert recent["envelope"]["session_id"] == session
    rotated = reload_with_last_activity(31)
    assert rotated["envelope"]["visitor_id"] == visitor
    assert rotated["envelope"]["session_id"] != session
    assert rotated["envelope"]["referrer"] != "https://ads.example.net/"  # a new session, a new start


def test_session_timeout_attribute(site: Site, key: str, tab: Page) -> None:
    tab.goto(site.page("timeout", "<p>x</p>", site=key, session_timeout="1"))
    [first] = site.receiver.wait_event(key, "page_view")
    tab.evaluate("""() => {
        const s = JSON.parse(localStorage.getItem("ll_sid"));
        s.t = Date.now() - 90000;
        localStorage.setItem("ll_sid", JSON.stringify(s));
    }""")
    tab.reload()
    second = site.receiver.wait_event(key, "page_view", count=2)[1]
    assert second["envelope"]["session_id"] != first["envelope"]["session_id"]


# -- transport --------------------------------------------------------------------------------

def test_failed_sends_are_retried_until_accepted(site: Site, key: str, tab: Page) -> None:
    site.receiver.answer(key, 503, 503)  # an outage, then 202
    tab.goto(site.page("outage", "<p>x</p>", site=key))

    [view] = site.receiver.wait_event(key, "page_view")

    attempts = [d.status for d in site.receiver.deliveries_of(key) if view["id"] in d.event_ids]
    assert attempts == [503, 503, 202]
    tab.wait_for_function("() => JSON.parse(localStorage.getItem('ll_q')).length === 0")


def test_rejected_batch_is_dropped(site: Site, key: str, tab: Page) -> None:
    site.receiver.answer(key, 400)
    tab.goto(site.page("rejected", "<button id='b'>b</button>", site=key))
    site.receiver.wait_for(lambda: site.receiver.deliveries_of(key), "the rejected page view")
    tab.click("#b")

    site.receiver.wait_event(key, "click")
    assert site.receiver.events(key, "page_view") == []
    assert [d.status for d in site.receiver.deliveries_of(key)] == [400, 202]


def test_queue_survives_a_reload_and_is_sent_once(site: Site, key: str, tab: Page) -> None:
    site.receiver.answer(key, then=503)  # the worker is down
    url = site.page("offline", "<p>x</p>", site=key)
    tab.goto(url)
    site.receiver.wait_for(lambda: site.receiver.deliveries_of(key), "a failed send")
    first_view = site.receiver.deliveries_of(key)[0].body["events"][0]
    tab.goto("about:blank")

    site.receiver.answer(key, then=202)  # the worker is back
    tab.goto(url)

    views = site.receiver.wait_event(key, "page_view", count=2)
    assert views[0]["id"] == first_view["id"]
    accepted = [event_id for delivery in site.receiver.deliveries_of(key) if delivery.status == 202
                for event_id in delivery.event_ids]
    assert accepted.count(first_view["id"]) == 1


def test_at_most_100_events_per_request(site: Site, key: str, tab: Page) -> None:
    tab.goto(site.page("burst", "<button id='b'>b</button>", site=key))
    site.receiver.wait_event(key, "page_view")

    tab.evaluate("() => { const b = document.getElementById('b'); for (let i = 0; i < 150; i++) b.click(); }")

    clicks = site.receiver.wait_event(key, "click", count=150)
    assert len({c["id"] for c in clicks}) == 150
    sizes = [len(d.body["events"]) for d in site.receiver.deliveries_of(key)]
    assert max(sizes) == 100
    assert all(1 <= size <= 100 for size in sizes)


def test_stored_queue_is_bounded_to_200_events(site: Site, key: str, tab: Page) -> None:
    site.receiver.answer(key, then=503)
    tab.goto(site.page("bounded", "<button id='b'>b</button>", site=key))
    site.receiver.wait_for(lambda: site.receiver.deliveries_of(key), "a failed send")

    tab.evaluate("""() => {
        const b = document.getElementById("b");
        for (let i = 0; i < 250; i++) { b.textContent = "click " + i; b.click(); }
    }""")

    queued = _storage(tab, "ll_q")
    assert len(queued) == 200
    texts = [item["e"]["props"]["text"] for item in queued]
    assert texts == [f"click {i}" for i in range(50, 250)]  # the oldest went first


def test_installed_on_another_origin(site: Site, key: str, tab: Page) -> None:
    # The page is on localhost, the snippet and /track on 127.0.0.1: the customer-site setup.
    url = site.page("foreign", "<p>x</p>", site=key, script_src=f"{site.base}/t.js")
    tab.goto(url.replace("127.0.0.1", "localhost"))

    [view] = site.receiver.wait_event(key, "page_view")

    assert view["url"].startswith(f"http://localhost:{site.port}/")
    [delivery] = [d for d in site.receiver.deliveries_of(key) if view["id"] in d.event_ids]
    assert delivery.origin == f"http://localhost:{site.port}"
    tab.wait_for_function("() => JSON.parse(localStorage.getItem('ll_q')).length === 0")


def test_broken_storage_does_not_stop_tracking(site: Site, key: str, context: BrowserContext) -> None:
    context.add_init_script("""
        localStorage.setItem("ll_q", '{"not": "a list"}');
        localStorage.setItem("ll_sid", "[1, 2");
        localStorage.setItem("ll_vid", "42");
    """)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(site.page("broken", "<p>x</p>", site=key))

    site.receiver.wait_event(key, "page_view")
    assert errors == []


# -- privacy ----------------------------------------------------------------------------------

_DNT = "Object.defineProperty(Navigator.prototype, 'doNotTrack', {get: () => '1'});"
_GPC = "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true});"


@pytest.mark.parametrize("signal", [_DNT, _GPC], ids=["dnt", "gpc"])
def test_privacy_signal_is_respected_when_configured(site: Site, key: str, context: BrowserContext,
                                                      signal: str) -> None:
    context.add_init_script(signal)
    page = context.new_page()
    body = "<button id='b'>b</button><form><input name='email'><button id='s'>s</button></form>"
    page.goto(site.page("private", body + "<script>onsubmit = e => e.preventDefault()</script>",
                        site=key, respect_dnt="true"))
    page.fill("input[name=email]", "private@example.com")
    page.click("#b")
    page.click("#s")
    page.evaluate("() => history.pushState({}, '', '/page/private/2')")

    # Nothing is stored and nothing is hooked, so nothing can be sent.
    assert page.evaluate("() => Object.keys(localStorage).filter(k => k.startsWith('ll_'))") == []
    assert "[native code]" in page.evaluate("() => history.pushState.toString()")
    # The same browser without the attribute is tracked: the control for this test.
    control = context.new_page()
    control.goto(site.page("control", "<p>x</p>", site=key))
    site.receiver.wait_event(key, "page_view")
    page.close()
    urls = {event["url"] for event in site.receiver.events(key)}
    assert urls == {f"{site.base}/page/control"}


def test_privacy_signal_is_ignored_unless_configured(site: Site, key: str, context: BrowserContext) -> None:
    context.add_init_script(_DNT)
    page = context.new_page()
    page.goto(site.page("not-asked", "<p>x</p>", site=key))
    site.receiver.wait_event(key, "page_view")
