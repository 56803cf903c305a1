-- Migration number: 0005 	 2026-12-02T04:00:00.000Z
-- A page is its URL without the query string and the fragment, so a campaign link
-- (https://example.com/pricing?utm_source=x) counts as the page it leads to. A fragment that is
-- a route (#/... or #!..., as single-page apps use them) stays part of the page, as the snippet
-- already treats it (a new route is a new page view):
--
--   https://example.com/pricing?utm_source=x    -> https://example.com/pricing
--   https://example.com/pricing#faq             -> https://example.com/pricing
--   https://example.com/app?x=1#/plans?tab=2    -> https://example.com/app#/plans?tab=2
--
-- The rule is defined once, as the view page_of: it maps each URL of a JSON array (urls) to
-- its page, so `SELECT page FROM page_of WHERE urls = json_array(url)` is "the page of url" for
-- one URL (the trigger below) or a column of them (the merge below). Raw event rows keep
-- their URLs as sent; only the page rollups change.

CREATE VIEW page_of (urls, url, page) AS
  SELECT urls, url,
         substr(head, 1, CASE instr(head, '?') WHEN 0 THEN length(head) ELSE instr(head, '?') - 1 END)
         || CASE WHEN substr(fragment, 2, 1) IN ('/', '!') THEN fragment ELSE '' END
  FROM (SELECT json AS urls, value AS url,
               CASE instr(value, '#') WHEN 0 THEN value ELSE substr(value, 1, instr(value, '#') - 1) END AS head,
               CASE instr(value, '#') WHEN 0 THEN '' ELSE substr(value, instr(value, '#')) END AS fragment
        FROM json_each);

-- Old rows merged by the rule: a session that viewed /pricing and /pricing?utm_source=x viewed
-- one page once; views add up; unique sessions are counted again from the merged sessions.

CREATE TABLE page_merge_session (
  workspace_id TEXT NOT NULL,
  session_id TEXT NOT NULL,
  page TEXT NOT NULL,
  PRIMARY KEY (workspace_id, session_id, page)
) WITHOUT ROWID;
INSERT OR IGNORE INTO page_merge_session (workspace_id, session_id, page)
  SELECT s.workspace_id, s.session_id, p.page FROM rollup_page_session s JOIN page_of p ON p.urls = json_array(s.page);

CREATE TABLE page_merge (
  workspace_id TEXT NOT NULL,
  page TEXT NOT NULL,
  views INTEGER NOT NULL,
  PRIMARY KEY (workspace_id, page)
) WITHOUT ROWID;
INSERT INTO page_merge (workspace_id, page, views)
  SELECT r.workspace_id, p.page, sum(r.views) FROM rollup_page r JOIN page_of p ON p.urls = json_array(r.page)
  GROUP BY r.workspace_id, p.page;

DELETE FROM rollup_page_session;
INSERT INTO rollup_page_session (workspace_id, session_id, page)
  SELECT workspace_id, session_id, page FROM page_merge_session;
DELETE FROM rollup_page;
INSERT INTO rollup_page (workspace_id, page, views, sessions)
  SELECT m.workspace_id, m.page, m.views, coalesce(c.sessions, 0) FROM page_merge m
  LEFT JOIN (SELECT workspace_id, page, count(*) AS sessions FROM page_merge_session GROUP BY workspace_id, page) c
    ON c.workspace_id = m.workspace_id AND c.page = m.page;
DROP TABLE page_merge;
DROP TABLE page_merge_session;

-- New page views, by the same rule (migration 0002's trigger, keyed by page instead of URL).
DROP TRIGGER events_rollup_page_view;
CREATE TRIGGER events_rollup_page_view AFTER INSERT ON events WHEN NEW.type = 'page_view'
BEGIN
  INSERT OR IGNORE INTO rollup_page_session (workspace_id, session_id, page)
    SELECT NEW.workspace_id, NEW.session_id, page FROM page_of WHERE urls = json_array(coalesce(NEW.url, ''));
  INSERT INTO rollup_page (workspace_id, page, views, sessions)
    SELECT NEW.workspace_id, page, 1, changes() FROM page_of WHERE urls = json_array(coalesce(NEW.url, ''))
    ON CONFLICT (workspace_id, page) DO UPDATE SET views = views + 1, sessions = sessions + excluded.sessions;
END;
