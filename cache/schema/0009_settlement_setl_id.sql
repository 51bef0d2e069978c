-- 0009: settlements found by the platform's setl_id: a cancel (2208/2305) an HIS sends through
-- the passthrough names the settlement only so, and posad records it cancelled.
CREATE INDEX settlements_setl ON settlements(setl_id) WHERE setl_id != '';
