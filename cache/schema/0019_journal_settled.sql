-- The day's settlements for reconciliation (journal_settlements_since): only settlement
-- rows, by the time they were answered. Through journal_due it read every answered row ever
-- written, seconds a reconciliation after a year, on the database thread every desk waits on.
CREATE INDEX journal_settled ON journal(updated_at)
    WHERE state = 'done' AND substr(infno, 1, 4) IN ('2207', '2304', '2208', '2305', '2601');
