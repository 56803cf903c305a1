"""Real speech end to end: espeak-ng speaks a scripted call, the worker stores it, PocketSphinx
transcribes it on this machine, and every finding is checked against the script.

One call does everything right (two channels: agent left, customer right); one does nothing
right (one channel). PocketSphinx mishears espeak-ng's voice now and then, so a transcript is
held to a word error rate against the script, and the findings to the script's intent.
"""
from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette

from runtime import ScheduledEvent
from tests.seed import Workspace
from tests.speech import needs_espeak, recorded_call, word_error_rate
from worker import scheduled

pytestmark = needs_espeak

URL = "/api/v1/analysis/"
KEY = {"X-API-Key": "test-analytics-key"}
GOOD = [
    ("agent", "Hello, my name is Sarah and I am calling from Acme Insurance."),
    ("agent", "Please note that this call may be recorded for quality and training purposes."),
    ("agent", "Can you please confirm your full name and address?"),
    ("agent", "I am calling regarding your payment."),
    ("agent", "I understand, I am sorry about the trouble."),
    ("customer", "Perfect, thank you very much."),
]
POOR = [
    ("agent", "I do not have much time."),
    ("customer", "I have called three times already and I am still waiting."),
    ("customer", "I am so frustrated."),
    ("agent", "I need you to pay the bill today."),
    ("customer", "This is awful."),
]


async def analysed(app: Starlette, client: httpx.AsyncClient, audio: bytes, agent_id: str) -> dict[str, Any]:
    response = await client.post(URL, files={"audio": ("call.wav", audio, "audio/wav")},
                                 data={"agent_id": agent_id, "contact_id": "customer_1"}, headers=KEY)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "processing"
    await app.state.ctx.drain()
    done = await client.get(f"{URL}{response.json()['id']}", headers=KEY)
    return done.json()


def spoken_text(script: list[tuple[str, str]]) -> str:
    return " ".join(line for _, line in script)


async def test_a_call_that_does_everything_right(app: Starlette, client: httpx.AsyncClient,
                                                 workspace: Workspace) -> None:
    result = await analysed(app, client, recorded_call(GOOD, stereo=True), "agent_good")
    assert result["status"] == "completed", result["metadata"]
    assert result["audio"]["format"] == "wav" and 25_000 < result["call"]["duration_ms"] < 45_000
    segments = result["transcript"]["segments"]
    assert [s["speaker"] for s in segments] == [speaker for speaker, _ in GOOD]
    assert word_error_rate(spoken_text(GOOD), result["transcript"]["text"]) <= 0.3, result["transcript"]["text"]
    compliance, quality = result["results"]["compliance"], result["results"]["quality"]
    identity = compliance["identity_verification"]
    assert (identity["flagged"], identity["evidence"][0]["segment"]) == (False, 2)
    assert identity["evidence"][0]["match"].startswith("confirm your full name")
    disclosure = compliance["mandatory_disclosures"]
    assert (disclosure["flagged"], disclosure["disclosures"][0]["found"]) == (False, True)
    assert disclosure["evidence"][0]["segment"] == 1
    assert compliance["purpose_declaration"]["flagged"] is False
    assert compliance["purpose_declaration"]["evidence"][0]["match"] == "calling regarding"
    assert quality["greeting"]["present"] is True
    assert quality["empathetic_language"]["present"] is True
    assert quality["sentiment_analysis"]["customer"]["label"] == "positive"
    assert result["results"]["coaching"] == {"recommendations": [], "customer_effort_score": 1}


async def test_a_call_that_does_nothing_right(app: Starlette, client: httpx.AsyncClient,
                                              workspace: Workspace) -> None:
    response = await client.post(URL, files={"audio": ("call.wav", recorded_call(POOR, stereo=False), "audio/wav")},
                                 data={"agent_id": "agent_poor", "contact_id": "customer_1"}, headers=KEY)
    analysis_id = response.json()["id"]
    # Recognition runs in its own process: the worker answers meanwhile, and says `processing`.
    await asyncio.sleep(1.0)
    for _ in range(5):
        started = time.perf_counter()
        during = await client.get(f"{URL}{analysis_id}", headers=KEY)
        assert time.perf_counter() - started < 0.5
        assert during.json()["status"] == "processing"
    await app.state.ctx.drain()
    result = (await client.get(f"{URL}{analysis_id}", headers=KEY)).json()
    assert result["status"] == "completed", result["metadata"]
    segments = result["transcript"]["segments"]
    assert len(segments) == len(POOR) and {s["speaker"] for s in segments} == {None}  # one channel
    assert word_error_rate(spoken_text(POOR), result["transcript"]["text"]) <= 0.3, result["transcript"]["text"]
    compliance, quality = result["results"]["compliance"], result["results"]["quality"]
    assert {name: finding["flagged"] for name, finding in compliance.items()} == {
        "identity_verification": True, "mandatory_disclosures": True, "purpose_declaration": True}
    assert compliance["mandatory_disclosures"]["disclosures"][0]["evidence"] is None
    assert (quality["greeting"]["present"], quality["empathetic_language"]["present"]) == (False, False)
    assert quality["sentiment_analysis"]["overall"]["label"] == "negative"
    # Negative (+1, not as low as -0.5) and "three times", "already", "still waiting" (+1): 1 + 2.
    assert result["results"]["coaching"]["customer_effort_score"] == 3
    assert [r["finding"] for r in result["results"]["coaching"]["recommendations"]] == [
        "identity_verification", "mandatory_disclosures", "purpose_declaration", "empathetic_language", "greeting",
        "customer_effort_score"]


def _analysis_processes() -> list[int]:
    """This test process's children that run an analysis (spawned multiprocessing workers)."""
    me = os.getpid()
    found = []
    for task in Path(f"/proc/{me}/task").iterdir():
        for pid in (task / "children").read_text().split():
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(int(pid))
    return found


async def test_a_killed_analysis_process_is_retried_by_the_cron(app: Starlette, client: httpx.AsyncClient,
                                                                workspace: Workspace) -> None:
    response = await client.post(URL, files={"audio": ("call.wav", recorded_call(POOR, stereo=False), "audio/wav")},
                                 data={"agent_id": "agent_crash", "contact_id": "c"}, headers=KEY)
    analysis_id = response.json()["id"]
    # Killed as soon as it exists: recognising this call takes under 2 s on a fast machine, so a kill
    # timed to land mid-recognition could come after the analysis has committed.
    for _ in range(100):
        if _analysis_processes():
            break
        await asyncio.sleep(0.1)
    db = app.state.env.DB
    assert await db.prepare("SELECT status FROM analyses WHERE id = ?").bind(analysis_id).first("status") == "processing"
    for pid in _analysis_processes():
        os.kill(pid, signal.SIGKILL)
    await app.state.ctx.drain()
    row = await db.prepare("SELECT status, attempts, lease_until FROM analyses WHERE id = ?").bind(analysis_id).first()
    assert (row["status"], row["attempts"]) == ("processing", 1)  # left for a retry, not failed

    # The next cron run after the lease lapses takes it again, in a fresh analysis process.
    await scheduled(ScheduledEvent("* * * * *", row["lease_until"] + 1), app.state.env, app.state.ctx)
    await app.state.ctx.drain()
    row = await db.prepare("SELECT status, attempts FROM analyses WHERE id = ?").bind(analysis_id).first()
    assert (row["status"], row["attempts"]) == ("completed", 2)
