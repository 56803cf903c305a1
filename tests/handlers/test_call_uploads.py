"""POST /api/v1/analysis/: a call's audio in, the analysis at once in `processing`, then its result,
its webhook (retried with backoff), and nothing stored when a request is refused."""
from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette

from domain import auth, call_audio, leads, webhooks
from runtime import ScheduledEvent, now_ms
from storage import migrations
from storage.config import load_config
from tests.audio import mp3, tone, wav
from tests.conftest import write_config
from tests.receiver import Receiver
from tests.seed import Workspace
from worker import create_app, scheduled

URL = "/api/v1/analysis/"
KEY = {"X-API-Key": "test-analytics-key"}
SCRIPT = """Agent: Hello, this is Sarah from Acme Insurance.
Agent: I am calling about your policy renewal.
Agent: This call may be recorded for quality and training purposes.
Agent: Can you please confirm your full name and address?
Customer: Sure, it is John Smith at 12 High Street.
Agent: Thank you, I understand how busy you are.
Customer: Perfect, thank you very much."""


async def upload(client: httpx.AsyncClient, audio: bytes | None, *, name: str = "call.wav",
                 headers: dict[str, str] = KEY, url: str = URL, **fields: str) -> httpx.Response:
    files = {"audio": (name, audio, "audio/wav")} if audio is not None else None
    return await client.post(url, data=fields, files=files, headers=headers)


async def stored(app: Starlette) -> tuple[int, list[str]]:
    """How many analyses the database holds and which audio objects the bucket holds."""
    env = app.state.env
    count = await env.DB.prepare("SELECT count(*) AS n FROM analyses").first("n")
    listing = await env.RECORDINGS.list(prefix="recordings/")
    return count, [item.key for item in listing.objects]


async def row(app: Starlette, analysis_id: str) -> dict[str, Any]:
    found = await app.state.env.DB.prepare("SELECT * FROM analyses WHERE id = ?").bind(analysis_id).first()
    assert found is not None
    return found


async def get(client: httpx.AsyncClient, analysis_id: str) -> dict[str, Any]:
    response = await client.get(f"{URL}{analysis_id}", headers=KEY)
    assert response.status_code == 200, response.text
    return response.json()


async def test_an_upload_answers_at_once_and_the_analysis_follows(app: Starlette, client: httpx.AsyncClient,
                                                                 workspace: Workspace) -> None:
    audio = wav([tone(1.5)])
    response = await upload(client, audio, agent_id="agent_042", contact_id="customer_777", transcript=SCRIPT)
    assert response.status_code == 202, response.text
    accepted = response.json()
    url = accepted["audio"].pop("url")
    assert {key: value for key, value in accepted.items() if key not in ("id", "created")} == {
        "object": "analysis", "status": "processing", "livemode": True,
        "call": {"agent_id": "agent_042", "contact_id": "customer_777", "duration_ms": 1500,
                 "duration_seconds": 1.5},
        "audio": {"size_bytes": len(audio), "format": "wav", "duration_seconds": 1.5},
        "transcript": None, "results": None,
        "metadata": {"webhook_url": None, "completed_at": None, "processing_time_ms": None, "error_message": None},
    }
    # The audio is in R2 already, behind the presigned URL.
    async with httpx.AsyncClient() as outside:
        fetched = await outside.get(url)
    assert (fetched.status_code, fetched.content) == (200, audio)

    await app.state.ctx.drain()
    done = await get(client, accepted["id"])
    assert done["status"] == "completed"
    segments = done["transcript"]["segments"]
    assert [(s["speaker"], s["text"]) for s in segments][:2] == [
        ("agent", "Hello, this is Sarah from Acme Insurance."), ("agent", "I am calling about your policy renewal.")]
    assert len(segments) == 7 and done["transcript"]["language"] == "en"
    results = done["results"]
    assert {name: finding["flagged"] for name, finding in results["compliance"].items()} == {
        "identity_verification": False, "mandatory_disclosures": False, "purpose_declaration": False}
    assert (results["quality"]["greeting"]["present"], results["quality"]["empathetic_language"]["present"]) == (
        True, True)
    assert results["coaching"] == {"recommendations": [], "customer_effort_score": 1}
    stored_row = await row(app, accepted["id"])
    assert done["metadata"]["processing_time_ms"] == stored_row["completed_at"] - stored_row["created_at"] >= 0
    assert (stored_row["attempts"], stored_row["lease_until"], stored_row["transcript_upload"]) == (1, None, None)


async def test_mp3_through_the_path_without_a_slash(app: Starlette, client: httpx.AsyncClient,
                                                   workspace: Workspace) -> None:
    audio = mp3(tone(2.0, rate=16000))
    segments = [{"speaker": "agent", "text": "Hi, thanks for calling.", "start": 0.0, "end": 1.0},
                {"speaker": "customer", "text": "I am so frustrated, I was transferred again.", "start": 1.0}]
    response = await upload(client, audio, name="call.mp3", url="/api/v1/analysis", agent_id="a",
                            contact_id="c", transcript=json.dumps(segments))
    assert response.status_code == 202, response.text
    assert response.json()["audio"]["format"] == "mp3"
    await app.state.ctx.drain()
    done = await get(client, response.json()["id"])
    assert done["status"] == "completed"
    assert abs(done["call"]["duration_ms"] - 2000) < 100
    assert done["transcript"]["segments"][1] == {"id": 1, "start": 1.0, "end": None, "speaker": "customer",
                                                 "text": "I am so frustrated, I was transferred again."}
    # The customer's one segment scores -0.656 (VADER): negative (+1) and at most -0.5 (+1); "transferred" and
    # "again" signal effort (+1): 1 + 3 = 4.
    assert done["results"]["quality"]["sentiment_analysis"]["customer"] == {"score": -0.656, "label": "negative"}
    assert done["results"]["coaching"]["customer_effort_score"] == 4


async def test_a_corrupt_recording_fails_with_the_reason(app: Starlette, client: httpx.AsyncClient,
                                                        workspace: Workspace, receiver: Receiver) -> None:
    response = await upload(client, b"RIFF\x10\x00\x00\x00WAVE" + b"not audio at all" * 20, agent_id="agent_9",
                            contact_id="c-1", webhook_url=receiver.url)
    assert response.status_code == 202
    assert response.json()["call"]["duration_ms"] is None  # the headers could not be read either
    await app.state.ctx.drain()
    failed = await get(client, response.json()["id"])
    assert (failed["status"], failed["transcript"], failed["results"]) == ("failed", None, None)
    assert failed["metadata"] == {
        "webhook_url": receiver.url, "completed_at": None, "processing_time_ms": None,
        "error_message": "audio could not be decoded: not a readable WAV file (corrupt or truncated header)"}
    [sent] = receiver.received
    assert sent.headers["leadlight-event"] == "analysis.failed"
    assert sent.json()["metadata"]["error_message"] == failed["metadata"]["error_message"]


async def test_silence_is_no_speech(app: Starlette, client: httpx.AsyncClient, workspace: Workspace) -> None:
    silent = wav([tone(2.0, hz=0.0)])
    response = await upload(client, silent, agent_id="a", contact_id="c")
    await app.state.ctx.drain()
    failed = await get(client, response.json()["id"])
    assert (failed["status"], failed["metadata"]["error_message"]) == (
        "failed", "no speech was recognised in the audio")


async def test_the_webhook_is_retried_with_backoff(app: Starlette, client: httpx.AsyncClient,
                                                   workspace: Workspace, receiver: Receiver) -> None:
    receiver.statuses = [500]
    response = await upload(client, wav([tone(1.0)]), agent_id="agent_1", contact_id="c-2",
                            webhook_url=receiver.url, transcript="Agent: Hello there.")
    analysis_id = response.json()["id"]
    await app.state.ctx.drain()
    [first] = receiver.received
    assert (first.headers["leadlight-event"], first.headers["leadlight-delivery"]) == (
        "analysis.completed", f"{analysis_id}:1")
    finished = await get(client, analysis_id)
    sent = first.json()
    assert sent["audio"].pop("url") and finished["audio"].pop("url")  # presigned again for each
    assert sent == finished
    pending = await row(app, analysis_id)
    assert (pending["webhook_state"], pending["webhook_attempts"], pending["webhook_last_error"]) == (
        "pending", 1, "the receiver answered HTTP 500")
    attempted_at = pending["webhook_next_at"] - webhooks.RETRY_DELAYS_MS[0]

    env, ctx = app.state.env, app.state.ctx
    await scheduled(ScheduledEvent("* * * * *", attempted_at + 29_000), env, ctx)  # not yet due
    assert len(receiver.received) == 1
    await scheduled(ScheduledEvent("* * * * *", attempted_at + 30_000), env, ctx)
    assert len(receiver.received) == 2
    assert receiver.received[1].headers["leadlight-delivery"] == f"{analysis_id}:2"
    delivered = await row(app, analysis_id)
    assert (delivered["webhook_state"], delivered["webhook_attempts"], delivered["webhook_next_at"],
            delivered["webhook_delivered_at"]) == ("delivered", 2, None, attempted_at + 30_000)
    await scheduled(ScheduledEvent("* * * * *", attempted_at + 10 * 3_600_000), env, ctx)
    assert len(receiver.received) == 2


async def test_a_webhook_gives_up_after_six_attempts(app: Starlette, client: httpx.AsyncClient,
                                                     workspace: Workspace, receiver: Receiver) -> None:
    receiver.statuses = [503] * 6
    response = await upload(client, wav([tone(1.0)]), agent_id="a", contact_id="c", webhook_url=receiver.url,
                            transcript="Agent: Hello.")
    analysis_id = response.json()["id"]
    await app.state.ctx.drain()
    for _ in range(5):
        due = (await row(app, analysis_id))["webhook_next_at"]
        await scheduled(ScheduledEvent("* * * * *", due), app.state.env, app.state.ctx)
    given_up = await row(app, analysis_id)
    assert (given_up["webhook_state"], given_up["webhook_attempts"], given_up["webhook_next_at"]) == ("failed", 6, None)
    assert len(receiver.received) == 6


async def test_every_problem_of_an_upload_at_once_and_nothing_stored(app: Starlette, client: httpx.AsyncClient,
                                                                     workspace: Workspace) -> None:
    before = await stored(app)
    assert before == (5, [])  # the seeded analyses have no audio objects

    def problem(where: str | tuple[Any, ...], msg: str, kind: str = "value_error") -> dict[str, Any]:
        return {"loc": ["body", *((where,) if isinstance(where, str) else where)], "msg": msg, "type": kind}

    missing = [problem(name, "field required", "value_error.missing") for name in ("audio", "agent_id", "contact_id")]
    # JSON instead of multipart: as FastAPI, every form field is missing.
    response = await client.post(URL, json={"agent_id": "a", "contact_id": "c"}, headers=KEY)
    assert (response.status_code, response.json()) == (422, {"detail": missing})
    response = await upload(client, None, agent_id="", contact_id="")  # empty fields count as absent
    assert response.json() == {"detail": missing}
    response = await upload(client, b"\x89PNG\r\n\x1a\n" + bytes(100), name="x.wav", agent_id="a", contact_id="c")
    assert response.json() == {"detail": [problem("audio", "must be a WAV or MP3 file", "value_error.file.format")]}
    response = await upload(client, b"", agent_id="a", contact_id="c")
    assert response.json() == {"detail": [problem("audio", "the file is empty", "value_error.file.empty")]}
    response = await client.post(URL, data={"audio": "RIFF", "agent_id": "a", "contact_id": "c"}, headers=KEY)
    assert response.json() == {"detail": [problem("audio", "must be a file upload (multipart/form-data)")]}
    response = await upload(client, wav([tone(0.5)]), agent_id="a" * 256, contact_id="line\nbreak",
                            webhook_url="ftp://example.com/hook", transcript='[{"text": "hi", "speaker": "bot"}]')
    assert (response.status_code, response.json()) == (422, {"detail": [
        {"loc": ["body", "agent_id"], "msg": "ensure this value has at most 255 characters",
         "type": "value_error.any_str.max_length"},
        problem("contact_id", "must not contain control characters"),
        problem("webhook_url", "must be an http or https URL with a host", "value_error.url"),
        problem(("transcript", 0, "speaker"), "speaker must be agent, customer or null"),
    ]})
    response = await upload(client, wav([tone(0.5)]), agent_id="   ", contact_id="c")
    assert response.json() == {"detail": [problem("agent_id", "must not be blank")]}
    response = await client.post(URL, content=b"--x\r\nbroken", headers={
        **KEY, "Content-Type": "multipart/form-data; boundary=x"})
    assert response.status_code in (400, 422), response.text
    assert await stored(app) == before


async def test_audio_size_limits(app: Starlette, client: httpx.AsyncClient, workspace: Workspace) -> None:
    # Past the app's 1 MiB JSON limit: an upload route has its own.
    big = wav([tone(200.0)])  # 3.2 MB
    assert len(big) > app.state.config.settings.max_body_bytes
    response = await upload(client, big, agent_id="a", contact_id="c", transcript="Agent: Hello.")
    assert response.status_code == 202, response.text
    too_big = big[:12] + bytes(call_audio.MAX_AUDIO_BYTES + 1 - 12)
    response = await upload(client, too_big, agent_id="a", contact_id="c")
    assert (response.status_code, response.json()) == (422, {"detail": [
        {"loc": ["body", "audio"], "msg": "ensure this file is at most 26214400 bytes",
         "type": "value_error.file.too_large"}]})
    response = await client.post(URL, content=b"x", headers={**KEY, "Content-Length": str(30 * 1024 * 1024),
                                                             "Content-Type": "multipart/form-data; boundary=x"})
    assert response.status_code == 413
    await app.state.ctx.drain()
    count, keys = await stored(app)
    assert (count, len(keys)) == (6, 1)


async def test_livemode_follows_the_key(app: Starlette, client: httpx.AsyncClient, workspace: Workspace) -> None:
    test_key, _ = await auth.create_key(app.state.env.DB, "default", "sandbox", livemode=False)
    live_key, _ = await auth.create_key(app.state.env.DB, "default", "production")
    for key, livemode in ((test_key, False), (live_key, True), ("test-analytics-key", True)):
        response = await upload(client, wav([tone(0.5)]), headers={"X-API-Key": key}, agent_id="a", contact_id="c",
                                transcript="Agent: Hi.")
        assert response.json()["livemode"] is livemode
        assert (await row(app, response.json()["id"]))["livemode"] == int(livemode)
    await app.state.ctx.drain()


async def test_a_test_key_from_the_cli_makes_test_analyses(app: Starlette, client: httpx.AsyncClient) -> None:
    config = app.state.config
    created = subprocess.run(
        [sys.executable, "worker.py", "--config", str(config.path), "keys", "create", "--workspace", "default",
         "--name", "sandbox", "--test"], cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True,
        timeout=60)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    response = await upload(client, wav([tone(0.5)]), headers={"X-API-Key": key}, agent_id="a", contact_id="c",
                            transcript="Agent: Hi.")
    assert (response.status_code, response.json()["livemode"]) == (202, False)
    await app.state.ctx.drain()


async def test_contact_id_names_a_lead_by_id_email_or_phone(app: Starlette, client: httpx.AsyncClient,
                                                            workspace: Workspace) -> None:
    dana = await app.state.env.DB.transaction(lambda conn: leads.create_lead(
        conn, "default", now_ms(), email="dana@example.net", phone="+1 (415) 555-0134", source="website"))
    cases = {
        "uuid-2": 2,  # lead 2's id
        " Dana@Example.NET ": dana,  # Dana's email, normalised
        "415.555.0134": dana,  # Dana's phone, by its last ten digits
        "customer_4155550134": None,  # digits inside an id are not a phone number
        "uuid-4": None,  # lead 4 is deleted
        "uuid-5": None,  # ws-two's lead
        "other@example.fr": None,  # ws-two's lead's email
    }
    for contact_id, lead_id in cases.items():
        response = await upload(client, wav([tone(0.5)]), agent_id="a", contact_id=contact_id,
                                transcript="Agent: Hi.")
        assert response.json()["call"]["contact_id"] == contact_id
        assert (await row(app, response.json()["id"]))["lead_id"] == lead_id, contact_id
    await app.state.ctx.drain()


async def test_with_storage_down_an_upload_saves_nothing(app: Starlette, client: httpx.AsyncClient,
                                                         workspace: Workspace, s3_server: Any) -> None:
    before = await app.state.env.DB.prepare("SELECT count(*) AS n FROM analyses").first("n")
    s3_server.stop()
    try:
        response = await upload(client, wav([tone(0.5)]), agent_id="a", contact_id="c")
    finally:
        s3_server.start()
    assert (response.status_code, response.json()) == (
        503, {"detail": "Audio storage is unavailable; nothing was saved. Please retry."})
    assert await app.state.env.DB.prepare("SELECT count(*) AS n FROM analyses").first("n") == before


@contextlib.asynccontextmanager
async def configured(tmp_path: Path, s3_server: Any, webhook_vars: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app with other webhook vars than the shared test configuration's."""
    path = write_config(tmp_path)
    path.write_text(path.read_text().replace("WEBHOOK_ALLOW_PRIVATE_NETWORKS = true", webhook_vars))
    config = load_config(path, local=True, environ={})
    application = create_app(config, local_s3=s3_server.endpoint)
    async with application.router.lifespan_context(application):
        await migrations.apply(application.state.env.DB, Path(config.d1_databases[0].migrations_dir))
        await application.state.env.RECORDINGS.create_bucket()
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client
        await application.state.ctx.drain()


async def test_private_webhook_addresses_are_refused_by_default(tmp_path: Path, s3_server: Any) -> None:
    async with configured(tmp_path, s3_server, "") as client:
        for url in ("http://169.254.169.254/latest/meta-data/", "http://localhost:8080/hook", "http://10.1.2.3/"):
            response = await upload(client, wav([tone(0.5)]), agent_id="a", contact_id="c", webhook_url=url)
            assert (response.status_code, response.json()) == (422, {"detail": [
                {"loc": ["body", "webhook_url"], "msg": webhooks.PRIVATE_REFUSED, "type": "value_error.url"}]})
        count = await client.get(URL, headers=KEY)
        assert count.json()["total"] == 0


async def test_deliveries_are_signed_when_a_secret_is_set(tmp_path: Path, s3_server: Any,
                                                          receiver: Receiver) -> None:
    signing = 'WEBHOOK_ALLOW_PRIVATE_NETWORKS = true\nWEBHOOK_SIGNING_SECRET = "s3cret"'
    async with configured(tmp_path, s3_server, signing) as client:
        response = await upload(client, wav([tone(0.5)]), agent_id="a", contact_id="c", transcript="Agent: Hi.",
                                webhook_url=receiver.url)
        assert response.status_code == 202
    [sent] = receiver.received
    timestamp = int(sent.headers["leadlight-signature"].split(",")[0].removeprefix("t="))
    assert abs(timestamp - now_ms() // 1000) < 60
    assert sent.headers["leadlight-signature"] == webhooks.signature("s3cret", timestamp, sent.body)
