-- 0018: at-rest sealing (db.h, db_seal_begin). Once a key has sealed anything, this row holds
-- a known text sealed under it: a start with another key, or with none, is refused at once
-- instead of failing on the first sealed row it reads (or writing plain rows beside them).
-- plain_done: the rows written before the key have all been sealed (cache/seal_rows.c).
CREATE TABLE seal_check (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    sealed     BLOB    NOT NULL,
    plain_done INTEGER NOT NULL DEFAULT 0
);
