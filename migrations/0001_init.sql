-- Migration number: 0001 	 2026-11-25T06:40:00.000Z
-- One data model for every surface. Times are epoch milliseconds (INTEGER, UTC) in every
-- column named *_at or *_ms; each surface renders its own format.

CREATE TABLE workspaces (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
-- ANALYTICS_API_KEY authenticates as this workspace.
INSERT INTO workspaces (id, name, created_at) VALUES ('default', 'Default workspace', 0);

CREATE TABLE api_keys (
  id INTEGER PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  name TEXT NOT NULL DEFAULT '',
  prefix TEXT NOT NULL,
  key_hash TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL,
  last_used_at INTEGER,
  revoked_at INTEGER
);
CREATE INDEX api_keys_workspace ON api_keys(workspace_id);

CREATE TABLE sites (
  id INTEGER PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  site_key TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL DEFAULT '',
  origins TEXT NOT NULL DEFAULT '[]',
  settings TEXT NOT NULL DEFAULT '{}',
  created_at INTEGER NOT NULL
);
CREATE INDEX sites_workspace ON sites(workspace_id);

-- Tracking -------------------------------------------------------------------------------

CREATE TABLE visitors (
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  visitor_id TEXT NOT NULL,
  fingerprint TEXT,
  first_seen_at INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL,
  session_count INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (workspace_id, visitor_id)
) WITHOUT ROWID;

CREATE TABLE sessions (
  id INTEGER PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  site_id INTEGER NOT NULL REFERENCES sites(id),
  session_id TEXT NOT NULL,
  visitor_id TEXT NOT NULL,
  fingerprint TEXT,
  started_at INTEGER NOT NULL,
  last_activity_at INTEGER NOT NULL,
  ended_at INTEGER,
  duration_ms INTEGER NOT NULL DEFAULT 0,
  entry_page TEXT,
  exit_page TEXT,
  referrer TEXT,
  referrer_domain TEXT NOT NULL DEFAULT '(direct)',
  utm_source TEXT,
  utm_medium TEXT,
  utm_campaign TEXT,
  utm_term TEXT,
  utm_content TEXT,
  country TEXT,
  city TEXT,
  timezone TEXT,
  language TEXT,
  device TEXT,
  browser TEXT,
  os TEXT,
  page_views INTEGER NOT NULL DEFAULT 0,
  event_count INTEGER NOT NULL DEFAULT 0,
  clicks INTEGER NOT NULL DEFAULT 0,
  form_submits INTEGER NOT NULL DEFAULT 0,
  max_scroll INTEGER NOT NULL DEFAULT 0,
  active_ms INTEGER NOT NULL DEFAULT 0,
  engagement_score INTEGER NOT NULL DEFAULT 0,
  vpn_suspected INTEGER NOT NULL DEFAULT 0,
  blob_key TEXT,
  archived_at INTEGER,
  UNIQUE (workspace_id, session_id)
);
CREATE INDEX sessions_started ON sessions(workspace_id, started_at);
CREATE INDEX sessions_visitor ON sessions(workspace_id, visitor_id, started_at);
CREATE INDEX sessions_open ON sessions(ended_at, last_activity_at);
CREATE INDEX sessions_unarchived ON sessions(archived_at, ended_at);

CREATE TABLE events (
  id INTEGER PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  session_id TEXT NOT NULL,
  event_id TEXT NOT NULL,
  type TEXT NOT NULL CHECK (type IN ('page_view', 'click', 'scroll', 'engagement', 'form_submit')),
  url TEXT,
  ts INTEGER NOT NULL,
  received_at INTEGER NOT NULL,
  props TEXT NOT NULL DEFAULT '{}',
  UNIQUE (workspace_id, event_id)
);
CREATE INDEX events_session ON events(workspace_id, session_id, ts);
CREATE INDEX events_received ON events(workspace_id, received_at);

-- Counters the dashboard cannot afford to recount from raw rows.
CREATE TABLE bot_hits (
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  day TEXT NOT NULL,
  hits INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (workspace_id, day)
) WITHOUT ROWID;

-- Leads ----------------------------------------------------------------------------------

CREATE TABLE leads (
  lead_id INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  site_id INTEGER REFERENCES sites(id),
  status TEXT NOT NULL DEFAULT 'new'
    CHECK (status IN ('new', 'contacted', 'qualified', 'proposal', 'won', 'lost')),
  source TEXT NOT NULL DEFAULT 'website',
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  enquiry_at INTEGER,
  contact_name TEXT,
  first_name TEXT,
  last_name TEXT,
  email TEXT,
  email_norm TEXT,
  phone TEXT,
  phone_norm TEXT,
  business_name TEXT,
  website TEXT,
  project_name TEXT,
  project_location TEXT,
  project_source TEXT,
  country TEXT,
  city TEXT,
  visitor_id TEXT,
  session_id TEXT,
  engagement_score INTEGER NOT NULL DEFAULT 0,
  engagement_label TEXT NOT NULL DEFAULT 'Cold',
  form_submit_count INTEGER NOT NULL DEFAULT 0,
  suspicion_score INTEGER NOT NULL DEFAULT 0,
  activity_summary TEXT,
  assignee_type TEXT NOT NULL DEFAULT 'AI_AGENT',
  external_lead_id TEXT,
  external_portal_link TEXT,
  email_verified_at INTEGER,
  phone_verified_at INTEGER,
  submitted_at INTEGER,
  opted_out_at INTEGER,
  is_test INTEGER NOT NULL DEFAULT 0,
  deleted_at INTEGER
);
CREATE INDEX leads_created ON leads(workspace_id, created_at);
CREATE INDEX leads_email ON leads(workspace_id, email_norm);
CREATE INDEX leads_phone ON leads(workspace_id, phone_norm);
CREATE INDEX leads_visitor ON leads(workspace_id, visitor_id);
CREATE INDEX leads_status ON leads(workspace_id, status);

CREATE TABLE submissions (
  submission_id INTEGER PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  lead_id INTEGER NOT NULL REFERENCES leads(lead_id),
  site_id INTEGER REFERENCES sites(id),
  event_id TEXT,
  submitted_at INTEGER NOT NULL,
  session_id TEXT,
  visitor_id TEXT,
  fingerprint TEXT,
  contact_name TEXT,
  contact_email TEXT,
  contact_phone TEXT,
  contact_ip TEXT,
  project_name TEXT,
  source TEXT,
  referer TEXT,
  cta_name TEXT,
  fill_ms INTEGER,
  is_primary_lead INTEGER NOT NULL DEFAULT 0,
  is_duplicate_window INTEGER NOT NULL DEFAULT 0,
  payload_json TEXT NOT NULL DEFAULT '{}',
  UNIQUE (workspace_id, event_id)
);
CREATE INDEX submissions_lead ON submissions(lead_id, submitted_at);
CREATE INDEX submissions_fingerprint ON submissions(workspace_id, fingerprint);

-- Qualification ---------------------------------------------------------------------------

CREATE TABLE checklist_groups (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  name TEXT NOT NULL,
  position INTEGER NOT NULL DEFAULT 0,
  conditions TEXT
);

CREATE TABLE checklist_items (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  group_id TEXT REFERENCES checklist_groups(id),
  code TEXT NOT NULL,
  label TEXT NOT NULL,
  field_type TEXT NOT NULL DEFAULT 'TEXT',
  is_required INTEGER NOT NULL DEFAULT 0,
  conditions TEXT,
  validation_rules TEXT,
  position INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX checklist_items_group ON checklist_items(workspace_id, group_id, position);

CREATE TABLE lead_checklist_items (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  lead_id INTEGER NOT NULL REFERENCES leads(lead_id),
  checklist_item_id TEXT NOT NULL REFERENCES checklist_items(id),
  value TEXT,
  status TEXT NOT NULL DEFAULT 'TODO'
    CHECK (status IN ('TODO', 'COMPLETED', 'INVALID', 'SKIPPED', 'NEEDS_REVIEW')),
  source TEXT CHECK (source IN ('agent', 'imported', 'manual', 'portal')),
  item_override TEXT,
  updated_at INTEGER NOT NULL,
  UNIQUE (lead_id, checklist_item_id)
);

CREATE TABLE documents (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  lead_id INTEGER NOT NULL REFERENCES leads(lead_id),
  checklist_item_id TEXT REFERENCES checklist_items(id),
  r2_key TEXT NOT NULL,
  filename TEXT,
  content_type TEXT,
  size INTEGER,
  created_at INTEGER NOT NULL
);
CREATE INDEX documents_lead ON documents(lead_id);

CREATE TABLE action_logs (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  lead_id INTEGER NOT NULL REFERENCES leads(lead_id),
  type TEXT NOT NULL,
  status TEXT NOT NULL,
  summary TEXT,
  -- message_edit, message_reject, manual_update, document_override, escalation
  intervention TEXT,
  is_follow_up INTEGER NOT NULL DEFAULT 0,
  data TEXT,
  scheduled_for INTEGER,
  created_at INTEGER NOT NULL
);
CREATE INDEX action_logs_lead ON action_logs(lead_id, created_at);

-- Messaging -------------------------------------------------------------------------------

CREATE TABLE campaigns (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  name TEXT NOT NULL,
  created_at INTEGER NOT NULL
);

CREATE TABLE lines (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  name TEXT NOT NULL,
  address TEXT NOT NULL
);

CREATE TABLE messages (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  lead_id INTEGER REFERENCES leads(lead_id),
  contact TEXT NOT NULL,
  channel TEXT NOT NULL CHECK (channel IN ('sms', 'email', 'whatsapp', 'imessage')),
  direction TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
  status TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'delivered', 'fallback', 'failed', 'received')),
  fallback_sms_dispatched INTEGER NOT NULL DEFAULT 0,
  campaign_id TEXT REFERENCES campaigns(id),
  line_id TEXT REFERENCES lines(id),
  user_id TEXT,
  draft_state TEXT CHECK (draft_state IN ('edited', 'rejected')),
  body TEXT,
  created_at INTEGER NOT NULL
);
CREATE INDEX messages_lead ON messages(lead_id, created_at);
CREATE INDEX messages_workspace ON messages(workspace_id, created_at);

CREATE TABLE conversation_tags (
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  contact TEXT NOT NULL,
  tag TEXT NOT NULL,
  PRIMARY KEY (workspace_id, contact, tag)
) WITHOUT ROWID;

-- Calls -----------------------------------------------------------------------------------

CREATE TABLE analyses (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  lead_id INTEGER REFERENCES leads(lead_id),
  created_at INTEGER NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('processing', 'completed', 'failed')),
  livemode INTEGER NOT NULL DEFAULT 0,
  agent_id TEXT,
  contact_id TEXT,
  duration_ms INTEGER,
  audio_key TEXT,
  audio_size INTEGER,
  audio_format TEXT,
  transcript TEXT,
  results TEXT,
  webhook_url TEXT,
  completed_at INTEGER,
  processing_time_ms INTEGER,
  error_message TEXT
);
CREATE INDEX analyses_created ON analyses(workspace_id, created_at);

-- Exports ---------------------------------------------------------------------------------

CREATE TABLE exports (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  r2_key TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX exports_expiry ON exports(expires_at);
