-- Migration number: 0015 	 2026-12-08T04:00:00.000Z
-- The page rule moves from the generated column events.page to the ingestion writer
-- (domain/page_views.py's page_of, held equal to migration 0012's rule by a test). The writer
-- counts a group's page views from the events it already holds, with one statement for the
-- group's new session-page pairs and one upsert per page, instead of two statements that joined
-- each new row back to its session and computed its page twice. Nothing else read the column.
-- A VIRTUAL column is not stored, so dropping it rewrites no row.
ALTER TABLE events DROP COLUMN page;
