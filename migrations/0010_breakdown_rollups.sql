-- Migration number: 0010 	 2026-12-02T02:30:00.000Z
-- Rollups for the breakdown endpoints (/analytics/devices, /analytics/campaigns/utm), so a
-- window of up to 90 days is read from at most 90 x (distinct values) small rows, never by
-- scanning sessions. Bot hits per day need nothing new: bot_hits is already that rollup.
--
-- One row per (workspace, dimension, UTC day of started_at, value) with the number of sessions.
-- The dimensions are the session columns device, browser, os, utm_source, utm_medium and
-- utm_campaign; a NULL value is stored as '' (a primary key cannot hold NULL). Ingestion sets
-- these columns when it inserts a session and never updates them, so its hot path (the
-- per-batch UPDATE of a session's aggregates) touches this table only when a late event moves
-- a session's start to another day; the update trigger also follows direct SQL and the CLI.
-- As in 0002, the backfill runs before the triggers exist, so nothing is counted twice.

CREATE TABLE rollup_day_dimension (
  workspace_id TEXT NOT NULL,
  dimension TEXT NOT NULL,
  day INTEGER NOT NULL,
  value TEXT NOT NULL,
  sessions INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (workspace_id, dimension, day, value)
) WITHOUT ROWID;

-- Backfill -------------------------------------------------------------------------------

INSERT INTO rollup_day_dimension (workspace_id, dimension, day, value, sessions)
  SELECT workspace_id, 'device', started_at / 86400000, coalesce(device, ''), count(*) FROM sessions
  GROUP BY workspace_id, started_at / 86400000, coalesce(device, '');
INSERT INTO rollup_day_dimension (workspace_id, dimension, day, value, sessions)
  SELECT workspace_id, 'browser', started_at / 86400000, coalesce(browser, ''), count(*) FROM sessions
  GROUP BY workspace_id, started_at / 86400000, coalesce(browser, '');
INSERT INTO rollup_day_dimension (workspace_id, dimension, day, value, sessions)
  SELECT workspace_id, 'os', started_at / 86400000, coalesce(os, ''), count(*) FROM sessions
  GROUP BY workspace_id, started_at / 86400000, coalesce(os, '');
INSERT INTO rollup_day_dimension (workspace_id, dimension, day, value, sessions)
  SELECT workspace_id, 'utm_source', started_at / 86400000, coalesce(utm_source, ''), count(*) FROM sessions
  GROUP BY workspace_id, started_at / 86400000, coalesce(utm_source, '');
INSERT INTO rollup_day_dimension (workspace_id, dimension, day, value, sessions)
  SELECT workspace_id, 'utm_medium', started_at / 86400000, coalesce(utm_medium, ''), count(*) FROM sessions
  GROUP BY workspace_id, started_at / 86400000, coalesce(utm_medium, '');
INSERT INTO rollup_day_dimension (workspace_id, dimension, day, value, sessions)
  SELECT workspace_id, 'utm_campaign', started_at / 86400000, coalesce(utm_campaign, ''), count(*) FROM sessions
  GROUP BY workspace_id, started_at / 86400000, coalesce(utm_campaign, '');

-- Triggers -------------------------------------------------------------------------------

CREATE TRIGGER sessions_dimensions_insert AFTER INSERT ON sessions
BEGIN
  INSERT INTO rollup_day_dimension (workspace_id, dimension, day, value, sessions)
    VALUES (NEW.workspace_id, 'device', NEW.started_at / 86400000, coalesce(NEW.device, ''), 1),
           (NEW.workspace_id, 'browser', NEW.started_at / 86400000, coalesce(NEW.browser, ''), 1),
           (NEW.workspace_id, 'os', NEW.started_at / 86400000, coalesce(NEW.os, ''), 1),
           (NEW.workspace_id, 'utm_source', NEW.started_at / 86400000, coalesce(NEW.utm_source, ''), 1),
           (NEW.workspace_id, 'utm_medium', NEW.started_at / 86400000, coalesce(NEW.utm_medium, ''), 1),
           (NEW.workspace_id, 'utm_campaign', NEW.started_at / 86400000, coalesce(NEW.utm_campaign, ''), 1)
    ON CONFLICT (workspace_id, dimension, day, value) DO UPDATE SET sessions = sessions + 1;
END;

CREATE TRIGGER sessions_dimensions_delete AFTER DELETE ON sessions
BEGIN
  UPDATE rollup_day_dimension SET sessions = sessions - 1 WHERE workspace_id = OLD.workspace_id
    AND dimension = 'device' AND day = OLD.started_at / 86400000 AND value = coalesce(OLD.device, '');
  UPDATE rollup_day_dimension SET sessions = sessions - 1 WHERE workspace_id = OLD.workspace_id
    AND dimension = 'browser' AND day = OLD.started_at / 86400000 AND value = coalesce(OLD.browser, '');
  UPDATE rollup_day_dimension SET sessions = sessions - 1 WHERE workspace_id = OLD.workspace_id
    AND dimension = 'os' AND day = OLD.started_at / 86400000 AND value = coalesce(OLD.os, '');
  UPDATE rollup_day_dimension SET sessions = sessions - 1 WHERE workspace_id = OLD.workspace_id
    AND dimension = 'utm_source' AND day = OLD.started_at / 86400000 AND value = coalesce(OLD.utm_source, '');
  UPDATE rollup_day_dimension SET sessions = sessions - 1 WHERE workspace_id = OLD.workspace_id
    AND dimension = 'utm_medium' AND day = OLD.started_at / 86400000 AND value = coalesce(OLD.utm_medium, '');
  UPDATE rollup_day_dimension SET sessions = sessions - 1 WHERE workspace_id = OLD.workspace_id
    AND dimension = 'utm_campaign' AND day = OLD.started_at / 86400000 AND value = coalesce(OLD.utm_campaign, '');
END;

-- A session that changed day or any of its values is moved whole: out of its old rows, into
-- its new ones. The WHEN clause keeps ingestion's per-batch updates (same day, same values) free.
CREATE TRIGGER sessions_dimensions_moved
AFTER UPDATE OF started_at, device, browser, os, utm_source, utm_medium, utm_campaign ON sessions
WHEN OLD.started_at / 86400000 != NEW.started_at / 86400000
  OR OLD.device IS NOT NEW.device OR OLD.browser IS NOT NEW.browser OR OLD.os IS NOT NEW.os
  OR OLD.utm_source IS NOT NEW.utm_source OR OLD.utm_medium IS NOT NEW.utm_medium
  OR OLD.utm_campaign IS NOT NEW.utm_campaign
BEGIN
  UPDATE rollup_day_dimension SET sessions = sessions - 1 WHERE workspace_id = OLD.workspace_id
    AND dimension = 'device' AND day = OLD.started_at / 86400000 AND value = coalesce(OLD.device, '');
  UPDATE rollup_day_dimension SET sessions = sessions - 1 WHERE workspace_id = OLD.workspace_id
    AND dimension = 'browser' AND day = OLD.started_at / 86400000 AND value = coalesce(OLD.browser, '');
  UPDATE rollup_day_dimension SET sessions = sessions - 1 WHERE workspace_id = OLD.workspace_id
    AND dimension = 'os' AND day = OLD.started_at / 86400000 AND value = coalesce(OLD.os, '');
  UPDATE rollup_day_dimension SET sessions = sessions - 1 WHERE workspace_id = OLD.workspace_id
    AND dimension = 'utm_source' AND day = OLD.started_at / 86400000 AND value = coalesce(OLD.utm_source, '');
  UPDATE rollup_day_dimension SET sessions = sessions - 1 WHERE workspace_id = OLD.workspace_id
    AND dimension = 'utm_medium' AND day = OLD.started_at / 86400000 AND value = coalesce(OLD.utm_medium, '');
  UPDATE rollup_day_dimension SET sessions = sessions - 1 WHERE workspace_id = OLD.workspace_id
    AND dimension = 'utm_campaign' AND day = OLD.started_at / 86400000 AND value = coalesce(OLD.utm_campaign, '');
  INSERT INTO rollup_day_dimension (workspace_id, dimension, day, value, sessions)
    VALUES (NEW.workspace_id, 'device', NEW.started_at / 86400000, coalesce(NEW.device, ''), 1),
           (NEW.workspace_id, 'browser', NEW.started_at / 86400000, coalesce(NEW.browser, ''), 1),
           (NEW.workspace_id, 'os', NEW.started_at / 86400000, coalesce(NEW.os, ''), 1),
           (NEW.workspace_id, 'utm_source', NEW.started_at / 86400000, coalesce(NEW.utm_source, ''), 1),
           (NEW.workspace_id, 'utm_medium', NEW.started_at / 86400000, coalesce(NEW.utm_medium, ''), 1),
           (NEW.workspace_id, 'utm_campaign', NEW.started_at / 86400000, coalesce(NEW.utm_campaign, ''), 1)
    ON CONFLICT (workspace_id, dimension, day, value) DO UPDATE SET sessions = sessions + 1;
END;
