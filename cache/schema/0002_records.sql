-- 0002: the desk flow's records. Each row keeps its document (the JSON the engine wrote)
-- in body, with the few columns queries need beside it. Times are Unix milliseconds.

-- An identify answer behind the token the HIS gets; it expires.
CREATE TABLE identities (
    token      TEXT    PRIMARY KEY,
    desk       TEXT    NOT NULL DEFAULT '',
    body       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);

CREATE TABLE visits (
    visit_id     TEXT    PRIMARY KEY,
    desk         TEXT    NOT NULL DEFAULT '',
    his_visit_id TEXT    NOT NULL,
    kind         TEXT    NOT NULL,             -- "inpatient" | "outpatient"
    state        TEXT    NOT NULL,             -- visit_state_name()
    mdtrt_id     TEXT    NOT NULL DEFAULT '',  -- the platform's visit id
    body         TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);

CREATE TABLE fee_lines (
    visit_id     TEXT    NOT NULL,
    his_line_id  TEXT    NOT NULL,
    seq          INTEGER NOT NULL,             -- order of upload within the visit
    feedetl_sn   TEXT    NOT NULL,
    state        TEXT    NOT NULL,             -- "active" | "cancelled"
    upload_msgid TEXT    NOT NULL DEFAULT '',  -- the 2204/2301 that carried it
    body         TEXT    NOT NULL,             -- the line and its split
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (visit_id, his_line_id)
);

CREATE TABLE settlements (
    settlement_id TEXT    PRIMARY KEY,
    visit_id      TEXT    NOT NULL,
    state         TEXT    NOT NULL,            -- "settled" | "unknown" | "queued" | ...
    msgid         TEXT    NOT NULL DEFAULT '', -- the 2207/2304 that settled it
    setl_id       TEXT    NOT NULL DEFAULT '',
    settle_date   INTEGER NOT NULL,            -- yyyymmdd, for the day's reconciliation
    body          TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX settlements_visit ON settlements(visit_id, created_at);
CREATE INDEX settlements_date ON settlements(settle_date);
CREATE INDEX settlements_msgid ON settlements(msgid);

-- The first answer to an HIS request with an Idempotency-Key.
CREATE TABLE his_answers (
    idem_key   TEXT    PRIMARY KEY,
    body_hash  TEXT    NOT NULL,
    status     INTEGER NOT NULL,
    answer     TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
