"""The grouped writer: requests that arrive together commit together; one whose rows fail fails alone."""
import asyncio
import time

import pytest

from domain import ingest, sites
from domain.ingest import IngestUnavailable, IngestWriter, Visit
from runtime import ExecutionContext
from storage.d1 import D1Database
from tests.tracking import batch, event

VISIT = Visit(ip="203.0.113.7", country=None, city=None, device="desktop", browser="Chrome", os="Linux",
              vpn_suspected=False, referrer_domain="(direct)")


@pytest.fixture
async def site(db: D1Database) -> sites.Site:
    created = await sites.create_site(db, "default", ["https://example.com"])
    found = await sites.site_by_key(db, created["site_key"])
    assert found is not None
    return found


def write(site: sites.Site, *ids: str, session: str = "s_one") -> ingest.Write:
    now = int(time.time() * 1000)
    parsed = ingest.parse_batch(batch(site.site_key, [event(id=i) for i in ids], session=session), now)
    return ingest.prepare(parsed, site, VISIT, now)


async def events(db: D1Database) -> list[str]:
    return [row[0] for row in await db.prepare("SELECT event_id FROM events ORDER BY event_id").raw()]


async def test_requests_waiting_together_commit_together(db, site) -> None:
    writer = IngestWriter(db)
    first, second = await asyncio.gather(writer.write(write(site, "evt_a0000001", "evt_a0000002")),
                                         writer.write(write(site, "evt_b0000001", session="s_two")))
    assert (first, second) == (ingest.Outcome(2, 0), ingest.Outcome(1, 0))
    assert await events(db) == ["evt_a0000001", "evt_a0000002", "evt_b0000001"]


async def test_a_request_whose_rows_fail_fails_alone_and_its_group_commits(db, site) -> None:
    # Rows that validation cannot foresee (here a trigger refuses them) fail only their own request.
    await db.exec("CREATE TRIGGER poison BEFORE INSERT ON events WHEN NEW.event_id LIKE 'poison%'"
                  " BEGIN SELECT RAISE(ABORT, 'poisoned'); END")
    writer = IngestWriter(db)
    good, poisoned, also_good = await asyncio.gather(
        writer.write(write(site, "evt_good0001", "evt_good0002")),
        writer.write(write(site, "evt_fine0001", "poison_00001", session="s_two")),
        writer.write(write(site, "evt_good0003", session="s_three")),
        return_exceptions=True)
    assert (good, also_good) == (ingest.Outcome(2, 0), ingest.Outcome(1, 0))
    assert isinstance(poisoned, IngestUnavailable) and "poisoned" in str(poisoned)
    # Nothing of the failed request: not even its event that was fine.
    assert await events(db) == ["evt_good0001", "evt_good0002", "evt_good0003"]
    sessions = await db.prepare("SELECT session_id, event_count FROM sessions ORDER BY session_id").raw()
    assert sessions == [["s_one", 2], ["s_three", 1]]
    # The writer carries on with the next group.
    assert await writer.write(write(site, "evt_fine0001", session="s_two")) == ingest.Outcome(1, 0)


async def test_a_failing_database_fails_every_request_of_the_group(db, site) -> None:
    writer = IngestWriter(db)
    await db.close()
    results = await asyncio.gather(writer.write(write(site, "evt_shut0001")),
                                   writer.write(write(site, "evt_shut0002", session="s_two")),
                                   return_exceptions=True)
    assert all(isinstance(result, IngestUnavailable) for result in results)


async def test_a_full_group_does_not_wait_out_the_linger(db, site) -> None:
    writer = IngestWriter(db, linger_seconds=3600, group_events=3)
    outcome = await asyncio.wait_for(writer.write(write(site, "evt_full0001", "evt_full0002", "evt_full0003")), 30)
    assert outcome == ingest.Outcome(3, 0)


async def test_close_commits_what_waits_and_refuses_what_comes_after(db, site) -> None:
    writer = IngestWriter(db, linger_seconds=0.05)
    pending = asyncio.ensure_future(writer.write(write(site, "evt_late0001")))
    await asyncio.sleep(0)  # the request is queued
    await writer.close()
    assert pending.done() and pending.result() == ingest.Outcome(1, 0)
    with pytest.raises(IngestUnavailable):
        await writer.write(write(site, "evt_late0002"))
    assert await events(db) == ["evt_late0001"]


async def test_shutdown_draining_wait_until_work_flushes_the_writer(db, site) -> None:
    ctx = ExecutionContext()
    writer = IngestWriter(db, ctx, linger_seconds=0.05)
    pending = asyncio.ensure_future(writer.write(write(site, "evt_drain001")))
    await asyncio.sleep(0)
    await ctx.drain()
    assert pending.done() and pending.result() == ingest.Outcome(1, 0)


async def test_a_closed_database_fails_the_group(db, site) -> None:
    writer = IngestWriter(db)
    await db.close()
    with pytest.raises(IngestUnavailable, match="database is not open"):
        await writer.write(write(site, "evt_closed01"))
