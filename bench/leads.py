"""Per-lead analytics: `GET /api/v0/analytics` JSON pages and the CSV export, against the raw tables.

Two generated workspaces (cached under bench/data/leads/, rebuilt when the migrations change):

- 20,000 leads with a 40-item checklist each and 200,000 messages: JSON pages (the first page,
  a page reached by token, a date-filtered page) timed through the ASGI stack, p50/p99 over
  `--requests`, against the straightforward answer for the totals (every message, action log
  and checklist value read and evaluated, no rollups), which must be identical.
- 100,000 leads with the same checklist (and 1,000,000 messages): one CSV export in a fresh
  worker process, timed from request to signed link, with the memory it adds to the worker (peak
  RSS minus RSS before the request); the same for the 20,000 leads, to show memory stays flat. The
  file is then fetched through its link and its rows counted.

    python bench/leads.py [--leads 20000] [--messages 200000] [--csv-leads 100000] [--requests 40]
"""
from __future__ import annotations

import argparse
import asyncio
import csv
import hashlib
import io
import json
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from domain import checklists, lead_analytics
from domain.dates import DAY_MS, parse_instant
from domain.leads import normalise_email, normalise_phone, phone_match_key
from storage import migrations
from storage.config import load_config
from storage.d1 import D1Database
from storage.s3local import LocalS3Server
from worker import create_app

API_KEY = "bench-analytics-key"
WS = "default"  # the workspace ANALYTICS_API_KEY authenticates as
SEED = 20261202
GENERATOR = 1  # bump when build() changes what it writes
DATA = ROOT / "bench" / "data" / "leads"
JSON_P50_TARGET_MS = 150.0
CSV_SECONDS_TARGET, CSV_MEMORY_TARGET_MB = 30.0, 200.0
GROUPS = ("Contact", "Business", "Finance", "Documents")
KINDS = ("TEXT", "NUMBER", "DATE", "EMAIL", "PHONE", "SELECT", "BOOLEAN", "FILE")
SOURCES = ("agent", "imported", "manual", "portal")


def template_body() -> dict[str, Any]:
    """Four groups of ten items: every field type, 70% required, five items shown only to businesses."""
    groups = []
    for g, name in enumerate(GROUPS):
        items = []
        for i in range(10):
            kind = KINDS[(g * 10 + i) % len(KINDS)]
            item: dict[str, Any] = {"code": f"{name.lower()}_{i}", "label": f"{name} {i}", "fieldType": kind,
                                    "isRequired": (g * 10 + i) % 10 < 7}
            if kind == "SELECT":
                item["validationRules"] = {"options": ["person", "business", "other"]}
            if kind == "NUMBER":
                item["validationRules"] = {"min": 0}
            if name == "Business" and i >= 5:
                item["conditions"] = [{"item": "contact_5", "equals": "business"}]
            items.append(item)
        groups.append({"name": name, "items": items})
    return {"groups": groups}


def _value(rng: random.Random, kind: str, n: int) -> Any:
    return {
        "TEXT": lambda: f"text {n}", "NUMBER": lambda: rng.randint(0, 250_000),
        "DATE": lambda: f"20{rng.randint(10, 25)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}",
        "EMAIL": lambda: f"person{n}@example.com", "PHONE": lambda: f"+1555{n:07d}",
        "SELECT": lambda: rng.choice(("person", "business", "business", "other")), "BOOLEAN": lambda: rng.random() < 0.5,
        "FILE": lambda: f"s3://bench-documents/{n}.pdf",
    }[kind]()


_LEAD = ("INSERT INTO leads (lead_id, id, workspace_id, source, created_at, updated_at, first_name, last_name,"
         " contact_name, email, email_norm, phone, phone_norm, submitted_at, opted_out_at, is_test, deleted_at)"
         " VALUES (?, ?, ?, 'api', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
_VALUE = ("INSERT INTO lead_checklist_items (id, workspace_id, lead_id, checklist_item_id, value, status, source,"
          " reason, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
_MESSAGE = ("INSERT INTO messages (id, workspace_id, lead_id, contact, contact_key, channel, direction, status,"
            " draft_state, body, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)")
_ACTION = ("INSERT INTO action_logs (id, workspace_id, lead_id, type, status, summary, intervention, created_at,"
           " source, updated_at) VALUES (?, ?, ?, ?, 'COMPLETED', ?, ?, ?, ?, ?)")


def _schema_hash() -> str:
    """What a cached database depends on: the schema, the checklist rules that wrote its rollups, the generator."""
    digest = hashlib.sha256(f"generator {GENERATOR}".encode())
    for path in [*migrations.migration_files(ROOT / "migrations"), ROOT / "domain" / "checklists.py"]:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def build(path: Path, leads: int, messages: int) -> dict[str, Any]:
    """The cached database at `path` (built when missing or stale) and its facts."""
    facts_path = path.with_suffix(".json")
    if path.exists() and facts_path.exists():
        facts = json.loads(facts_path.read_text())
        if facts.get("schema") == _schema_hash():
            return facts
    for stale in path.parent.glob(path.name + "*"):
        stale.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rng = random.Random(SEED)
    end = (int(time.time() * 1000) // DAY_MS) * DAY_MS

    async def prepare() -> None:
        db = D1Database(path)
        await db.open()
        await migrations.apply(db, ROOT / "migrations")
        await db.transaction(lambda conn: checklists.replace_template(conn, WS, template_body(), end - 400 * DAY_MS))
        await db.close()

    asyncio.run(prepare())
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    template = checklists.template_in(conn, WS)
    chunk = 5_000
    for first in range(1, leads + 1, chunk):
        lead_rows, value_rows, action_rows = [], [], []
        for lead_id in range(first, min(first + chunk, leads + 1)):
            created = end - rng.randint(0, 365 * DAY_MS)
            email = f"lead{lead_id}@example.com"
            phone = f"+1555{lead_id:07d}"
            submitted = created + rng.randint(0, 20 * DAY_MS) if rng.random() < 0.3 else None
            opted = created + rng.randint(0, 20 * DAY_MS) if rng.random() < 0.05 else None
            lead_rows.append((lead_id, str(uuid.UUID(int=rng.getrandbits(128))), WS, created, created, f"First{lead_id}",
                              f"Last{lead_id}", f"First{lead_id} Last{lead_id}", email, normalise_email(email),
                              normalise_phone(phone), phone_match_key(phone), submitted, opted,
                              int(rng.random() < 0.01), created + DAY_MS if rng.random() < 0.01 else None))
            for n, item in enumerate(template.items):
                if rng.random() < 0.1:
                    continue  # untouched
                invalid = rng.random() < 0.03
                value = "not valid" if invalid and item.field_type in ("NUMBER", "BOOLEAN") else \
                    _value(rng, item.field_type, lead_id * 100 + n)
                status, reason = checklists.check_value(item, value)
                if status == "COMPLETED" and rng.random() < 0.03:
                    status = "NEEDS_REVIEW"
                value_rows.append((str(uuid.UUID(int=rng.getrandbits(128))), WS, lead_id, item.id,
                                   json.dumps(value), status, rng.choice(SOURCES), reason,
                                   created + rng.randint(0, 5 * DAY_MS)))
            if rng.random() < 0.2:
                kind, intervention = rng.choice((("MANUAL_ACTIVITY", "manual_update"), ("ESCALATION", "escalation"),
                                                 ("DOCUMENT_OVERRIDE", "document_override")))
                action_rows.append((str(uuid.UUID(int=rng.getrandbits(128))), WS, lead_id, kind, kind.lower(),
                                    intervention, created + DAY_MS, "manual", created + DAY_MS))
        conn.execute("BEGIN")
        conn.executemany(_LEAD, lead_rows)
        conn.executemany(_VALUE, value_rows)
        conn.executemany(_ACTION, action_rows)
        conn.execute("COMMIT")
        print(f"  {min(first + chunk - 1, leads):,} leads", end="\r", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    conn.execute("BEGIN")
    checklists.recompute_workspace(conn, WS, template)  # the completion rollup, as a template change writes it
    conn.execute("COMMIT")
    channels = ("sms",) * 12 + ("email",) * 5 + ("whatsapp",) * 2 + ("imessage",)
    for first in range(0, messages, 50_000):
        rows = []
        for n in range(first, min(first + 50_000, messages)):
            lead_id = rng.randint(1, leads)
            channel = rng.choice(channels)
            contact = f"lead{lead_id}@example.com" if channel == "email" else f"+1555{lead_id:07d}"
            key = contact if channel == "email" else phone_match_key(contact)
            outbound = rng.random() < 0.6
            draft = rng.choice((None,) * 17 + ("approved", "edited", "rejected")) if outbound else None
            status = rng.choice(("sent", "delivered", "delivered", "failed", "queued")) if outbound else "received"
            at = end - rng.randint(0, 365 * DAY_MS)
            rows.append((f"{n:024x}", WS, lead_id, contact, key, channel, "outbound" if outbound else "inbound",
                         status, draft, at, at))
        conn.execute("BEGIN")
        conn.executemany(_MESSAGE, rows)
        conn.execute("COMMIT")
        print(f"  {min(first + 50_000, messages):,} messages", end="\r", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    conn.execute("ANALYZE")
    conn.close()
    facts = {"schema": _schema_hash(), "leads": leads, "items": len(template.items), "messages": messages,
             "end": end, "build_s": round(time.perf_counter() - started, 1)}
    facts_path.write_text(json.dumps(facts))
    return facts


# --- the straightforward answer ------------------------------------------------------------------


async def naive_totals(db: D1Database, start: int | None, end: int | None) -> dict[str, Any]:
    """Totals from the raw rows: every message, action log and checklist value, evaluated in Python."""
    low, high = start if start is not None else -(2**63), end if end is not None else 2**63 - 1
    chosen = ("SELECT lead_id, submitted_at, opted_out_at FROM leads WHERE workspace_id = ?1 AND deleted_at IS NULL"
              " AND is_test = 0 AND created_at BETWEEN ?2 AND ?3")
    leads = (await db.prepare(chosen).bind(WS, low, high).all()).results
    ids = {row["lead_id"] for row in leads}
    channels: dict[str, dict[str, int]] = {}
    edits = rejects = 0
    for m in (await db.prepare("SELECT lead_id, channel, direction, status, draft_state FROM messages"
                               " WHERE workspace_id = ?").bind(WS).all()).results:
        if m["lead_id"] not in ids or m["channel"] not in lead_analytics.CHANNELS:
            continue
        edits += m["draft_state"] == "edited"
        rejects += m["draft_state"] == "rejected"
        counted = m["direction"] == "inbound" or (
            m["status"] != "failed" and m["draft_state"] in (None, "approved", "edited"))
        if counted:
            stats = channels.setdefault(m["channel"], {"inbound": 0, "outbound": 0})
            stats[m["direction"]] += 1
    interventions = {"manual_update": 0, "document_override": 0, "escalation": 0}
    for a in (await db.prepare("SELECT lead_id, intervention FROM action_logs WHERE workspace_id = ?"
                               " AND intervention IS NOT NULL").bind(WS).all()).results:
        if a["lead_id"] in ids:
            interventions[a["intervention"]] += 1
    template = await checklists.read_template(db, WS)
    values: dict[int, dict[str, checklists.StoredValue]] = {}
    for row in await db.prepare("SELECT lead_id, id, checklist_item_id, value, status, source, reason, item_override,"
                                " updated_at FROM lead_checklist_items WHERE workspace_id = ?").bind(WS).raw():
        if row[0] in ids:
            stored = checklists.stored_value(row[1:])
            values.setdefault(row[0], {})[stored.item_id] = stored
    required = completed = 0
    by_source = dict.fromkeys(SOURCES, 0)
    for lead_id in ids:
        completion = checklists.evaluate(template, values.get(lead_id, {})).completion
        required += completion["totalRequired"]
        completed += completion["totalCompleted"]
        for source in SOURCES:
            by_source[source] += completion["bySource"][source]  # type: ignore[literal-required]
    inbound = sum(c["inbound"] for c in channels.values())
    outbound = sum(c["outbound"] for c in channels.values())
    return {
        "count": len(leads), "leadsCompleted": sum(1 for r in leads if r["submitted_at"] is not None),
        "leadsOptedOut": sum(1 for r in leads if r["opted_out_at"] is not None),
        "totalMessages": inbound + outbound, "inboundMessages": inbound, "outboundMessages": outbound,
        "channels": {c: channels[c] for c in lead_analytics.CHANNELS if c in channels and sum(channels[c].values())},
        "completion": {"totalRequired": required, "totalCompleted": completed, "bySource": by_source},
        "interventions": {"documentOverrides": interventions["document_override"],
                          "escalations": interventions["escalation"], "manualUpdates": interventions["manual_update"],
                          "messageEdits": edits, "messageRejects": rejects},
    }


# --- measuring ------------------------------------------------------------------------------------


def _config(directory: Path, database_id: str) -> Path:
    path = directory / "wrangler.toml"
    path.write_text(
        'name = "leadlight-bench"\nmain = "worker.py"\ncompatibility_date = "2026-11-01"\n'
        f'[vars]\nANALYTICS_API_KEY = "{API_KEY}"\n[triggers]\ncrons = []\n'
        f'[[d1_databases]]\nbinding = "DB"\ndatabase_name = "leadlight"\ndatabase_id = "{database_id}"\n'
        f'migrations_dir = "{ROOT / "migrations"}"\n'
        + "".join(f'[[r2_buckets]]\nbinding = "{b}"\nbucket_name = "bench-{b.lower()}"\n'
                  for b in ("SESSIONS", "EXPORTS", "DOCUMENTS"))
    )
    return path


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


class _App:
    """The app on a generated database, with a local S3 server, for the length of a `with`."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path

    async def __aenter__(self) -> httpx.AsyncClient:
        self._tmp = tempfile.TemporaryDirectory()
        tmp = Path(self._tmp.name)
        self._s3 = LocalS3Server(tmp / "r2")
        endpoint = self._s3.start(["bench-sessions", "bench-exports", "bench-documents"])
        config = load_config(_config(tmp, self.db_path.stem), local=True, environ={})
        self.app = create_app(config, local_s3=endpoint, state_dir=self.db_path.parent.parent)
        self._lifespan = self.app.router.lifespan_context(self.app)
        await self._lifespan.__aenter__()
        self._client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://bench",
                                         headers={"x-api-key": API_KEY}, timeout=600)
        return self._client

    async def __aexit__(self, *exc: object) -> None:
        await self._client.aclose()
        await self._lifespan.__aexit__(None, None, None)
        self._s3.stop()
        self._tmp.cleanup()


async def bench_json(db_path: Path, facts: dict[str, Any], requests: int, naive_requests: int) -> bool:
    ok = True
    async with _App(db_path) as client:
        first = (await client.get("/api/v0/analytics")).json()
        token = first["nextToken"]
        for _ in range(10):  # somewhere in the middle
            token = (await client.get("/api/v0/analytics", params={"token": token})).json()["nextToken"]
        end = facts["end"]
        window = {"start": _iso(end - 90 * DAY_MS), "end": _iso(end)}
        cases = [("first page", {}), ("page by token", {"token": token}), ("90-day window", window)]
        for name, params in cases:
            times = []
            body: dict[str, Any] = {}
            for _ in range(requests):
                started = time.perf_counter()
                response = await client.get("/api/v0/analytics", params=params)
                times.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, response.text
                body = response.json()
            db = _db_of(client)
            naive_times = []
            naive: dict[str, Any] = {}
            for _ in range(naive_requests):
                started = time.perf_counter()
                naive = await naive_totals(db, _ms(params.get("start")), _ms(params.get("end")))
                naive_times.append((time.perf_counter() - started) * 1000)
            same = naive == body["totals"]
            p50, p99, naive_p50 = _percentile(times, 0.5), _percentile(times, 0.99), _percentile(naive_times, 0.5)
            ok &= same and p50 < JSON_P50_TARGET_MS
            print(f"  {name:<16} {len(body['breakdown'])} leads/page  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  "
                  f"naive totals p50 {naive_p50:8.1f} ms ({naive_p50 / p50:5.1f}x)  same totals: "
                  f"{'yes' if same else 'NO'}", flush=True)
    return ok


def _db_of(client: httpx.AsyncClient) -> D1Database:
    transport = client._transport  # the ASGI app under test
    return transport.app.state.env.DB  # type: ignore[attr-defined]


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms // 1000))


def _ms(text: str | None) -> int | None:
    return None if text is None else parse_instant(text)


def _peak_rss_mb() -> float:
    """This process's peak resident memory. Not ru_maxrss: Linux carries that over from the parent
    across fork and exec, so a child started by a big parent would report the parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _csv_child(db_path: Path) -> dict[str, Any]:
    async with _App(db_path) as client:
        before = _peak_rss_mb()
        started = time.perf_counter()
        response = await client.get("/api/v0/analytics", params={"format": "csv"})
        seconds = time.perf_counter() - started
        peak = _peak_rss_mb()
        assert response.status_code == 200, response.text
        link = response.json()
        rows = size = 0
        header: list[str] = []
        async with httpx.AsyncClient(timeout=600) as http, http.stream("GET", link["downloadUrl"]) as download:
            assert download.status_code == 200, await download.aread()
            pending = ""
            async for text in download.aiter_text():
                size += len(text)
                pending += text
                lines = pending.split("\r\n")
                pending = lines.pop()
                if not header and lines:
                    header = next(csv.reader(io.StringIO(lines[0])))
                rows += len(lines)
        return {"seconds": round(seconds, 2), "rss_before_mb": round(before, 1), "peak_rss_mb": round(peak, 1),
                "rows": rows - 1, "columns": len(header), "characters": size}


def _export(db_path: Path) -> dict[str, Any] | None:
    child = subprocess.run([sys.executable, __file__, "--csv-child", str(db_path)], capture_output=True, text=True,
                           check=False)
    if child.returncode != 0:
        print(child.stderr[-5000:], file=sys.stderr)
        return None
    return json.loads(child.stdout.strip().splitlines()[-1])


def bench_csv(db_path: Path, small_path: Path) -> bool:
    """One export per database, each in a fresh worker process: its time, and the memory it adds
    to a worker that has started (its peak RSS minus its RSS before the request)."""
    results = []
    for path in (small_path, db_path):
        result = _export(path)
        if result is None:
            return False
        conn = sqlite3.connect(path)
        expected = conn.execute("SELECT count(*) FROM leads WHERE workspace_id = ? AND deleted_at IS NULL"
                                " AND is_test = 0", (WS,)).fetchone()[0]
        conn.close()
        added = result["peak_rss_mb"] - result["rss_before_mb"]
        print(f"  CSV of {result['rows']:,} leads ({expected:,} expected), {result['columns']} columns, "
              f"{result['characters'] / 1e6:.0f} MB: {result['seconds']:.1f} s; the export added {added:.0f} MB to "
              f"the worker (peak RSS {result['peak_rss_mb']:.0f} MB, {result['rss_before_mb']:.0f} MB before)",
              flush=True)
        results.append((result, expected, added))
    result, expected, added = results[-1]
    return result["seconds"] < CSV_SECONDS_TARGET and added < CSV_MEMORY_TARGET_MB and result["rows"] == expected


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--csv-leads", type=int, default=100_000)
    parser.add_argument("--csv-messages", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--naive-requests", type=int, default=3)
    parser.add_argument("--csv-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.csv_child:
        print(json.dumps(asyncio.run(_csv_child(args.csv_child))))
        return 0
    json_db = DATA / "d1" / f"leads-{args.leads}.sqlite"
    facts = build(json_db, args.leads, args.messages)
    print(f"JSON: {facts['leads']:,} leads, {facts['items']} checklist items each, {facts['messages']:,} messages"
          f" (built in {facts['build_s']} s)", flush=True)
    ok = asyncio.run(bench_json(json_db, facts, args.requests, args.naive_requests))
    csv_db = DATA / "d1" / f"leads-{args.csv_leads}.sqlite"
    csv_facts = build(csv_db, args.csv_leads, args.csv_messages)
    print(f"CSV: {csv_facts['leads']:,} leads, {csv_facts['items']} checklist items each, "
          f"{csv_facts['messages']:,} messages (built in {csv_facts['build_s']} s)", flush=True)
    ok &= bench_csv(csv_db, json_db)
    print("targets met" if ok else "TARGETS MISSED", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
