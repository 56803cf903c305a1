-- Migration number: 0011 	 2026-12-02T04:00:00.000Z
-- Deleting a site (`leadlight sites delete`) keeps its row: the sessions, submissions and leads
-- it collected still point at it, while its key stops being accepted (domain/sites.py reads only
-- rows whose deleted_at is NULL).
ALTER TABLE sites ADD COLUMN deleted_at INTEGER;
