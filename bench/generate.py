"""A realistic workspace for the dashboard benchmark, written straight into SQLite.

Same shape as ingestion stores: visitors returning over 90 days, sessions of about ten events
(page views over a long tail of 5,000 pages, clicks, scroll milestones, engagement heartbeats), 20
countries, 30 referrers besides direct traffic, 1 session in 50 submitting a form that becomes
a submission of a lead, and follow-ups (messages, action logs) on about half the leads. Rows
go in with big executemany transactions through the schema's own triggers, so the rollups the
dashboard reads are built the way ingestion builds them.

The database is created by applying migrations/. A small JSON file beside it records the time
it reaches and its counters; `extend()` appends sessions from then up to now at the same rate
(and closes idle sessions, as the cron handler does), so a cached database still has live
traffic in its last hour and a full 90-day window.

    python bench/generate.py --events 1000000 [--out bench/data/d1/dashboard-1m.sqlite]
"""
from __future__ import annotations

import argparse
import asyncio
import bisect
import itertools
import json
import math
import random
import sqlite3
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from domain.engagement import engagement_label, engagement_score  # noqa: E402
from domain.messages import contact_key  # noqa: E402
from domain.page_views import count_page_views_after, last_event_id  # noqa: E402
from storage import migrations  # noqa: E402
from storage.d1 import D1Database  # noqa: E402

WORKSPACE = "default"
SITE_ID = 1
DAY_MS = 86_400_000
WINDOW_MS = 90 * DAY_MS
IDLE_MS = 30 * 60_000
EXTRA_EVENTS_MEAN = 9.0  # a session has 1 + floor(X) events, X exponential with this mean
# The mean of 1 + floor(X) for exponential X of mean m is 1 + 1 / (e^(1/m) - 1): about 9.5 events.
EVENTS_PER_SESSION = 1 + 1 / (math.exp(1 / EXTRA_EVENTS_MEAN) - 1)
FORM_EVERY = 50
PAGES = 5000
CHUNK_EVENTS = 200_000

COUNTRIES = ["US", "IN", "GB", "DE", "FR", "CA", "AU", "BR", "JP", "NL", "ES", "IT", "SG", "AE", "MX", "SE", "PL",
             "ZA", "NG", "ID"]
COUNTRY_WEIGHTS = [30, 22, 9, 6, 5, 4, 3, 3, 2.5, 2, 2, 2, 1.5, 1.5, 1.5, 1, 1, 1, 1, 1]
REFERRERS = ["google.com", "facebook.com", "bing.com", "linkedin.com", "t.co", "instagram.com", "youtube.com",
             "duckduckgo.com", "reddit.com", "yahoo.com", "baidu.com", "news.ycombinator.com", "medium.com",
             "quora.com", "pinterest.com", "tiktok.com", "whatsapp.com", "github.com", "wikipedia.org",
             "producthunt.com", "mail.google.com", "outlook.live.com", "ecosia.org", "yandex.ru", "naver.com",
             "99acres.com", "magicbricks.com", "housing.com", "zillow.com", "rightmove.co.uk"]
FIRST_NAMES = ["Rahul", "Priya", "Alex", "Maria", "Wei", "Fatima", "John", "Aisha", "Carlos", "Yuki", "Olga",
               "Arjun", "Sofia", "Liam", "Chen", "Amara", "Noah", "Zara", "Ivan", "Meera"]
LAST_NAMES = ["Sharma", "Patel", "Smith", "Garcia", "Zhang", "Khan", "Brown", "Okafor", "Silva", "Tanaka",
              "Ivanova", "Mehta", "Rossi", "Murphy", "Li", "Mensah", "Miller", "Ali", "Petrov", "Iyer"]
PROJECTS = [f"{a} {b}" for a in ("Sky", "Green", "Lake", "Palm", "River", "Sun", "Royal", "Silver")
            for b in ("Towers", "Valley", "Heights", "Residency", "Gardens")]
CITIES = ["Pune", "Mumbai", "London", "Berlin", "Paris", "Toronto", "Sydney", "Austin", "Tokyo", "Dubai"]
STATUSES = ["new", "contacted", "qualified", "proposal", "won", "lost"]
STATUS_WEIGHTS = [40, 25, 12, 8, 7, 8]


@dataclass
class State:
    """Where a generated database stands, kept beside it as JSON."""

    seed: int
    target_events: int
    reached_ms: int = 0
    sessions: int = 0
    visitors: int = 0
    events: int = 0
    leads: int = 0
    messages: int = 0
    visitor_leads: dict[str, int] = field(default_factory=dict)  # visitor -> lead_id, so repeat forms join


def _state_path(db_path: Path) -> Path:
    return db_path.with_suffix(".json")


def load_state(db_path: Path) -> State | None:
    path = _state_path(db_path)
    if not db_path.exists() or not path.exists():
        return None
    return State(**json.loads(path.read_text()))


def _save_state(db_path: Path, state: State) -> None:
    _state_path(db_path).write_text(json.dumps(asdict(state)))


def _cumulative(weights: list[float]) -> list[float]:
    return list(itertools.accumulate(weights))


_PAGE_URLS = ["https://example.com/"] + [f"https://example.com/projects/{n}" for n in range(1, PAGES)]
# Zipf-like long tail: page n is viewed in proportion to 1 / n^1.1.
_PAGE_CUM = _cumulative([1 / (n ** 1.1) for n in range(1, PAGES + 1)])
_COUNTRY_CUM = _cumulative(COUNTRY_WEIGHTS)
_REFERRER_CUM = _cumulative([40.0] + [30 / (n ** 0.9) for n in range(1, len(REFERRERS) + 1)])
_REFERRER_NAMES = ["(direct)"] + REFERRERS


def _pick(rng: random.Random, values: list[Any], cumulative: list[float]) -> Any:
    return values[bisect.bisect(cumulative, rng.random() * cumulative[-1])]


_INSERT_SESSION = (
    "INSERT INTO sessions (workspace_id, site_id, session_id, visitor_id, fingerprint, started_at, last_activity_at,"
    " ended_at, duration_ms, entry_page, exit_page, referrer, referrer_domain, country, device, browser, os,"
    " page_views, event_count, clicks, form_submits, max_scroll, active_ms, engagement_score, vpn_suspected,"
    " blob_key, archived_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_EVENT = (
    "INSERT INTO events (workspace_id, session_id, event_id, type, url, ts, received_at, props)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_UPSERT_VISITOR = (
    "INSERT INTO visitors (workspace_id, visitor_id, fingerprint, first_seen_at, last_seen_at, session_count)"
    " VALUES (?, ?, ?, ?, ?, 1) ON CONFLICT (workspace_id, visitor_id) DO UPDATE SET"
    " last_seen_at = max(last_seen_at, excluded.last_seen_at), session_count = session_count + 1"
)
_INSERT_LEAD = (
    "INSERT INTO leads (lead_id, id, workspace_id, site_id, status, created_at, updated_at, enquiry_at, contact_name,"
    " first_name, last_name, email, email_norm, phone, phone_norm, project_name, project_location, project_source,"
    " country, city, visitor_id, session_id, engagement_score, engagement_label, form_submit_count,"
    " suspicion_score, deleted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
    " ?, ?, ?)"
)
_UPDATE_LEAD = (
    "UPDATE leads SET session_id = ?, form_submit_count = form_submit_count + 1,"
    " engagement_score = max(engagement_score, ?), engagement_label = ?, updated_at = ? WHERE lead_id = ?"
)
_INSERT_SUBMISSION = (
    "INSERT INTO submissions (workspace_id, lead_id, site_id, event_id, submitted_at, session_id, visitor_id,"
    " fingerprint, contact_name, contact_email, contact_phone, contact_ip, project_name, source, referer, cta_name,"
    " fill_ms, is_primary_lead, is_duplicate_window, payload_json)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'WebSite', ?, ?, ?, ?, ?, ?)"
)
_INSERT_MESSAGE = (
    "INSERT INTO messages (id, workspace_id, lead_id, contact, contact_key, channel, direction, status, draft_state,"
    " body, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)"
)
_INSERT_ACTION = (
    "INSERT INTO action_logs (id, workspace_id, lead_id, type, status, summary, is_follow_up, created_at)"
    " VALUES (?, ?, ?, ?, 'COMPLETED', ?, ?, ?)"
)


class _Writer:
    """Collects rows and writes them in large transactions."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.rows: dict[str, list[tuple[Any, ...]]] = {}
        self.pending = 0

    def add(self, sql: str, row: tuple[Any, ...]) -> None:
        self.rows.setdefault(sql, []).append(row)

    def flush(self) -> None:
        self.conn.execute("BEGIN")
        before = last_event_id(self.conn)
        # Sessions before their events (the page rollup joins them); leads before what points at them.
        for sql in (_INSERT_SESSION, _UPSERT_VISITOR, _INSERT_EVENT, _INSERT_LEAD, _UPDATE_LEAD, _INSERT_SUBMISSION,
                    _INSERT_MESSAGE, _INSERT_ACTION):
            rows = self.rows.pop(sql, None)
            if rows:
                self.conn.executemany(sql, rows)
        count_page_views_after(self.conn, before)  # as ingestion's writer does after each group
        self.conn.execute("COMMIT")
        self.pending = 0


def _session(rng: random.Random, state: State, writer: _Writer, started: int, now: int,
             lead_status: list[str]) -> None:
    sid = f"s{state.sessions:08d}"
    state.sessions += 1
    if state.visitors == 0 or rng.random() < 0.45:
        visitor = state.visitors
        state.visitors += 1
    else:  # returning visitors, the recent ones more often
        visitor = max(0, state.visitors - 1 - int(rng.expovariate(1 / max(1.0, state.visitors * 0.25))))
    vid = f"v{visitor:08d}"
    # One visitor in ten shares its device fingerprint with the visitor before it.
    fingerprint = f"fp{visitor - (visitor % 10 == 9):08d}"
    country = _pick(rng, COUNTRIES, _COUNTRY_CUM) if rng.random() > 0.01 else None
    referrer = _pick(rng, _REFERRER_NAMES, _REFERRER_CUM)
    vpn = 1 if rng.random() < 0.03 else 0
    n_events = min(80, 1 + int(rng.expovariate(1 / EXTRA_EVENTS_MEAN)))
    submits = rng.randrange(FORM_EVERY) == 0
    ts = started
    page = _pick(rng, _PAGE_URLS, _PAGE_CUM)
    entry = page
    page_views = clicks = max_scroll = active = 0
    form_ts = None
    for index in range(n_events):
        if index == 0:
            kind = "page_view"
        elif submits and index == n_events - 1:
            kind = "form_submit"
        else:
            roll = rng.random()
            kind = "page_view" if roll < 0.35 else "click" if roll < 0.55 else "scroll" if roll < 0.75 else "engagement"
        if kind == "page_view" and index:
            page = _pick(rng, _PAGE_URLS, _PAGE_CUM)
        props = "{}"
        if kind == "page_view":
            page_views += 1
        elif kind == "click":
            clicks += 1
        elif kind == "scroll":
            depth = rng.choice((25, 50, 75, 100))
            max_scroll = max(max_scroll, depth)
            props = f'{{"depth":{depth}}}'
        elif kind == "engagement":
            ms = rng.randrange(1000, 30000)
            active += ms
            props = f'{{"active_ms":{ms}}}'
        else:
            form_ts = ts
        writer.add(_INSERT_EVENT, (WORKSPACE, sid, f"e{state.events:010d}", kind, page, ts,
                                   ts + rng.randrange(50, 2000), props))
        state.events += 1
        ts = min(ts + rng.randrange(3000, 60000), now - 1)
    last = ts
    score = engagement_score(active_ms=active, max_scroll=max_scroll, clicks=clicks, page_views=page_views,
                             form_submits=1 if submits else 0)
    ended = last + IDLE_MS if last + IDLE_MS < now else None
    blob = None
    if ended is not None:
        blob = f"sessions/{time.strftime('%Y/%m/%d', time.gmtime(started / 1000))}/{sid}.json.gz"
    writer.add(_INSERT_SESSION, (
        WORKSPACE, SITE_ID, sid, vid, fingerprint, started, last, ended, last - started, entry, page,
        None if referrer == "(direct)" else f"https://{referrer}/", referrer, country, "desktop", "Chrome", "Linux",
        page_views, n_events, clicks, 1 if submits else 0, max_scroll, active, score, vpn, blob,
        ended + 60_000 if ended is not None else None))
    writer.add(_UPSERT_VISITOR, (WORKSPACE, vid, fingerprint, started, last))
    if submits and form_ts is not None:
        _submission(rng, state, writer, sid, vid, fingerprint, country, form_ts, score, page, now, lead_status)


def _submission(rng: random.Random, state: State, writer: _Writer, sid: str, vid: str, fingerprint: str,
                country: str | None, ts: int, score: int, page: str, now: int, lead_status: list[str]) -> None:
    lead_id = state.visitor_leads.get(vid)
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    project = rng.choice(PROJECTS)
    primary = lead_id is None
    if lead_id is None:
        state.leads += 1
        lead_id = state.leads
        state.visitor_leads[vid] = lead_id
        email = f"{first}.{last}{lead_id}@example.com".lower()
        phone = f"9{rng.randrange(10**8, 10**9)}"
        roll = rng.random()
        suspicion = rng.randrange(0, 10) if roll < 0.7 else rng.randrange(10, 40) if roll < 0.95 else rng.randrange(40, 90)
        status = _pick(rng, STATUSES, lead_status)
        writer.add(_INSERT_LEAD, (
            lead_id, str(uuid.UUID(int=rng.getrandbits(128))), WORKSPACE, SITE_ID, status, ts, ts, ts,
            f"{first} {last}", first, last, email, email, phone, phone[-10:], project, rng.choice(CITIES), "WebSite",
            country, rng.choice(CITIES), vid, sid, score, engagement_label(score), 1, suspicion,
            ts + DAY_MS if rng.random() < 0.005 else None))
        _follow_ups(rng, state, writer, lead_id, phone, ts, now)
    else:
        email, phone = f"{first}.{last}{lead_id}@example.com".lower(), f"9{rng.randrange(10**8, 10**9)}"
        writer.add(_UPDATE_LEAD, (sid, score, engagement_label(score), ts, lead_id))
    payload = json.dumps({"FIRSTNAME": f"{first} {last}", "EMAIL": email, "PHONE": phone, "PROJECT": project})
    writer.add(_INSERT_SUBMISSION, (
        WORKSPACE, lead_id, SITE_ID, f"f{state.events:010d}", ts, sid, vid, fingerprint, f"{first} {last}", email,
        phone, f"198.51.100.{rng.randrange(1, 255)}", project, page, "hero-form", rng.randrange(3000, 90000),
        int(primary), int(not primary and rng.random() < 0.3), payload))


def _follow_ups(rng: random.Random, state: State, writer: _Writer, lead_id: int, phone: str, ts: int,
                now: int) -> None:
    if rng.random() < 0.5:
        at = ts
        phone_key = contact_key(phone)[1]  # how messages find their lead (domain/messages.py)
        for _ in range(rng.randrange(1, 5)):
            at += rng.randrange(600_000, 3 * DAY_MS)
            if at >= now:
                break
            state.messages += 1
            draft = "rejected" if rng.random() < 0.05 else None
            writer.add(_INSERT_MESSAGE, (f"m{state.messages:09d}", WORKSPACE, lead_id, phone, phone_key,
                                         rng.choice(("sms", "email", "whatsapp")), "outbound",
                                         "queued" if draft else "delivered", draft, "Following up", at))
            if rng.random() < 0.3 and at + 3_600_000 < now:
                state.messages += 1
                writer.add(_INSERT_MESSAGE, (f"m{state.messages:09d}", WORKSPACE, lead_id, phone, phone_key, "sms",
                                             "inbound", "received", None, "Thanks", at + 3_600_000))
    if rng.random() < 0.3:
        for n in range(rng.randrange(1, 3)):
            at = ts + rng.randrange(3_600_000, 5 * DAY_MS)
            if at < now:
                state.messages += 1
                writer.add(_INSERT_ACTION, (f"a{state.messages:09d}", WORKSPACE, lead_id, "CALL", "Called back",
                                            1, at))
        state.messages += 1
        writer.add(_INSERT_ACTION, (f"a{state.messages:09d}", WORKSPACE, lead_id, "NOTE", "Added a note", 0,
                                    ts + 60_000))


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = OFF")  # a benchmark fixture: rebuilt if a crash ever tore it
    conn.execute("PRAGMA cache_size = -1000000")
    return conn


def _append(conn: sqlite3.Connection, state: State, start: int, end: int, sessions: int) -> None:
    """`sessions` new sessions starting uniformly in [start, end), in time order."""
    rng = random.Random(f"{state.seed}-{state.sessions}")
    starts = sorted(rng.randrange(start, end) for _ in range(sessions))
    lead_status = _cumulative(STATUS_WEIGHTS)
    writer = _Writer(conn)
    began = time.perf_counter()
    for number, started in enumerate(starts, 1):
        _session(rng, state, writer, started, end, lead_status)
        if len(writer.rows.get(_INSERT_EVENT, ())) >= CHUNK_EVENTS:
            writer.flush()
            print(f"\r  {number:,}/{sessions:,} sessions, {state.events:,} events"
                  f" ({time.perf_counter() - began:.0f} s)", end="", file=sys.stderr, flush=True)
    writer.flush()
    print(file=sys.stderr)


def generate(path: Path, events: int, seed: int = 1) -> State:
    """A new database at `path` with about `events` events over the 90 days up to now."""
    for suffix in ("", "-wal", "-shm", ".json"):
        Path(f"{path}{suffix}" if suffix != ".json" else path.with_suffix(".json")).unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    asyncio.run(_migrate(path))
    conn = _connect(path)
    try:
        conn.execute("INSERT INTO sites (id, workspace_id, site_key, name, origins, created_at)"
                     " VALUES (?, ?, 'site_bench', 'bench', '[\"https://example.com\"]', 0)", (SITE_ID, WORKSPACE))
        now = int(time.time() * 1000)
        state = State(seed=seed, target_events=events)
        _append(conn, state, now - WINDOW_MS, now, round(events / EVENTS_PER_SESSION))
        state.reached_ms = now
        _save_state(path, state)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return state


def extend(path: Path, state: State) -> State:
    """Append sessions from where the database stops up to now, and close the idle ones."""
    now = int(time.time() * 1000)
    elapsed = now - state.reached_ms
    sessions = int(state.target_events / EVENTS_PER_SESSION * elapsed / WINDOW_MS)
    if sessions <= 0:
        return state
    conn = _connect(path)
    try:
        conn.execute("UPDATE sessions SET ended_at = last_activity_at + ? WHERE ended_at IS NULL"
                     " AND last_activity_at + ? < ?", (IDLE_MS, IDLE_MS, now))
        _append(conn, state, state.reached_ms, now, sessions)
        state.reached_ms = now
        _save_state(path, state)
    finally:
        conn.close()
    return state


async def _migrate(path: Path) -> None:
    db = D1Database(path)
    await db.open()
    try:
        await migrations.apply(db, ROOT / "migrations")
    finally:
        await db.close()


def default_path(events: int) -> Path:
    label = f"{events // 1_000_000}m" if events % 1_000_000 == 0 else f"{events // 1000}k"
    return ROOT / "bench" / "data" / "d1" / f"dashboard-{label}.sqlite"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="about how many events (default 1000000)")
    parser.add_argument("--out", type=Path, help="database file (default bench/data/d1/dashboard-<size>.sqlite)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    path = args.out or default_path(args.events)
    began = time.perf_counter()
    state = generate(path, args.events, args.seed)
    print(f"{path}: {state.sessions:,} sessions, {state.visitors:,} visitors, {state.events:,} events, "
          f"{state.leads:,} leads in {time.perf_counter() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
