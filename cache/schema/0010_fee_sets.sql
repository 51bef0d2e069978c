-- 0010: a visit's fee lines as sets, one row per upload that kept them, the lines packed in
-- a blob (cache/fee_set.h), instead of a row per line: each kept line was two B-tree
-- inserts, a tenth of posad's instructions per settlement. The rows of fee_lines move into
-- sets in C after this SQL (records_migrate_fee_sets, records_fees.c: each run of a visit's
-- lines, in seq order, that one upload and one HIS request kept), and fee_lines_v9 goes.
ALTER TABLE fee_lines RENAME TO fee_lines_v9;
CREATE TABLE fee_sets (
    visit_id     TEXT    NOT NULL,
    first_seq    INTEGER NOT NULL,            -- seq of its first line: sets in this order
    last_seq     INTEGER NOT NULL,            -- seq of its last line when kept
    upload_msgid TEXT    NOT NULL DEFAULT '', -- the 2204/2301 that carried them
    his_key      TEXT    NOT NULL DEFAULT '', -- the HIS request that kept them
    his_hash     TEXT    NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    lines        BLOB    NOT NULL,
    PRIMARY KEY (visit_id, first_seq)
);
