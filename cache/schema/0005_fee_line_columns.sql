-- 0005: a fee line's content and core's split of it as columns instead of a JSON body. An
-- upload keeps every line it carries and settling reads them all back: building and parsing
-- their JSON was a sixth of the database thread. Amounts in fen, qty x 10^4, price and
-- selfpay_prop x 10^6 (core/decimal.h).
ALTER TABLE fee_lines ADD COLUMN list_code TEXT NOT NULL DEFAULT '';
ALTER TABLE fee_lines ADD COLUMN name TEXT NOT NULL DEFAULT '';
ALTER TABLE fee_lines ADD COLUMN qty_e4 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE fee_lines ADD COLUMN price_e6 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE fee_lines ADD COLUMN time TEXT NOT NULL DEFAULT '';
ALTER TABLE fee_lines ADD COLUMN amount INTEGER NOT NULL DEFAULT 0;
ALTER TABLE fee_lines ADD COLUMN fulamt_ownpay INTEGER NOT NULL DEFAULT 0;
ALTER TABLE fee_lines ADD COLUMN overlmt INTEGER NOT NULL DEFAULT 0;
ALTER TABLE fee_lines ADD COLUMN preselfpay INTEGER NOT NULL DEFAULT 0;
ALTER TABLE fee_lines ADD COLUMN inscp INTEGER NOT NULL DEFAULT 0;
ALTER TABLE fee_lines ADD COLUMN lv INTEGER NOT NULL DEFAULT 0;        -- enum chrgitm_lv
ALTER TABLE fee_lines ADD COLUMN category INTEGER NOT NULL DEFAULT 0;  -- 1..14
ALTER TABLE fee_lines ADD COLUMN selfpay_prop_e6 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE fee_lines ADD COLUMN outside_institution TEXT NOT NULL DEFAULT '';  -- '': not outside
ALTER TABLE fee_lines ADD COLUMN outside_form TEXT NOT NULL DEFAULT '';
ALTER TABLE fee_lines ADD COLUMN outside_kind INTEGER NOT NULL DEFAULT 0;      -- enum outside_kind

-- The bodies posad wrote: {list_code, name, qty_e4, price_e6, time, outside_institution?,
-- outside_form?, outside_kind?, parts:[amount, fulamt_ownpay, overlmt, preselfpay, inscp, lv,
-- category, selfpay_prop_e6]}. A body that is not JSON is damage: its line becomes 'damaged',
-- which settling its visit refuses (as it refused the unreadable body), rather than posad not
-- starting at all or settling without the line.
UPDATE fee_lines SET state = 'damaged' WHERE NOT json_valid(body);
UPDATE fee_lines SET
    list_code = coalesce(json_extract(body, '$.list_code'), ''),
    name = coalesce(json_extract(body, '$.name'), ''),
    qty_e4 = coalesce(json_extract(body, '$.qty_e4'), 0),
    price_e6 = coalesce(json_extract(body, '$.price_e6'), 0),
    time = coalesce(json_extract(body, '$.time'), ''),
    amount = coalesce(json_extract(body, '$.parts[0]'), 0),
    fulamt_ownpay = coalesce(json_extract(body, '$.parts[1]'), 0),
    overlmt = coalesce(json_extract(body, '$.parts[2]'), 0),
    preselfpay = coalesce(json_extract(body, '$.parts[3]'), 0),
    inscp = coalesce(json_extract(body, '$.parts[4]'), 0),
    lv = coalesce(json_extract(body, '$.parts[5]'), 0),
    category = coalesce(json_extract(body, '$.parts[6]'), 0),
    selfpay_prop_e6 = coalesce(json_extract(body, '$.parts[7]'), 0),
    outside_institution = coalesce(json_extract(body, '$.outside_institution'), ''),
    outside_form = coalesce(json_extract(body, '$.outside_form'), ''),
    outside_kind = coalesce(json_extract(body, '$.outside_kind'), 0)
WHERE state != 'damaged';

ALTER TABLE fee_lines DROP COLUMN body;
