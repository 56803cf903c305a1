-- Migration number: 0013 	 2026-12-07T04:00:00.000Z
-- Page views are rolled up once per ingestion group instead of once per row. The page-view
-- trigger ran a trigger program for every event inserted (its WHEN clause is evaluated inside
-- it) and wrote a session-page pair keyed by the session's text id, which lands on a random
-- b-tree page; it goes. The writer now counts a group's page views with domain/page_views.py's
-- two statements after the group's sessions are written: one upsert per page of the group,
-- then the group's new session-page pairs.
--
-- The pairs are keyed by sessions.id, which grows with each new session, so a group's pairs land
-- next to each other at the b-tree's right edge (a new session) or among recent sessions' pairs,
-- not on random pages. Pairs of a session whose row is gone (there is no such path but direct
-- SQL) are dropped: its page views stay counted in rollup_page, as they were.
DROP TRIGGER events_rollup_page_view;

CREATE TABLE rollup_session_page (
  session INTEGER NOT NULL,  -- sessions.id
  page TEXT NOT NULL,
  PRIMARY KEY (session, page)
) WITHOUT ROWID;

INSERT INTO rollup_session_page (session, page)
  SELECT s.id, p.page FROM rollup_page_session p JOIN sessions s USING (workspace_id, session_id) ORDER BY 1, 2;

DROP TABLE rollup_page_session;
