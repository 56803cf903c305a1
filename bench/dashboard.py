"""Dashboard latency: every /analytics endpoint against the straightforward query over raw tables.

For each size (1M events by default; add 10M with `--events 1000000 10000000`) it builds or
reuses a generated workspace (bench/generate.py, cached under bench/data/, extended up to now
on reuse), starts the app in-process on that database, and for each endpoint measures p50/p99
over `--requests` requests through the ASGI stack, then the naive query for the same answer
(raw sessions, events, leads, messages, action logs; no rollups) and checks both answers are
identical. It also measures what the rollups cost the ingestion writer: the real
`domain.ingest.apply_group` on the same batches, with and without them (the triggers on sessions
and events, and the page rollup the writer runs per group).

    python bench/dashboard.py [--events 1000000 [10000000]] [--requests 100] [--naive-requests 5]
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import generate  # noqa: E402
from domain import dates, metrics  # noqa: E402
from domain.leads import SORTS, dashboard_lead  # noqa: E402
from storage import migrations  # noqa: E402
from storage.config import load_config  # noqa: E402
from storage.d1 import D1Database  # noqa: E402
from storage.s3local import LocalS3Server  # noqa: E402
from tests.earlier import page_rule  # noqa: E402
from worker import create_app  # noqa: E402

API_KEY = "bench-analytics-key"
WS = generate.WORKSPACE
P50_TARGET_MS, P99_TARGET_MS = 50.0, 150.0

Naive = Callable[[D1Database], Awaitable[Any]]


@dataclass
class Case:
    name: str
    method: str
    paths: list[str]  # requests cycle through these
    naive: Naive
    body: bytes | None = None


@dataclass
class Result:
    name: str
    p50: float
    p99: float
    naive_p50: float
    same: bool


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def _datetime(epoch_ms: int | None) -> str | None:
    return None if epoch_ms is None else time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch_ms // 1000))


async def _rows(db: D1Database, sql: str, *params: Any) -> list[dict[str, Any]]:
    return (await db.prepare(sql).bind(*params).all()).results


# --- the straightforward answers -----------------------------------------------------------


async def naive_overview(db: D1Database) -> Any:
    (s,) = await _rows(db, "SELECT count(*) AS n, coalesce(sum(engagement_score), 0) AS e,"
                           " coalesce(sum(duration_ms), 0) AS d, count(DISTINCT visitor_id) AS v,"
                           " count(DISTINCT fingerprint) AS f, coalesce(sum(vpn_suspected != 0), 0) AS vpn"
                           " FROM sessions WHERE workspace_id = ?", WS)
    events = await db.prepare("SELECT count(*) AS n FROM events WHERE workspace_id = ?").bind(WS).first("n")
    return {"total_sessions": s["n"], "total_events": events, "unique_visitors": s["v"],
            "unique_fingerprints": s["f"], "avg_engagement_score": metrics.average(s["e"], s["n"], 1),
            "avg_session_duration_s": int(metrics.seconds(s["d"], s["n"], 0)), "vpn_suspected_count": s["vpn"]}


def naive_daily(days: int) -> Naive:
    async def run(db: D1Database) -> Any:
        last = time.time_ns() // 1_000_000 // dates.DAY_MS
        first = last - days + 1
        rows = await _rows(db, "SELECT started_at / 86400000 AS day, count(*) AS n, count(DISTINCT visitor_id) AS v,"
                               " sum(duration_ms) AS d, sum(engagement_score) AS e FROM sessions"
                               " WHERE workspace_id = ? AND started_at >= ? AND started_at < ? GROUP BY 1",
                           WS, first * dates.DAY_MS, (last + 1) * dates.DAY_MS)
        by_day = {r["day"]: r for r in rows}
        empty = {"n": 0, "v": 0, "d": 0, "e": 0}
        return [{"date": time.strftime("%Y-%m-%d", time.gmtime(day * 86400)),
                 "total_sessions": by_day.get(day, empty)["n"], "unique_visitors": by_day.get(day, empty)["v"],
                 "avg_duration": metrics.seconds(by_day.get(day, empty)["d"], by_day.get(day, empty)["n"], 1),
                 "avg_engagement": metrics.average(by_day.get(day, empty)["e"], by_day.get(day, empty)["n"], 1)}
                for day in range(first, last + 1)]
    return run


def naive_pages(limit: int) -> Naive:
    async def run(db: D1Database) -> Any:
        return await _rows(db, f"SELECT coalesce({page_rule()}, '') AS page, count(*) AS views,"
                               " count(DISTINCT session_id) AS unique_sessions FROM events"
                               " WHERE workspace_id = ? AND type = 'page_view'"
                               " GROUP BY 1 ORDER BY views DESC, 1 LIMIT ?", WS, limit)
    return run


async def naive_geo(db: D1Database) -> Any:
    return await _rows(db, "SELECT country, count(*) AS sessions, count(DISTINCT visitor_id) AS unique_visitors"
                           " FROM sessions WHERE workspace_id = ? GROUP BY country"
                           " ORDER BY sessions DESC, coalesce(country, '')", WS)


async def naive_engagement(db: D1Database) -> Any:
    rows = await _rows(db, "SELECT CASE WHEN engagement_score < 20 THEN '0-19' WHEN engagement_score < 40 THEN '20-39'"
                           " WHEN engagement_score < 60 THEN '40-59' WHEN engagement_score < 80 THEN '60-79'"
                           " ELSE '80-100' END AS bucket, count(*) AS count FROM sessions"
                           " WHERE workspace_id = ? AND ended_at IS NOT NULL GROUP BY 1", WS)
    counts = {r["bucket"]: r["count"] for r in rows}
    return [{"bucket": b, "count": counts.get(b, 0)} for b in ("0-19", "20-39", "40-59", "60-79", "80-100")]


async def naive_sources(db: D1Database) -> Any:
    return await _rows(db, "SELECT referrer_domain, count(*) AS sessions FROM sessions WHERE workspace_id = ?"
                           " GROUP BY referrer_domain ORDER BY sessions DESC, referrer_domain", WS)


async def naive_realtime(db: D1Database) -> Any:
    now = time.time_ns() // 1_000_000
    today = now // dates.DAY_MS * dates.DAY_MS
    (row,) = await _rows(
        db, "SELECT (SELECT count(*) FROM sessions WHERE workspace_id = ?1 AND ended_at IS NULL"
            " AND last_activity_at >= ?2) AS active,"
            " (SELECT count(*) FROM events WHERE workspace_id = ?1 AND received_at >= ?2) AS events,"
            " (SELECT count(DISTINCT visitor_id) FROM sessions WHERE workspace_id = ?1 AND started_at >= ?3) AS v,"
            " (SELECT count(*) FROM sessions WHERE workspace_id = ?1 AND started_at >= ?3) AS n",
        WS, now - dates.HOUR_MS, today)
    return {"active_sessions": row["active"], "events_last_hour": row["events"], "unique_visitors_today": row["v"],
            "total_sessions_today": row["n"]}


async def naive_storage(db: D1Database) -> Any:
    n = await db.prepare("SELECT count(*) AS n FROM sessions WHERE workspace_id = ? AND blob_key IS NOT NULL"
                         ).bind(WS).first("n")
    return {"total_objects": n, "estimated_sessions": n}


_NAIVE_LEAD = (
    "SELECT l.lead_id, l.id, coalesce(l.enquiry_at, l.created_at) AS enquiry_at, l.contact_name, l.email, l.phone,"
    " l.project_name, l.project_location, l.project_source, l.country, l.city, l.visitor_id, l.session_id,"
    " l.engagement_score, l.engagement_label, l.form_submit_count, l.suspicion_score, l.status,"
    " (SELECT count(*) FROM messages m WHERE m.lead_id = l.lead_id AND m.direction = 'outbound'"
    "   AND m.draft_state IS NOT 'rejected')"
    " + (SELECT count(*) FROM action_logs a WHERE a.lead_id = l.lead_id AND a.is_follow_up != 0) AS follow_ups,"
    " (SELECT max(at) FROM (SELECT created_at AS at FROM messages m WHERE m.lead_id = l.lead_id"
    "   AND m.direction = 'outbound' AND m.draft_state IS NOT 'rejected'"
    "   UNION ALL SELECT created_at FROM action_logs a WHERE a.lead_id = l.lead_id AND a.is_follow_up != 0))"
    "   AS last_follow_up_at"
    " FROM leads l WHERE l.workspace_id = ? AND l.deleted_at IS NULL"
)
_NAIVE_SORTS = {key: order.replace("f.last_follow_up_at", "last_follow_up_at") for key, order in SORTS.items()}


def naive_leads(limit: int = 25, offset: int = 0, q: str | None = None, status: str | None = None,
                sort: str = "newest") -> Naive:
    async def run(db: D1Database) -> Any:
        where, params = "", [WS]
        if q:
            where += (" AND (instr(lower(l.contact_name), ?) OR instr(lower(l.email), ?) OR instr(lower(l.phone), ?)"
                      " OR instr(lower(l.project_name), ?) OR instr(lower(l.visitor_id), ?))")
            params += [q.lower()] * 5
        if status:
            where += " AND l.status = ?"
            params.append(status)
        total = len(await _rows(db, f"SELECT l.lead_id FROM leads l WHERE l.workspace_id = ?"
                                    f" AND l.deleted_at IS NULL{where}", *params))
        rows = await _rows(db, f"{_NAIVE_LEAD}{where} ORDER BY {_NAIVE_SORTS[sort]} LIMIT ? OFFSET ?",
                           *params, limit, offset)
        return {"leads": [dashboard_lead(r) for r in rows], "total": total}
    return run


def naive_lead(lead_ids: list[int]) -> Naive:
    turn = iter(range(10**9))

    async def run(db: D1Database) -> Any:
        lead_id = lead_ids[next(turn) % len(lead_ids)]
        (row,) = await _rows(db, f"{_NAIVE_LEAD} AND l.lead_id = ?", WS, lead_id)
        sessions = await _rows(
            db, "SELECT session_id, visitor_id, entry_page, exit_page, country, started_at, ended_at,"
                " duration_ms AS duration, engagement_score, event_count FROM sessions"
                " WHERE workspace_id = ? AND (visitor_id = ? OR visitor_id IN"
                " (SELECT visitor_id FROM submissions WHERE lead_id = ?)) ORDER BY started_at, session_id",
            WS, row["visitor_id"], lead_id)
        submissions = await _rows(
            db, "SELECT submission_id, lead_id, submitted_at, project_name, visitor_id, session_id, contact_email,"
                " contact_phone, contact_ip, source, referer, cta_name, is_primary_lead, is_duplicate_window,"
                " payload_json FROM submissions WHERE lead_id = ? ORDER BY submitted_at, submission_id", lead_id)
        return {"lead": {**dashboard_lead(row), "uuid": row["id"]}, "sessions": sessions,
                "submissions": [{**s, "submitted_at": _datetime(s["submitted_at"])} for s in submissions]}
    return run


def naive_patch(lead_ids: list[int], statuses: dict[int, str]) -> Naive:
    turn = iter(range(10**9))

    async def run(db: D1Database) -> Any:
        lead_id = lead_ids[next(turn) % len(lead_ids)]
        await db.prepare("UPDATE leads SET status = ?, updated_at = ? WHERE lead_id = ? AND workspace_id = ?").bind(
            statuses[lead_id], time.time_ns() // 1_000_000, lead_id, WS).run()
        return {"updated": True}
    return run


# --- measuring -------------------------------------------------------------------------------


async def _cases(db: D1Database) -> list[Case]:
    leads = await _rows(db, "SELECT lead_id, status FROM leads WHERE workspace_id = ? AND deleted_at IS NULL"
                            " ORDER BY lead_id", WS)
    sample = [r["lead_id"] for r in random.Random(7).sample(leads, min(50, len(leads)))]
    statuses = {r["lead_id"]: r["status"] for r in leads}
    deep = max(0, len(leads) - 30)
    lead_paths = [f"/analytics/leads/{i}" for i in sample]
    return [
        Case("overview", "GET", ["/analytics/overview"], naive_overview),
        Case("sessions/daily", "GET", ["/analytics/sessions/daily"], naive_daily(30)),
        Case("sessions/daily?days=90", "GET", ["/analytics/sessions/daily?days=90"], naive_daily(90)),
        Case("pages/top", "GET", ["/analytics/pages/top"], naive_pages(20)),
        Case("pages/top?limit=100", "GET", ["/analytics/pages/top?limit=100"], naive_pages(100)),
        Case("geo", "GET", ["/analytics/geo"], naive_geo),
        Case("engagement", "GET", ["/analytics/engagement"], naive_engagement),
        Case("sources", "GET", ["/analytics/sources"], naive_sources),
        Case("realtime", "GET", ["/analytics/realtime"], naive_realtime),
        Case("storage", "GET", ["/analytics/storage"], naive_storage),
        Case("leads", "GET", ["/analytics/leads"], naive_leads()),
        Case("leads?q=sharma", "GET", ["/analytics/leads?q=sharma"], naive_leads(q="sharma")),
        Case("leads?status=won&sort=score_desc", "GET", ["/analytics/leads?status=won&sort=score_desc"],
             naive_leads(status="won", sort="score_desc")),
        Case("leads?sort=last_follow_up", "GET", ["/analytics/leads?sort=last_follow_up"],
             naive_leads(sort="last_follow_up")),
        Case("leads?sort=name_asc&limit=100", "GET", ["/analytics/leads?sort=name_asc&limit=100"],
             naive_leads(limit=100, sort="name_asc")),
        Case(f"leads?offset={deep}&sort=risk_asc", "GET", [f"/analytics/leads?offset={deep}&sort=risk_asc"],
             naive_leads(offset=deep, sort="risk_asc")),
        Case("leads/:id", "GET", lead_paths, naive_lead(sample)),
        Case("PATCH leads/:id", "PATCH", lead_paths, naive_patch(sample, statuses)),
    ]


async def _request(client: httpx.AsyncClient, db: D1Database, case: Case, path: str) -> httpx.Response:
    body = None
    if case.method == "PATCH":
        lead_id = int(path.rsplit("/", 1)[1])
        status = await db.prepare("SELECT status FROM leads WHERE lead_id = ?").bind(lead_id).first("status")
        body = json.dumps({"status": status.upper()}).encode()  # the same stage: the data stays as generated
    response = await client.request(case.method, path, headers={"X-API-Key": API_KEY}, content=body)
    if response.status_code != 200:
        raise RuntimeError(f"{case.name}: {response.status_code} {response.text}")
    return response


async def _measure_case(client: httpx.AsyncClient, db: D1Database, case: Case, requests: int,
                        naive_requests: int) -> Result:
    samples: list[float] = []
    for index in range(requests + 2):  # two warm-up requests
        path = case.paths[index % len(case.paths)]
        started = time.perf_counter()
        await _request(client, db, case, path)
        if index >= 2:
            samples.append((time.perf_counter() - started) * 1000)
    naive_samples: list[float] = []
    same = True
    for index in range(max(naive_requests, 1)):
        # The endpoint's answer right before the naive one: realtime numbers move with the clock.
        answer = (await _request(client, db, case, case.paths[index % len(case.paths)])).json()
        started = time.perf_counter()
        expected = await case.naive(db)
        naive_samples.append((time.perf_counter() - started) * 1000)
        same &= answer == expected
    return Result(case.name, _percentile(samples, 0.5), _percentile(samples, 0.99),
                  _percentile(naive_samples, 0.5), same)


def _config(directory: Path, database_id: str) -> Path:
    path = directory / "wrangler.toml"
    path.write_text(
        'name = "leadlight-bench"\nmain = "worker.py"\ncompatibility_date = "2026-11-01"\n'
        f'[vars]\nANALYTICS_API_KEY = "{API_KEY}"\n[triggers]\ncrons = []\n'
        f'[[d1_databases]]\nbinding = "DB"\ndatabase_name = "leadlight"\ndatabase_id = "{database_id}"\n'
        f'migrations_dir = "{ROOT / "migrations"}"\n'
        '[[r2_buckets]]\nbinding = "SESSIONS"\nbucket_name = "bench-sessions"\n'
        '[[r2_buckets]]\nbinding = "EXPORTS"\nbucket_name = "bench-exports"\n'
    )
    return path


async def _bench_size(db_path: Path, requests: int, naive_requests: int) -> list[Result]:
    with tempfile.TemporaryDirectory() as tmp:
        s3server = LocalS3Server(Path(tmp) / "r2")
        endpoint = s3server.start(["bench-sessions", "bench-exports"])
        try:
            config = load_config(_config(Path(tmp), db_path.stem), local=True, environ={})
            app = create_app(config, local_s3=endpoint, state_dir=db_path.parent.parent)
            async with app.router.lifespan_context(app):
                db: D1Database = app.state.env.DB
                await migrations.apply(db, ROOT / "migrations")
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                    results = []
                    for case in await _cases(db):
                        result = await _measure_case(client, db, case, requests, naive_requests)
                        print(f"  {result.name:<38} p50 {result.p50:7.2f} ms  p99 {result.p99:7.2f} ms  "
                              f"naive p50 {result.naive_p50:9.1f} ms  same answer: {'yes' if result.same else 'NO'}",
                              file=sys.stderr, flush=True)
                        results.append(result)
                    return results
        finally:
            s3server.stop()


def _schema_hash() -> str:
    digest = hashlib.sha256()
    for path in migrations.migration_files(ROOT / "migrations"):
        digest.update(path.read_bytes())
    digest.update((ROOT / "bench" / "generate.py").read_bytes())
    return digest.hexdigest()[:16]


def _database(events: int, regenerate: bool) -> Path:
    path = generate.default_path(events)
    stamp = path.with_suffix(".schema")
    state = generate.load_state(path)
    if regenerate or state is None or not stamp.exists() or stamp.read_text() != _schema_hash():
        print(f"generating {path.relative_to(ROOT)} ({events:,} events) ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        state = generate.generate(path, events)
        stamp.write_text(_schema_hash())
        print(f"  generated in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    else:
        state = generate.extend(path, state)
    return path


def _counts(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                for table in ("sessions", "events", "leads", "submissions", "messages")} | {
            "megabytes": path.stat().st_size // 1_000_000}
    finally:
        conn.close()


# --- what the triggers cost ingestion -------------------------------------------------------------


def trigger_cost(events: int) -> tuple[float, float]:
    """µs per event for the ingestion writer's transaction, without and with the rollups: the triggers
    on sessions and the page rollup the writer runs per group (domain/page_views.py)."""
    from domain import ingest
    from domain.ingest import Batch, Event, Visit, Write, apply_group
    from domain.sites import Site, SiteSettings

    site = Site(1, "site_bench", WS, frozenset({"*"}), SiteSettings(frozenset(), False, 24, 30))
    visit = Visit("198.51.100.7", "IN", None, "desktop", "Chrome", "Linux", False, "google.com")
    rng = random.Random(3)
    base = int(time.time() * 1000) - 3_600_000
    sessions = [f"s{i:07d}" for i in range(max(1, events // 30))]
    groups: list[list[Write]] = []
    group: list[Write] = []
    for number in range(events // 10):
        sid = rng.choice(sessions)
        batch_events = []
        for k in range(10):
            roll = rng.random()
            kind = "page_view" if roll < 0.35 else "click" if roll < 0.55 else "scroll" if roll < 0.75 else "engagement"
            props = {"depth": 50} if kind == "scroll" else {"active_ms": 4000} if kind == "engagement" else {}
            url = generate._pick(rng, generate._PAGE_URLS, generate._PAGE_CUM)
            batch_events.append(Event(f"e{number:08d}{k}", kind, base + number, url, props))
        batch = Batch(site="site_bench", visitor_id="v" + sid[1:], session_id=sid, fingerprint="fp" + sid[1:],
                      timezone="Asia/Kolkata", language="en", utm={}, events=batch_events)
        rows = [(WS, sid, e.id, e.type, e.url, e.ts, base + number, json.dumps(e.props)) for e in batch_events]
        group.append(Write(site, batch, visit, base + number, rows))
        if len(group) == 50:  # 500 events per group, as the grouped writer commits under load
            groups.append(group)
            group = []

    def run(rollups: bool) -> float:
        with tempfile.TemporaryDirectory() as tmp:
            db_path = Path(tmp) / "cost.sqlite"
            asyncio.run(_migrate_to(db_path, ROOT / "migrations"))
            conn = sqlite3.connect(db_path, isolation_level=None)
            if not rollups:  # the schema as it is, less the rollup triggers on events and sessions
                for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'"
                                            " AND tbl_name IN ('events', 'sessions')").fetchall():
                    conn.execute(f'DROP TRIGGER "{name}"')
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("INSERT INTO sites (id, workspace_id, site_key, created_at) VALUES (1, ?, 'site_bench', 0)",
                         (WS,))
            counted = ingest.count_page_views
            if not rollups:  # and less the page rollup
                ingest.count_page_views = lambda conn, views: None
            try:
                started = time.perf_counter()
                for writes in groups:
                    conn.execute("BEGIN IMMEDIATE")
                    apply_group(conn, writes, base)
                    conn.execute("COMMIT")
                elapsed = time.perf_counter() - started
            finally:
                ingest.count_page_views = counted
                conn.close()
            return elapsed / (len(groups) * 500) * 1e6

    samples = [(run(False), run(True)) for _ in range(3)]
    return min(s[0] for s in samples), min(s[1] for s in samples)


async def _migrate_to(path: Path, folder: Path) -> None:
    db = D1Database(path)
    await db.open()
    try:
        await migrations.apply(db, folder)
    finally:
        await db.close()


# --- report ----------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000],
                        help="dataset sizes in events (default 1000000; 10000000 takes several minutes to build)")
    parser.add_argument("--requests", type=int, default=100, help="timed requests per endpoint")
    parser.add_argument("--naive-requests", type=int, default=5, help="timed runs of each naive query")
    parser.add_argument("--regenerate", action="store_true", help="rebuild the cached databases")
    parser.add_argument("--trigger-events", type=int, default=200_000,
                        help="events for the trigger-cost measurement (0 skips it)")
    args = parser.parse_args()

    ok = True
    if args.trigger_events:
        print(f"ingestion writer, {args.trigger_events:,} events in 10-event batches, 500 per transaction ...",
              file=sys.stderr, flush=True)
        without, with_rollups = trigger_cost(args.trigger_events)
    for events in args.events:
        path = _database(events, args.regenerate)
        counts = _counts(path)
        print(f"\n{path.relative_to(ROOT)}: " + ", ".join(f"{v:,} {k}" for k, v in counts.items()), file=sys.stderr)
        results = asyncio.run(_bench_size(path, args.requests, args.naive_requests))
        print(f"\n/analytics at {counts['events']:,} events ({counts['sessions']:,} sessions, {counts['leads']:,} leads),"
              f" {args.requests} requests per endpoint, in-process ASGI; naive = the same answer from raw tables\n")
        print(f"{'endpoint':<38} {'p50 ms':>8} {'p99 ms':>8} {'naive p50 ms':>13} {'naive/p50':>10}  same answer")
        for r in results:
            within = r.p50 < P50_TARGET_MS and r.p99 < P99_TARGET_MS
            ok &= within and r.same
            print(f"{r.name:<38} {r.p50:>8.2f} {r.p99:>8.2f} {r.naive_p50:>13.1f} {r.naive_p50 / r.p50:>9.1f}x  "
                  f"{'yes' if r.same else 'NO'}{'' if within else '  (over target)'}")
    if args.trigger_events:
        print(f"\nrollups on the ingestion writer (domain.ingest.apply_group, {args.trigger_events:,} events):"
              f" {without:.1f} us/event without the session triggers and the page rollup, {with_rollups:.1f} us/event"
              f" with them"
              f" (+{with_rollups - without:.1f} us, {1e6 / without:,.0f} -> {1e6 / with_rollups:,.0f} events/s"
              f" for the writer alone)")
    print(f"\ntargets: p50 < {P50_TARGET_MS:.0f} ms and p99 < {P99_TARGET_MS:.0f} ms, same answer as the naive query:"
          f" {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
