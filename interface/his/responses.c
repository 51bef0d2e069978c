/* Core structs mapped to the HIS API's JSON shapes. */
#include "interface/his/responses.h"

#include <stdio.h>

#include "core/decimal.h"
#include "core/split.h"
#include "core/err.h"

struct json_object *his_money(int64_t fen)
{
    char text[DEC_FORMAT_MAX];

    if (money_format(fen, text, sizeof text) < 0)
        return NULL;
    return json_object_new_string(text);
}

static void put(struct json_object *obj, const char *key, struct json_object *value)
{
    json_object_object_add(obj, key, value);
}

struct json_object *his_flag(const struct flag *flag)
{
    struct json_object *o = json_object_new_object();

    if (!o)
        return NULL;
    put(o, "flag", json_object_new_string(flag_name(flag->id)));
    put(o, "value", json_object_new_boolean(flag->value));
    put(o, "source", json_object_new_string(flag->source == FLAG_FROM_HIS ? "his" : "rule"));
    if (flag->rule)
        put(o, "rule", json_object_new_string(flag->rule));
    put(o, "reason", json_object_new_string(flag->reason));
    return o;
}

struct json_object *his_flags(const struct visit_flags *flags)
{
    struct json_object *a = json_object_new_array();

    for (size_t i = 0; a && i < flags->n; i++)
        json_object_array_add(a, his_flag(&flags->flags[i]));
    return a;
}

struct json_object *his_warnings(const struct visit_flags *flags)
{
    struct json_object *a = json_object_new_array();

    for (size_t i = 0; a && i < flags->n_warnings; i++) {
        struct json_object *w = json_object_new_object();

        if (!w)
            break;
        put(w, "code", json_object_new_string(flags->warnings[i].code));
        put(w, "message", json_object_new_string(flags->warnings[i].message));
        json_object_array_add(a, w);
    }
    return a;
}

struct json_object *his_split_totals(const struct split_totals *t)
{
    struct json_object *o = json_object_new_object();

    if (!o)
        return NULL;
    put(o, "amount", his_money(t->amount));
    put(o, "fulamt_ownpay_amt", his_money(t->fulamt_ownpay));
    put(o, "overlmt_amt", his_money(t->overlmt));
    put(o, "preselfpay_amt", his_money(t->preselfpay));
    put(o, "inscp_scp_amt", his_money(t->inscp));
    return o;
}

void his_split_line_text(struct jsontext *j, const char *his_line_id, const char *feedetl_sn,
                         const struct split *s)
{
    char lv[3], category[3];

    jsontext_str(j, "his_line_id", his_line_id);
    jsontext_str(j, "feedetl_sn", feedetl_sn);
    /* Not in the catalog: no class ("" rather than a made-up "03"). */
    jsontext_str(j, "chrgitm_lv", s->lv == LV_NONE ? "" : two_digit_code(s->lv, lv));
    jsontext_str(j, "med_chrgitm_type", two_digit_code(s->category, category));
    jsontext_dec_str(j, "selfpay_prop", s->selfpay_prop_e6, DEC_RATIO);
    jsontext_dec_str(j, "amount", s->amount, DEC_MONEY);
    jsontext_dec_str(j, "fulamt_ownpay_amt", s->fulamt_ownpay, DEC_MONEY);
    jsontext_dec_str(j, "overlmt_amt", s->overlmt, DEC_MONEY);
    jsontext_dec_str(j, "preselfpay_amt", s->preselfpay, DEC_MONEY);
    jsontext_dec_str(j, "inscp_scp_amt", s->inscp, DEC_MONEY);
}

struct json_object *his_bill_totals(const struct bill *bill)
{
    struct json_object *o = his_split_totals(&bill->total), *by = json_object_new_object();
    char key[3];

    if (!o || !by) {
        json_object_put(o);
        json_object_put(by);
        return NULL;
    }
    for (int k = CATEGORY_MIN; k <= CATEGORY_MAX; k++) {
        const struct split_totals *t = &bill->by_category[k];

        /* A category the bill does not use. All five parts: charges and returns may net a
         * category's amount to zero with its over-limit and first self-pay parts not. */
        if (t->amount == 0 && t->fulamt_ownpay == 0 && t->overlmt == 0 && t->preselfpay == 0 &&
            t->inscp == 0)
            continue;
        put(by, two_digit_code((unsigned)k, key), his_split_totals(t));
    }
    put(o, "by_category", by);
    return o;
}

struct json_object *his_settlement_amounts(const struct policy_result *r)
{
    struct json_object *o = json_object_new_object();

    if (!o)
        return NULL;
    put(o, "medfee_sumamt", his_money(r->medfee_sumamt));
    put(o, "fulamt_ownpay_amt", his_money(r->fulamt_ownpay_amt));
    put(o, "overlmt_selfpay", his_money(r->overlmt_selfpay));
    put(o, "preselfpay_amt", his_money(r->preselfpay_amt));
    put(o, "inscp_scp_amt", his_money(r->inscp_scp_amt));
    put(o, "act_pay_dedc", his_money(r->act_pay_dedc));
    put(o, "hifp_pay", his_money(r->hifp_pay));
    put(o, "fund_pay_sumamt", his_money(r->fund_pay_sumamt));
    put(o, "psn_part_amt", his_money(r->psn_part_amt));
    put(o, "acct_pay", his_money(r->acct_pay));
    put(o, "psn_cash_pay", his_money(r->psn_cash_pay));
    return o;
}

struct json_object *his_error(int err, const char *message, struct json_object *details)
{
    struct json_object *outer = json_object_new_object(), *e = json_object_new_object();

    if (!outer || !e) {
        json_object_put(outer);
        json_object_put(e);
        json_object_put(details);
        return NULL;
    }
    put(e, "code", json_object_new_string(posa_err_code(err)));
    put(e, "message", json_object_new_string(message ? message : posa_strerror(err)));
    put(e, "retryable", json_object_new_boolean(posa_err_retryable(err)));
    put(e, "details", details ? details : json_object_new_object());
    put(outer, "error", e);
    return outer;
}
