-- Retention (records_prune, every 6 hours) deletes identities past their expiry and
-- idempotent answers past idempotency_days by these times: without an index each pass read
-- both tables whole on the database thread.
CREATE INDEX identities_expires ON identities(expires_at);
CREATE INDEX his_answers_created ON his_answers(created_at);
