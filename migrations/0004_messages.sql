-- Migration number: 0004 	 2026-12-02T03:00:00.000Z
-- Messages, as every surface writes and reads them (domain/messages.py), and the follow-up rule
-- defined once.
--
-- messages: one row per message to or from a lead's contact, whoever sent it (the lead record's
-- API, a campaign, a reply). `contact` is the address as given; `contact_key` the same contact
-- whatever its spelling (the normalised email, or the phone's last 10 digits: domain/leads.py).
-- `draft_state` marks AI drafts: pending (awaiting approval), approved, edited (approved after a
-- human edit) or rejected (rejected or cancelled); NULL for a message that was never a draft.
-- The table is rebuilt for the new columns and checks; the triggers of migration 0002 that
-- read it go with it and come back below.
--
-- The follow-up rule: a lead's follow-ups are its outbound messages that were not held back as
-- drafts (pending or rejected) and its action logs marked as follow-ups. The view `follow_ups`
-- says which rows count; the rollup `lead_follow_ups` (migration 0002) is rebuilt from it here
-- and kept by the triggers below, which recount a touched lead through it (a lead with none has
-- no row). Given a lead_id, SQLite reads the view through the messages_lead and action_logs_lead
-- indexes.

DROP TRIGGER messages_follow_ups_insert;
DROP TRIGGER messages_follow_ups_update;
DROP TRIGGER messages_follow_ups_delete;
DROP TRIGGER action_logs_follow_ups_insert;
DROP TRIGGER action_logs_follow_ups_update;
DROP TRIGGER action_logs_follow_ups_delete;

CREATE TABLE messages_new (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  lead_id INTEGER REFERENCES leads(lead_id),
  contact TEXT NOT NULL,
  contact_key TEXT NOT NULL,
  channel TEXT NOT NULL CHECK (channel IN ('sms', 'email', 'whatsapp', 'imessage')),
  direction TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
  status TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'delivered', 'fallback', 'failed', 'received')),
  fallback_sms_dispatched INTEGER NOT NULL DEFAULT 0,
  campaign_id TEXT REFERENCES campaigns(id),
  line_id TEXT REFERENCES lines(id),
  user_id TEXT,
  draft_state TEXT CHECK (draft_state IN ('pending', 'approved', 'edited', 'rejected')),
  body TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
-- Rows written before this migration came from direct SQL only: their key is the trimmed,
-- lowercased address (no digit extraction in SQL), which is exact for email addresses.
INSERT INTO messages_new (id, workspace_id, lead_id, contact, contact_key, channel, direction, status,
                          fallback_sms_dispatched, campaign_id, line_id, user_id, draft_state, body, created_at,
                          updated_at)
  SELECT id, workspace_id, lead_id, contact, lower(trim(contact)), channel, direction, status,
         fallback_sms_dispatched, campaign_id, line_id, user_id, draft_state, body, created_at, created_at
  FROM messages;
DROP TABLE messages;
ALTER TABLE messages_new RENAME TO messages;
CREATE INDEX messages_lead ON messages(lead_id, created_at);
CREATE INDEX messages_workspace ON messages(workspace_id, created_at);
CREATE INDEX messages_contact ON messages(workspace_id, contact_key, created_at);

CREATE VIEW follow_ups (lead_id, at) AS
  SELECT lead_id, created_at FROM messages
  WHERE lead_id IS NOT NULL AND direction = 'outbound' AND (draft_state IS NULL OR draft_state IN ('approved', 'edited'))
  UNION ALL
  SELECT lead_id, created_at FROM action_logs WHERE is_follow_up != 0;

DELETE FROM lead_follow_ups;
INSERT INTO lead_follow_ups SELECT lead_id, count(*), max(at) FROM follow_ups GROUP BY lead_id;

CREATE TRIGGER messages_follow_ups_insert AFTER INSERT ON messages WHEN NEW.lead_id IS NOT NULL
BEGIN
  DELETE FROM lead_follow_ups WHERE lead_id = NEW.lead_id;
  INSERT INTO lead_follow_ups SELECT lead_id, count(*), max(at) FROM follow_ups WHERE lead_id = NEW.lead_id GROUP BY lead_id;
END;

CREATE TRIGGER messages_follow_ups_update AFTER UPDATE OF lead_id, direction, draft_state, created_at ON messages
BEGIN
  DELETE FROM lead_follow_ups WHERE lead_id IN (OLD.lead_id, NEW.lead_id);
  INSERT INTO lead_follow_ups SELECT lead_id, count(*), max(at) FROM follow_ups WHERE lead_id IN (OLD.lead_id, NEW.lead_id) GROUP BY lead_id;
END;

CREATE TRIGGER messages_follow_ups_delete AFTER DELETE ON messages WHEN OLD.lead_id IS NOT NULL
BEGIN
  DELETE FROM lead_follow_ups WHERE lead_id = OLD.lead_id;
  INSERT INTO lead_follow_ups SELECT lead_id, count(*), max(at) FROM follow_ups WHERE lead_id = OLD.lead_id GROUP BY lead_id;
END;

CREATE TRIGGER action_logs_follow_ups_insert AFTER INSERT ON action_logs
BEGIN
  DELETE FROM lead_follow_ups WHERE lead_id = NEW.lead_id;
  INSERT INTO lead_follow_ups SELECT lead_id, count(*), max(at) FROM follow_ups WHERE lead_id = NEW.lead_id GROUP BY lead_id;
END;

CREATE TRIGGER action_logs_follow_ups_update AFTER UPDATE OF lead_id, is_follow_up, created_at ON action_logs
BEGIN
  DELETE FROM lead_follow_ups WHERE lead_id IN (OLD.lead_id, NEW.lead_id);
  INSERT INTO lead_follow_ups SELECT lead_id, count(*), max(at) FROM follow_ups WHERE lead_id IN (OLD.lead_id, NEW.lead_id) GROUP BY lead_id;
END;

CREATE TRIGGER action_logs_follow_ups_delete AFTER DELETE ON action_logs
BEGIN
  DELETE FROM lead_follow_ups WHERE lead_id = OLD.lead_id;
  INSERT INTO lead_follow_ups SELECT lead_id, count(*), max(at) FROM follow_ups WHERE lead_id = OLD.lead_id GROUP BY lead_id;
END;
