-- 0012: the platform's answers to reads (kind 2, MSG_KIND_QUERY: 1101 with the patient's
-- identity, 9001 sign-ins every probe while offline, 5203, 2206/2303 estimates) are deleted
-- once past the idempotency window (records_prune); this index finds them by age without
-- reading the settlements and uploads the journal keeps for good.
CREATE INDEX journal_queries ON journal(updated_at) WHERE kind = 2;
