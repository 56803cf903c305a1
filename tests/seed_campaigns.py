"""Campaign data of the seeded workspaces, written through domain.campaigns.

Workspace "default" gets two campaigns and two sender lines and no messages, so none of the
numbers of tests/seed.py moves (a campaign message to a new contact would add a lead); the
campaign tests write their messages on top (tests/campaigns.py). Workspace "ws-two" gets a
campaign, a line, a message to a new contact of its own, that contact's reply and a positive
tag, for the workspace-scoping test.
"""
from __future__ import annotations

from dataclasses import dataclass

from domain import campaigns
from domain.campaigns import MessageInput
from storage.d1 import D1Database

OTHER_MARKERS = ("Paris launch", "+33 6 98 76 54 32", "ligne-paris@example.fr")


@dataclass(frozen=True)
class SeededCampaigns:
    spring: str  # campaign ids of "default"
    autumn: str
    main_line: str  # line ids of "default"
    backup_line: str
    other_message: str  # ws-two's outbound message id
    other_lead: str  # ws-two's lead (UUID) the message created


async def seed_campaigns(db: D1Database, now: int) -> SeededCampaigns:
    spring = await campaigns.create_campaign(db, "default", "Spring launch", now)
    autumn = await campaigns.create_campaign(db, "default", "Autumn follow-up", now)
    main_line = await campaigns.create_line(db, "default", "Main iMessage line", "+14155550100", now)
    backup_line = await campaigns.create_line(db, "default", "Backup SMS line", "+14155550199", now)
    paris = await campaigns.create_campaign(db, "ws-two", "Paris launch", now)
    line = await campaigns.create_line(db, "ws-two", "Ligne Paris", "ligne-paris@example.fr", now)
    sent = await campaigns.write_message(db, "ws-two", MessageInput(
        direction="outbound", contact="+33 6 98 76 54 32", channel="imessage", created_at=now - 3_600_000,
        status="delivered", campaign_id=paris["id"], line_id=line["id"], user_id="user_paris"), now)
    await campaigns.write_message(db, "ws-two", MessageInput(
        direction="inbound", contact="+33 6 98 76 54 32", channel="imessage", created_at=now - 60_000), now)
    await campaigns.set_conversation_tags(db, "ws-two", sent["leadId"], ["Interested"], now)
    return SeededCampaigns(spring["id"], autumn["id"], main_line["id"], backup_line["id"], sent["id"],
                           sent["leadId"])
