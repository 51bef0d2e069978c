/* The fee lines one message wrote for one visit, packed into one SQLite BLOB (the ledger's
 * fee_sets.lines). A row per line cost the sandbox a quarter of its CPU at a 50-line upload:
 * the insert of each, and its rewrite when the stay was settled. The set's own columns
 * (mdtrt_id, msgid, psn_no, infno) are not in the blob, nor is the settlement of a line: a
 * settlement records the lines it settled (fee_cover_*), so settling rewrites no set.
 *
 * Layout, version 2: the byte 2, the line count, then per line its strings (feedetl_sn,
 * chrg_bchno, list_code, init_sn, state, cancel_msgid: a length byte, the bytes) and its
 * numbers (time, price, qty, the split's amount, fulamt_ownpay, overlmt, preselfpay, inscp,
 * selfpay_prop, lv, category, outside: zigzag varints). Version 1 (ledgers of schema 2) had
 * setl_id after state; it is still read, for the migration. */
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
 * the caller's to fill, setl_id is "" but in version 1. 0, or -EIO when blob is damaged. */
int fee_blob_decode(const uint8_t *blob, size_t len, struct ledger_fee *out);

/* The lines a settlement settled, as (upload msgid, feedetl_sn) pairs: the byte 1, the number
 * of runs, then per run of lines of one upload its msgid, its line count and their
 * feedetl_sns (strings as above). Lines of an upload usually come together: one run each. */
int fee_cover_encode(const struct ledger_fee *const *lines, size_t n, uint8_t **ret,
                     size_t *ret_len);
/* cb(msgid, sn, data) for each pair, in order; stops at a non-zero return and returns it.
 * -EIO when blob is damaged (pairs before the damage have been seen). */
int fee_cover_each(const uint8_t *blob, size_t len,
                   int (*cb)(const char *msgid, const char *sn, void *data), void *data);

#endif
