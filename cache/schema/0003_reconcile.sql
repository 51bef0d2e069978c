-- 0003: the daily reconciliation reports (3201 totals, 3202 detail on a mismatch), one per
-- day, kept so GET /v1/reconcile/{date} can show the last run.
CREATE TABLE reconcile_reports (
    date       INTEGER PRIMARY KEY,  -- yyyymmdd
    body       TEXT    NOT NULL,     -- the report the engine wrote
    created_at INTEGER NOT NULL
);
