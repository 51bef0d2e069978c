-- 0014: whether the visit is an emergency, as a column beside its body: each fee line
-- uploads it as er_flag in exp_content (national-interface.md, 2204), and uploading reads
-- the visit's columns, never its body. Visits kept before take it from their body.
ALTER TABLE visits ADD COLUMN emergency INTEGER NOT NULL DEFAULT 0;
UPDATE visits SET emergency = coalesce(json_extract(body, '$.emergency'), 0) = 1
WHERE json_valid(body);
