-- 0015: the visit's med_type (medical type, 11 普通门诊 ...) as a column beside its body: an
-- outpatient settlement (2206/2207) carries it, and settling read it from the body, parsing
-- the whole document for one field (2% of a settlement). Visits kept before take it from
-- their body.
ALTER TABLE visits ADD COLUMN med_type TEXT NOT NULL DEFAULT '';
UPDATE visits SET med_type = coalesce(json_extract(body, '$.request.med_type'), '')
WHERE json_valid(body);
