/* Core structs mapped to the HIS API's JSON shapes. */
#include "interface/his/responses.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/decimal.h"
#include "core/split.h"
#include "core/err.h"
#include "core/utf8.h"
#include "interface/json/jsonmap.h"

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

/* The settlement's amounts as his-api.md names them, in its order. */
static const struct {
    const char *key;
    size_t offset;
} amount_keys[] = {
    {"medfee_sumamt", offsetof(struct policy_result, medfee_sumamt)},
    {"fulamt_ownpay_amt", offsetof(struct policy_result, fulamt_ownpay_amt)},
    {"overlmt_selfpay", offsetof(struct policy_result, overlmt_selfpay)},
    {"preselfpay_amt", offsetof(struct policy_result, preselfpay_amt)},
    {"inscp_scp_amt", offsetof(struct policy_result, inscp_scp_amt)},
    {"act_pay_dedc", offsetof(struct policy_result, act_pay_dedc)},
    {"hifp_pay", offsetof(struct policy_result, hifp_pay)},
    {"fund_pay_sumamt", offsetof(struct policy_result, fund_pay_sumamt)},
    {"psn_part_amt", offsetof(struct policy_result, psn_part_amt)},
    {"acct_pay", offsetof(struct policy_result, acct_pay)},
    {"psn_cash_pay", offsetof(struct policy_result, psn_cash_pay)},
};

#define AMOUNT_AT(r, i) ((int64_t *)(void *)((char *)(r) + amount_keys[i].offset))
#define AMOUNT_OF(r, i)                                                                            \
    (*(const int64_t *)(const void *)((const char *)(r) + amount_keys[i].offset))

struct json_object *his_settlement_amounts(const struct policy_result *r)
{
    struct json_object *o = json_object_new_object();

    if (!o)
        return NULL;
    for (size_t i = 0; i < sizeof amount_keys / sizeof amount_keys[0]; i++)
        put(o, amount_keys[i].key, his_money(AMOUNT_OF(r, i)));
    return o;
}

int his_settlement_amounts_read(struct json_object *o, int sign, struct policy_result *ret)
{
    memset(ret, 0, sizeof *ret);
    for (size_t i = 0; i < sizeof amount_keys / sizeof amount_keys[0]; i++) {
        if (jsonmap_get_decimal(o, amount_keys[i].key, DEC_MONEY, true, AMOUNT_AT(ret, i), NULL) <
            0)
            return POSA_EFIELD;
        *AMOUNT_AT(ret, i) *= sign;
    }
    return 0;
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
    if (!message)
        message = posa_strerror(err);
    /* A message built in a fixed buffer around the platform's words may end inside one of
     * its characters: the HIS's JSON parser would refuse the whole answer. */
    put(e, "message",
        json_object_new_string_len(message, (int)utf8_uncut_len(message, strlen(message))));
    put(e, "retryable", json_object_new_boolean(posa_err_retryable(err)));
    put(e, "details", details ? details : json_object_new_object());
    put(outer, "error", e);
    return outer;
}
