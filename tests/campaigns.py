"""A campaign history for workspace "default", written through the API, every metric worked out by hand.

All of it happens in June 2025 (D = 2025-06-01T00:00:00Z), far from the seeded messages of lead 1
(m1 delivered and m2 a reply, yesterday), which count only in windows that reach today.

Campaign "Spring launch" (S), user_alice:

| message | contact | line | status | when |
| --- | --- | --- | --- | --- |
| o1 | C1 `+1 415 555 0101` | main | delivered (sms) | D 09:00 |
| o2 | C1 `(415) 555-0101` | main | delivered | D+1 09:00 |
| o3 | C2 `+14155550102` | main | sent (sms) | D 10:00 |
| o4 | C3 `Dana@Example.NET` | backup | fallback | D 11:00 |
| o5 | C3 `dana@example.net` | backup | delivered, fallbackSmsDispatched | D+1 11:00 |
| o6 | C4 `+14155550104` | main | failed | D 12:00 |
| o7 | C5 `+14155550105` | main | queued | D 13:00 |
| r5 | C2 reply | (o3's) | | D 23:30 |
| r1, r2 | C1 replies (sms) | (o2's) | | D+1 10:00, 10:05 |
| r4 | C3 reply | (o5's) | | D+1 12:00 |
| r3 | C1 reply | (o2's) | | D+2 08:00 |

Campaign "Autumn follow-up" (A), user_bob, backup line: o8 C2 delivered D+3 09:00, o9 C4 sent
D+3 09:30, r6 C4 reply D+3 15:00. Replies carry no campaign, line or user: each takes them from
the message it answers.

Tags: C1 `INTERESTED`, `vip` (positive); C2 `To-Answer` (positive); C3 `interested!`,
`Not interested` (neither is exactly a positive tag); C4 `to_answer` (positive).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from tests.seed import Workspace

KEY = {"X-API-Key": "test-analytics-key"}
C1, C1_AGAIN, C2, C3, C3_AGAIN, C4, C5 = ("+1 415 555 0101", "(415) 555-0101", "+14155550102", "Dana@Example.NET",
                                          "dana@example.net", "+14155550104", "+14155550105")


@dataclass(frozen=True)
class History:
    spring: str
    autumn: str
    main_line: str
    backup_line: str
    messages: dict[str, dict[str, Any]]  # o1..o9, r1..r6 as the API answered them
    leads: dict[str, str]  # C1..C4 -> lead UUID


def metrics(reached: int, sent: int, fallback: int, failed: int, replied: int, unique: int, replied_pct: float,
            positive: int, positive_pct: float) -> dict[str, Any]:
    return {"reached": reached, "sent": sent, "fallback": fallback, "failed": failed, "replied": replied,
            "uniqueReplied": unique, "repliedPct": replied_pct, "positiveReplied": positive,
            "positivePct": positive_pct}


async def post(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(path, json=body, headers=KEY)
    assert response.status_code == 201, response.text
    return response.json()


async def write_history(client: httpx.AsyncClient, workspace: Workspace) -> History:
    assert workspace.campaigns is not None
    seeded = workspace.campaigns
    spring, autumn, main, backup = seeded.spring, seeded.autumn, seeded.main_line, seeded.backup_line

    def out(contact: str, line: str, status: str, when: str, campaign: str = spring, user: str = "user_alice",
            channel: str = "imessage", **extra: Any) -> dict[str, Any]:
        return {"direction": "outbound", "contact": contact, "channel": channel, "status": status,
                "campaignId": campaign, "lineId": line, "userId": user, "createdAt": when, **extra}

    def reply(contact: str, when: str, channel: str = "imessage") -> dict[str, Any]:
        return {"direction": "inbound", "contact": contact, "channel": channel, "createdAt": when}

    bodies = {
        "o1": out(C1, main, "delivered", "2025-06-01T09:00:00Z", channel="sms"),
        "o3": out(C2, main, "sent", "2025-06-01T10:00:00Z", channel="sms"),
        "o4": out(C3, backup, "fallback", "2025-06-01T11:00:00Z"),
        "o6": out(C4, main, "failed", "2025-06-01T12:00:00Z"),
        "o7": out(C5, main, "queued", "2025-06-01T13:00:00Z"),
        "r5": reply(C2, "2025-06-01T23:30:00Z"),
        "o2": out(C1_AGAIN, main, "delivered", "2025-06-02T09:00:00Z"),
        "r1": reply(C1, "2025-06-02T10:00:00Z", channel="sms"),
        "r2": reply(C1_AGAIN, "2025-06-02T10:05:00Z", channel="sms"),
        "o5": out(C3_AGAIN, backup, "delivered", "2025-06-02T11:00:00Z", fallbackSmsDispatched=True),
        "r4": reply(C3_AGAIN, "2025-06-02T12:00:00Z"),
        "r3": reply(C1, "2025-06-03T08:00:00Z"),
        "o8": out(C2, backup, "delivered", "2025-06-04T09:00:00Z", campaign=autumn, user="user_bob"),
        "o9": out(C4, backup, "sent", "2025-06-04T09:30:00Z", campaign=autumn, user="user_bob"),
        "r6": reply(C4, "2025-06-04T15:00:00Z"),
    }
    written = {name: (await post(client, "/api/messages", body))["message"] for name, body in bodies.items()}
    leads = {"C1": written["o1"]["leadId"], "C2": written["o3"]["leadId"], "C3": written["o4"]["leadId"],
             "C4": written["o6"]["leadId"]}
    for contact, tags in (("C1", ["INTERESTED", "vip"]), ("C2", ["To-Answer"]),
                          ("C3", ["interested!", "Not interested"]), ("C4", ["to_answer"])):
        response = await client.put(f"/api/conversations/{leads[contact]}/tags", json={"tags": tags}, headers=KEY)
        assert response.status_code == 200, response.text
    return History(spring, autumn, main, backup, written, leads)


async def analytics(client: httpx.AsyncClient, key: str = "test-analytics-key", **params: Any) -> httpx.Response:
    return await client.get("/api/analytics", params=params, headers={"Authorization": f"Bearer {key}"})
