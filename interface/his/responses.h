/* The HIS API's response shapes (his-api.md) built from core's structs: money as strings
 * with exactly two decimals, flags with their reasons, split lines and totals with the 14
 * categories, settlement amounts, and the error envelope. Pure mapping over json-c. Every
 * function returns a new object (json_object_put it), or NULL when out of memory. */
#ifndef POSA_HIS_RESPONSES_H
#define POSA_HIS_RESPONSES_H

#include <stdint.h>

#include <json-c/json.h>

#include "core/flags.h"
#include "core/policy.h"
#include "core/split.h"
#include "interface/json/jsontext.h"

/* "1234.50" */
struct json_object *his_money(int64_t fen);

/* {flag, value, source:"his"|"rule", rule?, reason} */
struct json_object *his_flag(const struct flag *flag);
/* [{flag...}, ...] and [{code, message}, ...] */
struct json_object *his_flags(const struct visit_flags *flags);
struct json_object *his_warnings(const struct visit_flags *flags);

/* The five amounts: {amount, fulamt_ownpay_amt, overlmt_amt, preselfpay_amt, inscp_scp_amt} */
struct json_object *his_split_totals(const struct split_totals *totals);

/* One split line's members, written into an object the caller opened: his_line_id,
 * feedetl_sn (NULL: null), chrgitm_lv, med_chrgitm_type, selfpay_prop, amount,
 * fulamt_ownpay_amt, overlmt_amt, preselfpay_amt, inscp_scp_amt. As text: a bill's lines
 * are the largest answer (jsontext.h). */
void his_split_line_text(struct jsontext *j, const char *his_line_id, const char *feedetl_sn,
                         const struct split *split);

/* A bill's totals with by_category {"01": {...}, ...} for the categories it uses. */
struct json_object *his_bill_totals(const struct bill *bill);

/* Settlement amounts: {medfee_sumamt, fulamt_ownpay_amt, overlmt_selfpay, preselfpay_amt,
 * inscp_scp_amt, act_pay_dedc, hifp_pay, fund_pay_sumamt, psn_part_amt, acct_pay,
 * psn_cash_pay}. */
struct json_object *his_settlement_amounts(const struct policy_result *amounts);
/* ... read back (from a kept answer), each times sign (-1: what its cancel takes back): 0,
 * or POSA_EFIELD when one is missing or bad. */
int his_settlement_amounts_read(struct json_object *amounts, int sign, struct policy_result *ret);

/* {"error":{code, message, retryable, details}}. message NULL: posa_strerror(err). details
 * (may be NULL: {}) is taken. */
struct json_object *his_error(int err, const char *message, struct json_object *details);

#endif
