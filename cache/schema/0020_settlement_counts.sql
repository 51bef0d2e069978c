-- Settlements by state for GET /metrics, kept by triggers: counting them with GROUP BY read
-- the whole table on the database thread at every scrape (0.13 s at 113k settlements, and
-- growing with the hospital's record). Settlements are only inserted and moved between
-- states (the upsert of records_settlement_put fires the UPDATE trigger on a conflict);
-- the DELETE trigger keeps the count right should one ever go.
CREATE TABLE settlement_counts (
    state TEXT    PRIMARY KEY,
    n     INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO settlement_counts (state, n) SELECT state, count(*) FROM settlements GROUP BY state;

CREATE TRIGGER settlement_counts_insert AFTER INSERT ON settlements BEGIN
    INSERT INTO settlement_counts (state, n) VALUES (NEW.state, 1)
        ON CONFLICT(state) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER settlement_counts_update AFTER UPDATE OF state ON settlements
    WHEN OLD.state IS NOT NEW.state BEGIN
    UPDATE settlement_counts SET n = n - 1 WHERE state = OLD.state;
    INSERT INTO settlement_counts (state, n) VALUES (NEW.state, 1)
        ON CONFLICT(state) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER settlement_counts_delete AFTER DELETE ON settlements BEGIN
    UPDATE settlement_counts SET n = n - 1 WHERE state = OLD.state;
END;
