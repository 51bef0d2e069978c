-- 0008: the 2205/2302 that cancelled a fee line ('' while it is not cancelled, and for lines
-- cancelled before this version). Lines are marked cancelled with the journal row of the
-- cancel that carries them; if the platform refuses that cancel, they become active again.
ALTER TABLE fee_lines ADD COLUMN cancel_msgid TEXT NOT NULL DEFAULT '';
