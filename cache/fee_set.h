/* The fee lines one upload kept for a visit, packed into one BLOB (fee_sets.lines, schema
 * 0010): a row per line was two B-tree inserts per line, and a tenth of posad's
 * instructions per settlement. The set's own columns (visit_id, upload_msgid, his_key,
 * his_hash) are not in the blob.
 *
 * Layout, version 1: the byte 1, the line count, then per line its strings (his_line_id,
 * feedetl_sn, state, list_code, name, time, outside_institution, outside_form, cancel_msgid:
 * a length, the bytes, a NUL) and its numbers (seq, qty_e4, price_e6, the split's amount,
 * fulamt_ownpay, overlmt, preselfpay, inscp, lv, category, selfpay_prop_e6, outside_kind);
 * lengths, counts and numbers are core/pack.h's varints. */
#ifndef POSA_CACHE_FEE_SET_H
#define POSA_CACHE_FEE_SET_H

#include <stddef.h>
#include <stdint.h>

#include "cache/records.h"

/* The blob of lines[0..n) (malloc'd into *ret): 0, -ENOMEM, or -EINVAL for a his_line_id,
 * feedetl_sn or state too long for a line_record (none is: the writers bound them). */
int fee_set_encode(const struct line_record *lines, size_t n, uint8_t **ret, size_t *ret_len);
/* blob's lines into *ret (malloc'd, *ret_n of them; NULL when there are none). Their
 * borrowed strings point into blob, which must outlive them; visit_id, upload_msgid, his_key
 * and his_hash are left empty for the caller. 0, -ENOMEM, or -EIO when blob is damaged. */
int fee_set_decode(const uint8_t *blob, size_t len, struct line_record **ret, size_t *ret_n);

#endif
