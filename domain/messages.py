"""Messages to and from a lead's contact, one table for every surface that writes or counts them.

| rule | definition |
| --- | --- |
| channel | `sms`, `email`, `whatsapp` or `imessage` |
| direction | `outbound` (to the contact) or `inbound` (a reply) |
| status | outbound: `queued`, `sent`, `delivered`, `fallback`, `failed`; inbound: always `received` |
| contact key | the same contact whatever its spelling: the normalised email, else the phone's match key (domain.leads) |
| lead | the message's lead when the caller names one, else the workspace's matching lead for the contact, else a new lead (status `new`, source `messaging`) |
| draft state | AI drafts only: `pending` (awaiting approval), `approved`, `edited` (approved after a human edit), `rejected` (rejected or cancelled) |
| id | 24 lowercase hex characters |

Which messages count as a lead's follow-ups is the `follow_ups` view of migration 0004; what
each surface reports from messages is defined in its own domain module (lead analytics,
campaign metrics).
"""
from __future__ import annotations

import secrets
import sqlite3
from dataclasses import dataclass

from domain import leads

CHANNELS = ("sms", "email", "whatsapp", "imessage")
DIRECTIONS = ("outbound", "inbound")
OUTBOUND_STATUSES = ("queued", "sent", "delivered", "fallback", "failed")
INBOUND_STATUS = "received"
DRAFT_STATES = ("pending", "approved", "edited", "rejected")
LEAD_SOURCE = "messaging"

_INSERT = (
    "INSERT INTO messages (id, workspace_id, lead_id, contact, contact_key, channel, direction, status,"
    " fallback_sms_dispatched, campaign_id, line_id, user_id, draft_state, body, created_at, updated_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


class MessageError(ValueError):
    """A message that cannot be recorded; the message names the field."""


@dataclass(frozen=True)
class NewMessage:
    workspace_id: str
    contact: str  # a phone number or an email address, as given
    channel: str
    direction: str
    created_at: int
    status: str | None = None  # default: `sent` outbound, `received` inbound
    lead_id: int | None = None  # when the caller knows the lead; else resolved from the contact
    body: str | None = None
    campaign_id: str | None = None
    line_id: str | None = None
    user_id: str | None = None
    fallback_sms_dispatched: bool = False
    draft_state: str | None = None
    id: str | None = None  # default: a new id


@dataclass(frozen=True)
class RecordedMessage:
    id: str
    lead_id: int
    contact_key: str
    status: str


def new_id() -> str:
    return secrets.token_hex(12)


def contact_key(contact: str) -> tuple[str | None, str | None]:
    """(normalised email, phone match key) of a contact; exactly one is set for a usable contact."""
    email = leads.normalise_email(contact) if "@" in contact else None
    if email is not None:
        return email, None
    phone = leads.normalise_phone(contact)
    return None, leads.phone_match_key(phone) if phone else None


def record_message(conn: sqlite3.Connection, message: NewMessage, now: int) -> RecordedMessage:
    """Store a message inside the caller's write transaction, resolving its lead from the contact."""
    if message.channel not in CHANNELS:
        raise MessageError(f"channel: expected one of {', '.join(CHANNELS)}")
    if message.direction not in DIRECTIONS:
        raise MessageError(f"direction: expected one of {', '.join(DIRECTIONS)}")
    status = message.status or ("sent" if message.direction == "outbound" else INBOUND_STATUS)
    allowed = OUTBOUND_STATUSES if message.direction == "outbound" else (INBOUND_STATUS,)
    if status not in allowed:
        raise MessageError(f"status: a {message.direction} message is one of {', '.join(allowed)}")
    if message.draft_state is not None and message.draft_state not in DRAFT_STATES:
        raise MessageError(f"draftState: expected one of {', '.join(DRAFT_STATES)}")
    email, phone_key = contact_key(message.contact)
    key = email or phone_key
    if key is None:
        raise MessageError("contact: expected a phone number (7 to 15 digits) or an email address")
    lead_id = message.lead_id
    if lead_id is None:
        lead_id = leads.find_match(conn, message.workspace_id, email, phone_key)
    if lead_id is None:
        lead_id = leads.create_lead(conn, message.workspace_id, now, source=LEAD_SOURCE,
                                    email=message.contact if email else None,
                                    phone=None if email else message.contact)
    message_id = message.id or new_id()
    conn.execute(_INSERT, (
        message_id, message.workspace_id, lead_id, message.contact, key, message.channel, message.direction, status,
        int(message.fallback_sms_dispatched), message.campaign_id, message.line_id, message.user_id,
        message.draft_state, message.body, message.created_at, now,
    ))
    return RecordedMessage(message_id, lead_id, key, status)


# --- delivery status callbacks ---------------------------------------------------------------

# Where a status callback may move an outbound message. The same status again is a no-op (a
# provider may call twice); delivered and failed are final. Leaving `fallback` keeps the fact in
# `fallback_sms_dispatched`, and the flag is never cleared: SMS was attempted either way.
STATUS_MOVES: dict[str, tuple[str, ...]] = {
    "queued": ("sent", "delivered", "fallback", "failed"),
    "sent": ("delivered", "fallback", "failed"),
    "fallback": ("sent", "delivered", "failed"),
    "delivered": (),
    "failed": (),
}

_STATUS_OF = "SELECT direction, status, fallback_sms_dispatched FROM messages WHERE id = ? AND workspace_id = ?"
_MOVE_STATUS = (
    "UPDATE messages SET status = ?, fallback_sms_dispatched = ?, updated_at = ? WHERE id = ? AND workspace_id = ?"
)


class StatusMoveError(MessageError):
    """A status callback the message cannot take: a reply, or a move from a final status."""


def move_status(conn: sqlite3.Connection, workspace_id: str, message_id: str, status: str, now: int, *,
                fallback_sms_dispatched: bool = False) -> bool:
    """Apply a status callback inside the caller's write transaction; False when the workspace has no such message."""
    row = conn.execute(_STATUS_OF, (message_id, workspace_id)).fetchone()
    if row is None:
        return False
    direction, current, flagged = row
    if status not in OUTBOUND_STATUSES:
        raise MessageError(f"status: expected one of {', '.join(OUTBOUND_STATUSES)}")
    if direction != "outbound":
        raise StatusMoveError("status: a reply has no delivery status")
    if status != current and status not in STATUS_MOVES[current]:
        raise StatusMoveError(f"status: a {current} message cannot become {status}")
    flag = bool(flagged) or fallback_sms_dispatched or (current == "fallback" and status != "fallback")
    if status != current or flag != bool(flagged):
        conn.execute(_MOVE_STATUS, (status, int(flag), now, message_id, workspace_id))
    return True
