-- Migration number: 0008 	 2026-12-04T09:00:00.000Z
-- Campaign messaging: campaigns and sender lines (kept from 0001, now indexed), conversation tags
-- keyed by lead, and the rollups that answer GET /api/analytics without scanning messages.
--
-- The metrics are defined in domain/campaigns.py; this file keeps the counts they read exact on
-- every write path (the messaging API, the lead records surface, direct SQL), as 0002 does for
-- the dashboard. Messages are counted per "grouping": which of campaign, line and user a filter
-- fixes (campaign_groupings, 8 rows); a message is counted once in each grouping whose fixed
-- columns it has. A column a grouping does not fix is stored as '' (a key cannot hold NULL).
-- Time is bucketed by `span`: UTC days (86400000 ms) in every grouping, and also UTC hours
-- (3600000 ms) in grouping 0, the unfiltered one, whose partial days would otherwise be the
-- largest read; a bucket is created_at / span.
--
-- campaign_counts: per grouping, key and bucket, the additive counts: sent (outbound, status sent
--   or delivered), fallback (outbound, status fallback or fallback_sms_dispatched), failed
--   (outbound, status failed) and replied (inbound).
-- campaign_reach: the unique-by-contact counts. Each contact's messages of one kind (reached:
--   outbound sent or delivered; replied: inbound) within one grouping key form a chain ordered
--   by (created_at, id). Every message is counted under its bucket and the bucket of the message
--   before it in its chain (prev_bucket, -1 when it is the first). The contacts with a message in
--   buckets [A, B] are then the messages of those buckets whose prev_bucket < A: each contact is
--   counted once, by its first message in the window. `positive` is the contact's flag below.
-- campaign_reply_contacts: per contact with replies, `positive` = one of its inbound messages
--   belongs to a lead whose conversation carries a positive tag.
--
-- Triggers on messages copy each change (the old row with sign -1, the new row with +1) into
-- campaign_changes, whose trigger applies it and deletes it, so the chain arithmetic is written
-- once. A change is applied against the table without the message itself (every chain lookup
-- skips its id), which is the state before an insert and after a delete. Contacts whose
-- positive flag may have moved are queued in campaign_recounts and recounted last.

CREATE INDEX campaigns_workspace ON campaigns(workspace_id, created_at);
ALTER TABLE lines ADD COLUMN created_at INTEGER NOT NULL DEFAULT 0;
CREATE INDEX lines_workspace ON lines(workspace_id, created_at);

-- The placeholder of 0001 was keyed by contact; a conversation is with a lead.
DROP TABLE conversation_tags;
CREATE TABLE conversation_tags (
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  lead_id INTEGER NOT NULL REFERENCES leads(lead_id),
  tag TEXT NOT NULL COLLATE NOCASE,
  -- The positive tags of campaign-analytics-api.md, matched case-insensitively and exactly.
  positive INTEGER GENERATED ALWAYS AS (lower(tag) IN ('interested', 'to respond', 'to-answer', 'to_answer')) VIRTUAL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (lead_id, tag)
) WITHOUT ROWID;

-- Partial-day edges of a window read messages by the filter's column and time.
CREATE INDEX messages_campaign ON messages(workspace_id, campaign_id, created_at) WHERE campaign_id IS NOT NULL;
CREATE INDEX messages_line ON messages(workspace_id, line_id, created_at) WHERE line_id IS NOT NULL;
CREATE INDEX messages_user ON messages(workspace_id, user_id, created_at) WHERE user_id IS NOT NULL;

CREATE TABLE campaign_groupings (
  grp INTEGER PRIMARY KEY,  -- by_campaign + 2 * by_line + 4 * by_user
  by_campaign INTEGER NOT NULL,
  by_line INTEGER NOT NULL,
  by_user INTEGER NOT NULL
);
INSERT INTO campaign_groupings VALUES (0, 0, 0, 0), (1, 1, 0, 0), (2, 0, 1, 0), (3, 1, 1, 0), (4, 0, 0, 1),
  (5, 1, 0, 1), (6, 0, 1, 1), (7, 1, 1, 1);

-- The spans each grouping is bucketed by.
CREATE TABLE campaign_spans (
  grp INTEGER NOT NULL REFERENCES campaign_groupings(grp),
  span INTEGER NOT NULL,
  PRIMARY KEY (grp, span)
);
INSERT INTO campaign_spans SELECT grp, 86400000 FROM campaign_groupings;
INSERT INTO campaign_spans VALUES (0, 3600000);

CREATE TABLE campaign_counts (
  workspace_id TEXT NOT NULL,
  grp INTEGER NOT NULL,
  campaign_id TEXT NOT NULL,
  line_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  span INTEGER NOT NULL,
  bucket INTEGER NOT NULL,
  sent INTEGER NOT NULL DEFAULT 0,
  fallback INTEGER NOT NULL DEFAULT 0,
  failed INTEGER NOT NULL DEFAULT 0,
  replied INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (workspace_id, grp, campaign_id, line_id, user_id, span, bucket)
) WITHOUT ROWID;

CREATE TABLE campaign_reach (
  workspace_id TEXT NOT NULL,
  grp INTEGER NOT NULL,
  campaign_id TEXT NOT NULL,
  line_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('reached', 'replied')),
  span INTEGER NOT NULL,
  bucket INTEGER NOT NULL,
  prev_bucket INTEGER NOT NULL,
  positive INTEGER NOT NULL,
  messages INTEGER NOT NULL,
  PRIMARY KEY (workspace_id, grp, campaign_id, line_id, user_id, kind, span, bucket, prev_bucket, positive)
) WITHOUT ROWID;
-- Hours by the hour of the message before: the messages of whole days whose predecessor fell on
-- the window's first day but before its first hour.
CREATE INDEX campaign_reach_prev ON campaign_reach(workspace_id, grp, campaign_id, line_id, user_id, kind, span,
                                                   prev_bucket, bucket) WHERE span = 3600000;

CREATE TABLE campaign_reply_contacts (
  workspace_id TEXT NOT NULL,
  contact_key TEXT NOT NULL,
  positive INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (workspace_id, contact_key)
) WITHOUT ROWID;

-- Work queues, empty outside a statement.
CREATE TABLE campaign_changes (
  workspace_id TEXT NOT NULL,
  id TEXT NOT NULL,
  contact_key TEXT NOT NULL,
  direction TEXT NOT NULL,
  status TEXT NOT NULL,
  fallback_sms_dispatched INTEGER NOT NULL,
  campaign_id TEXT,
  line_id TEXT,
  user_id TEXT,
  created_at INTEGER NOT NULL,
  sign INTEGER NOT NULL
);
CREATE TABLE campaign_recounts (
  workspace_id TEXT NOT NULL,
  contact_key TEXT NOT NULL
);

-- Apply one change: the additive counts, then the chains. For each grouping the row belongs to,
-- `link` finds the message before it (prev_at) and after it (next_at) in its chain. Adding a
-- message m between p and n counts m under (day m, day p) and moves n from (day n, day p) to
-- (day n, day m); removing it is the same with the signs turned.
CREATE TRIGGER campaign_changes_apply AFTER INSERT ON campaign_changes
BEGIN
  INSERT INTO campaign_counts (workspace_id, grp, campaign_id, line_id, user_id, span, bucket, sent, fallback, failed,
                               replied)
  SELECT NEW.workspace_id, g.grp,
         CASE WHEN g.by_campaign THEN NEW.campaign_id ELSE '' END,
         CASE WHEN g.by_line THEN NEW.line_id ELSE '' END,
         CASE WHEN g.by_user THEN NEW.user_id ELSE '' END,
         s.span, NEW.created_at / s.span,
         NEW.sign * (NEW.direction = 'outbound' AND NEW.status IN ('sent', 'delivered')),
         NEW.sign * (NEW.direction = 'outbound' AND (NEW.status = 'fallback' OR NEW.fallback_sms_dispatched != 0)),
         NEW.sign * (NEW.direction = 'outbound' AND NEW.status = 'failed'),
         NEW.sign * (NEW.direction = 'inbound')
  FROM campaign_groupings g JOIN campaign_spans s ON s.grp = g.grp
  WHERE (NEW.direction = 'inbound' OR NEW.status IN ('sent', 'delivered', 'fallback', 'failed')
         OR NEW.fallback_sms_dispatched != 0)
    AND (g.by_campaign = 0 OR NEW.campaign_id IS NOT NULL) AND (g.by_line = 0 OR NEW.line_id IS NOT NULL)
    AND (g.by_user = 0 OR NEW.user_id IS NOT NULL)
  ON CONFLICT DO UPDATE SET sent = sent + excluded.sent, fallback = fallback + excluded.fallback,
    failed = failed + excluded.failed, replied = replied + excluded.replied;

  INSERT INTO campaign_reply_contacts (workspace_id, contact_key)
  SELECT NEW.workspace_id, NEW.contact_key WHERE NEW.direction = 'inbound'
  ON CONFLICT DO NOTHING;

  INSERT INTO campaign_reach (workspace_id, grp, campaign_id, line_id, user_id, kind, span, bucket, prev_bucket,
                              positive, messages)
  SELECT NEW.workspace_id, link.grp, link.campaign_id, link.line_id, link.user_id, link.kind, s.span,
         CASE part WHEN 1 THEN NEW.created_at / s.span ELSE link.next_at / s.span END,
         CASE part WHEN 2 THEN NEW.created_at / s.span ELSE coalesce(link.prev_at / s.span, -1) END,
         link.positive, sum(CASE part WHEN 3 THEN -NEW.sign ELSE NEW.sign END)
  FROM (
    SELECT g.grp, k.kind,
           CASE WHEN g.by_campaign THEN NEW.campaign_id ELSE '' END AS campaign_id,
           CASE WHEN g.by_line THEN NEW.line_id ELSE '' END AS line_id,
           CASE WHEN g.by_user THEN NEW.user_id ELSE '' END AS user_id,
           CASE WHEN k.kind = 'replied' THEN coalesce((SELECT c.positive FROM campaign_reply_contacts c
             WHERE c.workspace_id = NEW.workspace_id AND c.contact_key = NEW.contact_key), 0) ELSE 0 END AS positive,
           max(CASE WHEN y.created_at < NEW.created_at OR (y.created_at = NEW.created_at AND y.id < NEW.id)
               THEN y.created_at END) AS prev_at,
           min(CASE WHEN y.created_at > NEW.created_at OR (y.created_at = NEW.created_at AND y.id > NEW.id)
               THEN y.created_at END) AS next_at
    FROM (SELECT CASE WHEN NEW.direction = 'inbound' THEN 'replied'
                      WHEN NEW.status IN ('sent', 'delivered') THEN 'reached' END AS kind) k
    CROSS JOIN campaign_groupings g
    -- The contact's other messages of the same kind, read once for all eight groupings.
    LEFT JOIN (SELECT y.id, y.created_at, y.campaign_id, y.line_id, y.user_id FROM messages y
               WHERE y.workspace_id = NEW.workspace_id AND y.contact_key = NEW.contact_key AND y.id != NEW.id
                 AND y.direction = NEW.direction AND (NEW.direction = 'inbound' OR y.status IN ('sent', 'delivered'))
               LIMIT -1) y
      ON (g.by_campaign = 0 OR y.campaign_id = NEW.campaign_id) AND (g.by_line = 0 OR y.line_id = NEW.line_id)
         AND (g.by_user = 0 OR y.user_id = NEW.user_id)
    WHERE k.kind IS NOT NULL
      AND (g.by_campaign = 0 OR NEW.campaign_id IS NOT NULL) AND (g.by_line = 0 OR NEW.line_id IS NOT NULL)
      AND (g.by_user = 0 OR NEW.user_id IS NOT NULL)
    GROUP BY g.grp
    LIMIT -1  -- one row per grouping, computed once: a subquery with LIMIT is not flattened into the join
  ) link
  JOIN campaign_spans s ON s.grp = link.grp
  CROSS JOIN (SELECT 1 AS part UNION ALL SELECT 2 UNION ALL SELECT 3) parts
  WHERE part = 1 OR link.next_at IS NOT NULL
  GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 HAVING sum(CASE part WHEN 3 THEN -NEW.sign ELSE NEW.sign END) != 0
  ON CONFLICT DO UPDATE SET messages = messages + excluded.messages;

  DELETE FROM campaign_changes WHERE rowid = NEW.rowid;
END;

-- Recount a contact's positive flag; when it moves, move each of its replies (in every grouping)
-- to the other side of `positive`.
CREATE TRIGGER campaign_recounts_apply AFTER INSERT ON campaign_recounts
BEGIN
  INSERT INTO campaign_reach (workspace_id, grp, campaign_id, line_id, user_id, kind, span, bucket, prev_bucket,
                              positive, messages)
  SELECT NEW.workspace_id, moved.grp, moved.campaign_id, moved.line_id, moved.user_id, 'replied', s.span,
         moved.created_at / s.span, coalesce(moved.prev_at / s.span, -1), flip.positive, sum(flip.sign)
  FROM (
    SELECT g.grp,
           CASE WHEN g.by_campaign THEN x.campaign_id ELSE '' END AS campaign_id,
           CASE WHEN g.by_line THEN x.line_id ELSE '' END AS line_id,
           CASE WHEN g.by_user THEN x.user_id ELSE '' END AS user_id,
           x.created_at,
           (SELECT max(y.created_at) FROM messages y
            WHERE y.workspace_id = x.workspace_id AND y.contact_key = x.contact_key AND y.id != x.id
              AND y.created_at <= x.created_at AND (y.created_at < x.created_at OR y.id < x.id)
              AND y.direction = 'inbound'
              AND (g.by_campaign = 0 OR y.campaign_id = x.campaign_id) AND (g.by_line = 0 OR y.line_id = x.line_id)
              AND (g.by_user = 0 OR y.user_id = x.user_id)) AS prev_at
    FROM messages x CROSS JOIN campaign_groupings g
    WHERE x.workspace_id = NEW.workspace_id AND x.contact_key = NEW.contact_key AND x.direction = 'inbound'
      AND (g.by_campaign = 0 OR x.campaign_id IS NOT NULL) AND (g.by_line = 0 OR x.line_id IS NOT NULL)
      AND (g.by_user = 0 OR x.user_id IS NOT NULL)
      AND (SELECT c.positive FROM campaign_reply_contacts c
           WHERE c.workspace_id = NEW.workspace_id AND c.contact_key = NEW.contact_key)
          != EXISTS (SELECT 1 FROM messages r JOIN conversation_tags t ON t.lead_id = r.lead_id AND t.positive
                     WHERE r.workspace_id = NEW.workspace_id AND r.contact_key = NEW.contact_key
                       AND r.direction = 'inbound' AND t.workspace_id = NEW.workspace_id)
    LIMIT -1
  ) moved
  JOIN campaign_spans s ON s.grp = moved.grp
  CROSS JOIN (SELECT c.positive, -1 AS sign FROM campaign_reply_contacts c
              WHERE c.workspace_id = NEW.workspace_id AND c.contact_key = NEW.contact_key
              UNION ALL
              SELECT 1 - c.positive, 1 FROM campaign_reply_contacts c
              WHERE c.workspace_id = NEW.workspace_id AND c.contact_key = NEW.contact_key) flip
  GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
  ON CONFLICT DO UPDATE SET messages = messages + excluded.messages;

  UPDATE campaign_reply_contacts SET positive = EXISTS (
    SELECT 1 FROM messages r JOIN conversation_tags t ON t.lead_id = r.lead_id AND t.positive
    WHERE r.workspace_id = NEW.workspace_id AND r.contact_key = NEW.contact_key AND r.direction = 'inbound'
      AND t.workspace_id = NEW.workspace_id)
  WHERE workspace_id = NEW.workspace_id AND contact_key = NEW.contact_key;

  DELETE FROM campaign_recounts WHERE rowid = NEW.rowid;
END;

CREATE TRIGGER messages_campaigns_insert AFTER INSERT ON messages
BEGIN
  INSERT INTO campaign_changes VALUES (NEW.workspace_id, NEW.id, NEW.contact_key, NEW.direction, NEW.status,
    NEW.fallback_sms_dispatched, NEW.campaign_id, NEW.line_id, NEW.user_id, NEW.created_at, 1);
  INSERT INTO campaign_recounts SELECT NEW.workspace_id, NEW.contact_key WHERE NEW.direction = 'inbound';
END;

CREATE TRIGGER messages_campaigns_update
AFTER UPDATE OF workspace_id, lead_id, contact_key, direction, status, fallback_sms_dispatched, campaign_id, line_id,
  user_id, created_at ON messages
BEGIN
  INSERT INTO campaign_changes VALUES (OLD.workspace_id, OLD.id, OLD.contact_key, OLD.direction, OLD.status,
    OLD.fallback_sms_dispatched, OLD.campaign_id, OLD.line_id, OLD.user_id, OLD.created_at, -1);
  INSERT INTO campaign_changes VALUES (NEW.workspace_id, NEW.id, NEW.contact_key, NEW.direction, NEW.status,
    NEW.fallback_sms_dispatched, NEW.campaign_id, NEW.line_id, NEW.user_id, NEW.created_at, 1);
  INSERT INTO campaign_recounts SELECT OLD.workspace_id, OLD.contact_key WHERE OLD.direction = 'inbound';
  INSERT INTO campaign_recounts SELECT NEW.workspace_id, NEW.contact_key WHERE NEW.direction = 'inbound';
END;

CREATE TRIGGER messages_campaigns_delete AFTER DELETE ON messages
BEGIN
  INSERT INTO campaign_changes VALUES (OLD.workspace_id, OLD.id, OLD.contact_key, OLD.direction, OLD.status,
    OLD.fallback_sms_dispatched, OLD.campaign_id, OLD.line_id, OLD.user_id, OLD.created_at, -1);
  INSERT INTO campaign_recounts SELECT OLD.workspace_id, OLD.contact_key WHERE OLD.direction = 'inbound';
END;

-- A lead's tags decide the positive flag of every contact that replied on it.
CREATE TRIGGER conversation_tags_insert AFTER INSERT ON conversation_tags WHEN NEW.positive
BEGIN
  INSERT INTO campaign_recounts SELECT DISTINCT workspace_id, contact_key FROM messages
  WHERE lead_id = NEW.lead_id AND direction = 'inbound';
END;

CREATE TRIGGER conversation_tags_delete AFTER DELETE ON conversation_tags WHEN OLD.positive
BEGIN
  INSERT INTO campaign_recounts SELECT DISTINCT workspace_id, contact_key FROM messages
  WHERE lead_id = OLD.lead_id AND direction = 'inbound';
END;

-- Messages written before this migration, counted the way the triggers count them. No tag exists
-- yet (the table is new), so no contact is positive.
INSERT INTO campaign_reply_contacts (workspace_id, contact_key)
SELECT workspace_id, contact_key FROM messages WHERE direction = 'inbound' GROUP BY workspace_id, contact_key;

INSERT INTO campaign_counts (workspace_id, grp, campaign_id, line_id, user_id, span, bucket, sent, fallback, failed,
                             replied)
SELECT m.workspace_id, g.grp,
       CASE WHEN g.by_campaign THEN m.campaign_id ELSE '' END, CASE WHEN g.by_line THEN m.line_id ELSE '' END,
       CASE WHEN g.by_user THEN m.user_id ELSE '' END, s.span, m.created_at / s.span,
       sum(m.direction = 'outbound' AND m.status IN ('sent', 'delivered')),
       sum(m.direction = 'outbound' AND (m.status = 'fallback' OR m.fallback_sms_dispatched != 0)),
       sum(m.direction = 'outbound' AND m.status = 'failed'), sum(m.direction = 'inbound')
FROM messages m CROSS JOIN campaign_groupings g JOIN campaign_spans s ON s.grp = g.grp
WHERE (m.direction = 'inbound' OR m.status IN ('sent', 'delivered', 'fallback', 'failed') OR m.fallback_sms_dispatched != 0)
  AND (g.by_campaign = 0 OR m.campaign_id IS NOT NULL) AND (g.by_line = 0 OR m.line_id IS NOT NULL)
  AND (g.by_user = 0 OR m.user_id IS NOT NULL)
GROUP BY 1, 2, 3, 4, 5, 6, 7;

INSERT INTO campaign_reach (workspace_id, grp, campaign_id, line_id, user_id, kind, span, bucket, prev_bucket,
                            positive, messages)
SELECT c.workspace_id, c.grp, c.campaign_id, c.line_id, c.user_id, c.kind, s.span, c.created_at / s.span,
       coalesce(c.prev_at / s.span, -1), 0, count(*)
FROM (
  SELECT workspace_id, grp, campaign_id, line_id, user_id, kind, created_at,
         lag(created_at) OVER (PARTITION BY workspace_id, grp, campaign_id, line_id, user_id, kind, contact_key
                               ORDER BY created_at, id) AS prev_at
  FROM (
    SELECT m.workspace_id, g.grp, m.contact_key, m.created_at, m.id,
           CASE WHEN g.by_campaign THEN m.campaign_id ELSE '' END AS campaign_id,
           CASE WHEN g.by_line THEN m.line_id ELSE '' END AS line_id,
           CASE WHEN g.by_user THEN m.user_id ELSE '' END AS user_id,
           CASE WHEN m.direction = 'inbound' THEN 'replied' ELSE 'reached' END AS kind
    FROM messages m CROSS JOIN campaign_groupings g
    WHERE (m.direction = 'inbound' OR m.status IN ('sent', 'delivered'))
      AND (g.by_campaign = 0 OR m.campaign_id IS NOT NULL) AND (g.by_line = 0 OR m.line_id IS NOT NULL)
      AND (g.by_user = 0 OR m.user_id IS NOT NULL)
  )
) c JOIN campaign_spans s ON s.grp = c.grp
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9;
