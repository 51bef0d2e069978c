-- 0001: the journal and outbox of upstream messages (architecture.md, "Durability and
-- exactly-once"). One row per national message; seq is the order messages were journaled,
-- which (through ord) is the order they drain per visit. Times are Unix milliseconds.
CREATE TABLE journal (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    msgid        TEXT    NOT NULL UNIQUE,      -- the national msgid posad sent it under
    infno        TEXT    NOT NULL,
    kind         INTEGER NOT NULL,             -- enum msg_kind
    idem_key     TEXT    UNIQUE,               -- the caller's idempotency key (HIS msgid)
    idem_hash    TEXT,                         -- hash of the caller's body, for CONFLICT
    visit_key    TEXT    NOT NULL DEFAULT '',  -- rows of one visit drain in (ord, seq) order
    ord          INTEGER,                      -- place in its visit's order: its own seq, or
                                               -- that of the row it stands in for (a
                                               -- reversal or a resend after an unknown)
    ref_msgid    TEXT,                         -- 2601/5203: the message it is about
    request      BLOB    NOT NULL,             -- the envelope as sent (or to be sent)
    state        TEXT    NOT NULL,             -- msg_state_name()
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_attempt INTEGER NOT NULL DEFAULT 0,
    response     BLOB,                         -- the platform's answer, when there is one
    last_error   TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);

-- The outbox: queued rows by due time.
CREATE INDEX journal_due ON journal(state, next_attempt, seq);

-- Open (not final) rows per visit: "is there an earlier open row of this visit?" and
-- "is this visit blocked by an unknown outcome?" are lookups in this small index.
CREATE INDEX journal_open ON journal(visit_key, ord, seq)
    WHERE state IN ('queued', 'sent', 'unknown');

CREATE INDEX journal_ref ON journal(ref_msgid) WHERE ref_msgid IS NOT NULL;
