-- 0016: the audit log of who settled, cancelled or retried what (architecture.md, Security).
-- One row per action, in the transaction that journals it; each row's hash is the SHA-256
-- of the row before's hash and its own fields (agent/audit.c), so a row changed or taken
-- out of the middle breaks the chain GET /v1/audit checks. posad never changes or deletes a
-- row: the triggers refuse it to any connection that has not dropped them first.
CREATE TABLE audit (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,  -- Unix ms
    who     TEXT    NOT NULL,  -- the client's token name, or the peer ("unix uid 1000")
    action  TEXT    NOT NULL,  -- settle, discharge, cancel, fees_cancel, retry, passthrough
    target  TEXT    NOT NULL,  -- the visit or settlement it acted on, or the message
    msgid   TEXT    NOT NULL,  -- the national message it sent or retried
    hash    TEXT    NOT NULL   -- hex
);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
