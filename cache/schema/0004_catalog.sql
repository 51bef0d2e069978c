-- 0004: the treating region's catalog (1312), so posad can split fees from the last
-- download when it starts while the platform is unreachable. Replaced whole on each
-- successful download; the split reads an in-memory index loaded from here.
CREATE TABLE catalog (
    list_code  TEXT    PRIMARY KEY,
    name       TEXT    NOT NULL,
    lv         INTEGER NOT NULL,  -- enum chrgitm_lv
    category   INTEGER NOT NULL,  -- med_chrgitm_type 1..14
    selfpay_e6 INTEGER NOT NULL,
    limit_e6   INTEGER NOT NULL   -- PRICE_NO_LIMIT (-1) when none
);

CREATE TABLE catalog_meta (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    loaded_at INTEGER NOT NULL,   -- Unix ms of the download
    items     INTEGER NOT NULL
);
