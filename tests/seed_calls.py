"""Call analyses of the seeded fixture (tests/seed.py), recorded through domain.calls as processing
would have left them; results come from domain.call_findings over the transcripts below, so no
audio is processed.

Workspace "default", newest first (created relative to `today`, midnight UTC):

| id | created | status | agent | contact | notes |
| --- | --- | --- | --- | --- | --- |
| `GOOD` (the document's first example) | -1 d + 14 h | completed | agent_001 | customer_12345 | every finding met; effort 1; test mode |
| `PENDING` (the document's second) | -1 d + 13 h | processing | agent_002 | customer_67890 | held by a runner for a day |
| `POOR` | -2 d + 10 h | completed | agent_003 | rahul@example.com (lead 1) | every finding flagged; effort 3; live |
| `BROKEN` | -2 d + 9 h | failed | agent_001 | customer_12399 | undecodable audio |

Workspace "ws-two": `OTHER`, completed, agent `agent-ws-two-007`, contact other@example.fr (lead 5).
"""
from __future__ import annotations

from dataclasses import dataclass

from domain import call_findings, calls, transcription
from domain.transcription import Segment
from storage.d1 import D1Database

DAY = 86_400_000
HOUR = 3_600_000

GOOD = "550e8400-e29b-41d4-a716-446655440000"
PENDING = "660f9511-f3ac-52e5-b827-557766551111"
POOR = "3f1c2a9e-8d47-4b6e-9a0f-1c2d3e4f5a6b"
BROKEN = "9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
OTHER = "770a1b2c-3d4e-4f50-8a6b-7c8d9e0f1a2b"
BROKEN_MESSAGE = "audio could not be decoded: not a readable MP3 file (corrupt or truncated header)"
OTHER_MARKERS = ("agent-ws-two-007", "Bonjour from the second workspace")


def segments(*lines: tuple[float, float, str, str]) -> list[Segment]:
    return [{"id": index, "start": start, "end": end, "speaker": speaker, "text": text}
            for index, (start, end, speaker, text) in enumerate(lines)]


GOOD_CALL = segments(
    (0.0, 3.8, "agent", "Hello, this is Sarah from Acme Insurance."),
    (4.0, 6.5, "agent", "I am calling about your policy renewal."),
    (7.0, 8.5, "customer", "Oh great, thanks for calling."),
    (9.0, 12.6, "agent", "This call may be recorded for quality and training purposes."),
    (13.0, 16.0, "agent", "Can you please confirm your full name and address?"),
    (16.5, 19.0, "customer", "Sure, John Smith, 12 High Street."),
    (19.5, 23.0, "agent", "Thank you. I understand renewals can be confusing, so I am happy to help."),
    (23.5, 25.0, "customer", "Perfect, thank you very much."),
)
POOR_CALL = segments(
    (0.0, 2.0, "agent", "Yes?"),
    (2.5, 6.0, "customer", "I have called three times already about my bill."),
    (6.5, 8.0, "agent", "What is the problem?"),
    (8.5, 11.0, "customer", "This is awful and I am so frustrated."),
    (11.5, 13.0, "agent", "You need to pay the bill today."),
)
OTHER_CALL = segments((0.0, 2.0, "agent", "Bonjour from the second workspace."))


@dataclass(frozen=True)
class SeededCalls:
    ids: tuple[str, ...]  # "default"'s analyses, newest first
    other: str  # ws-two's


def _finished(analysis_id: str, workspace_id: str, created_at: int, agent_id: str, contact_id: str,
              lines: list[Segment], duration_ms: int, fmt: str, size: int, processing_ms: int, **extra: object
              ) -> calls.FinishedAnalysis:
    return calls.FinishedAnalysis(
        id=analysis_id, workspace_id=workspace_id, created_at=created_at, status="completed", agent_id=agent_id,
        contact_id=contact_id, audio_key=calls.audio_key(workspace_id, analysis_id, created_at, fmt), audio_size=size,
        audio_format=fmt, duration_ms=duration_ms, transcript=transcription.transcript(lines),
        results=call_findings.analyse(lines, call_findings.DEFAULT_DISCLOSURES, duration_ms),
        completed_at=created_at + processing_ms, **extra)  # type: ignore[arg-type]


async def seed_call_analyses(db: D1Database, today: int) -> SeededCalls:
    good_at, pending_at = today - DAY + 14 * HOUR, today - DAY + 13 * HOUR
    poor_at, broken_at = today - 2 * DAY + 10 * HOUR, today - 2 * DAY + 9 * HOUR
    rows = [
        _finished(GOOD, "default", good_at, "agent_001", "customer_12345", GOOD_CALL, 125_500, "wav", 1_048_576,
                  45_230, webhook_url="https://your-app.com/webhooks/analysis"),
        calls.FinishedAnalysis(
            id=PENDING, workspace_id="default", created_at=pending_at, status="processing", agent_id="agent_002",
            contact_id="customer_67890", audio_key=calls.audio_key("default", PENDING, pending_at, "mp3"),
            audio_size=823_456, audio_format="mp3", duration_ms=98_200, lease_until=today + DAY),
        _finished(POOR, "default", poor_at, "agent_003", "rahul@example.com", POOR_CALL, 61_000, "mp3", 244_000,
                  12_000, livemode=True),
        calls.FinishedAnalysis(
            id=BROKEN, workspace_id="default", created_at=broken_at, status="failed", agent_id="agent_001",
            contact_id="customer_12399", audio_key=calls.audio_key("default", BROKEN, broken_at, "mp3"),
            audio_size=2_048, audio_format="mp3", error_message=BROKEN_MESSAGE),
        _finished(OTHER, "ws-two", today - DAY + 3 * HOUR, "agent-ws-two-007", "other@example.fr", OTHER_CALL, 2_000,
                  "wav", 64_044, 3_000),
    ]
    for row in rows:
        await calls.record_finished_analysis(db, row)
    return SeededCalls(ids=(GOOD, PENDING, POOR, BROKEN), other=OTHER)
