-- 0006: the HIS request that kept a fee line (its Idempotency-Key and request hash, '' when
-- it sent none): a repeat of that request after posad lost its answer is answered again
-- from the kept lines; any other request with the same lines is refused as a second upload.
ALTER TABLE fee_lines ADD COLUMN his_key TEXT NOT NULL DEFAULT '';
ALTER TABLE fee_lines ADD COLUMN his_hash TEXT NOT NULL DEFAULT '';
