-- 0018: at-rest sealing (db.h, db_seal_begin). Once a key has sealed anything, this row holds
-- a known text sealed under it: a start with another key, or with none, is refused at once
-- instead of failing on the first sealed row it reads (or writing plain rows beside them).
CREATE TABLE seal_check (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    sealed BLOB    NOT NULL
);
