/* Encoders and decoders of the desk flow's national messages. */
#include "interface/platform/desk_msgs.h"

#include <stdio.h>
#include <string.h>

#include "core/admdvs.h"
#include "core/datetime.h"
#include "core/decimal.h"
#include "core/err.h"
#include "core/str.h"
#include "interface/json/jsontext.h"

/* A message's strings: an absent one goes as "", in a tree and in text alike. */
static void put_str(struct json_object *o, const char *key, const char *value)
{
    json_object_object_add(o, key, json_object_new_string(value ? value : ""));
}

static void text_str(struct jsontext *j, const char *key, const char *value)
{
    jsontext_str(j, key, value ? value : "");
}

static void put_dec(struct json_object *o, const char *key, int64_t value, int scale)
{
    char text[DEC_FORMAT_MAX];

    dec_format(value, scale, text, sizeof text);
    json_object_object_add(o, key, json_object_new_string(text));
}

static const char *flag01(bool b)
{
    return b ? "1" : "0";
}

/* {"<node>": obj} */
static json_object *wrap(const char *node, json_object *obj)
{
    json_object *input = json_object_new_object();

    if (!input || !obj) {
        json_object_put(input);
        json_object_put(obj);
        return NULL;
    }
    json_object_object_add(input, node, obj);
    return input;
}

json_object *desk_1101_input(const struct desk_cert *cert)
{
    json_object *d = json_object_new_object();
    bool id = strcmp(cert->type, "02") == 0;

    if (!d)
        return NULL;
    put_str(d, "mdtrt_cert_type", cert->type);
    put_str(d, "mdtrt_cert_no", cert->number);
    put_str(d, "card_sn", cert->card_sn);
    put_str(d, "begntime", "");
    put_str(d, "psn_cert_type", id ? "01" : cert->psn_cert_type ? cert->psn_cert_type : "");
    put_str(d, "certno", id ? cert->number : cert->certno ? cert->certno : "");
    put_str(d, "psn_name", cert->psn_name ? cert->psn_name : "");
    return wrap("data", d);
}

/* obj[key] if it is an object / array, else NULL. */
static json_object *child(json_object *obj, const char *key, json_type type)
{
    json_object *v = NULL;

    if (!json_object_is_type(obj, json_type_object) || !json_object_object_get_ex(obj, key, &v) ||
        !json_object_is_type(v, type))
        return NULL;
    return v;
}

static int insurance_decode(json_object *array, struct desk_person *p, struct jsonmap_error *err)
{
    size_t n = json_object_array_length(array);
    char prefix[48];
    int rc;

    for (size_t i = 0; i < n && p->n_insurance < DESK_INSURANCE_MAX; i++) {
        json_object *row = json_object_array_get_idx(array, i);
        struct desk_insurance *ins = &p->insurance[p->n_insurance];

        str_index(prefix, sizeof prefix, "insuinfo", i);
        ins->psn_type = "";
        if ((rc = jsonmap_get_string(row, "insutype", 3, true, &ins->insutype, err)) < 0 ||
            (rc = jsonmap_get_string(row, "insuplc_admdvs", 6, true, &ins->insuplc_admdvs, err)) < 0 ||
            (rc = jsonmap_get_string(row, "psn_type", BOUND_CODE, false, &ins->psn_type, err)) < 0 ||
            (rc = jsonmap_get_decimal(row, "balc", DEC_MONEY, false, &ins->balance, err)) < 0)
            return jsonmap_nest(err, prefix);
        /* A region no visit could be opened under: the platform's record, not the HIS's. */
        if (!admdvs_province(ins->insuplc_admdvs))
            return jsonmap_fail(err, POSA_EFIELD, prefix, "insuplc_admdvs");
        p->n_insurance++;
    }
    return 0;
}

static int date_or_open(json_object *row, const char *key, int32_t *ret, struct jsonmap_error *err)
{
    const char *text = NULL;
    int rc = jsonmap_get_string(row, key, DATETIME_DATE_LEN, false, &text, err);

    if (rc < 0)
        return rc;
    *ret = 0;
    if (text && text[0] && date_parse(text, strlen(text), ret) < 0)
        return jsonmap_fail(err, POSA_EDATE, NULL, key);
    return 0;
}

/* Does a end later than b? 0 is open-ended, the latest of all. */
static bool ends_later(const struct filing *a, const struct filing *b)
{
    return b->valid_to != 0 && (a->valid_to == 0 || a->valid_to > b->valid_to);
}

/* Keeps f among the person's filings. Beyond BOUND_FILINGS, the ones that ended first make
 * room: a person's list also holds filings long expired, and which come first is the
 * platform's order, so keeping the first ones could drop the one in force. */
static void filing_keep(struct desk_person *p, const struct filing *f)
{
    struct filing *first_ended = &p->filings[0];

    if (p->n_filings < BOUND_FILINGS) {
        p->filings[p->n_filings++] = *f;
        return;
    }
    for (size_t i = 1; i < p->n_filings; i++)
        if (ends_later(first_ended, &p->filings[i]))
            first_ended = &p->filings[i];
    if (ends_later(f, first_ended))
        *first_ended = *f;
}

static int filings_decode(json_object *array, struct desk_person *p, struct jsonmap_error *err)
{
    size_t n = json_object_array_length(array);
    char prefix[48];
    int rc;

    p->has_filinginfo = true;
    if (n > DESK_FILINGS_READ_MAX)
        return jsonmap_fail(err, POSA_ETOOLONG, NULL, "filinginfo");
    for (size_t i = 0; i < n; i++) {
        json_object *row = json_object_array_get_idx(array, i);
        struct filing f;
        const char *kind = NULL;

        str_index(prefix, sizeof prefix, "filinginfo", i);
        if ((rc = jsonmap_get_string(row, "kind", BOUND_CODE, true, &kind, err)) < 0 ||
            (rc = date_or_open(row, "valid_from", &f.valid_from, err)) < 0 ||
            (rc = date_or_open(row, "valid_to", &f.valid_to, err)) < 0)
            return jsonmap_nest(err, prefix);
        if (filing_kind_parse(kind, &f.kind) < 0 || f.valid_from == 0)
            return jsonmap_fail(err, POSA_EFIELD, prefix, f.valid_from ? "kind" : "valid_from");
        filing_keep(p, &f);
    }
    return 0;
}

int desk_1101_decode(struct json_object *output, struct desk_person *ret,
                     struct jsonmap_error *err)
{
    json_object *base = child(output, "baseinfo", json_type_object);
    json_object *insu = child(output, "insuinfo", json_type_array);
    json_object *filings = child(output, "filinginfo", json_type_array);
    struct desk_person p = {0};
    int rc;

    if (!base || !insu)
        return jsonmap_fail(err, POSA_EFIELD, NULL, base ? "insuinfo" : "baseinfo");
    p.gender = p.birthday = p.certno = "";
    if ((rc = jsonmap_get_string(base, "psn_no", BOUND_CODE, true, &p.psn_no, err)) < 0 ||
        (rc = jsonmap_get_string(base, "psn_name", BOUND_NAME, true, &p.psn_name, err)) < 0 ||
        (rc = jsonmap_get_string(base, "certno", BOUND_CODE, false, &p.certno, err)) < 0 ||
        (rc = jsonmap_get_string(base, "gend", 2, false, &p.gender, err)) < 0 ||
        (rc = jsonmap_get_string(base, "brdy", DATETIME_DATE_LEN, false, &p.birthday, err)) < 0)
        return jsonmap_nest(err, "baseinfo");
    if (!str_is_code(p.psn_no))
        return jsonmap_fail(err, POSA_EFIELD, "baseinfo", "psn_no");
    if (p.certno[0] && !str_is_code(p.certno))
        return jsonmap_fail(err, POSA_EFIELD, "baseinfo", "certno");
    /* gend: GB/T 2261.1's one digit (1 male, 2 female, 0 and 9 unknown); brdy a date. */
    if (p.gender[0] && (strlen(p.gender) != 1 || !strchr("0129", p.gender[0])))
        return jsonmap_fail(err, POSA_EFIELD, "baseinfo", "gend");
    if (p.birthday[0] && date_parse(p.birthday, strlen(p.birthday), &(int32_t){0}) < 0)
        return jsonmap_fail(err, POSA_EDATE, "baseinfo", "brdy");
    if ((rc = insurance_decode(insu, &p, err)) < 0 ||
        (filings && (rc = filings_decode(filings, &p, err)) < 0))
        return rc;
    if (p.n_insurance == 0)
        return jsonmap_fail(err, POSA_EFIELD, NULL, "insuinfo");
    *ret = p;
    return 0;
}

static json_object *diseinfo(const struct desk_visit *v, bool inpatient)
{
    json_object *a = json_object_new_array();

    for (size_t i = 0; a && i < v->n_diagnoses; i++) {
        json_object *d = json_object_new_object();
        char seq[24];

        if (!d)
            break;
        snprintf(seq, sizeof seq, "%zu", i + 1);
        put_str(d, "psn_no", v->psn_no);
        put_str(d, "diag_type", "1"); /* western medicine */
        put_str(d, "diag_srt_no", seq);
        put_str(d, "diag_code", v->diagnoses[i].code);
        put_str(d, "diag_name", v->diagnoses[i].name);
        put_str(d, "diag_dept", v->dept_name);
        put_str(d, "dise_dor_no", v->doctor_code);
        put_str(d, "dise_dor_name", v->doctor_name);
        put_str(d, "diag_time", v->begntime);
        put_str(d, inpatient ? "maindiag_flag" : "vali_flag", inpatient ? flag01(v->diagnoses[i].main) : "1");
        json_object_array_add(a, d);
    }
    return a;
}

static const struct desk_diagnosis *main_diagnosis(const struct desk_visit *v)
{
    for (size_t i = 0; i < v->n_diagnoses; i++)
        if (v->diagnoses[i].main)
            return &v->diagnoses[i];
    return v->n_diagnoses ? &v->diagnoses[0] : NULL;
}

json_object *desk_2401_input(const struct desk_visit *v)
{
    const struct desk_diagnosis *main = main_diagnosis(v);
    json_object *m = json_object_new_object(), *input;

    if (!m)
        return NULL;
    put_str(m, "psn_no", v->psn_no);
    put_str(m, "insutype", v->insutype);
    put_str(m, "mdtrt_cert_type", v->cert.type);
    put_str(m, "mdtrt_cert_no", v->cert.number);
    put_str(m, "med_type", v->med_type);
    put_str(m, "ipt_no", v->his_visit_id);
    put_str(m, "ipt_type", v->emergency ? "2" : "1");
    put_str(m, "begntime", v->begntime);
    put_str(m, "adm_dept_codg", v->dept_code);
    put_str(m, "adm_dept_name", v->dept_name);
    put_str(m, "atddr_no", v->doctor_code);
    put_str(m, "chfpdr_name", v->doctor_name);
    put_str(m, "adm_diag_dscr", main ? main->name : "");
    put_str(m, "dscg_maindiag_code", main ? main->code : "");
    put_str(m, "dscg_maindiag_name", main ? main->name : "");
    put_str(m, "dise_codg", main ? main->code : "");
    put_str(m, "dise_name", main ? main->name : "");
    put_str(m, "trum_flag", flag01(v->trauma));
    put_str(m, "rel_ttp_flag", flag01(v->third_party));
    put_str(m, "insuplc_admdvs", v->insuplc_admdvs);
    put_str(m, "mdtrtarea_admvs", v->mdtrtarea_admvs);
    if (!(input = wrap("mdtrtinfo", m)))
        return NULL;
    json_object_object_add(input, "diseinfo", diseinfo(v, true));
    return input;
}

static const char *otp_er_refl_flag(const struct desk_visit *v)
{
    return v->emergency ? "1" : v->referral ? "2" : "0";
}

json_object *desk_2201_input(const struct desk_visit *v)
{
    json_object *d = json_object_new_object();

    if (!d)
        return NULL;
    put_str(d, "psn_no", v->psn_no);
    put_str(d, "insutype", v->insutype);
    put_str(d, "begntime", v->begntime);
    put_str(d, "mdtrt_cert_type", v->cert.type);
    put_str(d, "mdtrt_cert_no", v->cert.number);
    put_str(d, "ipt_otp_no", v->his_visit_id);
    put_str(d, "atddr_no", v->doctor_code);
    put_str(d, "dr_name", v->doctor_name);
    put_str(d, "dept_code", v->dept_code);
    put_str(d, "dept_name", v->dept_name);
    put_str(d, "caty", v->dept_code);
    put_str(d, "med_type", v->med_type);
    put_str(d, "otp_er_refl_flag", otp_er_refl_flag(v));
    put_str(d, "insuplc_admdvs", v->insuplc_admdvs);
    return wrap("data", d);
}

json_object *desk_2203_input(const struct desk_visit *v)
{
    const struct desk_diagnosis *main = main_diagnosis(v);
    json_object *m = json_object_new_object(), *input;

    if (!m)
        return NULL;
    put_str(m, "mdtrt_id", v->mdtrt_id);
    put_str(m, "psn_no", v->psn_no);
    put_str(m, "med_type", v->med_type);
    put_str(m, "begntime", v->begntime);
    put_str(m, "main_cond_dscr", main ? main->name : "");
    put_str(m, "dise_codg", main ? main->code : "");
    put_str(m, "dise_name", main ? main->name : "");
    put_str(m, "otp_er_refl_flag", otp_er_refl_flag(v));
    if (!(input = wrap("mdtrtinfo", m)))
        return NULL;
    json_object_object_add(input, "diseinfo", diseinfo(v, false));
    return input;
}

json_object *desk_2402_input(const struct desk_visit *v, const char *endtime, const char *reason)
{
    const struct desk_diagnosis *main = main_diagnosis(v);
    json_object *d = json_object_new_object(), *input;

    if (!d)
        return NULL;
    put_str(d, "mdtrt_id", v->mdtrt_id);
    put_str(d, "psn_no", v->psn_no);
    put_str(d, "insutype", v->insutype);
    put_str(d, "endtime", endtime);
    put_str(d, "dise_codg", main ? main->code : ""); /* national-interface.md §2.5 */
    put_str(d, "dise_name", main ? main->name : "");
    put_str(d, "dscg_dept_codg", v->dept_code);
    put_str(d, "dscg_dept_name", v->dept_name);
    put_str(d, "dscg_way", reason && reason[0] ? reason : "1");
    if (!(input = wrap("dscginfo", d)))
        return NULL;
    json_object_object_add(input, "diseinfo", diseinfo(v, true));
    return input;
}

json_object *desk_2405_input(const struct desk_visit *v)
{
    json_object *d = json_object_new_object();

    if (!d)
        return NULL;
    put_str(d, "mdtrt_id", v->mdtrt_id);
    put_str(d, "psn_no", v->psn_no);
    return wrap("data", d);
}

json_object *desk_visit_cancel_input(const char *infno, const char *psn_no, const char *mdtrt_id,
                                     const char *ipt_otp_no)
{
    json_object *d = json_object_new_object();

    if (!d)
        return NULL;
    put_str(d, "psn_no", psn_no);
    put_str(d, "mdtrt_id", mdtrt_id);
    if (strcmp(infno, "2202") == 0)
        put_str(d, "ipt_otp_no", ipt_otp_no);
    return wrap("data", d);
}

/* As text (jsontext): a chunk of up to a few hundred lines, each of sixteen fields, is the
 * largest message posad builds. */
json_object *desk_fees_input(const char *infno, const char *psn_no, const char *mdtrt_id,
                             const char *chrg_bchno, bool emergency, const struct desk_fee *fees,
                             size_t n)
{
    bool outpatient = strcmp(infno, "2204") == 0;
    /* A JSON text in a string (national-interface.md): er_flag 0 not / 1 an emergency. */
    const char *exp_content = emergency ? "{\"er_flag\":\"1\"}" : "{\"er_flag\":\"0\"}";
    struct jsontext j = {0};

    jsontext_open(&j, NULL, '[');
    for (size_t i = 0; i < n; i++) {
        const struct desk_fee *f = &fees[i];

        jsontext_open(&j, NULL, '{');
        text_str(&j, "feedetl_sn", f->feedetl_sn);
        text_str(&j, "mdtrt_id", mdtrt_id);
        text_str(&j, "psn_no", psn_no);
        if (outpatient)
            text_str(&j, "chrg_bchno", chrg_bchno);
        text_str(&j, "fee_ocur_time", f->time);
        text_str(&j, "med_list_codg", f->list_code);
        text_str(&j, "medins_list_codg", f->hosp_code);
        text_str(&j, "medins_list_name", f->name);
        jsontext_dec_str(&j, "det_item_fee_sumamt", f->amount_fen, DEC_MONEY);
        jsontext_dec_str(&j, "cnt", f->qty_e4, DEC_QTY);
        jsontext_dec_str(&j, "pric", f->price_e6, DEC_PRICE);
        text_str(&j, "bilg_dept_codg", f->dept_code);
        text_str(&j, "bilg_dr_codg", f->doctor_code);
        jsontext_str(&j, "etip_flag", flag01(f->etip_hosp_code != NULL));
        text_str(&j, "etip_hosp_code", f->etip_hosp_code);
        jsontext_str(&j, "dscg_tkdrug_flag", flag01(f->discharge_med));
        jsontext_str(&j, "exp_content", exp_content);
        if (!outpatient)
            text_str(&j, "init_feedetl_sn", f->init_feedetl_sn);
        jsontext_close(&j, '}');
    }
    jsontext_close(&j, ']');
    return wrap("feedetail", jsontext_take(&j));
}

json_object *desk_fees_cancel_input(const char *infno, const char *psn_no, const char *mdtrt_id,
                                    const char *chrg_bchno, const char *const *feedetl_sns,
                                    size_t n)
{
    json_object *a, *d;

    if (strcmp(infno, "2205") == 0) {
        if (!(d = json_object_new_object()))
            return NULL;
        put_str(d, "psn_no", psn_no);
        put_str(d, "mdtrt_id", mdtrt_id);
        put_str(d, "chrg_bchno", chrg_bchno);
        return wrap("data", d);
    }
    a = json_object_new_array();
    for (size_t i = 0; a && i < n; i++) {
        if (!(d = json_object_new_object()))
            break;
        put_str(d, "psn_no", psn_no);
        put_str(d, "mdtrt_id", mdtrt_id);
        put_str(d, "feedetl_sn", feedetl_sns[i]);
        json_object_array_add(a, d);
    }
    return wrap("data", a);
}

static int fee_split_decode(json_object *row, struct desk_fee_split *out,
                            struct jsonmap_error *err)
{
    const char *lv = "", *category = "";
    struct split *s = &out->split;
    int rc;

    if ((rc = jsonmap_get_string(row, "feedetl_sn", BOUND_CODE, true, &out->feedetl_sn, err)) < 0 ||
        (rc = jsonmap_get_decimal(row, "det_item_fee_sumamt", DEC_MONEY, true, &s->amount, err)) < 0 ||
        (rc = jsonmap_get_decimal(row, "fulamt_ownpay_amt", DEC_MONEY, true, &s->fulamt_ownpay, err)) < 0 ||
        (rc = jsonmap_get_decimal(row, "overlmt_amt", DEC_MONEY, true, &s->overlmt, err)) < 0 ||
        (rc = jsonmap_get_decimal(row, "preselfpay_amt", DEC_MONEY, true, &s->preselfpay, err)) < 0 ||
        (rc = jsonmap_get_decimal(row, "inscp_scp_amt", DEC_MONEY, true, &s->inscp, err)) < 0 ||
        (rc = jsonmap_get_decimal(row, "selfpay_prop", DEC_RATIO, false, &s->selfpay_prop_e6, err)) < 0 ||
        (rc = jsonmap_get_string(row, "chrgitm_lv", 2, false, &lv, err)) < 0 ||
        (rc = jsonmap_get_string(row, "med_chrgitm_type", 2, false, &category, err)) < 0)
        return rc;
    s->lv = LV_NONE;
    s->category = 0; /* not said: nothing to compare the local one with */
    if (lv[0] && chrgitm_lv_parse(lv, &s->lv) < 0)
        return jsonmap_fail(err, POSA_ECLASS, NULL, "chrgitm_lv");
    if (category[0] && category_parse(category, &s->category) < 0)
        return jsonmap_fail(err, POSA_ECATEGORY, NULL, "med_chrgitm_type");
    return 0;
}

int desk_fees_decode(struct json_object *output, desk_fee_split_cb cb, void *data,
                     struct jsonmap_error *err)
{
    json_object *rows = child(output, "result", json_type_array);
    char prefix[48];
    int rc;

    if (!rows)
        return jsonmap_fail(err, POSA_EFIELD, NULL, "result");
    for (size_t i = 0; i < json_object_array_length(rows); i++) {
        struct desk_fee_split row = {0};

        if ((rc = fee_split_decode(json_object_array_get_idx(rows, i), &row, err)) < 0) {
            str_index(prefix, sizeof prefix, "result", i);
            return jsonmap_nest(err, prefix);
        }
        if ((rc = cb(&row, data)) != 0)
            return rc;
    }
    return 0;
}

int desk_1312_decode(struct json_object *output, int64_t page, int64_t max_pages,
                     struct json_object **ret_rows, int64_t *ret_pages, int64_t *ret_total,
                     struct jsonmap_error *err)
{
    json_object *rows = child(output, "data", json_type_array);
    int64_t pages = -1, total = -1; /* -1: not given */

    if (!rows)
        return jsonmap_fail(err, POSA_EFIELD, NULL, "data");
    /* A whole number, or its digits in a string, as the platform's numbers come; absent or
     * null: not known (-1), the caller pages on while pages come full. */
    struct json_object *given = NULL;
    bool known = json_object_object_get_ex(output, "pages", &given) && given;

    if (jsonmap_get_decimal(output, "pages", 0, false, &pages, err) < 0)
        return jsonmap_fail(err, POSA_EFIELD, NULL, "pages");
    if (pages == 0) /* nothing matched: one empty page */
        pages = 1;
    if ((known && pages < 1) || pages > max_pages ||
        (json_object_array_length(rows) == 0 && page < pages))
        return jsonmap_fail(err, POSA_ERANGE, NULL, "pages");
    if (jsonmap_get_decimal(output, "recordCounts", 0, false, &total, err) < 0 || total < -1)
        return jsonmap_fail(err, POSA_EFIELD, NULL, "recordCounts");
    *ret_rows = rows;
    *ret_pages = pages;
    *ret_total = total;
    return 0;
}

json_object *desk_settle_input(const char *infno, const struct desk_settle *s)
{
    bool outpatient = infno[1] == '2'; /* 22xx */
    json_object *d = json_object_new_object();

    if (!d)
        return NULL;
    put_str(d, "psn_no", s->psn_no);
    put_str(d, "mdtrt_id", s->mdtrt_id);
    put_str(d, "mdtrt_cert_type", s->cert.type);
    put_str(d, "mdtrt_cert_no", s->cert.number);
    put_str(d, "card_sn", s->cert.card_sn);
    put_dec(d, "medfee_sumamt", s->medfee_sumamt, DEC_MONEY);
    put_str(d, "psn_setlway", "01"); /* settle by items */
    if (outpatient)
        put_str(d, "med_type", s->med_type ? s->med_type : "");
    if (strcmp(infno, "2207") == 0 || strcmp(infno, "2304") == 0) {
        /* the bill's parts as split here, line by line checked against the platform's */
        put_str(d, "invono", "");
        put_dec(d, "fulamt_ownpay_amt", s->totals.fulamt_ownpay, DEC_MONEY);
        put_dec(d, "overlmt_selfpay", s->totals.overlmt, DEC_MONEY);
        put_dec(d, "preselfpay_amt", s->totals.preselfpay, DEC_MONEY);
        put_dec(d, "inscp_scp_amt", s->totals.inscp, DEC_MONEY);
    }
    if (!outpatient)
        put_str(d, "mid_setl_flag", "0"); /* settled at discharge, not midway */
    put_str(d, "acct_used_flag", flag01(s->use_account));
    put_str(d, "insutype", s->insutype);
    put_str(d, "insuplc_admdvs", s->insuplc_admdvs);
    if (outpatient)
        put_str(d, "chrg_bchno", s->chrg_bchno);
    else
        put_str(d, "dscg_time", s->dscg_time);
    return wrap("data", d);
}

/* The amounts of setlinfo, by the national names, into a policy_result. */
static int amounts_decode(json_object *setl, struct policy_result *r, struct jsonmap_error *err)
{
    const struct {
        const char *key;
        int64_t *field;
        bool required;
    } keys[] = {
        {"medfee_sumamt", &r->medfee_sumamt, true},
        {"fulamt_ownpay_amt", &r->fulamt_ownpay_amt, false},
        {"overlmt_selfpay", &r->overlmt_selfpay, false},
        {"preselfpay_amt", &r->preselfpay_amt, false},
        {"inscp_scp_amt", &r->inscp_scp_amt, false},
        {"act_pay_dedc", &r->act_pay_dedc, false},
        {"hifp_pay", &r->hifp_pay, false},
        {"fund_pay_sumamt", &r->fund_pay_sumamt, true},
        {"psn_part_amt", &r->psn_part_amt, true},
        {"acct_pay", &r->acct_pay, false},
        {"psn_cash_pay", &r->psn_cash_pay, true},
    };
    int rc;

    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if ((rc = jsonmap_get_decimal(setl, keys[i].key, DEC_MONEY, keys[i].required,
                                      keys[i].field, err)) < 0)
            return rc;
    return 0;
}

static int funds_decode(json_object *output, struct desk_settlement *s, struct jsonmap_error *err)
{
    json_object *rows = child(output, "setldetail", json_type_array);
    size_t n = rows ? json_object_array_length(rows) : 0;
    char prefix[48];
    int rc;

    for (size_t i = 0; i < n; i++) {
        json_object *row = json_object_array_get_idx(rows, i);
        struct desk_fund f = {.name = ""}, *last = &s->funds[DESK_FUNDS_MAX - 1];

        if ((rc = jsonmap_get_string(row, "fund_pay_type", BOUND_CODE, true, &f.fund_pay_type,
                                     err)) < 0 ||
            (rc = jsonmap_get_string(row, "fund_pay_type_name", BOUND_NAME, false, &f.name, err)) <
                0 ||
            (rc = jsonmap_get_decimal(row, "fund_payamt", DEC_MONEY, true, &f.amount, err)) < 0) {
            str_index(prefix, sizeof prefix, "setldetail", i);
            return jsonmap_nest(err, prefix);
        }
        if (s->n_funds < DESK_FUNDS_MAX) {
            s->funds[s->n_funds++] = f;
            continue;
        }
        /* More funds than kept: the last row sums the rest, so the rows still add up to the
         * fund's total (a row dropped left the statement 100.00 short of it). */
        last->fund_pay_type = "";
        last->name = DESK_FUNDS_REST;
        if (__builtin_add_overflow(last->amount, f.amount, &last->amount))
            return jsonmap_fail(err, POSA_EOVERFLOW, NULL, "setldetail");
    }
    return 0;
}

int desk_settlement_decode(struct json_object *output, struct desk_settlement *ret,
                           struct jsonmap_error *err)
{
    json_object *setl = child(output, "setlinfo", json_type_object);
    struct desk_settlement s = {0};
    int rc;

    if (!setl)
        return jsonmap_fail(err, POSA_EFIELD, NULL, "setlinfo");
    s.setl_id = s.mdtrt_id = s.psn_no = s.filing_kind = s.insutype = s.clr_type = s.clr_optins =
        s.setl_time = "";
    if ((rc = jsonmap_get_string(setl, "setl_id", BOUND_CODE, false, &s.setl_id, err)) < 0 ||
        (rc = jsonmap_get_string(setl, "mdtrt_id", BOUND_CODE, false, &s.mdtrt_id, err)) < 0 ||
        (rc = jsonmap_get_string(setl, "psn_no", BOUND_CODE, false, &s.psn_no, err)) < 0 ||
        (rc = jsonmap_get_string(setl, "filing_kind", BOUND_CODE, false, &s.filing_kind, err)) <
            0 ||
        (rc = jsonmap_get_string(setl, "insutype", 3, false, &s.insutype, err)) < 0 ||
        (rc = jsonmap_get_string(setl, "clr_type", 4, false, &s.clr_type, err)) < 0 ||
        (rc = jsonmap_get_string(setl, "clr_optins", 6, false, &s.clr_optins, err)) < 0 ||
        (rc = jsonmap_get_string(setl, "setl_time", 19, false, &s.setl_time, err)) < 0 ||
        (rc = amounts_decode(setl, &s.amounts, err)) < 0)
        return jsonmap_nest(err, "setlinfo");
    if ((rc = funds_decode(output, &s, err)) < 0)
        return rc;
    *ret = s;
    return 0;
}

const char *desk_settlement_check(const struct desk_settlement *s,
                                  const struct desk_settlement_sent *sent)
{
    if (!str_is_code(s->setl_id))
        return "no setl_id, or one with blanks or control characters";
    return desk_amounts_check(s, sent);
}

const char *desk_amounts_check(const struct desk_settlement *s,
                               const struct desk_settlement_sent *sent)
{
    const struct policy_result *a = &s->amounts;
    const int64_t amounts[] = {a->medfee_sumamt,  a->fulamt_ownpay_amt, a->overlmt_selfpay,
                               a->preselfpay_amt, a->inscp_scp_amt,     a->act_pay_dedc,
                               a->hifp_pay,       a->fund_pay_sumamt,   a->psn_part_amt,
                               a->acct_pay,       a->psn_cash_pay};
    int64_t t;

    for (size_t i = 0; i < sizeof amounts / sizeof amounts[0]; i++)
        if (amounts[i] < 0)
            return "a negative amount";
    /* How the parts add up differs by province (Guangdong's fund includes the account, a
     * hospital's part may be apart): only that none is more than the whole holds in all,
     * the bill's parts, the payers' and each fund's. */
    for (size_t i = 1; i < sizeof amounts / sizeof amounts[0]; i++)
        if (amounts[i] > a->medfee_sumamt)
            return "an amount larger than medfee_sumamt";
    for (size_t i = 0; i < s->n_funds; i++)
        if (s->funds[i].amount < 0 || s->funds[i].amount > a->medfee_sumamt)
            return "a fund's amount negative or larger than medfee_sumamt";
    if (s->setl_time[0] && datetime_parse(s->setl_time, strlen(s->setl_time), &t) < 0)
        return "setl_time is not a time";
    if (!sent)
        return NULL;
    if (sent->medfee_sumamt >= 0 && sent->medfee_sumamt != a->medfee_sumamt)
        return "medfee_sumamt is not the total sent";
    if (sent->mdtrt_id && sent->mdtrt_id[0] && s->mdtrt_id[0] &&
        strcmp(sent->mdtrt_id, s->mdtrt_id) != 0)
        return "another visit's mdtrt_id";
    if (sent->psn_no && sent->psn_no[0] && s->psn_no[0] && strcmp(sent->psn_no, s->psn_no) != 0)
        return "another person's psn_no";
    return NULL;
}

struct json_object *desk_settlement_sent_read(const char *request, struct desk_settlement_sent *ret)
{
    struct json_object *doc = request ? json_tokener_parse(request) : NULL;
    struct json_object *data =
        child(child(doc, "input", json_type_object), "data", json_type_object);

    *ret = (struct desk_settlement_sent){.medfee_sumamt = -1};
    if (!data)
        return doc;
    if (jsonmap_get_string(data, "mdtrt_id", BOUND_CODE, false, &ret->mdtrt_id, NULL) < 0)
        ret->mdtrt_id = NULL;
    if (jsonmap_get_string(data, "psn_no", BOUND_CODE, false, &ret->psn_no, NULL) < 0)
        ret->psn_no = NULL;
    if (jsonmap_get_decimal(data, "medfee_sumamt", DEC_MONEY, true, &ret->medfee_sumamt, NULL) < 0)
        ret->medfee_sumamt = -1;
    return doc;
}

json_object *desk_settlement_input(const char *psn_no, const char *mdtrt_id, const char *setl_id)
{
    json_object *d = json_object_new_object();

    if (!d)
        return NULL;
    put_str(d, "psn_no", psn_no);
    put_str(d, "mdtrt_id", mdtrt_id);
    put_str(d, "setl_id", setl_id);
    return wrap("data", d);
}

json_object *desk_3201_input(const struct desk_day_totals *t)
{
    json_object *d = json_object_new_object();
    char count[24];

    if (!d)
        return NULL;
    snprintf(count, sizeof count, "%lld", (long long)t->count);
    put_str(d, "insutype", t->insutype);
    put_str(d, "clr_type", t->clr_type);
    put_str(d, "setl_optins", t->setl_optins);
    put_str(d, "stmt_begndate", t->begin_date);
    put_str(d, "stmt_enddate", t->end_date);
    put_dec(d, "medfee_sumamt", t->medfee_sumamt, DEC_MONEY);
    put_dec(d, "fund_pay_sumamt", t->fund_pay_sumamt, DEC_MONEY);
    put_dec(d, "acct_pay", t->acct_pay, DEC_MONEY);
    put_str(d, "fixmedins_setl_cnt", count);
    put_str(d, "refd_setl_flag", "0");
    return wrap("data", d);
}

/* stmt_rslt says "matched" as zeros: "0" in some provinces, "000000" in others, or the
 * number 0 (national-interface.md, 3201). */
static bool stmt_matched(json_object *v)
{
    const char *t = v && (json_object_is_type(v, json_type_string) ||
                          json_object_is_type(v, json_type_int))
                        ? json_object_get_string(v)
                        : "";
    size_t n = strlen(t);

    return n > 0 && n <= 8 && strspn(t, "0") == n;
}

int desk_3201_decode(struct json_object *output, bool *ret_match, const char **ret_text,
                     struct jsonmap_error *err)
{
    json_object *s = child(output, "stmtinfo", json_type_object), *result = NULL;
    const char *text = "";
    int rc;

    if (!s)
        return jsonmap_fail(err, POSA_EFIELD, NULL, "stmtinfo");
    if (!json_object_object_get_ex(s, "stmt_rslt", &result) || !result ||
        !(json_object_is_type(result, json_type_string) ||
          json_object_is_type(result, json_type_int)) ||
        strlen(json_object_get_string(result)) > 8)
        return jsonmap_fail(err, POSA_EFIELD, "stmtinfo", "stmt_rslt");
    if ((rc = jsonmap_get_string(s, "stmt_rslt_dscr", BOUND_STRING, false, &text, err)) < 0)
        return jsonmap_nest(err, "stmtinfo");
    *ret_match = stmt_matched(result);
    *ret_text = text;
    return 0;
}

json_object *desk_3202_input(const struct desk_day_totals *t, const struct desk_day_row *rows,
                             size_t n)
{
    json_object *input = desk_3201_input(t), *data = NULL, *detail = json_object_new_array();

    if (!input || !detail || !json_object_object_get_ex(input, "data", &data)) {
        json_object_put(input);
        json_object_put(detail);
        return NULL;
    }
    put_dec(data, "cash_payamt", t->cash_pay, DEC_MONEY);
    for (size_t i = 0; i < n; i++) {
        json_object *r = json_object_new_object();

        if (!r)
            break;
        put_str(r, "psn_no", rows[i].psn_no);
        put_str(r, "mdtrt_id", rows[i].mdtrt_id);
        put_str(r, "setl_id", rows[i].setl_id);
        put_str(r, "msgid", rows[i].msgid);
        put_dec(r, "medfee_sumamt", rows[i].medfee_sumamt, DEC_MONEY);
        put_dec(r, "fund_pay_sumamt", rows[i].fund_pay_sumamt, DEC_MONEY);
        put_dec(r, "acct_pay", rows[i].acct_pay, DEC_MONEY);
        put_str(r, "refd_setl_flag", "0");
        json_object_array_add(detail, r);
    }
    json_object_object_add(data, "detail", detail);
    return input;
}

int desk_3202_decode(struct json_object *output, desk_mismatch_cb cb, void *data,
                     struct jsonmap_error *err)
{
    json_object *detail = child(output, "detail", json_type_array);
    json_object *only = child(output, "platform_only", json_type_array);
    int rc;

    if (!detail)
        return jsonmap_fail(err, POSA_EFIELD, NULL, "detail");
    for (size_t i = 0; i < json_object_array_length(detail); i++) {
        json_object *row = json_object_array_get_idx(detail, i), *r = NULL;

        if (json_object_object_get_ex(row, "stmt_rslt", &r) && stmt_matched(r))
            continue;
        if ((rc = cb(row, false, data)) != 0)
            return rc;
    }
    for (size_t i = 0; only && i < json_object_array_length(only); i++)
        if ((rc = cb(json_object_array_get_idx(only, i), true, data)) != 0)
            return rc;
    return 0;
}
