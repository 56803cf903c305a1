"""Ingestion: a snippet batch checked into typed values, and the grouped writer that commits it.

Durability: a request is answered only after the transaction holding its events has
committed. One writer per process collects the requests that arrive while it lingers
(`LINGER_SECONDS`, or until `GROUP_EVENTS` events wait) and applies them all in one
`env.DB.transaction`, so throughput comes from grouping, not from answering early.

Isolation: validation refuses what SQLite cannot store (domain.json_input's rules), so one
request's rows should never fail a group; if the group's transaction fails anyway, the writer
applies the group again with each request under its own savepoint, in one transaction: a
request whose rows fail is rolled back alone and answered 503, the others commit and get
their 202. Only a failure of the database itself (closed, full disk) fails every request of
the group. Either way nothing of a failed request is half-written.

Idempotency: events are inserted with INSERT OR IGNORE on (workspace_id, event_id), and only
events new to the database count toward sessions, visitors and leads, so a retried batch is
accepted once and counted as duplicates afterwards.
"""
from __future__ import annotations

import asyncio
import re
import sqlite3
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, get_args

import msgspec
from msgspec import Meta

from domain import json_input
from domain.engagement import engagement_score
from domain.json_input import BadJson, first_flaw, has_lone_surrogate
from domain.dates import DAY_MS, HOUR_MS, date_of, day_of
from domain.forms import FormSubmission, canonical_field, is_sensitive_field, raise_engagement, record_submission
from domain.page_views import count_page_views, last_event_id
from domain.sites import Site
from runtime import ExecutionContext, log_event, now_ms
from storage.d1 import D1Database, select_in

MAX_EVENTS = 100
MAX_ID_CHARS = 64
MAX_URL_CHARS = 2048
MAX_FIELD_CHARS = 2000
MAX_PAYLOAD_KEYS = 100
MAX_ACTIVE_MS = HOUR_MS
EARLIEST_TS = 1_577_836_800_000  # 2020-01-01T00:00:00Z
MAX_AHEAD_MS = DAY_MS

LINGER_SECONDS = 0.002
GROUP_EVENTS = 5000

_EVENT_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
_SCHEMES = ("http://", "https://")
_MAX_FIELD_NAME = 200
_SURROGATE = "contains a lone UTF-16 surrogate"
_TS_RANGE = "out of range (before 2020 or more than a day ahead)"
# Where props sit in a batch: body (1), events (2), an event (3), its props (4).
_PROPS_DEPTH = 4


class BatchError(ValueError):
    """A batch that is not valid; the message starts with the field, e.g. `events[3].type: ...`."""

    def __init__(self, field: str, problem: str) -> None:
        # Field names can carry a caller's keys: shown escaped and cut short, never as sent.
        field = field.encode("utf-8", "backslashreplace").decode("utf-8")
        super().__init__(f"{field if len(field) <= _MAX_FIELD_NAME else field[:_MAX_FIELD_NAME] + '…'}: {problem}")


class IngestUnavailable(Exception):
    """The group this request was in did not commit (or the writer is closed)."""


# The shape of a batch, as types: the fast path (`decode`) reads a body straight into them, and
# refuses anything parse_batch would refuse for its shape. What types cannot say (a timestamp's
# upper bound, each event type's props) parse_batch checks on both paths.
EventType = Literal["page_view", "click", "scroll", "engagement", "form_submit"]
UtmKey = Literal["source", "medium", "campaign", "term", "content"]
EVENT_TYPES = frozenset(get_args(EventType))
UTM_KEYS: tuple[str, ...] = get_args(UtmKey)
_Id = Annotated[str, Meta(min_length=1, max_length=MAX_ID_CHARS)]
_Scalar = str | int | float | bool | None
# Props of scalars, or of objects of scalars (a form's fields and payload): what the fast path reads,
# needing no walk, as no JSON it decodes holds a lone surrogate or a number past a float's range.
# Deeper props take parse_batch's way, which walks them.
Props = dict[str, _Scalar | dict[str, _Scalar]]


def _text(limit: int) -> Any:
    return Annotated[str, Meta(max_length=limit)] | None


class Event(msgspec.Struct):
    # An id (by _EVENT_ID, as parse_batch checks it) and a URL's scheme are checked by decode():
    # msgspec's `pattern` costs 0.4 µs a field, two thirds of the whole decode of a 10-event batch.
    id: str
    type: EventType
    ts: Annotated[int, Meta(ge=EARLIEST_TS)]
    url: Annotated[str, Meta(max_length=MAX_URL_CHARS)]
    props: Props


class Batch(msgspec.Struct, kw_only=True):
    site: _Id
    visitor_id: _Id
    session_id: _Id
    fingerprint: _text(128) = None
    timezone: _text(64) = None
    language: _text(35) = None
    screen: _text(32) = None
    referrer: _text(MAX_URL_CHARS) = None
    # Read as the keys and values sent; parse_batch leaves out empty values ({} when there are none).
    utm: dict[UtmKey, Annotated[str, Meta(max_length=256)]] | None = None
    webdriver: bool = False
    sent_at: int | None = None
    events: Annotated[list[Event], Meta(min_length=1, max_length=MAX_EVENTS)]


class Visit(msgspec.Struct, frozen=True):
    """What the request says about the visit (see domain.enrich). (A frozen Struct, not a frozen
    dataclass: one of each per request, and a frozen dataclass sets its fields one call at a time.)"""

    ip: str | None
    country: str | None
    city: str | None
    device: str | None
    browser: str | None
    os: str | None
    vpn_suspected: bool
    referrer_domain: str


@dataclass(slots=True)
class Write:
    """One request's share of a group: its event rows, ready for executemany, and its context."""

    site: Site
    batch: Batch
    visit: Visit
    received_at: int
    rows: list[tuple[Any, ...]]


class BotHit(msgspec.Struct, frozen=True):
    workspace_id: str
    day: str


class Outcome(msgspec.Struct, frozen=True):
    accepted: int
    duplicates: int


# --- validation -------------------------------------------------------------------------


_batch_decoder = msgspec.json.Decoder(Batch)


def decode(body: bytes) -> Batch | dict[str, Any]:
    """The body read into a Batch in one pass when it has a batch's shape; otherwise as JSON (whatever
    the Content-Type said: sendBeacon sends text/plain, without NaN or Infinity), for parse_batch to
    say what is wrong with it (or to read what only it reads, such as UTF-16)."""
    try:
        batch = _batch_decoder.decode(body)
    except (msgspec.MsgspecError, RecursionError):
        pass
    else:
        for event in batch.events:
            if not (_EVENT_ID.fullmatch(event.id) and _is_http(event.url)):
                break  # parse_batch words the error
        else:
            return batch
    try:
        data = json_input.loads(body)
    except BadJson as error:
        raise BatchError(error.where, error.problem) from None
    if not isinstance(data, dict):
        raise BatchError("body", "expected a JSON object")
    return data


def site_key_of(data: Batch | dict[str, Any]) -> str:
    return data.site if isinstance(data, Batch) else _required_text(data, "site")


def parse_batch(data: Batch | dict[str, Any], received_at: int) -> Batch:
    """Check every field; the first problem rejects the whole batch."""
    latest = received_at + MAX_AHEAD_MS
    if isinstance(data, Batch):  # its shape is checked: what is left is what types cannot say
        for index, event in enumerate(data.events):
            if event.ts > latest:
                raise BatchError(f"events[{index}].ts", _TS_RANGE)
            _check_kind(event.type, event.props, index)
        data.utm = {key: value for key, value in data.utm.items() if value} if data.utm else {}
        data.fingerprint, data.timezone, data.language = data.fingerprint or None, data.timezone or None, \
            data.language or None
        data.screen, data.referrer = data.screen or None, data.referrer or None
        return data
    events_value = data.get("events")
    if not isinstance(events_value, list):
        raise BatchError("events", "required: a list of 1 to 100 events")
    if not 1 <= len(events_value) <= MAX_EVENTS:
        raise BatchError("events", f"expected 1 to {MAX_EVENTS} events, got {len(events_value)}")
    utm_value = data.get("utm")
    utm: dict[str, str] = {}
    if utm_value is not None:
        if not isinstance(utm_value, dict):
            raise BatchError("utm", "expected an object")
        for key, value in utm_value.items():
            if key not in UTM_KEYS:
                raise BatchError(f"utm.{key}", f"unknown key (known: {', '.join(UTM_KEYS)})")
            if type(value) is not str or len(value) > 256:
                raise BatchError(f"utm.{key}", "expected a string of at most 256 characters")
            if has_lone_surrogate(value):
                raise BatchError(f"utm.{key}", _SURROGATE)
            if value:
                utm[key] = value
    webdriver = data.get("webdriver", False)
    if type(webdriver) is not bool:
        raise BatchError("webdriver", "expected true or false")
    sent_at = data.get("sent_at")
    if sent_at is not None and type(sent_at) is not int:
        raise BatchError("sent_at", "expected an integer (epoch milliseconds)")
    return Batch(
        site=_required_text(data, "site"),
        visitor_id=_required_text(data, "visitor_id"),
        session_id=_required_text(data, "session_id"),
        fingerprint=_optional_text(data, "fingerprint", 128),
        timezone=_optional_text(data, "timezone", 64),
        language=_optional_text(data, "language", 35),
        screen=_optional_text(data, "screen", 32),
        referrer=_optional_text(data, "referrer", MAX_URL_CHARS),
        utm=utm,
        webdriver=webdriver,
        sent_at=sent_at,
        events=[_event(value, index, latest) for index, value in enumerate(events_value)],
    )


def _required_text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if value is None:
        raise BatchError(key, "required")
    if type(value) is not str or not 0 < len(value) <= MAX_ID_CHARS:
        raise BatchError(key, f"expected a non-empty string of at most {MAX_ID_CHARS} characters")
    if has_lone_surrogate(value):
        raise BatchError(key, _SURROGATE)
    return value


def _optional_text(data: dict[str, Any], key: str, limit: int) -> str | None:
    value = data.get(key)
    if value is None or value == "":
        return None
    if type(value) is not str or len(value) > limit:
        raise BatchError(key, f"expected a string of at most {limit} characters")
    if has_lone_surrogate(value):
        raise BatchError(key, _SURROGATE)
    return value


def _is_http(url: str) -> bool:
    return url.startswith(_SCHEMES) or url[:8].lower().startswith(_SCHEMES)


def _event(value: Any, index: int, latest: int) -> Event:
    if not isinstance(value, dict):
        raise BatchError(f"events[{index}]", "expected an object")
    event_id = value.get("id")
    if type(event_id) is not str or not _EVENT_ID.fullmatch(event_id):
        raise BatchError(f"events[{index}].id", "expected 8 to 64 characters of A-Z a-z 0-9 _ -")
    kind = value.get("type")
    if kind is None:
        raise BatchError(f"events[{index}].type", "required")
    if type(kind) is not str:  # checked first: a list or an object cannot be looked up in a set
        raise BatchError(f"events[{index}].type", f"expected one of {', '.join(sorted(EVENT_TYPES))}")
    if kind not in EVENT_TYPES:
        raise BatchError(f"events[{index}].type", f"unknown event type {kind[:64]!r}")
    ts = value.get("ts")
    if type(ts) is not int:
        raise BatchError(f"events[{index}].ts", "expected an integer (epoch milliseconds)")
    if not EARLIEST_TS <= ts <= latest:
        raise BatchError(f"events[{index}].ts", _TS_RANGE)
    url = value.get("url")
    if type(url) is not str or len(url) > MAX_URL_CHARS or not _is_http(url):
        raise BatchError(f"events[{index}].url", f"expected an http(s) URL of at most {MAX_URL_CHARS} characters")
    if not url.isascii() and has_lone_surrogate(url):  # the common ASCII URL without a call
        raise BatchError(f"events[{index}].url", _SURROGATE)
    props = value.get("props")
    if not isinstance(props, dict):
        raise BatchError(f"events[{index}].props", "expected an object")
    # The one free-form part of a batch, and the only one walked: every other field is checked by name.
    # (Its path is spelt out only for a flaw, walking again: most props have none.)
    if first_flaw(props, depth=_PROPS_DEPTH) is not None:
        flaw = first_flaw(props, f"events[{index}].props", depth=_PROPS_DEPTH)
        assert flaw is not None
        raise BatchError(flaw.where, flaw.problem)
    _check_kind(kind, props, index)
    return Event(event_id, kind, ts, url, props)


def _check_kind(kind: str, props: dict[str, Any], index: int) -> None:
    """What an event's type asks of its props."""
    if kind == "scroll":
        depth = props.get("depth")
        if type(depth) is not int or not 0 <= depth <= 100:
            raise BatchError(f"events[{index}].props.depth", "expected an integer from 0 to 100")
    elif kind == "engagement":
        active = props.get("active_ms")
        if type(active) is not int or not 0 <= active <= MAX_ACTIVE_MS:
            raise BatchError(f"events[{index}].props.active_ms", f"expected an integer from 0 to {MAX_ACTIVE_MS}")
    elif kind == "form_submit":
        _form_props(props, f"events[{index}].props")


def _form_props(props: dict[str, Any], where: str) -> None:
    form = props.get("form")
    if form is not None and (type(form) is not str or len(form) > 256):
        raise BatchError(f"{where}.form", "expected a string of at most 256 characters")
    fill_ms = props.get("fill_ms")
    if fill_ms is not None and (type(fill_ms) is not int or not 0 <= fill_ms <= MAX_AHEAD_MS):
        raise BatchError(f"{where}.fill_ms", "expected a non-negative integer (milliseconds)")
    for name in ("fields", "payload"):
        values = props.get(name)
        if values is None:
            continue
        if not isinstance(values, dict):
            raise BatchError(f"{where}.{name}", "expected an object")
        if len(values) > MAX_PAYLOAD_KEYS:
            raise BatchError(f"{where}.{name}", f"at most {MAX_PAYLOAD_KEYS} fields")
        for key, text in values.items():
            if len(key) > 128:
                raise BatchError(f"{where}.{name}", "field names are at most 128 characters")
            if type(text) is not str or len(text) > MAX_FIELD_CHARS:
                raise BatchError(f"{where}.{name}.{key}", f"expected a string of at most {MAX_FIELD_CHARS} characters")


# --- preparing a request's rows ----------------------------------------------------------


def prepare(batch: Batch, site: Site, visit: Visit, received_at: int) -> Write:
    """The rows to insert, with the site's capture list applied to form submissions."""
    workspace_id, session_id = site.workspace_id, batch.session_id
    rows = []
    for event in batch.events:
        if event.type == "form_submit":
            event.props = _captured(event.props, site.settings.capture)
        rows.append((workspace_id, session_id, event.id, event.type, event.url, event.ts, received_at,
                     json_input.dumps(event.props)))
    return Write(site=site, batch=batch, visit=visit, received_at=received_at, rows=rows)


def _captured(props: dict[str, Any], capture: frozenset[str]) -> dict[str, Any]:
    kept = dict(props)
    fields = props.get("fields") or {}
    kept["fields"] = {key: value for key, value in fields.items()
                      if key in capture and not is_sensitive_field(key, value)}
    payload = props.get("payload") or {}
    kept["payload"] = {key: value for key, value in payload.items()
                       if not is_sensitive_field(key, value) and _captures(capture, canonical_field(key))}
    return kept


def _captures(capture: frozenset[str], field: str | None) -> bool:
    # Inputs that are none of the canonical fields are the form's own; the snippet already left out secrets.
    return field is None or field in capture


# --- the grouped writer ------------------------------------------------------------------


class IngestWriter:
    """One per process. `write()` resolves after the group holding the request has committed."""

    def __init__(self, db: D1Database, ctx: ExecutionContext | None = None, *,
                 linger_seconds: float = LINGER_SECONDS, group_events: int = GROUP_EVENTS) -> None:
        self._db = db
        self._ctx = ctx
        self._linger = linger_seconds
        self._group_events = group_events
        self._pending: list[tuple[Write | BotHit, asyncio.Future[Outcome]]] = []
        self._pending_events = 0
        self._full: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    async def write(self, write: Write) -> Outcome:
        return await self._submit(write, len(write.rows))

    async def count_bot(self, workspace_id: str, received_at: int) -> None:
        await self._submit(BotHit(workspace_id, date_of(day_of(received_at))), 1)

    async def close(self) -> None:
        """Commit what is waiting, then refuse new work."""
        self._closed = True
        if self._task is not None:
            await asyncio.shield(self._task)

    async def _submit(self, job: Write | BotHit, events: int) -> Outcome:
        if self._closed:
            raise IngestUnavailable("the writer is shut down")
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._pending.append((job, future))
        self._pending_events += events
        if self._pending_events >= self._group_events and self._full is not None and not self._full.done():
            self._full.set_result(None)
        if self._task is None:
            # The task ends when nothing waits; registered with ctx so shutdown awaits it.
            self._task = asyncio.create_task(self._run())
            if self._ctx is not None:
                self._ctx.wait_until(self._task)
        return await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                if self._pending_events < self._group_events and not self._closed:
                    self._full = loop.create_future()
                    timer = loop.call_later(self._linger, _resolve, self._full)
                    await self._full
                    timer.cancel()
                group, self._pending, self._pending_events = self._pending, [], 0
                await self._commit(group)
        finally:
            self._task = None

    async def _commit(self, group: list[tuple[Write | BotHit, asyncio.Future[Outcome]]]) -> None:
        jobs = [job for job, _ in group]
        now = now_ms()
        outcomes: Sequence[Outcome | Exception]
        try:
            plan = plan_group(jobs)  # here, so the transaction holds the write lock for its statements alone
            outcomes = await self._db.transaction(lambda conn: apply_plan(conn, plan, now))
        except Exception as exc:
            outcomes = [exc] * len(jobs)
            if len(jobs) > 1:  # perhaps one request's rows: find it, and commit the others without it
                log_event("ingest.group_retried", error=repr(exc), requests=len(jobs))
                try:
                    outcomes = await self._db.transaction(lambda conn: apply_each(conn, jobs, now))
                except Exception as again:  # the database itself: nothing of the group was stored
                    outcomes = [again] * len(jobs)
        for (job, future), outcome in zip(group, outcomes):
            if isinstance(outcome, Exception):
                log_event("ingest.error", error=repr(outcome), workspaceId=_workspace_of(job))
                if not future.done():
                    future.set_exception(IngestUnavailable(str(outcome)))
            elif not future.done():  # a client that went away cancelled its future
                future.set_result(outcome)


def _workspace_of(job: Write | BotHit) -> str:
    return job.workspace_id if isinstance(job, BotHit) else job.site.workspace_id


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


# --- one group, inside one transaction ------------------------------------------------------

_INSERT_EVENT = (
    "INSERT OR IGNORE INTO events (workspace_id, session_id, event_id, type, url, ts, received_at, props)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_UPSERT_BOT_HITS = (
    "INSERT INTO bot_hits (workspace_id, day, hits) VALUES (?, ?, ?)"
    " ON CONFLICT (workspace_id, day) DO UPDATE SET hits = hits + excluded.hits"
)
_SESSION_STATE = (
    "id, session_id, started_at, last_activity_at, entry_page, exit_page, page_views, event_count, clicks,"
    " form_submits, max_scroll, active_ms, engagement_score, vpn_suspected, visitor_id,"
    " fingerprint IS NOT NULL AND ended_at IS NULL AND archived_at IS NULL"
)
_INSERT_SESSION = (
    "INSERT INTO sessions (workspace_id, site_id, session_id, visitor_id, fingerprint, started_at,"
    " last_activity_at, duration_ms, entry_page, exit_page, referrer, referrer_domain, utm_source, utm_medium,"
    " utm_campaign, utm_term, utm_content, country, city, timezone, language, device, browser, os, page_views,"
    " event_count, clicks, form_submits, max_scroll, active_ms, engagement_score, vpn_suspected)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
)
# New events hand an archived session back to the archive job (archived_at cleared; it merges
# with the earlier object), and reopen a closed one when they extend its activity.
_UPDATE_SESSION = (
    "UPDATE sessions SET started_at = ?1, last_activity_at = ?2, duration_ms = ?3, entry_page = ?4, exit_page = ?5,"
    " page_views = ?6, event_count = ?7, clicks = ?8, form_submits = ?9, max_scroll = ?10, active_ms = ?11,"
    " engagement_score = ?12, vpn_suspected = ?13, fingerprint = coalesce(fingerprint, ?14),"
    " ended_at = CASE WHEN ended_at < ?2 THEN NULL ELSE ended_at END, archived_at = NULL WHERE id = ?15"
)
# An open session that is not archived, already has a fingerprint and keeps its start (most of
# them): only what new events change, so SQLite rewrites neither the start's and archive's index
# entries nor runs the triggers watching those columns.
_UPDATE_OPEN_SESSION = (
    "UPDATE sessions SET last_activity_at = ?, duration_ms = ?, exit_page = ?, page_views = ?, event_count = ?,"
    " clicks = ?, form_submits = ?, max_scroll = ?, active_ms = ?, engagement_score = ?, vpn_suspected = ? WHERE id = ?"
)
_UPSERT_VISITOR = (
    "INSERT INTO visitors (workspace_id, visitor_id, fingerprint, first_seen_at, last_seen_at, session_count)"
    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (workspace_id, visitor_id) DO UPDATE SET"
    " fingerprint = coalesce(excluded.fingerprint, fingerprint),"
    " first_seen_at = min(first_seen_at, excluded.first_seen_at),"
    " last_seen_at = max(last_seen_at, excluded.last_seen_at),"
    " session_count = session_count + excluded.session_count"
)


@dataclass(slots=True)
class _Activity:
    """What a group's new events add to one session."""

    write: Write  # the first request of the group for this session: its context describes the session
    first_ts: int
    first_url: str
    last_ts: int
    last_url: str
    events: int = 0
    clicks: int = 0
    form_submits: int = 0
    max_scroll: int = 0
    active_ms: int = 0
    page_urls: list[str] = field(default_factory=list)  # one per page view
    forms: list[tuple[Write, Event]] = field(default_factory=list)

    def add(self, write: Write, events: list[Event]) -> None:
        """One request's new events (one loop over locals: this runs for every event stored)."""
        first_ts, last_ts, max_scroll, page_urls = self.first_ts, self.last_ts, self.max_scroll, self.page_urls
        clicks = active_ms = 0
        for event in events:
            ts, kind = event.ts, event.type
            if ts < first_ts:
                first_ts, self.first_url = ts, event.url
            if ts >= last_ts:
                last_ts, self.last_url = ts, event.url
            if kind == "page_view":
                page_urls.append(event.url)
            elif kind == "click":
                clicks += 1
            elif kind == "scroll":
                depth = event.props["depth"]
                if depth > max_scroll:
                    max_scroll = depth
            elif kind == "engagement":
                active_ms += event.props["active_ms"]
            else:
                self.form_submits += 1
                self.forms.append((write, event))
        self.first_ts, self.last_ts, self.max_scroll = first_ts, last_ts, max_scroll
        self.events += len(events)
        self.clicks += clicks
        self.active_ms += active_ms

    @property
    def page_views(self) -> int:
        return len(self.page_urls)


@dataclass(slots=True)
class _Plan:
    """What a group holds, worked out before its transaction (none of it reads the database), so
    the write lock is held only for the statements."""

    jobs: Sequence[Write | BotHit]
    bot_hits: Counter[tuple[str, str]]
    rows: list[tuple[Any, ...]]
    fresh: list[tuple[int, Write, list[Event]]]  # each request's events, less ids seen earlier in the group
    sessions: dict[tuple[str, str], _Activity]  # what they add to each session, if all are new


def plan_group(jobs: Sequence[Write | BotHit]) -> _Plan:
    bot_hits: Counter[tuple[str, str]] = Counter()
    rows: list[tuple[Any, ...]] = []
    fresh: list[tuple[int, Write, list[Event]]] = []
    seen: set[tuple[str, str]] = set()
    for index, job in enumerate(jobs):
        if isinstance(job, BotHit):
            bot_hits[(job.workspace_id, job.day)] += 1
            continue
        events = []
        for row, event in zip(job.rows, job.batch.events):
            key = (row[0], row[2])
            if key not in seen:  # the same id twice in one group: the first one counts
                seen.add(key)
                rows.append(row)
                events.append(event)
        fresh.append((index, job, events))
    return _Plan(jobs, bot_hits, rows, fresh, _activities(fresh))


def _activities(fresh: list[tuple[int, Write, list[Event]]]) -> dict[tuple[str, str], _Activity]:
    sessions: dict[tuple[str, str], _Activity] = {}
    for _, write, events in fresh:
        if not events:
            continue
        key = (write.site.workspace_id, write.batch.session_id)
        activity = sessions.get(key)
        if activity is None:
            first = events[0]
            activity = sessions[key] = _Activity(write, first.ts, first.url, first.ts, first.url)
        activity.add(write, events)
    return sessions


def apply_group(conn: sqlite3.Connection, jobs: Sequence[Write | BotHit], now: int) -> list[Outcome]:
    """Apply a whole group; runs on the writer thread inside BEGIN IMMEDIATE ... COMMIT."""
    return apply_plan(conn, plan_group(jobs), now)


def apply_plan(conn: sqlite3.Connection, plan: _Plan, now: int) -> list[Outcome]:
    """apply_group with its plan made beforehand."""
    jobs, rows, fresh, sessions = plan.jobs, plan.rows, plan.fresh, plan.sessions
    if plan.bot_hits:
        conn.executemany(_UPSERT_BOT_HITS, [(ws, day, hits) for (ws, day), hits in plan.bot_hits.items()])

    if rows:
        before = last_event_id(conn)
        # rowcount sums sqlite3_changes(), which leaves out rows that triggers wrote elsewhere.
        if conn.executemany(_INSERT_EVENT, rows).rowcount != len(rows):
            # Some were already stored (a retry): the rows this transaction added have the highest ids.
            added = set(conn.execute("SELECT workspace_id, event_id FROM events WHERE id > ?", (before,)))
            fresh = [(index, write, [event for event in events if (write.site.workspace_id, event.id) in added])
                     for index, write, events in fresh]
            sessions = _activities(fresh)
    if sessions:  # only when there are new events
        ids = _apply_sessions(conn, sessions, now)
        count_page_views(conn, [(key[0], ids[key], act.page_urls) for key, act in sessions.items()])

    accepted = [0] * len(jobs)
    for index, _, events in fresh:
        accepted[index] = len(events)
    return [
        Outcome(0, 0) if isinstance(job, BotHit) else Outcome(accepted[i], len(job.rows) - accepted[i])
        for i, job in enumerate(jobs)
    ]


def _apply_sessions(conn: sqlite3.Connection, sessions: dict[tuple[str, str], _Activity], now: int
                    ) -> dict[tuple[str, str], int]:
    """Write what the group adds to its sessions and visitors; each session's id."""
    existing = _existing_sessions(conn, sessions)
    inserts: dict[tuple[str, str], tuple[Any, ...]] = {}
    updates: list[tuple[Any, ...]] = []
    open_updates: list[tuple[Any, ...]] = []
    visitors: dict[tuple[str, str], list[Any]] = {}
    raised: list[tuple[str, str, int]] = []
    vpn_of: dict[tuple[str, str], bool] = {}
    for key, act in sessions.items():
        write, batch, visit = act.write, act.write.batch, act.write.visit
        workspace_id, session_id = key
        old = existing.get(key)
        if old is None:
            started, entry, last, exit_page = act.first_ts, act.first_url, act.last_ts, act.last_url
            counts = (act.page_views, act.events, act.clicks, act.form_submits, act.max_scroll, act.active_ms)
            vpn, old_score, visitor_id = visit.vpn_suspected, 0, batch.visitor_id
        else:
            started, entry = (old[2], old[4]) if old[2] <= act.first_ts else (act.first_ts, act.first_url)
            last, exit_page = (old[3], old[5]) if old[3] > act.last_ts else (act.last_ts, act.last_url)
            counts = (old[6] + act.page_views, old[7] + act.events, old[8] + act.clicks, old[9] + act.form_submits,
                      max(old[10], act.max_scroll), old[11] + act.active_ms)
            vpn, old_score, visitor_id = bool(old[13]) or visit.vpn_suspected, old[12], old[14]
        page_views, events, clicks, form_submits, max_scroll, active_ms = counts
        score = engagement_score(active_ms=active_ms, max_scroll=max_scroll, clicks=clicks,
                                 page_views=page_views, form_submits=form_submits)
        if old is None:
            utm = batch.utm
            inserts[key] = (
                workspace_id, write.site.id, session_id, visitor_id, batch.fingerprint, started, last,
                last - started, entry, exit_page, batch.referrer, visit.referrer_domain, utm.get("source"),
                utm.get("medium"), utm.get("campaign"), utm.get("term"), utm.get("content"), visit.country,
                visit.city, batch.timezone, batch.language, visit.device, visit.browser, visit.os, *counts, score,
                int(vpn),
            )
        elif started == old[2] and old[15]:  # open, unarchived, with a fingerprint; its start stays
            open_updates.append((last, last - started, exit_page, *counts, score, int(vpn), old[0]))
        else:
            updates.append((started, last, last - started, entry, exit_page, *counts, score, int(vpn),
                            batch.fingerprint, old[0]))
        seen = visitors.get((workspace_id, visitor_id))
        if seen is None:
            visitors[(workspace_id, visitor_id)] = [batch.fingerprint, act.first_ts, act.last_ts, int(old is None)]
        else:
            seen[0] = batch.fingerprint or seen[0]
            seen[1], seen[2] = min(seen[1], act.first_ts), max(seen[2], act.last_ts)
            seen[3] += int(old is None)
        if score > old_score:
            raised.append((workspace_id, visitor_id, score))
        vpn_of[key] = vpn
    ids = {key: row[0] for key, row in existing.items()}
    for key, values in inserts.items():  # one at a time, for the new session's id
        ids[key] = conn.execute(_INSERT_SESSION, values).fetchone()[0]
    if updates:
        conn.executemany(_UPDATE_SESSION, updates)
    if open_updates:
        conn.executemany(_UPDATE_OPEN_SESSION, open_updates)
    conn.executemany(_UPSERT_VISITOR, [(ws, vid, *values) for (ws, vid), values in visitors.items()])

    for key, act in sessions.items():
        for write, event in sorted(act.forms, key=lambda form: form[1].ts):
            _submit_form(conn, write, event, vpn_of[key], now)
    if raised:
        raise_engagement(conn, raised, now)
    return ids


def apply_each(conn: sqlite3.Connection, jobs: Sequence[Write | BotHit], now: int) -> list[Outcome | Exception]:
    """After a group failed: every request under its own savepoint, in one transaction, so a
    request whose rows fail is rolled back alone (its outcome is the error) and the rest commit.
    An error that ends the transaction itself (a full disk) leaves no savepoint to roll back to,
    and fails the whole transaction as before."""
    outcomes: list[Outcome | Exception] = []
    for job in jobs:
        conn.execute("SAVEPOINT request")
        try:
            outcomes.extend(apply_group(conn, [job], now))
        except Exception as error:  # whatever one request's rows raise (SQLite, text it cannot bind...)
            conn.execute("ROLLBACK TO request")
            outcomes.append(error)
        conn.execute("RELEASE request")
    return outcomes


def _existing_sessions(conn: sqlite3.Connection, sessions: dict[tuple[str, str], _Activity]
                       ) -> dict[tuple[str, str], tuple[Any, ...]]:
    by_workspace: dict[str, list[str]] = {}
    for workspace_id, session_id in sessions:
        by_workspace.setdefault(workspace_id, []).append(session_id)
    sql = f"SELECT {_SESSION_STATE} FROM sessions WHERE workspace_id = ? AND session_id IN ({{}})"
    return {(workspace_id, row[1]): row for workspace_id, ids in by_workspace.items()
            for row in select_in(conn, sql, workspace_id, ids)}


def _submit_form(conn: sqlite3.Connection, write: Write, event: Event, vpn_suspected: bool, now: int) -> None:
    props, batch, visit, site = event.props, write.batch, write.visit, write.site
    fields: dict[str, str] = props.get("fields") or {}

    def value(name: str) -> str | None:
        text = fields.get(name, "").strip()
        return text or None

    record_submission(conn, FormSubmission(
        workspace_id=site.workspace_id, site_id=site.id, event_id=event.id, submitted_at=event.ts,
        session_id=batch.session_id, visitor_id=batch.visitor_id, fingerprint=batch.fingerprint,
        name=value("name"), email=value("email"), phone=value("phone"), project=value("project"),
        contact_ip=visit.ip, page_url=event.url, form=props.get("form") or "form", fill_ms=props.get("fill_ms"),
        payload_json=json_input.dumps(props.get("payload") or {}),
        country=visit.country, city=visit.city, vpn_suspected=vpn_suspected,
        duplicate_window_ms=site.settings.duplicate_window_hours * HOUR_MS,
    ), now)
