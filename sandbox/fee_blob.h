/* The fee lines one message wrote for one visit, packed into one SQLite BLOB (the ledger's
 * fee_sets.lines). A row per line cost the sandbox a quarter of its CPU at a 50-line upload:
 * the insert of each, and its rewrite when the stay was settled. The set's own columns
 * (mdtrt_id, msgid, psn_no, infno) are not in the blob.
 *
 * Layout, version 1: the byte 1, the line count, then per line its strings (feedetl_sn,
 * chrg_bchno, list_code, init_sn, state, setl_id, cancel_msgid: a length byte, the bytes) and
 * its numbers (time, price, qty, the split's amount, fulamt_ownpay, overlmt, preselfpay,
 * inscp, selfpay_prop, lv, category, outside: zigzag varints). */
#ifndef POSA_SANDBOX_FEE_BLOB_H
#define POSA_SANDBOX_FEE_BLOB_H

#include <stddef.h>
#include <stdint.h>

#include "sandbox/ledger.h"

/* The blob of lines[0..n) (malloc'd into *ret): 0, or -ENOMEM. Strings longer than
 * LEDGER_ID - 1 bytes cannot be in a ledger_fee, so they cannot reach here. */
int fee_blob_encode(const struct ledger_fee *const *lines, size_t n, uint8_t **ret,
                    size_t *ret_len);
/* How many lines blob holds, or -EIO when it is not a blob of this version. */
int fee_blob_count(const uint8_t *blob, size_t len);
/* Decodes blob's lines into out[0..count) (count from fee_blob_count); the set's columns are
 * the caller's to fill. 0, or -EIO when blob is damaged. */
int fee_blob_decode(const uint8_t *blob, size_t len, struct ledger_fee *out);

#endif
