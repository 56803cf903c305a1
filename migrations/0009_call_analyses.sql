-- Migration number: 0009 	 2026-12-02T05:00:00.000Z
-- Call recordings and their analyses (call-analyses-api.md; domain/calls.py, call_processing.py).
--
-- The analyses table of 0001 was a placeholder that nothing wrote, so it is rebuilt: the
-- record as the document shows it, the processing queue (a lease per runner, so a crash
-- mid-processing is taken again by the cron handler), and the webhook's delivery state.
DROP INDEX analyses_created;
DROP TABLE analyses;

CREATE TABLE analyses (
  id TEXT PRIMARY KEY,                                    -- a UUID
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  lead_id INTEGER REFERENCES leads(lead_id),              -- the lead contact_id names, if any
  created_at INTEGER NOT NULL,                            -- epoch ms of the upload
  status TEXT NOT NULL CHECK (status IN ('processing', 'completed', 'failed')),
  livemode INTEGER NOT NULL DEFAULT 0 CHECK (livemode IN (0, 1)),
  agent_id TEXT NOT NULL,
  contact_id TEXT NOT NULL,
  duration_ms INTEGER,
  audio_key TEXT NOT NULL,                                -- in the RECORDINGS bucket
  audio_size INTEGER NOT NULL,
  audio_format TEXT NOT NULL CHECK (audio_format IN ('wav', 'mp3')),
  transcript_upload TEXT,                                 -- JSON segments sent with the audio
  transcript TEXT,                                        -- JSON {text, segments, language}
  results TEXT,                                           -- JSON {compliance, quality, coaching}
  webhook_url TEXT,
  completed_at INTEGER,
  processing_time_ms INTEGER,
  error_message TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,                    -- processing runs started
  lease_until INTEGER,                                    -- a runner owns a processing row until then
  webhook_state TEXT CHECK (webhook_state IN ('pending', 'delivered', 'failed')),
  webhook_attempts INTEGER NOT NULL DEFAULT 0,
  webhook_next_at INTEGER,
  webhook_last_error TEXT,
  webhook_delivered_at INTEGER
);
-- The list walks one of these newest first, whichever filter it has.
CREATE INDEX analyses_newest ON analyses(workspace_id, created_at DESC, id DESC);
CREATE INDEX analyses_agent ON analyses(workspace_id, agent_id, created_at DESC, id DESC);
CREATE INDEX analyses_contact ON analyses(workspace_id, contact_id, created_at DESC, id DESC);
CREATE INDEX analyses_status ON analyses(workspace_id, status, created_at DESC, id DESC);
CREATE INDEX analyses_lead ON analyses(lead_id) WHERE lead_id IS NOT NULL;
-- The cron handler's two queues: processing rows past their lease, webhooks due.
CREATE INDEX analyses_leases ON analyses(lease_until) WHERE status = 'processing';
CREATE INDEX analyses_webhooks_due ON analyses(webhook_next_at) WHERE webhook_state = 'pending';

-- Per-workspace analysis settings; no row means the defaults (domain/calls.py).
CREATE TABLE call_settings (
  workspace_id TEXT PRIMARY KEY REFERENCES workspaces(id),
  disclosures TEXT NOT NULL,                              -- JSON array of mandatory disclosure phrases
  updated_at INTEGER NOT NULL
);

-- Live and test keys: an analysis records the mode of the key that uploaded it. Keys made
-- before this migration are live.
ALTER TABLE api_keys ADD COLUMN livemode INTEGER NOT NULL DEFAULT 1 CHECK (livemode IN (0, 1));
