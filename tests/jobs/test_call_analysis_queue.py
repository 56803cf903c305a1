"""The cron handler takes over analyses whose runner died (a crash, a restart) and gives up after
three runs; a row whose runner is alive is left alone."""
from __future__ import annotations

from starlette.applications import Starlette

from domain import call_processing, calls
from domain.transcription import parse_uploaded
from runtime import ScheduledEvent, now_ms
from tests.audio import tone, wav
from tests.seed import Workspace
from tests.seed_calls import PENDING
from worker import scheduled


async def uploaded(app: Starlette, lease_until: int, agent_id: str) -> str:
    """An analysis as an upload leaves it, its runner holding it until `lease_until` and then gone."""
    env = app.state.env
    new = calls.NewAnalysis(workspace_id="default", livemode=True, agent_id=agent_id, contact_id="c", audio=wav(
        [tone(1.0)]), format="wav", duration_ms=1000, transcript=parse_uploaded("Agent: Hello, calling about your bill."))
    row = await calls.create_analysis(env.DB, env.RECORDINGS, new, now_ms(), lease_until)
    return str(row["id"])


async def state(app: Starlette, analysis_id: str) -> tuple[str, int, str | None]:
    found = await app.state.env.DB.prepare("SELECT status, attempts, error_message FROM analyses WHERE id = ?").bind(
        analysis_id).first()
    return found["status"], found["attempts"], found["error_message"]


async def test_a_crashed_analysis_is_taken_again_and_finished(app: Starlette, workspace: Workspace) -> None:
    now = now_ms()
    orphan = await uploaded(app, now - 1, "orphan")  # its runner's lease ran out: the process died
    alive = await uploaded(app, now + call_processing.LEASE_MS, "alive")  # still held by a live runner
    assert await state(app, orphan) == ("processing", 1, None)

    await scheduled(ScheduledEvent("* * * * *", now), app.state.env, app.state.ctx)
    await app.state.ctx.drain()
    assert await state(app, orphan) == ("completed", 2, None)
    assert await state(app, alive) == ("processing", 1, None)
    assert await state(app, PENDING) == ("processing", 1, None)  # the seeded one is held for a day
    response = await app.state.env.DB.prepare("SELECT results FROM analyses WHERE id = ?").bind(orphan).first("results")
    assert '"purpose_declaration":{"flagged":false' in response


async def test_after_three_interrupted_runs_the_analysis_fails(app: Starlette, workspace: Workspace) -> None:
    now = now_ms()
    stuck = await uploaded(app, now - 1, "stuck")
    await app.state.env.DB.prepare("UPDATE analyses SET attempts = ? WHERE id = ?").bind(
        call_processing.MAX_ATTEMPTS, stuck).run()
    await scheduled(ScheduledEvent("* * * * *", now), app.state.env, app.state.ctx)
    await app.state.ctx.drain()
    assert await state(app, stuck) == ("failed", 3, "processing was interrupted 3 times; giving up")


async def test_two_runners_never_take_the_same_row(app: Starlette, workspace: Workspace) -> None:
    now = now_ms()
    orphan = await uploaded(app, now - 1, "contended")
    env, ctx = app.state.env, app.state.ctx
    taken = [await call_processing.resume_expired(env, ctx, now), await call_processing.resume_expired(env, ctx, now)]
    await ctx.drain()
    assert taken == [1, 0]
    assert await state(app, orphan) == ("completed", 2, None)
