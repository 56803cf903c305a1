-- Migration number: 0002 	 2026-11-26T09:00:00.000Z
-- Rollups for the dashboard surface (/analytics/*), so no request scans raw sessions or events.
--
-- Triggers on sessions, events, messages and action_logs keep every rollup exact on every
-- write path (ingestion, the cron handler, the CLI, direct SQL): nothing else has to know they
-- exist. Unique counts are exact: each distinct number is kept beside the set table holding the
-- distinct members. A trigger adds a member with INSERT OR IGNORE and adds changes() (1 when the
-- member is new, else 0) to the count in its next statement, so a repeat member costs a lookup,
-- not a write; a member leaves only when no session holds it any more (checked through a sessions
-- index, or, for fingerprints, which sessions has no index on, a count of the sessions holding it).
--
-- A day is the UTC day of a session's started_at: started_at / 86400000 (days since 1970-01-01).
-- An unknown country is stored as '' (a primary key cannot hold NULL); a NULL page URL likewise.
-- The page rollups count page_view events when they are inserted and ignore deletions, so
-- pruning raw event rows after archiving (raw_event_retention_days) does not change them.
-- The backfill statements fill every rollup from rows that exist when this runs; they come
-- before the triggers, so nothing is counted twice.

-- Totals of a workspace over its sessions.
CREATE TABLE rollup_workspace (
  workspace_id TEXT PRIMARY KEY,
  sessions INTEGER NOT NULL DEFAULT 0,
  events INTEGER NOT NULL DEFAULT 0,            -- sum of sessions.event_count
  engagement_sum INTEGER NOT NULL DEFAULT 0,
  duration_ms_sum INTEGER NOT NULL DEFAULT 0,
  vpn_sessions INTEGER NOT NULL DEFAULT 0,
  visitors INTEGER NOT NULL DEFAULT 0,          -- rows of rollup_visitor
  fingerprints INTEGER NOT NULL DEFAULT 0       -- rows of rollup_fingerprint
) WITHOUT ROWID;

-- Sessions by the UTC day they started.
CREATE TABLE rollup_day (
  workspace_id TEXT NOT NULL,
  day INTEGER NOT NULL,
  sessions INTEGER NOT NULL DEFAULT 0,
  engagement_sum INTEGER NOT NULL DEFAULT 0,
  duration_ms_sum INTEGER NOT NULL DEFAULT 0,
  visitors INTEGER NOT NULL DEFAULT 0,          -- rows of rollup_day_visitor for the day
  PRIMARY KEY (workspace_id, day)
) WITHOUT ROWID;

CREATE TABLE rollup_country (
  workspace_id TEXT NOT NULL,
  country TEXT NOT NULL,
  sessions INTEGER NOT NULL DEFAULT 0,
  visitors INTEGER NOT NULL DEFAULT 0,          -- rows of rollup_country_visitor for the country
  PRIMARY KEY (workspace_id, country)
) WITHOUT ROWID;

CREATE TABLE rollup_referrer (
  workspace_id TEXT NOT NULL,
  referrer_domain TEXT NOT NULL,
  sessions INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (workspace_id, referrer_domain)
) WITHOUT ROWID;

-- Completed sessions (ended_at set) by engagement score 0-100; buckets are drawn at read time.
CREATE TABLE rollup_score (
  workspace_id TEXT NOT NULL,
  score INTEGER NOT NULL,
  sessions INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (workspace_id, score)
) WITHOUT ROWID;

-- page_view events by URL.
CREATE TABLE rollup_page (
  workspace_id TEXT NOT NULL,
  page TEXT NOT NULL,
  views INTEGER NOT NULL DEFAULT 0,
  sessions INTEGER NOT NULL DEFAULT 0,          -- rows of rollup_page_session for the page
  PRIMARY KEY (workspace_id, page)
) WITHOUT ROWID;

-- Set tables: one row per distinct member.
CREATE TABLE rollup_visitor (
  workspace_id TEXT NOT NULL,
  visitor_id TEXT NOT NULL,
  PRIMARY KEY (workspace_id, visitor_id)
) WITHOUT ROWID;

CREATE TABLE rollup_fingerprint (
  workspace_id TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  sessions INTEGER NOT NULL,
  PRIMARY KEY (workspace_id, fingerprint)
) WITHOUT ROWID;

CREATE TABLE rollup_day_visitor (
  workspace_id TEXT NOT NULL,
  day INTEGER NOT NULL,
  visitor_id TEXT NOT NULL,
  PRIMARY KEY (workspace_id, day, visitor_id)
) WITHOUT ROWID;

CREATE TABLE rollup_country_visitor (
  workspace_id TEXT NOT NULL,
  country TEXT NOT NULL,
  visitor_id TEXT NOT NULL,
  PRIMARY KEY (workspace_id, country, visitor_id)
) WITHOUT ROWID;

-- Keyed by session first: the page views of one session land on the same b-tree page.
CREATE TABLE rollup_page_session (
  workspace_id TEXT NOT NULL,
  session_id TEXT NOT NULL,
  page TEXT NOT NULL,
  PRIMARY KEY (workspace_id, session_id, page)
) WITHOUT ROWID;

-- A lead's follow-ups: outbound messages (rejected drafts excepted) and follow-up actions.
CREATE TABLE lead_follow_ups (
  lead_id INTEGER PRIMARY KEY,
  follow_ups INTEGER NOT NULL,
  last_follow_up_at INTEGER
);

-- Session blobs in the SESSIONS bucket per workspace: maintained from sessions.blob_key by the
-- triggers below and reset from the bucket itself by each completed reconciliation pass
-- (jobs/storage_stats.py). `objects` counts every blob of the workspace, stale copies included;
-- `sessions` the sessions whose current blob (sessions.blob_key) is in the bucket.
CREATE TABLE storage_objects (
  workspace_id TEXT PRIMARY KEY,
  objects INTEGER NOT NULL DEFAULT 0,
  sessions INTEGER NOT NULL DEFAULT 0,
  reconciled_at INTEGER
) WITHOUT ROWID;

-- The reconciliation pass over a bucket: where the listing stopped, and its tallies so far.
CREATE TABLE storage_scans (
  bucket TEXT PRIMARY KEY,
  started_at INTEGER NOT NULL,                  -- objects uploaded from here on are counted from sessions
  after_key TEXT,                               -- the last key listed; the next run lists after it
  unattributed INTEGER NOT NULL DEFAULT 0,      -- objects that belong to no session
  passes INTEGER NOT NULL DEFAULT 0,
  last_completed_at INTEGER,
  last_unattributed INTEGER
) WITHOUT ROWID;

CREATE TABLE storage_scan_tallies (
  bucket TEXT NOT NULL,
  workspace_id TEXT NOT NULL,
  objects INTEGER NOT NULL DEFAULT 0,
  sessions INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (bucket, workspace_id)
) WITHOUT ROWID;

-- The leads list (/analytics/leads) walks one of these to its page instead of sorting every lead:
-- one per sort key, each ending on lead_id, partial on the leads the list shows. They also make
-- the list's count an index-only count.
CREATE INDEX leads_list_newest ON leads(workspace_id, coalesce(enquiry_at, created_at), lead_id)
  WHERE deleted_at IS NULL;
CREATE INDEX leads_list_status ON leads(workspace_id, status, coalesce(enquiry_at, created_at), lead_id)
  WHERE deleted_at IS NULL;
CREATE INDEX leads_list_score ON leads(workspace_id, engagement_score, coalesce(enquiry_at, created_at), lead_id)
  WHERE deleted_at IS NULL;
CREATE INDEX leads_list_risk ON leads(workspace_id, suspicion_score, coalesce(enquiry_at, created_at), lead_id)
  WHERE deleted_at IS NULL;
CREATE INDEX leads_list_name ON leads(workspace_id, contact_name IS NULL, contact_name COLLATE NOCASE, lead_id)
  WHERE deleted_at IS NULL;
-- The reconciliation job finds a listed object's session by its key.
CREATE INDEX sessions_blob_key ON sessions(blob_key) WHERE blob_key IS NOT NULL;

-- Backfill -------------------------------------------------------------------------------

INSERT INTO rollup_visitor (workspace_id, visitor_id) SELECT DISTINCT workspace_id, visitor_id FROM sessions;
INSERT INTO rollup_fingerprint (workspace_id, fingerprint, sessions)
  SELECT workspace_id, fingerprint, count(*) FROM sessions WHERE fingerprint IS NOT NULL
  GROUP BY workspace_id, fingerprint;
INSERT INTO rollup_day_visitor (workspace_id, day, visitor_id)
  SELECT DISTINCT workspace_id, started_at / 86400000, visitor_id FROM sessions;
INSERT INTO rollup_country_visitor (workspace_id, country, visitor_id)
  SELECT DISTINCT workspace_id, coalesce(country, ''), visitor_id FROM sessions;
INSERT INTO rollup_page_session (workspace_id, session_id, page)
  SELECT DISTINCT workspace_id, session_id, coalesce(url, '') FROM events WHERE type = 'page_view';
INSERT INTO rollup_workspace (workspace_id, sessions, events, engagement_sum, duration_ms_sum, vpn_sessions,
                              visitors, fingerprints)
  SELECT workspace_id, count(*), sum(event_count), sum(engagement_score), sum(duration_ms),
         sum(vpn_suspected != 0),
         (SELECT count(*) FROM rollup_visitor v WHERE v.workspace_id = s.workspace_id),
         (SELECT count(*) FROM rollup_fingerprint f WHERE f.workspace_id = s.workspace_id)
  FROM sessions s GROUP BY workspace_id;
INSERT INTO rollup_day (workspace_id, day, sessions, engagement_sum, duration_ms_sum, visitors)
  SELECT workspace_id, started_at / 86400000, count(*), sum(engagement_score), sum(duration_ms),
         count(DISTINCT visitor_id)
  FROM sessions GROUP BY workspace_id, started_at / 86400000;
INSERT INTO rollup_country (workspace_id, country, sessions, visitors)
  SELECT workspace_id, coalesce(country, ''), count(*), count(DISTINCT visitor_id)
  FROM sessions GROUP BY workspace_id, coalesce(country, '');
INSERT INTO rollup_referrer (workspace_id, referrer_domain, sessions)
  SELECT workspace_id, referrer_domain, count(*) FROM sessions GROUP BY workspace_id, referrer_domain;
INSERT INTO rollup_score (workspace_id, score, sessions)
  SELECT workspace_id, engagement_score, count(*) FROM sessions WHERE ended_at IS NOT NULL
  GROUP BY workspace_id, engagement_score;
INSERT INTO rollup_page (workspace_id, page, views, sessions)
  SELECT workspace_id, coalesce(url, ''), count(*), count(DISTINCT session_id) FROM events
  WHERE type = 'page_view' GROUP BY workspace_id, coalesce(url, '');
INSERT INTO lead_follow_ups (lead_id, follow_ups, last_follow_up_at)
  SELECT lead_id, count(*), max(at) FROM (
    SELECT lead_id, created_at AS at FROM messages
    WHERE lead_id IS NOT NULL AND direction = 'outbound' AND draft_state IS NOT 'rejected'
    UNION ALL
    SELECT lead_id, created_at FROM action_logs WHERE is_follow_up != 0
  ) GROUP BY lead_id;
INSERT INTO storage_objects (workspace_id, objects, sessions)
  SELECT workspace_id, count(*), count(*) FROM sessions WHERE blob_key IS NOT NULL GROUP BY workspace_id;

-- Sessions -------------------------------------------------------------------------------

-- Every rollup is keyed by workspace; a session that changed workspace would need all of them moved.
CREATE TRIGGER sessions_workspace_fixed BEFORE UPDATE OF workspace_id ON sessions
WHEN OLD.workspace_id IS NOT NEW.workspace_id
BEGIN
  SELECT RAISE(ABORT, 'sessions.workspace_id cannot change');
END;

CREATE TRIGGER sessions_rollup_insert AFTER INSERT ON sessions
BEGIN
  INSERT OR IGNORE INTO rollup_visitor (workspace_id, visitor_id) VALUES (NEW.workspace_id, NEW.visitor_id);
  INSERT INTO rollup_workspace (workspace_id, sessions, events, engagement_sum, duration_ms_sum, vpn_sessions,
                                visitors)
    VALUES (NEW.workspace_id, 1, NEW.event_count, NEW.engagement_score, NEW.duration_ms, NEW.vpn_suspected != 0,
            changes())
    ON CONFLICT (workspace_id) DO UPDATE SET sessions = sessions + 1, events = events + excluded.events,
      engagement_sum = engagement_sum + excluded.engagement_sum,
      duration_ms_sum = duration_ms_sum + excluded.duration_ms_sum,
      vpn_sessions = vpn_sessions + excluded.vpn_sessions, visitors = visitors + excluded.visitors;
  INSERT OR IGNORE INTO rollup_fingerprint (workspace_id, fingerprint, sessions)
    SELECT NEW.workspace_id, NEW.fingerprint, 0 WHERE NEW.fingerprint IS NOT NULL;
  UPDATE rollup_workspace SET fingerprints = fingerprints + 1 WHERE workspace_id = NEW.workspace_id AND changes() > 0;
  UPDATE rollup_fingerprint SET sessions = sessions + 1
    WHERE workspace_id = NEW.workspace_id AND fingerprint = NEW.fingerprint;
  INSERT OR IGNORE INTO rollup_day_visitor (workspace_id, day, visitor_id)
    VALUES (NEW.workspace_id, NEW.started_at / 86400000, NEW.visitor_id);
  INSERT INTO rollup_day (workspace_id, day, sessions, engagement_sum, duration_ms_sum, visitors)
    VALUES (NEW.workspace_id, NEW.started_at / 86400000, 1, NEW.engagement_score, NEW.duration_ms, changes())
    ON CONFLICT (workspace_id, day) DO UPDATE SET sessions = sessions + 1,
      engagement_sum = engagement_sum + excluded.engagement_sum,
      duration_ms_sum = duration_ms_sum + excluded.duration_ms_sum, visitors = visitors + excluded.visitors;
  INSERT OR IGNORE INTO rollup_country_visitor (workspace_id, country, visitor_id)
    VALUES (NEW.workspace_id, coalesce(NEW.country, ''), NEW.visitor_id);
  INSERT INTO rollup_country (workspace_id, country, sessions, visitors)
    VALUES (NEW.workspace_id, coalesce(NEW.country, ''), 1, changes())
    ON CONFLICT (workspace_id, country) DO UPDATE SET sessions = sessions + 1, visitors = visitors + excluded.visitors;
  INSERT INTO rollup_referrer (workspace_id, referrer_domain, sessions) VALUES (NEW.workspace_id, NEW.referrer_domain, 1)
    ON CONFLICT (workspace_id, referrer_domain) DO UPDATE SET sessions = sessions + 1;
  INSERT INTO rollup_score (workspace_id, score, sessions)
    SELECT NEW.workspace_id, NEW.engagement_score, 1 WHERE NEW.ended_at IS NOT NULL
    ON CONFLICT (workspace_id, score) DO UPDATE SET sessions = sessions + 1;
  INSERT INTO storage_objects (workspace_id, objects, sessions)
    SELECT NEW.workspace_id, 1, 1 WHERE NEW.blob_key IS NOT NULL
    ON CONFLICT (workspace_id) DO UPDATE SET objects = objects + 1, sessions = sessions + 1;
END;

-- A member leaves a set when no other session holds it; each check runs on a sessions index.
CREATE TRIGGER sessions_rollup_delete AFTER DELETE ON sessions
BEGIN
  DELETE FROM rollup_visitor WHERE workspace_id = OLD.workspace_id AND visitor_id = OLD.visitor_id
    AND NOT EXISTS (SELECT 1 FROM sessions WHERE workspace_id = OLD.workspace_id AND visitor_id = OLD.visitor_id);
  UPDATE rollup_workspace SET sessions = sessions - 1, events = events - OLD.event_count,
      engagement_sum = engagement_sum - OLD.engagement_score, duration_ms_sum = duration_ms_sum - OLD.duration_ms,
      vpn_sessions = vpn_sessions - (OLD.vpn_suspected != 0), visitors = visitors - changes()
    WHERE workspace_id = OLD.workspace_id;
  UPDATE rollup_fingerprint SET sessions = sessions - 1
    WHERE workspace_id = OLD.workspace_id AND fingerprint = OLD.fingerprint;
  DELETE FROM rollup_fingerprint WHERE workspace_id = OLD.workspace_id AND fingerprint = OLD.fingerprint
    AND sessions <= 0;
  UPDATE rollup_workspace SET fingerprints = fingerprints - 1 WHERE workspace_id = OLD.workspace_id AND changes() > 0;
  DELETE FROM rollup_day_visitor
    WHERE workspace_id = OLD.workspace_id AND day = OLD.started_at / 86400000 AND visitor_id = OLD.visitor_id
      AND NOT EXISTS (SELECT 1 FROM sessions WHERE workspace_id = OLD.workspace_id AND visitor_id = OLD.visitor_id
        AND started_at >= OLD.started_at / 86400000 * 86400000 AND started_at < (OLD.started_at / 86400000 + 1) * 86400000);
  UPDATE rollup_day SET sessions = sessions - 1, engagement_sum = engagement_sum - OLD.engagement_score,
      duration_ms_sum = duration_ms_sum - OLD.duration_ms, visitors = visitors - changes()
    WHERE workspace_id = OLD.workspace_id AND day = OLD.started_at / 86400000;
  DELETE FROM rollup_country_visitor
    WHERE workspace_id = OLD.workspace_id AND country = coalesce(OLD.country, '') AND visitor_id = OLD.visitor_id
      AND NOT EXISTS (SELECT 1 FROM sessions WHERE workspace_id = OLD.workspace_id AND visitor_id = OLD.visitor_id
        AND coalesce(country, '') = coalesce(OLD.country, ''));
  UPDATE rollup_country SET sessions = sessions - 1, visitors = visitors - changes()
    WHERE workspace_id = OLD.workspace_id AND country = coalesce(OLD.country, '');
  UPDATE rollup_referrer SET sessions = sessions - 1
    WHERE workspace_id = OLD.workspace_id AND referrer_domain = OLD.referrer_domain;
  UPDATE rollup_score SET sessions = sessions - 1
    WHERE workspace_id = OLD.workspace_id AND score = OLD.engagement_score AND OLD.ended_at IS NOT NULL;
  UPDATE storage_objects SET objects = objects - 1, sessions = sessions - 1
    WHERE workspace_id = OLD.workspace_id AND OLD.blob_key IS NOT NULL;
END;

-- Ingestion sets every aggregate column on each update: this is the trigger on its hot path.
CREATE TRIGGER sessions_rollup_totals AFTER UPDATE OF event_count, engagement_score, duration_ms, vpn_suspected
ON sessions
BEGIN
  UPDATE rollup_workspace SET events = events + NEW.event_count - OLD.event_count,
      engagement_sum = engagement_sum + NEW.engagement_score - OLD.engagement_score,
      duration_ms_sum = duration_ms_sum + NEW.duration_ms - OLD.duration_ms,
      vpn_sessions = vpn_sessions + (NEW.vpn_suspected != 0) - (OLD.vpn_suspected != 0)
    WHERE workspace_id = NEW.workspace_id;
  -- A session that changed day is moved whole by sessions_rollup_day_moved.
  UPDATE rollup_day SET engagement_sum = engagement_sum + NEW.engagement_score - OLD.engagement_score,
      duration_ms_sum = duration_ms_sum + NEW.duration_ms - OLD.duration_ms
    WHERE workspace_id = NEW.workspace_id AND day = NEW.started_at / 86400000
      AND OLD.started_at / 86400000 = NEW.started_at / 86400000;
END;

CREATE TRIGGER sessions_rollup_day_moved AFTER UPDATE OF started_at, visitor_id ON sessions
WHEN OLD.started_at / 86400000 != NEW.started_at / 86400000 OR OLD.visitor_id != NEW.visitor_id
BEGIN
  UPDATE rollup_day SET sessions = sessions - 1, engagement_sum = engagement_sum - OLD.engagement_score,
      duration_ms_sum = duration_ms_sum - OLD.duration_ms
    WHERE workspace_id = OLD.workspace_id AND day = OLD.started_at / 86400000
      AND OLD.started_at / 86400000 != NEW.started_at / 86400000;
  INSERT INTO rollup_day (workspace_id, day, sessions, engagement_sum, duration_ms_sum)
    SELECT NEW.workspace_id, NEW.started_at / 86400000, 1, NEW.engagement_score, NEW.duration_ms
    WHERE OLD.started_at / 86400000 != NEW.started_at / 86400000
    ON CONFLICT (workspace_id, day) DO UPDATE SET sessions = sessions + 1,
      engagement_sum = engagement_sum + excluded.engagement_sum,
      duration_ms_sum = duration_ms_sum + excluded.duration_ms_sum;
  DELETE FROM rollup_day_visitor
    WHERE workspace_id = OLD.workspace_id AND day = OLD.started_at / 86400000 AND visitor_id = OLD.visitor_id
      AND NOT EXISTS (SELECT 1 FROM sessions WHERE workspace_id = OLD.workspace_id AND visitor_id = OLD.visitor_id
        AND started_at >= OLD.started_at / 86400000 * 86400000 AND started_at < (OLD.started_at / 86400000 + 1) * 86400000);
  UPDATE rollup_day SET visitors = visitors - 1
    WHERE workspace_id = OLD.workspace_id AND day = OLD.started_at / 86400000 AND changes() > 0;
  INSERT OR IGNORE INTO rollup_day_visitor (workspace_id, day, visitor_id)
    VALUES (NEW.workspace_id, NEW.started_at / 86400000, NEW.visitor_id);
  UPDATE rollup_day SET visitors = visitors + 1
    WHERE workspace_id = NEW.workspace_id AND day = NEW.started_at / 86400000 AND changes() > 0;
END;

CREATE TRIGGER sessions_rollup_visitor_moved AFTER UPDATE OF visitor_id ON sessions
WHEN OLD.visitor_id != NEW.visitor_id
BEGIN
  DELETE FROM rollup_visitor WHERE workspace_id = OLD.workspace_id AND visitor_id = OLD.visitor_id
    AND NOT EXISTS (SELECT 1 FROM sessions WHERE workspace_id = OLD.workspace_id AND visitor_id = OLD.visitor_id);
  UPDATE rollup_workspace SET visitors = visitors - 1 WHERE workspace_id = OLD.workspace_id AND changes() > 0;
  INSERT OR IGNORE INTO rollup_visitor (workspace_id, visitor_id) VALUES (NEW.workspace_id, NEW.visitor_id);
  UPDATE rollup_workspace SET visitors = visitors + 1 WHERE workspace_id = NEW.workspace_id AND changes() > 0;
END;

CREATE TRIGGER sessions_rollup_fingerprint_moved AFTER UPDATE OF fingerprint ON sessions
WHEN OLD.fingerprint IS NOT NEW.fingerprint
BEGIN
  UPDATE rollup_fingerprint SET sessions = sessions - 1
    WHERE workspace_id = OLD.workspace_id AND fingerprint = OLD.fingerprint;
  DELETE FROM rollup_fingerprint WHERE workspace_id = OLD.workspace_id AND fingerprint = OLD.fingerprint
    AND sessions <= 0;
  UPDATE rollup_workspace SET fingerprints = fingerprints - 1 WHERE workspace_id = OLD.workspace_id AND changes() > 0;
  INSERT OR IGNORE INTO rollup_fingerprint (workspace_id, fingerprint, sessions)
    SELECT NEW.workspace_id, NEW.fingerprint, 0 WHERE NEW.fingerprint IS NOT NULL;
  UPDATE rollup_workspace SET fingerprints = fingerprints + 1 WHERE workspace_id = NEW.workspace_id AND changes() > 0;
  UPDATE rollup_fingerprint SET sessions = sessions + 1
    WHERE workspace_id = NEW.workspace_id AND fingerprint = NEW.fingerprint;
END;

CREATE TRIGGER sessions_rollup_country_moved AFTER UPDATE OF country, visitor_id ON sessions
WHEN OLD.country IS NOT NEW.country OR OLD.visitor_id != NEW.visitor_id
BEGIN
  UPDATE rollup_country SET sessions = sessions - 1
    WHERE workspace_id = OLD.workspace_id AND country = coalesce(OLD.country, '') AND OLD.country IS NOT NEW.country;
  INSERT INTO rollup_country (workspace_id, country, sessions)
    SELECT NEW.workspace_id, coalesce(NEW.country, ''), 1 WHERE OLD.country IS NOT NEW.country
    ON CONFLICT (workspace_id, country) DO UPDATE SET sessions = sessions + 1;
  DELETE FROM rollup_country_visitor
    WHERE workspace_id = OLD.workspace_id AND country = coalesce(OLD.country, '') AND visitor_id = OLD.visitor_id
      AND NOT EXISTS (SELECT 1 FROM sessions WHERE workspace_id = OLD.workspace_id AND visitor_id = OLD.visitor_id
        AND coalesce(country, '') = coalesce(OLD.country, ''));
  UPDATE rollup_country SET visitors = visitors - 1
    WHERE workspace_id = OLD.workspace_id AND country = coalesce(OLD.country, '') AND changes() > 0;
  INSERT OR IGNORE INTO rollup_country_visitor (workspace_id, country, visitor_id)
    VALUES (NEW.workspace_id, coalesce(NEW.country, ''), NEW.visitor_id);
  UPDATE rollup_country SET visitors = visitors + 1
    WHERE workspace_id = NEW.workspace_id AND country = coalesce(NEW.country, '') AND changes() > 0;
END;

CREATE TRIGGER sessions_rollup_referrer_moved AFTER UPDATE OF referrer_domain ON sessions
WHEN OLD.referrer_domain IS NOT NEW.referrer_domain
BEGIN
  UPDATE rollup_referrer SET sessions = sessions - 1
    WHERE workspace_id = OLD.workspace_id AND referrer_domain = OLD.referrer_domain;
  INSERT INTO rollup_referrer (workspace_id, referrer_domain, sessions) VALUES (NEW.workspace_id, NEW.referrer_domain, 1)
    ON CONFLICT (workspace_id, referrer_domain) DO UPDATE SET sessions = sessions + 1;
END;

CREATE TRIGGER sessions_rollup_score_moved AFTER UPDATE OF ended_at, engagement_score ON sessions
WHEN (OLD.ended_at IS NULL) != (NEW.ended_at IS NULL)
  OR (NEW.ended_at IS NOT NULL AND OLD.engagement_score != NEW.engagement_score)
BEGIN
  UPDATE rollup_score SET sessions = sessions - 1
    WHERE workspace_id = OLD.workspace_id AND score = OLD.engagement_score AND OLD.ended_at IS NOT NULL;
  INSERT INTO rollup_score (workspace_id, score, sessions)
    SELECT NEW.workspace_id, NEW.engagement_score, 1 WHERE NEW.ended_at IS NOT NULL
    ON CONFLICT (workspace_id, score) DO UPDATE SET sessions = sessions + 1;
END;

-- A blob written again under a new key is assumed to replace the old one; a reconciliation
-- pass counts any copy left behind.
CREATE TRIGGER sessions_storage_moved AFTER UPDATE OF blob_key ON sessions
WHEN (OLD.blob_key IS NULL) != (NEW.blob_key IS NULL)
BEGIN
  INSERT INTO storage_objects (workspace_id, objects, sessions)
    VALUES (NEW.workspace_id, (NEW.blob_key IS NOT NULL) - (OLD.blob_key IS NOT NULL),
            (NEW.blob_key IS NOT NULL) - (OLD.blob_key IS NOT NULL))
    ON CONFLICT (workspace_id) DO UPDATE SET objects = objects + excluded.objects,
      sessions = sessions + excluded.sessions;
END;

-- Events ---------------------------------------------------------------------------------

CREATE TRIGGER events_rollup_page_view AFTER INSERT ON events WHEN NEW.type = 'page_view'
BEGIN
  INSERT OR IGNORE INTO rollup_page_session (workspace_id, session_id, page)
    VALUES (NEW.workspace_id, NEW.session_id, coalesce(NEW.url, ''));
  INSERT INTO rollup_page (workspace_id, page, views, sessions) VALUES (NEW.workspace_id, coalesce(NEW.url, ''), 1, changes())
    ON CONFLICT (workspace_id, page) DO UPDATE SET views = views + 1, sessions = sessions + excluded.sessions;
END;

-- Follow-ups: a change recounts the lead from its own rows (a few, through the lead indexes).

CREATE TRIGGER messages_follow_ups_insert AFTER INSERT ON messages
WHEN NEW.lead_id IS NOT NULL AND NEW.direction = 'outbound'
BEGIN
  INSERT OR REPLACE INTO lead_follow_ups (lead_id, follow_ups, last_follow_up_at)
    SELECT * FROM (
      SELECT NEW.lead_id AS lead_id, count(*), max(at) FROM (
        SELECT created_at AS at FROM messages
        WHERE lead_id = NEW.lead_id AND direction = 'outbound' AND draft_state IS NOT 'rejected'
        UNION ALL
        SELECT created_at FROM action_logs WHERE lead_id = NEW.lead_id AND is_follow_up != 0))
    WHERE lead_id IS NOT NULL;
END;

CREATE TRIGGER messages_follow_ups_update AFTER UPDATE OF lead_id, direction, draft_state, created_at ON messages
BEGIN
  INSERT OR REPLACE INTO lead_follow_ups (lead_id, follow_ups, last_follow_up_at)
    SELECT * FROM (
      SELECT OLD.lead_id AS lead_id, count(*), max(at) FROM (
        SELECT created_at AS at FROM messages
        WHERE lead_id = OLD.lead_id AND direction = 'outbound' AND draft_state IS NOT 'rejected'
        UNION ALL
        SELECT created_at FROM action_logs WHERE lead_id = OLD.lead_id AND is_follow_up != 0))
    WHERE lead_id IS NOT NULL;
  INSERT OR REPLACE INTO lead_follow_ups (lead_id, follow_ups, last_follow_up_at)
    SELECT * FROM (
      SELECT NEW.lead_id AS lead_id, count(*), max(at) FROM (
        SELECT created_at AS at FROM messages
        WHERE lead_id = NEW.lead_id AND direction = 'outbound' AND draft_state IS NOT 'rejected'
        UNION ALL
        SELECT created_at FROM action_logs WHERE lead_id = NEW.lead_id AND is_follow_up != 0))
    WHERE lead_id IS NOT NULL;
END;

CREATE TRIGGER messages_follow_ups_delete AFTER DELETE ON messages
WHEN OLD.lead_id IS NOT NULL AND OLD.direction = 'outbound'
BEGIN
  INSERT OR REPLACE INTO lead_follow_ups (lead_id, follow_ups, last_follow_up_at)
    SELECT * FROM (
      SELECT OLD.lead_id AS lead_id, count(*), max(at) FROM (
        SELECT created_at AS at FROM messages
        WHERE lead_id = OLD.lead_id AND direction = 'outbound' AND draft_state IS NOT 'rejected'
        UNION ALL
        SELECT created_at FROM action_logs WHERE lead_id = OLD.lead_id AND is_follow_up != 0))
    WHERE lead_id IS NOT NULL;
END;

CREATE TRIGGER action_logs_follow_ups_insert AFTER INSERT ON action_logs WHEN NEW.is_follow_up != 0
BEGIN
  INSERT OR REPLACE INTO lead_follow_ups (lead_id, follow_ups, last_follow_up_at)
    SELECT * FROM (
      SELECT NEW.lead_id AS lead_id, count(*), max(at) FROM (
        SELECT created_at AS at FROM messages
        WHERE lead_id = NEW.lead_id AND direction = 'outbound' AND draft_state IS NOT 'rejected'
        UNION ALL
        SELECT created_at FROM action_logs WHERE lead_id = NEW.lead_id AND is_follow_up != 0))
    WHERE lead_id IS NOT NULL;
END;

CREATE TRIGGER action_logs_follow_ups_update AFTER UPDATE OF lead_id, is_follow_up, created_at ON action_logs
BEGIN
  INSERT OR REPLACE INTO lead_follow_ups (lead_id, follow_ups, last_follow_up_at)
    SELECT * FROM (
      SELECT OLD.lead_id AS lead_id, count(*), max(at) FROM (
        SELECT created_at AS at FROM messages
        WHERE lead_id = OLD.lead_id AND direction = 'outbound' AND draft_state IS NOT 'rejected'
        UNION ALL
        SELECT created_at FROM action_logs WHERE lead_id = OLD.lead_id AND is_follow_up != 0))
    WHERE lead_id IS NOT NULL;
  INSERT OR REPLACE INTO lead_follow_ups (lead_id, follow_ups, last_follow_up_at)
    SELECT * FROM (
      SELECT NEW.lead_id AS lead_id, count(*), max(at) FROM (
        SELECT created_at AS at FROM messages
        WHERE lead_id = NEW.lead_id AND direction = 'outbound' AND draft_state IS NOT 'rejected'
        UNION ALL
        SELECT created_at FROM action_logs WHERE lead_id = NEW.lead_id AND is_follow_up != 0))
    WHERE lead_id IS NOT NULL;
END;

CREATE TRIGGER action_logs_follow_ups_delete AFTER DELETE ON action_logs WHEN OLD.is_follow_up != 0
BEGIN
  INSERT OR REPLACE INTO lead_follow_ups (lead_id, follow_ups, last_follow_up_at)
    SELECT * FROM (
      SELECT OLD.lead_id AS lead_id, count(*), max(at) FROM (
        SELECT created_at AS at FROM messages
        WHERE lead_id = OLD.lead_id AND direction = 'outbound' AND draft_state IS NOT 'rejected'
        UNION ALL
        SELECT created_at FROM action_logs WHERE lead_id = OLD.lead_id AND is_follow_up != 0))
    WHERE lead_id IS NOT NULL;
END;
