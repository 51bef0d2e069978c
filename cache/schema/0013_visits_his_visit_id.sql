-- 0013: a visit is found by the HIS's own id (ipt_no / ipt_otp_no), so that a second POST
-- /v1/visits for a visit still open (a retry without an Idempotency-Key) is refused rather
-- than registered with the platform again (records_visit_open_by_his_id).
CREATE INDEX visits_his_visit_id ON visits(his_visit_id);
