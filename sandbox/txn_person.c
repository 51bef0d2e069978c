/* 1101: the person by ID number (02), social-security card (03: card number + card_sn) or
 * e-voucher token (01), with the provincial filinginfo[] extension. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/bound.h"
#include "core/datetime.h"
#include "core/str.h"
#include "sandbox/txn.h"

/* The person the certificate names, or NULL after a refusal. */
static struct sc_person *find_person(struct txn *t, struct json_object *data)
{
    struct scenario *sc = &t->sb->scenario;
    const char *type, *no, *card_sn, *psn;
    struct sc_person *p = NULL;

    if (txn_str(t, data, "data", "mdtrt_cert_type", 2, true, &type) < 0 ||
        txn_str(t, data, "data", "mdtrt_cert_no", BOUND_STRING, true, &no) < 0 ||
        txn_str(t, data, "data", "card_sn", BOUND_CODE, false, &card_sn) < 0)
        return NULL;
    if (strcmp(type, "02") == 0) {
        p = scenario_person_by_certno(sc, no);
    } else if (strcmp(type, "03") == 0) {
        if (!card_sn[0])
            return txn_refuse(t, "data.card_sn (the card's identification code) is required "
                                 "with a social-security card"),
                   NULL;
        p = scenario_person_by_card(sc, no);
        if (p && strcasecmp(p->card_sn, card_sn) != 0)
            return txn_refuse(t, "the card's identification code does not match card %s", no), NULL;
    } else if (strcmp(type, "01") == 0) {
        psn = evoucher_token_person(&t->sb->evoucher, no, uv_now(t->sb->loop));
        if (!psn)
            return txn_refuse(t, "the e-voucher token is unknown or expired: scan the code again"),
                   NULL;
        p = scenario_person(sc, psn);
    } else {
        return txn_refuse(t,
                          "data.mdtrt_cert_type must be 01 (e-voucher), 02 (ID number) or "
                          "03 (social-security card), not %s",
                          type),
               NULL;
    }
    if (!p)
        return txn_refuse(t, "no insured person found for this %s",
                          type[1] == '2'   ? "ID number"
                          : type[1] == '3' ? "card"
                                           : "e-voucher"),
               NULL;
    return p;
}

static int age_at(int32_t birthday, int32_t today)
{
    int age = today / 10000 - birthday / 10000;

    if (today % 10000 < birthday % 10000)
        age--;
    return age < 0 ? 0 : age;
}

static struct json_object *baseinfo(const struct txn *t, const struct sc_person *p)
{
    struct json_object *b = json_object_new_object();

    out_str(b, "psn_no", p->psn_no);
    out_str(b, "psn_cert_type", "01");
    out_str(b, "certno", p->certno);
    out_str(b, "psn_name", p->name);
    out_str(b, "gend", p->gender);
    out_str(b, "naty", "01");
    out_str(b, "brdy", p->birthday);
    json_object_object_add(
        b, "age", json_object_new_int(age_at(p->birthday_date, (int32_t)(t->now / 1000000))));
    out_str(b, "exp_content", "");
    return b;
}

/* One row per insurance; the account (balance) is the first's. */
static struct json_object *insuinfo(const struct sc_person *p, int64_t balance)
{
    struct json_object *arr = json_object_new_array();

    for (size_t n = 0; n < p->n_insurance; n++) {
        struct json_object *i = json_object_new_object();

        out_money(i, "balc", n == 0 ? balance : 0);
        out_str(i, "insutype", p->insurance[n].insutype);
        out_str(i, "psn_type", p->psn_type[0] ? p->psn_type : "11");
        out_str(i, "psn_insu_stas", "1");
        out_str(i, "psn_insu_date", "2000-01-01");
        out_str(i, "paus_insu_date", NULL);
        out_str(i, "cvlserv_flag", "0");
        out_str(i, "insuplc_admdvs", p->insurance[n].insuplc_admdvs);
        out_str(i, "emp_name", "");
        json_object_array_add(arr, i);
    }
    return arr;
}

int txn_1101_person(struct txn *t)
{
    struct json_object *data = txn_node(t, "data");
    struct sc_person *p = NULL;
    int64_t balance;
    int rc;

    if (!data || !(p = find_person(t, data)))
        return -1;
    str_copy(t->msg->psn_no, sizeof(t->msg->psn_no), p->psn_no);
    if ((rc = ledger_balance_get(t->sb->ledger, p->psn_no, p->balance, &balance)) < 0)
        return txn_ledger_error(t, rc);
    t->output = json_object_new_object();
    json_object_object_add(t->output, "baseinfo", baseinfo(t, p));
    json_object_object_add(t->output, "insuinfo", insuinfo(p, balance));
    json_object_object_add(t->output, "idetinfo", json_object_new_array());
    json_object_object_add(t->output, "filinginfo", out_filings(p));
    return 0;
}
