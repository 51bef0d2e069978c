-- 0017: visits by the platform's visit id: a message the passthrough carries for a visit a
-- desk opened is refused (its records follow only the HIS API), found by its mdtrt_id.
CREATE INDEX visits_mdtrt ON visits(mdtrt_id) WHERE mdtrt_id <> '';
