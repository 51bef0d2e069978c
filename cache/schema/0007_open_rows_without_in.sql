-- 0007: the open-row predicate as OR terms instead of an IN list. SQLite evaluates a partial
-- index's WHERE on every insert and update of its table, and an IN list builds a temporary
-- b-tree each time it is evaluated (two per journal update); OR terms are compared in place.
-- The queries that use this index say the same predicate (journal.c, OPEN_STATE).
DROP INDEX journal_open;
CREATE INDEX journal_open ON journal(visit_key, ord, seq)
    WHERE state = 'queued' OR state = 'sent' OR state = 'unknown';
