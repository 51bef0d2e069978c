-- 0022: settlements the platform holds cancelled though no cancel of posad's did it (at the
-- insurance office, by another system of the hospital), as a refused cancel's 5203 found:
-- the journal has no done cancel of them, and reconciliation, which counts from the journal,
-- takes them out by this table (the 5203's own row is pruned with the other reads).
CREATE TABLE cancelled_elsewhere (
    setl_id  TEXT    PRIMARY KEY,
    msgid    TEXT    NOT NULL,  -- the 5203 that found it so
    found_at INTEGER NOT NULL
);
