-- 0009: the platform's answers move out of the journal row into a table of their own. SQLite
-- writes a whole record again when a row changes size, overflow pages and all: recording an
-- answer (8 KB for a 2204) in the row rewrote the request beside it (8 KB more) and freed
-- its old pages, a quarter of posad's WAL per settlement. Now the answer is written once and
-- the row's own update, its state and times, keeps its size and is overwritten in place.
-- Rows are never deleted from the journal, so no cascade is needed.
CREATE TABLE journal_responses (
    seq      INTEGER PRIMARY KEY,                   -- journal.seq
    response BLOB    NOT NULL                       -- the platform's answer
);
INSERT INTO journal_responses (seq, response)
    SELECT seq, response FROM journal WHERE response IS NOT NULL;
ALTER TABLE journal DROP COLUMN response;
