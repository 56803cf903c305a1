-- Migration number: 0007 	 2026-12-02T04:00:00.000Z
-- Lead records, qualification checklists, documents, action logs and the per-lead analytics
-- they feed (domain/checklists.py, lead_records.py, actions.py, lead_analytics.py, exports.py).
--
-- The qualification tables of 0001 gain what the lead-record surface needs; none is rebuilt, so
-- the follow-up triggers of 0004 on action_logs stay as they are. A checklist item or group
-- removed from a workspace's template is retired (`deleted_at`), never deleted: the values
-- leads gave it are kept and come back if the template brings the code back.
-- `lead_checklist_items.value` holds the value as JSON text (a string, number or boolean as
-- given); `reason` says why a value is INVALID.
--
-- Rollups, so a page of analytics never recounts raw rows:
-- - lead_message_stats: per lead and channel, the messages the lead-analytics surface counts
--   (the view `lead_analytics_messages` says which), kept by triggers on messages;
-- - lead_interventions: per lead, action logs by `intervention`, kept by triggers on action_logs;
-- - lead_completion: per lead, required-and-visible items and completed ones by source. Which
--   items are visible depends on conditions only Python evaluates (domain/checklists.py), so the
--   domain writes these rows whenever a lead's values or the workspace's template change; a lead
--   without a row has no values and counts what the template requires of an empty checklist.

ALTER TABLE checklist_groups ADD COLUMN deleted_at INTEGER;
CREATE INDEX checklist_groups_workspace ON checklist_groups(workspace_id, position);

ALTER TABLE checklist_items ADD COLUMN deleted_at INTEGER;
-- Codes are a workspace's names for its items (values are written by code), whatever their case.
CREATE UNIQUE INDEX checklist_items_code ON checklist_items(workspace_id, code COLLATE NOCASE);

-- A lead's values are read together (a record, a page of analytics): kept clustered by lead.
CREATE TABLE lead_checklist_items_new (
  id TEXT NOT NULL UNIQUE,
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  lead_id INTEGER NOT NULL REFERENCES leads(lead_id),
  checklist_item_id TEXT NOT NULL REFERENCES checklist_items(id),
  value TEXT,
  status TEXT NOT NULL DEFAULT 'TODO'
    CHECK (status IN ('TODO', 'COMPLETED', 'INVALID', 'SKIPPED', 'NEEDS_REVIEW')),
  source TEXT CHECK (source IN ('agent', 'imported', 'manual', 'portal')),
  item_override TEXT,
  reason TEXT,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (lead_id, checklist_item_id)
) WITHOUT ROWID;
INSERT INTO lead_checklist_items_new (id, workspace_id, lead_id, checklist_item_id, value, status, source,
                                      item_override, updated_at)
  SELECT id, workspace_id, lead_id, checklist_item_id, value, status, source, item_override, updated_at
  FROM lead_checklist_items;
DROP TABLE lead_checklist_items;
ALTER TABLE lead_checklist_items_new RENAME TO lead_checklist_items;
CREATE INDEX lead_checklist_items_item ON lead_checklist_items(workspace_id, checklist_item_id);

ALTER TABLE documents ADD COLUMN source TEXT CHECK (source IN ('agent', 'imported', 'manual', 'portal'));
CREATE INDEX documents_item ON documents(lead_id, checklist_item_id);

-- `source`: who made the change (agent, imported, manual, portal); `message_id` and `document_id`
-- link the message or document an action is about.
ALTER TABLE action_logs ADD COLUMN source TEXT CHECK (source IN ('agent', 'imported', 'manual', 'portal'));
ALTER TABLE action_logs ADD COLUMN message_id TEXT REFERENCES messages(id);
ALTER TABLE action_logs ADD COLUMN document_id TEXT REFERENCES documents(id);
ALTER TABLE action_logs ADD COLUMN updated_at INTEGER;

ALTER TABLE exports ADD COLUMN size INTEGER;
ALTER TABLE exports ADD COLUMN row_count INTEGER;

CREATE INDEX leads_external ON leads(workspace_id, external_lead_id);

-- Keys the worker signs its own opaque values with (the analytics pagination token), made once
-- per database so every process of a deployment agrees without configuration.
CREATE TABLE signing_keys (
  name TEXT PRIMARY KEY,
  secret BLOB NOT NULL,
  created_at INTEGER NOT NULL
);
INSERT INTO signing_keys (name, secret, created_at)
  VALUES ('analytics-token', randomblob(32), CAST(strftime('%s', 'now') AS INTEGER) * 1000);

-- The messages lead analytics counts, defined once: channels sms, email and whatsapp; every
-- inbound message; outbound messages except failed ones and drafts held back (pending or
-- rejected). Drafts a human edited or rejected are counted apart, whatever their status.
CREATE VIEW lead_analytics_messages (id, lead_id, channel, inbound, outbound, at, edited, rejected) AS
  SELECT id, lead_id, channel,
         direction = 'inbound',
         direction = 'outbound' AND status != 'failed'
           AND (draft_state IS NULL OR draft_state IN ('approved', 'edited')),
         created_at,
         draft_state IS 'edited',
         draft_state IS 'rejected'
  FROM messages WHERE lead_id IS NOT NULL AND channel IN ('sms', 'email', 'whatsapp');

CREATE TABLE lead_message_stats (
  lead_id INTEGER NOT NULL,
  channel TEXT NOT NULL,
  inbound INTEGER NOT NULL,
  outbound INTEGER NOT NULL,
  last_inbound_at INTEGER,
  last_outbound_at INTEGER,
  edited INTEGER NOT NULL,
  rejected INTEGER NOT NULL,
  PRIMARY KEY (lead_id, channel)
) WITHOUT ROWID;

INSERT INTO lead_message_stats
  SELECT lead_id, channel, sum(inbound), sum(outbound), max(CASE WHEN inbound THEN at END),
         max(CASE WHEN outbound THEN at END), sum(edited), sum(rejected)
  FROM lead_analytics_messages GROUP BY lead_id, channel;

-- Each trigger recounts the touched lead through the view (by the messages_lead index).
CREATE TRIGGER messages_lead_stats_insert AFTER INSERT ON messages WHEN NEW.lead_id IS NOT NULL
BEGIN
  DELETE FROM lead_message_stats WHERE lead_id = NEW.lead_id;
  INSERT INTO lead_message_stats
    SELECT lead_id, channel, sum(inbound), sum(outbound), max(CASE WHEN inbound THEN at END),
           max(CASE WHEN outbound THEN at END), sum(edited), sum(rejected)
    FROM lead_analytics_messages WHERE lead_id = NEW.lead_id GROUP BY lead_id, channel;
END;

CREATE TRIGGER messages_lead_stats_update
AFTER UPDATE OF lead_id, channel, direction, status, draft_state, created_at ON messages
BEGIN
  DELETE FROM lead_message_stats WHERE lead_id IN (OLD.lead_id, NEW.lead_id);
  INSERT INTO lead_message_stats
    SELECT lead_id, channel, sum(inbound), sum(outbound), max(CASE WHEN inbound THEN at END),
           max(CASE WHEN outbound THEN at END), sum(edited), sum(rejected)
    FROM lead_analytics_messages WHERE lead_id IN (OLD.lead_id, NEW.lead_id) GROUP BY lead_id, channel;
END;

CREATE TRIGGER messages_lead_stats_delete AFTER DELETE ON messages WHEN OLD.lead_id IS NOT NULL
BEGIN
  DELETE FROM lead_message_stats WHERE lead_id = OLD.lead_id;
  INSERT INTO lead_message_stats
    SELECT lead_id, channel, sum(inbound), sum(outbound), max(CASE WHEN inbound THEN at END),
           max(CASE WHEN outbound THEN at END), sum(edited), sum(rejected)
    FROM lead_analytics_messages WHERE lead_id = OLD.lead_id GROUP BY lead_id, channel;
END;

-- Interventions recorded on action logs (domain/actions.py sets `intervention`).
CREATE TABLE lead_interventions (
  lead_id INTEGER PRIMARY KEY,
  manual_updates INTEGER NOT NULL,
  document_overrides INTEGER NOT NULL,
  escalations INTEGER NOT NULL
);

INSERT INTO lead_interventions
  SELECT lead_id, sum(intervention = 'manual_update'), sum(intervention = 'document_override'),
         sum(intervention = 'escalation')
  FROM action_logs WHERE intervention IS NOT NULL GROUP BY lead_id;

CREATE TRIGGER action_logs_interventions_insert AFTER INSERT ON action_logs WHEN NEW.intervention IS NOT NULL
BEGIN
  DELETE FROM lead_interventions WHERE lead_id = NEW.lead_id;
  INSERT INTO lead_interventions
    SELECT lead_id, sum(intervention = 'manual_update'), sum(intervention = 'document_override'),
           sum(intervention = 'escalation')
    FROM action_logs WHERE lead_id = NEW.lead_id AND intervention IS NOT NULL GROUP BY lead_id;
END;

CREATE TRIGGER action_logs_interventions_update AFTER UPDATE OF lead_id, intervention ON action_logs
BEGIN
  DELETE FROM lead_interventions WHERE lead_id IN (OLD.lead_id, NEW.lead_id);
  INSERT INTO lead_interventions
    SELECT lead_id, sum(intervention = 'manual_update'), sum(intervention = 'document_override'),
           sum(intervention = 'escalation')
    FROM action_logs WHERE lead_id IN (OLD.lead_id, NEW.lead_id) AND intervention IS NOT NULL GROUP BY lead_id;
END;

CREATE TRIGGER action_logs_interventions_delete AFTER DELETE ON action_logs WHEN OLD.intervention IS NOT NULL
BEGIN
  DELETE FROM lead_interventions WHERE lead_id = OLD.lead_id;
  INSERT INTO lead_interventions
    SELECT lead_id, sum(intervention = 'manual_update'), sum(intervention = 'document_override'),
           sum(intervention = 'escalation')
    FROM action_logs WHERE lead_id = OLD.lead_id AND intervention IS NOT NULL GROUP BY lead_id;
END;

-- Required-and-visible checklist items of a lead, and how many of them are COMPLETED, by the
-- source of their last change; `checklist_items` is the lead's checklist as the analytics
-- breakdown shows it (a JSON array of {code, required, status, value, updatedAt, source};
-- `updatedAt` null for an item the lead never touched) and `checklist_csv` the same as the CSV
-- export's checklist cells (a NUL where an untouched item's updatedAt goes), so a page of
-- analytics or of an export reads one row per lead. Written by domain/checklists.py (see the header).
CREATE TABLE lead_completion (
  lead_id INTEGER PRIMARY KEY REFERENCES leads(lead_id),
  total_required INTEGER NOT NULL,
  total_completed INTEGER NOT NULL,
  agent INTEGER NOT NULL,
  imported INTEGER NOT NULL,
  manual INTEGER NOT NULL,
  portal INTEGER NOT NULL,
  checklist_items TEXT NOT NULL DEFAULT '[]',
  checklist_csv TEXT NOT NULL DEFAULT ''
);

-- Totals by the UTC day a lead was created (created_at / 86400000), over the leads analytics
-- counts (not deleted, not test), so the totals of any range read one row per day; a range that
-- starts or ends inside a day adds that part of the day from the per-lead rows. `evaluated` counts
-- leads with a lead_completion row (the others count what the template asks of an empty
-- checklist). Triggers keep both tables exact whatever changes: a lead (created, deleted, marked
-- test, submitted, opted out, moved in time) or one of its per-lead rollups above.
CREATE TABLE lead_day_totals (
  workspace_id TEXT NOT NULL,
  day INTEGER NOT NULL,
  leads INTEGER NOT NULL DEFAULT 0,
  submitted INTEGER NOT NULL DEFAULT 0,
  opted_out INTEGER NOT NULL DEFAULT 0,
  evaluated INTEGER NOT NULL DEFAULT 0,
  total_required INTEGER NOT NULL DEFAULT 0,
  total_completed INTEGER NOT NULL DEFAULT 0,
  agent INTEGER NOT NULL DEFAULT 0,
  imported INTEGER NOT NULL DEFAULT 0,
  manual INTEGER NOT NULL DEFAULT 0,
  portal INTEGER NOT NULL DEFAULT 0,
  manual_updates INTEGER NOT NULL DEFAULT 0,
  document_overrides INTEGER NOT NULL DEFAULT 0,
  escalations INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (workspace_id, day)
) WITHOUT ROWID;

CREATE TABLE lead_day_channels (
  workspace_id TEXT NOT NULL,
  day INTEGER NOT NULL,
  channel TEXT NOT NULL,
  inbound INTEGER NOT NULL DEFAULT 0,
  outbound INTEGER NOT NULL DEFAULT 0,
  edited INTEGER NOT NULL DEFAULT 0,
  rejected INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (workspace_id, day, channel)
) WITHOUT ROWID;

INSERT INTO lead_day_totals
  SELECT l.workspace_id, l.created_at / 86400000, count(*), count(l.submitted_at), count(l.opted_out_at),
         count(c.lead_id), coalesce(sum(c.total_required), 0), coalesce(sum(c.total_completed), 0),
         coalesce(sum(c.agent), 0), coalesce(sum(c.imported), 0), coalesce(sum(c.manual), 0),
         coalesce(sum(c.portal), 0), coalesce(sum(i.manual_updates), 0), coalesce(sum(i.document_overrides), 0),
         coalesce(sum(i.escalations), 0)
  FROM leads l LEFT JOIN lead_completion c ON c.lead_id = l.lead_id LEFT JOIN lead_interventions i ON i.lead_id = l.lead_id
  WHERE l.deleted_at IS NULL AND l.is_test = 0 GROUP BY l.workspace_id, l.created_at / 86400000;

INSERT INTO lead_day_channels
  SELECT l.workspace_id, l.created_at / 86400000, s.channel, sum(s.inbound), sum(s.outbound), sum(s.edited),
         sum(s.rejected)
  FROM leads l JOIN lead_message_stats s ON s.lead_id = l.lead_id
  WHERE l.deleted_at IS NULL AND l.is_test = 0 GROUP BY l.workspace_id, l.created_at / 86400000, s.channel;

-- A lead's whole contribution leaves the day it was counted in (OLD) and joins the day it is
-- counted in now (NEW); the WHERE clauses skip a lead that is not counted.
CREATE TRIGGER leads_day_insert AFTER INSERT ON leads WHEN NEW.deleted_at IS NULL AND NEW.is_test = 0
BEGIN
  INSERT INTO lead_day_totals
    SELECT NEW.workspace_id, NEW.created_at / 86400000, 1, NEW.submitted_at IS NOT NULL, NEW.opted_out_at IS NOT NULL,
           c.lead_id IS NOT NULL, coalesce(c.total_required, 0), coalesce(c.total_completed, 0), coalesce(c.agent, 0),
           coalesce(c.imported, 0), coalesce(c.manual, 0), coalesce(c.portal, 0), coalesce(i.manual_updates, 0),
           coalesce(i.document_overrides, 0), coalesce(i.escalations, 0)
    FROM (SELECT 1) LEFT JOIN lead_completion c ON c.lead_id = NEW.lead_id
    LEFT JOIN lead_interventions i ON i.lead_id = NEW.lead_id WHERE true
    ON CONFLICT (workspace_id, day) DO UPDATE SET leads = leads + excluded.leads,
      submitted = submitted + excluded.submitted, opted_out = opted_out + excluded.opted_out,
      evaluated = evaluated + excluded.evaluated, total_required = total_required + excluded.total_required,
      total_completed = total_completed + excluded.total_completed, agent = agent + excluded.agent,
      imported = imported + excluded.imported, manual = manual + excluded.manual, portal = portal + excluded.portal,
      manual_updates = manual_updates + excluded.manual_updates,
      document_overrides = document_overrides + excluded.document_overrides,
      escalations = escalations + excluded.escalations;
  INSERT INTO lead_day_channels
    SELECT NEW.workspace_id, NEW.created_at / 86400000, channel, inbound, outbound, edited, rejected
    FROM lead_message_stats WHERE lead_id = NEW.lead_id
    ON CONFLICT (workspace_id, day, channel) DO UPDATE SET inbound = inbound + excluded.inbound,
      outbound = outbound + excluded.outbound, edited = edited + excluded.edited, rejected = rejected + excluded.rejected;
END;

CREATE TRIGGER leads_day_update
AFTER UPDATE OF workspace_id, created_at, deleted_at, is_test, submitted_at, opted_out_at ON leads
WHEN OLD.workspace_id IS NOT NEW.workspace_id OR OLD.created_at IS NOT NEW.created_at
  OR OLD.deleted_at IS NOT NEW.deleted_at OR OLD.is_test IS NOT NEW.is_test
  OR OLD.submitted_at IS NOT NEW.submitted_at OR OLD.opted_out_at IS NOT NEW.opted_out_at
BEGIN
  INSERT INTO lead_day_totals
    SELECT OLD.workspace_id, OLD.created_at / 86400000, -1, -(OLD.submitted_at IS NOT NULL),
           -(OLD.opted_out_at IS NOT NULL), -(c.lead_id IS NOT NULL), -coalesce(c.total_required, 0),
           -coalesce(c.total_completed, 0), -coalesce(c.agent, 0), -coalesce(c.imported, 0), -coalesce(c.manual, 0),
           -coalesce(c.portal, 0), -coalesce(i.manual_updates, 0), -coalesce(i.document_overrides, 0),
           -coalesce(i.escalations, 0)
    FROM (SELECT 1) LEFT JOIN lead_completion c ON c.lead_id = OLD.lead_id
    LEFT JOIN lead_interventions i ON i.lead_id = OLD.lead_id WHERE OLD.deleted_at IS NULL AND OLD.is_test = 0
    ON CONFLICT (workspace_id, day) DO UPDATE SET leads = leads + excluded.leads,
      submitted = submitted + excluded.submitted, opted_out = opted_out + excluded.opted_out,
      evaluated = evaluated + excluded.evaluated, total_required = total_required + excluded.total_required,
      total_completed = total_completed + excluded.total_completed, agent = agent + excluded.agent,
      imported = imported + excluded.imported, manual = manual + excluded.manual, portal = portal + excluded.portal,
      manual_updates = manual_updates + excluded.manual_updates,
      document_overrides = document_overrides + excluded.document_overrides,
      escalations = escalations + excluded.escalations;
  INSERT INTO lead_day_channels
    SELECT OLD.workspace_id, OLD.created_at / 86400000, channel, -inbound, -outbound, -edited, -rejected
    FROM lead_message_stats WHERE lead_id = OLD.lead_id AND OLD.deleted_at IS NULL AND OLD.is_test = 0
    ON CONFLICT (workspace_id, day, channel) DO UPDATE SET inbound = inbound + excluded.inbound,
      outbound = outbound + excluded.outbound, edited = edited + excluded.edited, rejected = rejected + excluded.rejected;
  INSERT INTO lead_day_totals
    SELECT NEW.workspace_id, NEW.created_at / 86400000, 1, NEW.submitted_at IS NOT NULL, NEW.opted_out_at IS NOT NULL,
           c.lead_id IS NOT NULL, coalesce(c.total_required, 0), coalesce(c.total_completed, 0), coalesce(c.agent, 0),
           coalesce(c.imported, 0), coalesce(c.manual, 0), coalesce(c.portal, 0), coalesce(i.manual_updates, 0),
           coalesce(i.document_overrides, 0), coalesce(i.escalations, 0)
    FROM (SELECT 1) LEFT JOIN lead_completion c ON c.lead_id = NEW.lead_id
    LEFT JOIN lead_interventions i ON i.lead_id = NEW.lead_id WHERE NEW.deleted_at IS NULL AND NEW.is_test = 0
    ON CONFLICT (workspace_id, day) DO UPDATE SET leads = leads + excluded.leads,
      submitted = submitted + excluded.submitted, opted_out = opted_out + excluded.opted_out,
      evaluated = evaluated + excluded.evaluated, total_required = total_required + excluded.total_required,
      total_completed = total_completed + excluded.total_completed, agent = agent + excluded.agent,
      imported = imported + excluded.imported, manual = manual + excluded.manual, portal = portal + excluded.portal,
      manual_updates = manual_updates + excluded.manual_updates,
      document_overrides = document_overrides + excluded.document_overrides,
      escalations = escalations + excluded.escalations;
  INSERT INTO lead_day_channels
    SELECT NEW.workspace_id, NEW.created_at / 86400000, channel, inbound, outbound, edited, rejected
    FROM lead_message_stats WHERE lead_id = NEW.lead_id AND NEW.deleted_at IS NULL AND NEW.is_test = 0
    ON CONFLICT (workspace_id, day, channel) DO UPDATE SET inbound = inbound + excluded.inbound,
      outbound = outbound + excluded.outbound, edited = edited + excluded.edited, rejected = rejected + excluded.rejected;
END;

CREATE TRIGGER leads_day_delete AFTER DELETE ON leads WHEN OLD.deleted_at IS NULL AND OLD.is_test = 0
BEGIN
  UPDATE lead_day_totals SET leads = leads - 1, submitted = submitted - (OLD.submitted_at IS NOT NULL),
    opted_out = opted_out - (OLD.opted_out_at IS NOT NULL),
    evaluated = evaluated - EXISTS (SELECT 1 FROM lead_completion WHERE lead_id = OLD.lead_id),
    total_required = total_required - coalesce((SELECT total_required FROM lead_completion WHERE lead_id = OLD.lead_id), 0),
    total_completed = total_completed - coalesce((SELECT total_completed FROM lead_completion WHERE lead_id = OLD.lead_id), 0),
    agent = agent - coalesce((SELECT agent FROM lead_completion WHERE lead_id = OLD.lead_id), 0),
    imported = imported - coalesce((SELECT imported FROM lead_completion WHERE lead_id = OLD.lead_id), 0),
    manual = manual - coalesce((SELECT manual FROM lead_completion WHERE lead_id = OLD.lead_id), 0),
    portal = portal - coalesce((SELECT portal FROM lead_completion WHERE lead_id = OLD.lead_id), 0),
    manual_updates = manual_updates - coalesce((SELECT manual_updates FROM lead_interventions WHERE lead_id = OLD.lead_id), 0),
    document_overrides = document_overrides - coalesce((SELECT document_overrides FROM lead_interventions WHERE lead_id = OLD.lead_id), 0),
    escalations = escalations - coalesce((SELECT escalations FROM lead_interventions WHERE lead_id = OLD.lead_id), 0)
  WHERE workspace_id = OLD.workspace_id AND day = OLD.created_at / 86400000;
  INSERT INTO lead_day_channels
    SELECT OLD.workspace_id, OLD.created_at / 86400000, channel, -inbound, -outbound, -edited, -rejected
    FROM lead_message_stats WHERE lead_id = OLD.lead_id
    ON CONFLICT (workspace_id, day, channel) DO UPDATE SET inbound = inbound + excluded.inbound,
      outbound = outbound + excluded.outbound, edited = edited + excluded.edited, rejected = rejected + excluded.rejected;
END;

-- A per-lead rollup row changes: the difference moves into its lead's day, if the lead is counted.
CREATE TRIGGER lead_completion_day_insert AFTER INSERT ON lead_completion
BEGIN
  UPDATE lead_day_totals SET evaluated = evaluated + 1, total_required = total_required + NEW.total_required,
    total_completed = total_completed + NEW.total_completed, agent = agent + NEW.agent,
    imported = imported + NEW.imported, manual = manual + NEW.manual, portal = portal + NEW.portal
  WHERE (workspace_id, day) = (SELECT workspace_id, created_at / 86400000 FROM leads
                               WHERE lead_id = NEW.lead_id AND deleted_at IS NULL AND is_test = 0);
END;

CREATE TRIGGER lead_completion_day_update AFTER UPDATE ON lead_completion
BEGIN
  UPDATE lead_day_totals SET evaluated = evaluated - 1, total_required = total_required - OLD.total_required,
    total_completed = total_completed - OLD.total_completed, agent = agent - OLD.agent,
    imported = imported - OLD.imported, manual = manual - OLD.manual, portal = portal - OLD.portal
  WHERE (workspace_id, day) = (SELECT workspace_id, created_at / 86400000 FROM leads
                               WHERE lead_id = OLD.lead_id AND deleted_at IS NULL AND is_test = 0);
  UPDATE lead_day_totals SET evaluated = evaluated + 1, total_required = total_required + NEW.total_required,
    total_completed = total_completed + NEW.total_completed, agent = agent + NEW.agent,
    imported = imported + NEW.imported, manual = manual + NEW.manual, portal = portal + NEW.portal
  WHERE (workspace_id, day) = (SELECT workspace_id, created_at / 86400000 FROM leads
                               WHERE lead_id = NEW.lead_id AND deleted_at IS NULL AND is_test = 0);
END;

CREATE TRIGGER lead_completion_day_delete AFTER DELETE ON lead_completion
BEGIN
  UPDATE lead_day_totals SET evaluated = evaluated - 1, total_required = total_required - OLD.total_required,
    total_completed = total_completed - OLD.total_completed, agent = agent - OLD.agent,
    imported = imported - OLD.imported, manual = manual - OLD.manual, portal = portal - OLD.portal
  WHERE (workspace_id, day) = (SELECT workspace_id, created_at / 86400000 FROM leads
                               WHERE lead_id = OLD.lead_id AND deleted_at IS NULL AND is_test = 0);
END;

CREATE TRIGGER lead_interventions_day_insert AFTER INSERT ON lead_interventions
BEGIN
  UPDATE lead_day_totals SET manual_updates = manual_updates + NEW.manual_updates,
    document_overrides = document_overrides + NEW.document_overrides, escalations = escalations + NEW.escalations
  WHERE (workspace_id, day) = (SELECT workspace_id, created_at / 86400000 FROM leads
                               WHERE lead_id = NEW.lead_id AND deleted_at IS NULL AND is_test = 0);
END;

CREATE TRIGGER lead_interventions_day_update AFTER UPDATE ON lead_interventions
BEGIN
  UPDATE lead_day_totals SET manual_updates = manual_updates - OLD.manual_updates,
    document_overrides = document_overrides - OLD.document_overrides, escalations = escalations - OLD.escalations
  WHERE (workspace_id, day) = (SELECT workspace_id, created_at / 86400000 FROM leads
                               WHERE lead_id = OLD.lead_id AND deleted_at IS NULL AND is_test = 0);
  UPDATE lead_day_totals SET manual_updates = manual_updates + NEW.manual_updates,
    document_overrides = document_overrides + NEW.document_overrides, escalations = escalations + NEW.escalations
  WHERE (workspace_id, day) = (SELECT workspace_id, created_at / 86400000 FROM leads
                               WHERE lead_id = NEW.lead_id AND deleted_at IS NULL AND is_test = 0);
END;

CREATE TRIGGER lead_interventions_day_delete AFTER DELETE ON lead_interventions
BEGIN
  UPDATE lead_day_totals SET manual_updates = manual_updates - OLD.manual_updates,
    document_overrides = document_overrides - OLD.document_overrides, escalations = escalations - OLD.escalations
  WHERE (workspace_id, day) = (SELECT workspace_id, created_at / 86400000 FROM leads
                               WHERE lead_id = OLD.lead_id AND deleted_at IS NULL AND is_test = 0);
END;

CREATE TRIGGER lead_message_stats_day_insert AFTER INSERT ON lead_message_stats
BEGIN
  INSERT INTO lead_day_channels
    SELECT workspace_id, created_at / 86400000, NEW.channel, NEW.inbound, NEW.outbound, NEW.edited, NEW.rejected
    FROM leads WHERE lead_id = NEW.lead_id AND deleted_at IS NULL AND is_test = 0
    ON CONFLICT (workspace_id, day, channel) DO UPDATE SET inbound = inbound + excluded.inbound,
      outbound = outbound + excluded.outbound, edited = edited + excluded.edited, rejected = rejected + excluded.rejected;
END;

CREATE TRIGGER lead_message_stats_day_update AFTER UPDATE ON lead_message_stats
BEGIN
  UPDATE lead_day_channels SET inbound = inbound - OLD.inbound, outbound = outbound - OLD.outbound,
    edited = edited - OLD.edited, rejected = rejected - OLD.rejected
  WHERE channel = OLD.channel AND (workspace_id, day) = (SELECT workspace_id, created_at / 86400000 FROM leads
                                   WHERE lead_id = OLD.lead_id AND deleted_at IS NULL AND is_test = 0);
  INSERT INTO lead_day_channels
    SELECT workspace_id, created_at / 86400000, NEW.channel, NEW.inbound, NEW.outbound, NEW.edited, NEW.rejected
    FROM leads WHERE lead_id = NEW.lead_id AND deleted_at IS NULL AND is_test = 0
    ON CONFLICT (workspace_id, day, channel) DO UPDATE SET inbound = inbound + excluded.inbound,
      outbound = outbound + excluded.outbound, edited = edited + excluded.edited, rejected = rejected + excluded.rejected;
END;

CREATE TRIGGER lead_message_stats_day_delete AFTER DELETE ON lead_message_stats
BEGIN
  UPDATE lead_day_channels SET inbound = inbound - OLD.inbound, outbound = outbound - OLD.outbound,
    edited = edited - OLD.edited, rejected = rejected - OLD.rejected
  WHERE channel = OLD.channel AND (workspace_id, day) = (SELECT workspace_id, created_at / 86400000 FROM leads
                                   WHERE lead_id = OLD.lead_id AND deleted_at IS NULL AND is_test = 0);
END;
