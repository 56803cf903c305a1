-- Migration number: 0003 	 2026-11-25T09:50:01.474Z
-- A lead's engagement follows every visitor that submitted its forms, not only its latest one:
-- ingestion finds those leads by (workspace_id, visitor_id) on submissions.
CREATE INDEX submissions_visitor ON submissions(workspace_id, visitor_id);
