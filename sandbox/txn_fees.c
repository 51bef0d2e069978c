/* Fee lines: upload with the sandbox's own split by the scenario catalog (2204 outpatient,
 * 2301 inpatient with refund lines), and their cancellation (2205, 2302). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bound.h"
#include "core/decimal.h"
#include "core/split.h"
#include "core/err.h"
#include "core/str.h"
#include "interface/json/jsonmap.h"
#include "interface/json/jsontext.h"
#include "sandbox/idmap.h"
#include "sandbox/txn.h"

/* A fee line as read from the message and split by the catalog, before the ledger sees it. */
struct read_line {
    struct ledger_fee f; /* f.time < 0: not given (the message's time, known on the loop) */
    const struct catalog_item *item;
    int split_rc; /* split_line's answer: f.split is the line's split when 0 */
    bool etip, etip_hosp;
};

/* An upload read off the loop (fees_read): its lines up to the first one that could not be
 * read, why that one could not, and the answer's result[] rows for them. */
struct fees_read {
    size_t n;
    bool bad; /* lines[n] (or the list itself) could not be read: err says why */
    char err[TXN_ERR];
    struct json_object *result;
    struct read_line lines[];
};

/* A visit the upload carries lines of, with its lines as loaded plus the upload's so far. */
struct upload_visit {
    char mdtrt_id[LEDGER_ID];
    struct ledger_lines *lines;
};

/* The visits a message's lines belong to, each loaded once and saved at the end: an upload's
 * (2204/2301, which reads rd) or a cancel's (2205/2302, rd NULL). */
struct upload {
    struct txn *t;
    const struct fees_read *rd;
    size_t at; /* the line being checked */
    bool inpatient;
    struct sc_person *p;
    struct ledger_visit v;      /* the visit of the previous line (lines usually share one) */
    struct ledger_lines *lines; /* v's */
    /* Every visit met so far, each loaded once and saved at the end (an upload alternating
     * between stays must not save and load one at every switch), found by mdtrt_id. */
    struct upload_visit *visits;
    size_t n_visits;
    struct idmap ids;
};

static const char *visit_id(size_t i, const void *data)
{
    return ((const struct upload *)data)->visits[i].mdtrt_id;
}

static bool visit_is(size_t i, const char *mdtrt_id, const void *data)
{
    return strcmp(visit_id(i, data), mdtrt_id) == 0;
}

/* How many lines from the one being checked are of visit mdtrt_id: the room its lines are
 * given when it is loaded (an upload is usually one visit's; a run of one when they alternate
 * between visits, so that thousands of visits do not each take room for the whole upload). */
static size_t run_of(const struct upload *u, const char *mdtrt_id)
{
    size_t i = u->at;

    if (!u->rd)
        return 0; /* a cancel's: it adds no lines */
    while (i < u->rd->n && strcmp(u->rd->lines[i].f.mdtrt_id, mdtrt_id) == 0)
        i++;
    return i - u->at;
}

/* The message's visit mdtrt_id, loaded when first met. An upload's visit is recorded against it
 * then; a cancel records a visit when it cancels lines of it (cancel_lines). */
static int upload_lines(struct upload *u, const char *mdtrt_id, struct ledger_lines **ret)
{
    struct ledger *l = u->t->sb->ledger;
    size_t i = idmap_find(&u->ids, mdtrt_id, visit_is, u);
    struct upload_visit *grown;
    int rc;

    if (i != SIZE_MAX) {
        *ret = u->visits[i].lines;
        return 0;
    }
    if (!(grown = realloc(u->visits, (u->n_visits + 1) * sizeof(*grown))))
        return -ENOMEM;
    u->visits = grown;
    if ((rc = idmap_reserve(&u->ids, visit_id, u)) < 0 ||
        (u->rd && (rc = ledger_upload_visit(l, u->t->env->head.msgid, mdtrt_id)) < 0) ||
        (rc = ledger_lines_open(l, mdtrt_id, ret)) < 0)
        return rc;
    if ((rc = ledger_lines_reserve(*ret, run_of(u, mdtrt_id))) < 0) {
        ledger_lines_close(*ret);
        *ret = NULL;
        return rc;
    }
    str_copy(grown[u->n_visits].mdtrt_id, sizeof(grown[0].mdtrt_id), mdtrt_id);
    grown[u->n_visits].lines = *ret;
    idmap_put(&u->ids, mdtrt_id, u->n_visits++);
    return 0;
}

/* Saves every visit's new lines (save) and lets them go: 0, or -1 with t's refusal. */
static int upload_end(struct upload *u, bool save)
{
    int rc = 0;

    for (size_t i = 0; i < u->n_visits; i++) {
        if (save && rc == 0)
            rc = ledger_lines_save(u->t->sb->ledger, u->visits[i].lines);
        ledger_lines_close(u->visits[i].lines);
    }
    free(u->visits);
    u->visits = NULL;
    u->n_visits = 0;
    idmap_free(&u->ids);
    return rc < 0 ? txn_ledger_error(u->t, rc) : 0;
}

/* The line's person and visit, checked at every change of visit; the upload is recorded
 * against each visit it carries lines of (a reversal finds its lines by visit). */
static int line_visit(struct upload *u, const char *where, const char *psn, const char *mdtrt_id)
{
    struct txn *t = u->t;
    struct ledger_settlement s;
    int rc;

    if (u->lines && strcmp(u->v.mdtrt_id, mdtrt_id) == 0 && strcmp(u->p->psn_no, psn) == 0)
        return 0;
    u->lines = NULL;
    if (txn_person(t, psn, &u->p) < 0 || txn_visit(t, mdtrt_id, u->p, u->inpatient, &u->v) < 0) {
        char why[sizeof(t->err)];

        memcpy(why, t->err, sizeof(why));
        return txn_refuse(t, "%s: %s", where, why);
    }
    if (u->inpatient) {
        rc = ledger_settlement_active(t->sb->ledger, mdtrt_id, &s);
        if (rc < 0)
            return txn_ledger_error(t, rc);
        if (rc == 1) {
            ledger_settlement_free(&s);
            return txn_refuse(t,
                              "%s: stay %s is settled (%s): cancel the settlement before "
                              "uploading more lines",
                              where, mdtrt_id, s.setl_id);
        }
    }
    if ((rc = upload_lines(u, mdtrt_id, &u->lines)) < 0)
        return txn_ledger_error(t, rc);
    return 0;
}

/* A refund line (negative cnt) must name an active original line of the same item and
 * price, and not refund more than it charged. */
static int check_refund(struct upload *u, const char *where, const char *init_sn,
                        const struct ledger_fee *f)
{
    struct txn *t = u->t;
    const struct ledger_fee *orig;

    if (!u->inpatient)
        return txn_refuse(t, "%s: a negative cnt (refund) is only for stays (2301)", where);
    if (!init_sn[0])
        return txn_refuse(t, "%s: a refund line (negative cnt) needs init_feedetl_sn", where);
    orig = ledger_lines_find(u->lines, init_sn);
    if (!orig || strcmp(orig->state, "active") != 0 || orig->qty_e4 <= 0)
        return txn_refuse(t, "%s: init_feedetl_sn %s is not an uploaded charge of this stay", where,
                          init_sn);
    if (strcmp(orig->list_code, f->list_code) != 0 || orig->price_e6 != f->price_e6)
        return txn_refuse(t, "%s: a refund must have the item and price of line %s", where,
                          init_sn);
    if (orig->qty_e4 + ledger_lines_refunded(u->lines, init_sn) + f->qty_e4 < 0)
        return txn_refuse(t, "%s: refunds more than line %s charged", where, init_sn);
    return 0;
}

static void add_result(struct jsontext *j, const struct ledger_fee *f,
                       const struct catalog_item *item)
{
    bool limited = item && item->price_limit_e6 != PRICE_NO_LIMIT;
    /* Not in the catalog: fully self-paid, as a 丙 item of "other" fees. */
    unsigned lv = f->split.lv == LV_NONE ? LV_C : f->split.lv;
    unsigned category = f->split.category ? f->split.category : CATEGORY_OTHER;
    char lv_code[3], cat[3];

    jsontext_open(j, NULL, '{');
    jsontext_str(j, "feedetl_sn", f->feedetl_sn);
    jsontext_dec(j, "det_item_fee_sumamt", f->split.amount, DEC_MONEY);
    jsontext_dec(j, "cnt", f->qty_e4, DEC_QTY);
    jsontext_dec(j, "pric", f->price_e6, DEC_PRICE);
    if (limited)
        jsontext_dec(j, "pric_uplmt_amt", item->price_limit_e6, DEC_PRICE);
    else
        jsontext_str(j, "pric_uplmt_amt", NULL);
    jsontext_dec(j, "selfpay_prop", f->split.selfpay_prop_e6, DEC_RATIO);
    jsontext_dec(j, "fulamt_ownpay_amt", f->split.fulamt_ownpay, DEC_MONEY);
    jsontext_dec(j, "overlmt_amt", f->split.overlmt, DEC_MONEY);
    jsontext_dec(j, "preselfpay_amt", f->split.preselfpay, DEC_MONEY);
    jsontext_dec(j, "inscp_scp_amt", f->split.inscp, DEC_MONEY);
    jsontext_str(j, "chrgitm_lv", two_digit_code(lv, lv_code));
    jsontext_str(j, "med_chrgitm_type", two_digit_code(category, cat));
    jsontext_str(j, "bas_medn_flag", "0");
    jsontext_str(j, "hi_nego_drug_flag", "0");
    jsontext_str(j, "chld_medc_flag", "0");
    jsontext_str(j, "list_sp_item_flag", "0");
    jsontext_str(j, "lmt_used_flag", limited ? "1" : "0");
    jsontext_str(j, "drt_reim_flag", "0");
    jsontext_str(j, "memo", item ? "" : "not in the catalog: fully self-paid");
    jsontext_close(j, '}');
}

/* Reads line i (pure: the message and the catalog only), splits it, and writes its result
 * row; -1 with t->err when a field cannot be read. */
/* etip_flag "0"/"1" and exp_content, a JSON object in a string whose er_flag is 0 not
 * emergency, 1 emergency, 2 pre-operative outpatient exam, 3 elective surgery (sandbox.md's
 * value sets; "" is absent). */
static int check_line_flags(struct txn *t, const char *where, const char *etip, const char *exp)
{
    struct json_object *doc = NULL, *er = NULL;
    const char *er_text;
    bool ok;

    if (etip[0] && strcmp(etip, "0") != 0 && strcmp(etip, "1") != 0)
        return txn_refuse(t, "%s.etip_flag is 0 or 1: %s", where, etip);
    if (!exp[0])
        return 0;
    if (jsonmap_parse(exp, strlen(exp), &doc, NULL) < 0 ||
        !json_object_is_type(doc, json_type_object)) {
        json_object_put(doc);
        return txn_refuse(t, "%s.exp_content is not a JSON object in a string", where);
    }
    ok = !json_object_object_get_ex(doc, "er_flag", &er) ||
         json_object_is_type(er, json_type_string) || json_object_is_type(er, json_type_int);
    er_text = ok && er ? json_object_get_string(er) : "0";
    ok = ok && strlen(er_text) == 1 && er_text[0] >= '0' && er_text[0] <= '3';
    json_object_put(doc);
    return ok ? 0 : txn_refuse(t, "%s.exp_content: er_flag is 0, 1, 2 or 3", where);
}

static int read_line(struct txn *t, const struct catalog_index *catalog, bool inpatient,
                     struct json_object *o, size_t i, struct read_line *r, struct jsontext *rows)
{
    const char *sn, *mdtrt_id, *psn, *bchno, *code, *etip, *etip_hosp, *exp, *init_sn = "";
    struct ledger_fee *f = &r->f;
    struct fee_line line;
    char where[32];

    str_index(where, sizeof(where), "feedetail", i);
    if (txn_str(t, o, where, "feedetl_sn", BOUND_CODE, true, &sn) < 0 ||
        txn_str(t, o, where, "mdtrt_id", BOUND_CODE, true, &mdtrt_id) < 0 ||
        txn_str(t, o, where, "psn_no", BOUND_CODE, true, &psn) < 0 ||
        txn_str(t, o, where, "chrg_bchno", BOUND_CODE, false, &bchno) < 0 ||
        txn_str(t, o, where, "med_list_codg", BOUND_CODE, true, &code) < 0 ||
        txn_str(t, o, where, "etip_flag", 1, false, &etip) < 0 ||
        txn_str(t, o, where, "etip_hosp_code", BOUND_CODE, false, &etip_hosp) < 0 ||
        txn_str(t, o, where, "exp_content", BOUND_STRING, false, &exp) < 0 ||
        check_line_flags(t, where, etip, exp) < 0 ||
        (inpatient && txn_str(t, o, where, "init_feedetl_sn", BOUND_CODE, false, &init_sn) < 0) ||
        txn_dec(t, o, where, "det_item_fee_sumamt", DEC_MONEY, true, &f->split.amount) < 0 ||
        txn_dec(t, o, where, "cnt", DEC_QTY, true, &f->qty_e4) < 0 ||
        txn_dec(t, o, where, "pric", DEC_PRICE, true, &f->price_e6) < 0 ||
        txn_time(t, o, where, "fee_ocur_time", -1, &f->time) < 0)
        return -1;
    str_copy(f->mdtrt_id, sizeof(f->mdtrt_id), mdtrt_id);
    str_copy(f->feedetl_sn, sizeof(f->feedetl_sn), sn);
    str_copy(f->list_code, sizeof(f->list_code), code);
    str_copy(f->msgid, sizeof(f->msgid), t->env->head.msgid);
    str_copy(f->chrg_bchno, sizeof(f->chrg_bchno), bchno);
    str_copy(f->init_sn, sizeof(f->init_sn), init_sn);
    str_copy(f->psn_no, sizeof(f->psn_no), psn);
    str_copy(f->state, sizeof(f->state), "active");
    str_copy(f->infno, sizeof(f->infno), t->env->head.infno);
    r->etip = strcmp(etip, "1") == 0;
    r->etip_hosp = etip_hosp[0] != '\0';
    f->outside = r->etip;
    r->item = catalog_index_find(catalog, code);
    line = (struct fee_line){.list_code = code,
                             .price_e6 = f->price_e6,
                             .qty_e4 = f->qty_e4,
                             .amount_fen = f->split.amount};
    r->split_rc = split_line(&line, r->item, &f->split);
    if (r->split_rc == 0)
        add_result(rows, f, r->item);
    return 0;
}

static void *fees_read(const struct envelope_request *env, const struct catalog_index *catalog,
                       bool inpatient)
{
    struct txn t = {.env = env};
    struct json_object *list = txn_array(&t, "feedetail", BOUND_LINES);
    size_t n = list ? txn_list_len(list) : 0;
    struct fees_read *rd = calloc(1, sizeof(*rd) + n * sizeof(rd->lines[0]));
    struct jsontext rows = {0};

    if (!rd)
        return NULL;
    jsontext_open(&rows, NULL, '[');
    rd->bad = !list;
    while (!rd->bad && rd->n < n) {
        if (read_line(&t, catalog, inpatient, txn_list_get(list, rd->n), rd->n, &rd->lines[rd->n],
                      &rows) < 0)
            rd->bad = true;
        else
            rd->n++;
    }
    jsontext_close(&rows, ']');
    rd->result = jsontext_take(&rows);
    memcpy(rd->err, t.err, sizeof(rd->err));
    /* The lines are read: their objects, most of the message, are freed now, on the thread
     * that parsed them and while they are in its cache, not cold at the end of the message. */
    if (list)
        json_object_object_del(env->input, "feedetail");
    return rd;
}

void *txn_2204_read(const struct envelope_request *env, const struct catalog_index *catalog)
{
    return fees_read(env, catalog, false);
}

void *txn_2301_read(const struct envelope_request *env, const struct catalog_index *catalog)
{
    return fees_read(env, catalog, true);
}

void fees_read_free(void *read)
{
    struct fees_read *rd = read;

    if (rd)
        json_object_put(rd->result);
    free(rd);
}

/* Checks line i against the ledger, in the order a cashier's errors are best told, and
 * records it. */
static int upload_line(struct upload *u, struct read_line *r, size_t i)
{
    struct txn *t = u->t;
    struct ledger_fee *f = &r->f;
    char where[32];
    int rc;

    u->at = i;
    str_index(where, sizeof(where), "feedetail", i);
    if (line_visit(u, where, f->psn_no, f->mdtrt_id) < 0)
        return -1;
    if (r->etip && !u->inpatient)
        return txn_refuse(t, "%s: outside examination lines (etip_flag 1) are only for stays",
                          where);
    if (r->etip && !r->etip_hosp)
        return txn_refuse(t, "%s: an outside examination line needs etip_hosp_code", where);
    if (f->price_e6 < 0)
        return txn_refuse(t, "%s.pric must not be negative", where);
    if (f->qty_e4 < 0 && check_refund(u, where, f->init_sn, f) < 0)
        return -1;
    if (f->qty_e4 > 0 && f->init_sn[0])
        return txn_refuse(t, "%s: init_feedetl_sn is only for a refund line (negative cnt)", where);
    if (f->qty_e4 == 0)
        return txn_refuse(t, "%s.cnt must not be 0", where);
    if (r->split_rc == POSA_EAMOUNT)
        return txn_refuse(t, "%s: det_item_fee_sumamt is not pric x cnt (rounded to the fen)",
                          where);
    if (r->split_rc < 0)
        return txn_refuse(t, "%s: %s", where, posa_strerror(r->split_rc));
    if (f->time < 0)
        f->time = t->now;
    rc = ledger_lines_add(u->lines, f);
    if (rc == -EEXIST)
        return txn_refuse(t, "%s: feedetl_sn %s was already uploaded for visit %s", where,
                          f->feedetl_sn, f->mdtrt_id);
    if (rc < 0)
        return txn_ledger_error(t, rc);
    return 0;
}

/* The lines were read off the loop (t->read, from fees_read); here they meet the ledger. */
static int fees_upload(struct txn *t, bool inpatient)
{
    struct fees_read *rd = t->read;
    struct upload u = {.t = t, .rd = rd, .inpatient = inpatient};
    size_t i = 0;

    if (!rd)
        return txn_refuse(t, "out of memory reading the fee lines");
    while (i < rd->n && upload_line(&u, &rd->lines[i], i) == 0)
        i++;
    if (i < rd->n) {
        upload_end(&u, false); /* refused: the message's savepoint undoes the rest */
        return -1;
    }
    if (upload_end(&u, true) < 0)
        return -1;
    if (rd->bad)
        return txn_refuse(t, "%s", rd->err);
    if (!rd->result)
        return txn_refuse(t, "out of memory building the answer");
    snprintf(t->msg->effect, sizeof(t->msg->effect), "uploads");
    t->output = json_object_new_object();
    json_object_object_add(t->output, "result", rd->result);
    rd->result = NULL;
    return 0;
}

int txn_2204_fees(struct txn *t)
{
    return fees_upload(t, false);
}

int txn_2301_fees(struct txn *t)
{
    return fees_upload(t, true);
}

/* Cancels the unsettled lines named by {mdtrt_id, psn_no, feedetl_sn | chrg_bchno}; "0000"
 * names them all. */
static int cancel_lines(struct upload *u, struct json_object *o, const char *where, int *ret_count)
{
    struct txn *t = u->t;
    const char *psn, *mdtrt_id, *sn = "", *bchno = "";
    struct ledger_lines *lines;
    struct ledger_visit v;
    struct sc_person *p = NULL;
    int rc, n;

    if (txn_str(t, o, where, "psn_no", BOUND_CODE, true, &psn) < 0 ||
        txn_str(t, o, where, "mdtrt_id", BOUND_CODE, true, &mdtrt_id) < 0 ||
        /* Required: only "0000" means every line (a missing one must not). */
        (u->inpatient && txn_str(t, o, where, "feedetl_sn", BOUND_CODE, true, &sn) < 0) ||
        (!u->inpatient && txn_str(t, o, where, "chrg_bchno", BOUND_CODE, true, &bchno) < 0) ||
        txn_person(t, psn, &p) < 0 || txn_visit(t, mdtrt_id, p, u->inpatient, &v) < 0)
        return -1;
    if (strcmp(sn, "0000") == 0)
        sn = "";
    if (strcmp(bchno, "0000") == 0)
        bchno = "";
    if ((rc = upload_lines(u, mdtrt_id, &lines)) < 0)
        return txn_ledger_error(t, rc);
    /* An original whose refunds stand would leave them set against other lines. */
    if (sn[0] && ledger_lines_refunded(lines, sn) != 0)
        return txn_refuse(t, "%s: line %s has refund lines: cancel them first", where, sn);
    n = ledger_lines_cancel(lines, sn[0] ? sn : NULL, bchno[0] ? bchno : NULL, t->env->head.msgid);
    if (n == 0 && sn[0])
        return txn_refuse(t, "%s: line %s is not an unsettled line of visit %s", where, sn,
                          mdtrt_id);
    /* What its reversal finds the lines by. */
    if (n > 0 && (rc = ledger_upload_visit(t->sb->ledger, t->env->head.msgid, mdtrt_id)) < 0)
        return txn_ledger_error(t, rc);
    *ret_count += n;
    return 0;
}

/* The entries of a 2205 (one) or 2302 (a list): each visit they name is loaded once, its lines
 * cancelled in memory, and saved at the end (loading a stay per entry made a 2302 of
 * thousands of lines quadratic); the visits are recorded against the message, which is what
 * its reversal finds them by. */
static int fees_cancel(struct txn *t, bool inpatient, struct json_object *list)
{
    struct upload u = {.t = t, .inpatient = inpatient};
    char where[32] = "data";
    int count = 0;

    for (size_t i = 0; i < txn_list_len(list); i++) {
        if (inpatient) /* a 2302's entries are a list */
            str_index(where, sizeof(where), "data", i);
        if (cancel_lines(&u, txn_list_get(list, i), where, &count) < 0) {
            upload_end(&u, false); /* refused: the message's savepoint undoes the rest */
            return -1;
        }
    }
    if (count == 0) {
        upload_end(&u, false);
        return txn_refuse(t, "there were no unsettled fee lines to cancel");
    }
    if (upload_end(&u, true) < 0)
        return -1;
    snprintf(t->msg->effect, sizeof(t->msg->effect), "cancels");
    t->output = json_object_new_object();
    json_object_object_add(t->output, "cancelled", json_object_new_int(count));
    return 0;
}

int txn_2205_fees_cancel(struct txn *t)
{
    struct json_object *d = txn_node(t, "data");

    return d ? fees_cancel(t, false, d) : -1;
}

int txn_2302_fees_cancel(struct txn *t)
{
    struct json_object *list = txn_array(t, "data", BOUND_LINES);

    return list ? fees_cancel(t, true, list) : -1;
}

int fees_reverse(struct txn *t, const struct ledger_msg *m)
{
    int rc, n = 0;

    if (strcmp(m->effect, "uploads") == 0) {
        rc = ledger_fees_reverse_upload(t->sb->ledger, m->msgid, &n);
        if (rc == POSA_ESTATE)
            return txn_refuse(t, "lines of msgid %s are settled: cancel the settlement first",
                              m->msgid);
        if (rc == POSA_ECONFLICT)
            return txn_refuse(t,
                              "lines of msgid %s have refund lines uploaded since: cancel "
                              "them first",
                              m->msgid);
    } else {
        rc = ledger_fees_reverse_cancel(t->sb->ledger, m->msgid, &n);
        if (rc == POSA_ESTATE)
            return txn_refuse(t,
                              "the visit of msgid %s was settled since its lines were "
                              "cancelled: cancel the settlement first",
                              m->msgid);
        if (rc == POSA_ECONFLICT)
            return txn_refuse(t,
                              "a refund line msgid %s cancelled cannot stand again: its "
                              "line is no longer active, or other refunds of it since "
                              "would take back more than it charged",
                              m->msgid);
    }
    return rc < 0 ? txn_ledger_error(t, rc) : 0;
}
