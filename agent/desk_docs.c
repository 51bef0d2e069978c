/* Printable documents (his-api.md): GET /v1/documents/settlement/{id} (the statement of
 * annex 13) and GET /v1/documents/forms/{trauma-commitment|outside-purchase}?visit_id=
 * (annexes 11 and 12), filled from the records and formatted by interface/his. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/desk.h"
#include "agent/posad.h"
#include "cache/db.h"
#include "core/admdvs.h"
#include "core/datetime.h"
#include "core/decimal.h"
#include "core/split.h"
#include "core/err.h"
#include "core/str.h"
#include "interface/his/documents.h"
#include "interface/platform/desk_msgs.h"

struct doc_flow {
    struct settlement_record *setl;
    struct visit_record *visit;
    struct json_object *lines;     /* outside lines of the visit */
    struct json_object *setl_body; /* the forms: the visit's settlement, for its discharge */
    char visit_id[RECORD_ID_MAX + 1];
};

static void flow_free(void *p)
{
    struct doc_flow *f = p;

    records_settlement_free(f->setl);
    records_visit_free(f->visit);
    json_object_put(f->lines);
    json_object_put(f->setl_body);
    free(f);
}

static void print_time(char buf[DATETIME_TIME_LEN + 1])
{
    datetime_format(upstream_now_beijing(), buf);
}

static void send_page(struct his_call *call, struct html_buf *page, int err)
{
    if (err || page->err) {
        html_buf_done(page);
        /* Past the page's ceiling (thousands of lines): no fault of the request's. */
        err = err ? err : page->err;
        his_fail(call, err == POSA_ETOOLONG ? -EFBIG : err,
                 err == POSA_ETOOLONG ? "the document is too long to print as one page (over "
                                        "1 MiB of lines): print it from the HIS"
                                      : "the document could not be printed",
                 NULL);
        return;
    }
    his_reply_text(call, 200, "text/html; charset=utf-8", page->data, page->len);
    html_buf_done(page);
}

static int64_t money_of(struct json_object *obj, const char *key)
{
    const char *text = desk_str(obj, key);
    int64_t fen = 0;

    money_parse(text, strlen(text), &fen);
    return fen;
}

/* The bill's totals as his_bill_totals() wrote them. */
static void bill_from_json(struct json_object *o, struct bill *bill)
{
    struct json_object *by = NULL;

    bill_init(bill);
    json_object_object_get_ex(o, "by_category", &by);
    for (int k = CATEGORY_MIN; k <= CATEGORY_MAX; k++) {
        char key[3];
        struct json_object *c = NULL;
        struct split_totals *t = &bill->by_category[k];

        if (!json_object_object_get_ex(by, two_digit_code((unsigned)k, key), &c))
            continue;
        *t = (struct split_totals){money_of(c, "amount"), money_of(c, "fulamt_ownpay_amt"),
                                   money_of(c, "overlmt_amt"), money_of(c, "preselfpay_amt"),
                                   money_of(c, "inscp_scp_amt")};
    }
    bill->total = (struct split_totals){money_of(o, "amount"), money_of(o, "fulamt_ownpay_amt"),
                                        money_of(o, "overlmt_amt"), money_of(o, "preselfpay_amt"),
                                        money_of(o, "inscp_scp_amt")};
}

static void visit_view(struct his_call *call, struct json_object *vdoc, const char *kind,
                       const char *mdtrt_id, const char *end_time, struct doc_patient *p,
                       struct doc_visit *v, struct doc_diagnosis *diag)
{
    struct json_object *id = NULL, *req = NULL, *list = NULL;

    json_object_object_get_ex(vdoc, "identity", &id);
    json_object_object_get_ex(vdoc, "request", &req);
    json_object_object_get_ex(req, "diagnoses", &list);
    *p = (struct doc_patient){desk_str(id, "name"), desk_str(id, "gender"), desk_str(id, "certno"),
                              desk_str(id, "psn_no"), desk_str(id, "insutype"),
                              desk_str(id, "insuplc_admdvs")};
    *v = (struct doc_visit){.hospital_name = call->pd->cfg.fixmedins_name,
                            .hospital_code = call->pd->cfg.fixmedins_code,
                            .treating_region = call->pd->cfg.mdtrtarea_admvs,
                            .province = admdvs_province(call->pd->cfg.mdtrtarea_admvs),
                            .inpatient = visit_kind_named(kind) == VISIT_INPATIENT,
                            .his_visit_id = desk_str(req, "his_visit_id"),
                            .mdtrt_id = mdtrt_id,
                            .dept_name = desk_str(req, "dept_name"),
                            .begin_time = desk_str(req, "begin_time"),
                            .end_time = end_time && end_time[0] ? end_time : NULL,
                            .diagnoses = diag};
    for (size_t i = 0; list && i < json_object_array_length(list) && i < BOUND_DIAGNOSES; i++) {
        struct json_object *d = json_object_array_get_idx(list, i), *m = NULL;

        diag[i] = (struct doc_diagnosis){desk_str(d, "code"), desk_str(d, "name"),
                                         json_object_object_get_ex(d, "main", &m) &&
                                             json_object_get_boolean(m)};
        v->n_diagnoses = i + 1;
    }
}

/* --- the statement ------------------------------------------------------------------------- */

static int run_setl(struct db *db, struct db_job *job)
{
    struct his_call *call = his_call_of_job(job);
    struct doc_flow *f = call->flow;
    int err = records_settlement_get(db, his_param(call, 0), &f->setl);

    return err ? err : records_visit_get(db, f->setl->visit_id, &f->visit);
}

static void funds_view(struct json_object *answer, struct doc_fund *funds, size_t *n)
{
    struct json_object *list = NULL;

    json_object_object_get_ex(answer, "funds", &list);
    for (size_t i = 0; list && i < json_object_array_length(list) && *n < DESK_FUNDS_MAX; i++) {
        struct json_object *r = json_object_array_get_idx(list, i);

        funds[(*n)++] = (struct doc_fund){desk_str(r, "fund_pay_type"), desk_str(r, "name"),
                                          money_of(r, "amount")};
    }
}

/* When the settlement was refunded: its history's last "cancelled" ("" when none). */
static const char *cancelled_at(struct json_object *body)
{
    struct json_object *h = NULL, *e;
    const char *at = "";

    if (!json_object_object_get_ex(body, "history", &h) || !json_object_is_type(h, json_type_array))
        return at;
    for (size_t i = 0, n = json_object_array_length(h); i < n; i++)
        if (strcmp(desk_str(e = json_object_array_get_idx(h, i), "state"), "cancelled") == 0)
            at = desk_str(e, "at");
    return at;
}

static void on_setl(struct db_job *job, int status)
{
    struct his_call *call = his_call_of_job(job);
    struct doc_flow *f = call->flow;
    struct json_object *body, *answer = NULL, *vdoc, *amounts = NULL, *billj = NULL, *b;
    struct doc_diagnosis diag[BOUND_DIAGNOSES];
    struct doc_fund funds[DESK_FUNDS_MAX];
    struct statement_view view = {0};
    struct html_buf page;
    struct bill bill;
    enum filing_kind kind = FILING_NONE;
    char now[DATETIME_TIME_LEN + 1];
    int err;

    if (!his_loaded(call, status, f->visit ? f->visit->desk : NULL))
        return;
    if (desk_setl_in_flight(f->setl->state)) { /* it may yet turn out settled */
        his_fail(call, POSA_EBUSY,
                 "this settlement's outcome is not known yet (it waits for the platform or is "
                 "being checked with it): its statement prints once it settled; ask again in "
                 "a moment",
                 NULL);
        return;
    }
    if (strcmp(f->setl->state, "settled") != 0 && strcmp(f->setl->state, "cancelled") != 0) {
        his_fail(call, POSA_ESTATE,
                 "only a settled settlement (or one refunded since) has a statement: this one "
                 "is not settled",
                 NULL);
        return;
    }
    body = desk_doc(f->setl->body);
    vdoc = desk_doc(f->visit->body);
    json_object_object_get_ex(body, "answer", &answer);
    json_object_object_get_ex(answer, "amounts", &amounts);
    json_object_object_get_ex(body, "bill", &billj);
    visit_view(call, vdoc, f->visit->kind, f->visit->mdtrt_id, desk_str(body, "discharge_time"),
               &view.patient, &view.visit, diag);
    bill_from_json(billj, &bill);
    filing_kind_parse(desk_str(answer, "filing_kind"), &kind);
    print_time(now);
    view.filing = kind;
    view.cancelled = strcmp(f->setl->state, "cancelled") == 0;
    view.cancel_msgid = desk_str(body, "cancel_msgid");
    view.cancelled_elsewhere =
        json_object_object_get_ex(body, "cancelled_elsewhere", &b) && json_object_get_boolean(b);
    view.cancelled_at = cancelled_at(body);
    view.setl_id = f->setl->setl_id;
    /* When the platform settled it (a settle queued offline is settled when it drains), else
     * when posad was asked to. */
    view.settle_time = desk_str(answer, "setl_time")[0]    ? desk_str(answer, "setl_time")
                       : desk_str(body, "settle_time")[0] ? desk_str(body, "settle_time")
                                                          : now;
    view.outside = json_object_object_get_ex(body, "outside", &b) && json_object_get_boolean(b);
    view.bill = &bill;
    view.amounts = (struct doc_amounts){
        money_of(amounts, "medfee_sumamt"), money_of(amounts, "fulamt_ownpay_amt"),
        money_of(amounts, "overlmt_selfpay"), money_of(amounts, "preselfpay_amt"),
        money_of(amounts, "inscp_scp_amt"), money_of(amounts, "act_pay_dedc"),
        money_of(amounts, "hifp_pay"), money_of(amounts, "fund_pay_sumamt"),
        money_of(amounts, "psn_part_amt"), money_of(amounts, "acct_pay"),
        money_of(amounts, "psn_cash_pay")};
    funds_view(answer, funds, &view.n_funds);
    view.funds = funds;
    view.emergency = json_object_object_get_ex(vdoc, "emergency", &b) && json_object_get_boolean(b);
    view.trauma = json_object_object_get_ex(vdoc, "trauma", &b) && json_object_get_boolean(b);
    view.trauma_third_party = json_object_object_get_ex(vdoc, "third_party", &b) && json_object_get_boolean(b);
    view.audit_30k = view.visit.inpatient && view.amounts.medfee_sumamt >= 3000000;
    view.printed_at = now;
    html_buf_init(&page, HTML_BUF_CEILING);
    err = documents_statement_format(&view, &page);
    send_page(call, &page, err);
    json_object_put(vdoc);
    json_object_put(body);
}

void desk_document_settlement(struct his_call *call)
{
    struct doc_flow *f = his_flow_new(call, sizeof *f, flow_free);

    if (!f)
        return;
    his_db(call, run_setl, on_setl);
}

/* --- the forms ------------------------------------------------------------------------------ */

/* An active outside line of the visit, kept for the form (the row's strings are gone once
 * the callback returns). */
static int add_outside(const struct line_record *line, void *data)
{
    struct doc_flow *f = data;
    struct json_object *o;

    /* Every one: the form's total is theirs (the page's ceiling bounds its size). */
    if (strcmp(line->state, "active") != 0 || !line->outside_institution[0])
        return 0;
    if (!(o = json_object_new_object()))
        return -ENOMEM;
    json_object_object_add(o, "institution", json_object_new_string(line->outside_institution));
    json_object_object_add(o, "form", json_object_new_string(line->outside_form));
    json_object_object_add(o, "kind", json_object_new_int(line->outside_kind));
    json_object_object_add(o, "name", json_object_new_string(line->name));
    json_object_object_add(o, "amount", json_object_new_int64(line->split.amount));
    json_object_array_add(f->lines, o);
    return 0;
}

static int run_visit(struct db *db, struct db_job *job)
{
    struct his_call *call = his_call_of_job(job);
    struct doc_flow *f = call->flow;
    int err = records_visit_get(db, f->visit_id, &f->visit);

    if (!err && !(f->lines = json_object_new_array()))
        err = -ENOMEM;
    if (!err)
        err = records_lines_list(db, f->visit_id, add_outside, f);
    /* A settled stay's discharge time, for the forms' 出院时间 (none before it). */
    if (!err &&
        (err = records_settlement_by_visit_settled(db, f->visit_id, &f->setl)) == POSA_ENOTFOUND)
        err = 0;
    return err;
}

static void outside_form(struct his_call *call, struct outside_form_view *view)
{
    static const char *const kinds[] = {"exam", "treatment", "pharmacy"};
    struct doc_flow *f = call->flow;
    size_t n = json_object_array_length(f->lines);
    struct doc_outside_line *lines = calloc(n ? n : 1, sizeof *lines);
    struct html_buf page;
    int err;

    if (!lines) {
        his_fail(call, -ENOMEM, NULL, NULL);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        struct json_object *l = json_object_array_get_idx(f->lines, i), *k = NULL, *a = NULL;
        int kind;

        json_object_object_get_ex(l, "kind", &k);
        json_object_object_get_ex(l, "amount", &a);
        kind = json_object_get_int(k);
        lines[i] = (struct doc_outside_line){desk_str(l, "institution"),
                                             NULL,
                                             kinds[kind >= 0 && kind < 3 ? kind : 0],
                                             desk_str(l, "form"),
                                             desk_str(l, "name"),
                                             json_object_get_int64(a)};
    }
    view->lines = lines;
    view->n_lines = n;
    html_buf_init(&page, HTML_BUF_CEILING);
    err = documents_outside_format(view, &page);
    free(lines);
    send_page(call, &page, err);
}

/* The forms are signed and kept by the hospital: [his] forms_certno decides whether they
 * carry the whole ID number (the statement, handed to the patient, never does). */
static bool forms_certno_full(const struct his_call *call)
{
    return strcmp(call->pd->cfg.forms_certno, "full") == 0;
}

static void on_visit(struct db_job *job, int status)
{
    struct his_call *call = his_call_of_job(job);
    struct doc_flow *f = call->flow;
    struct doc_diagnosis diag[BOUND_DIAGNOSES];
    struct doc_patient patient;
    struct doc_visit visit;
    struct json_object *vdoc;
    char now[DATETIME_TIME_LEN + 1];
    int err;

    if (!his_loaded(call, status, f->visit ? f->visit->desk : NULL))
        return;
    vdoc = desk_doc(f->visit->body);
    f->setl_body = f->setl ? desk_doc(f->setl->body) : NULL;
    visit_view(call, vdoc, f->visit->kind, f->visit->mdtrt_id,
               f->setl_body ? desk_str(f->setl_body, "discharge_time") : NULL, &patient, &visit,
               diag);
    print_time(now);
    if (strcmp(his_param(call, 0), "trauma-commitment") == 0) {
        struct trauma_form_view view = {.patient = patient,
                                        .visit = visit,
                                        .printed_at = now,
                                        .certno_unmasked = forms_certno_full(call)};
        struct html_buf page;
        struct json_object *b = NULL;

        /* The patient signs that an injury of this visit has no liable third party: not for
         * a visit without a trauma, nor one that says a third party is liable. */
        if (!json_object_object_get_ex(vdoc, "trauma", &b) || !json_object_get_boolean(b)) {
            his_fail(call, POSA_ESTATE,
                     "this visit is not marked as a trauma: the no-third-party commitment does "
                     "not apply",
                     NULL);
            json_object_put(vdoc);
            return;
        }
        if (json_object_object_get_ex(vdoc, "third_party", &b) && json_object_get_boolean(b)) {
            his_fail(call, POSA_ESTATE,
                     "this visit has a liable third party: the no-third-party commitment does "
                     "not apply",
                     NULL);
            json_object_put(vdoc);
            return;
        }
        html_buf_init(&page, HTML_BUF_CEILING);
        err = documents_trauma_format(&view, &page);
        send_page(call, &page, err);
    } else if (json_object_array_length(f->lines) == 0) {
        his_fail(call, POSA_ESTATE,
                 "this visit has no active outside-purchase lines: there is nothing to attest",
                 NULL);
    } else {
        struct outside_form_view view = {.patient = patient,
                                         .visit = visit,
                                         .printed_at = now,
                                         .certno_unmasked = forms_certno_full(call)};

        outside_form(call, &view);
    }
    json_object_put(vdoc);
}

void desk_document_form(struct his_call *call)
{
    struct doc_flow *f;
    const char *form = his_param(call, 0);
    char visit_id[RECORD_ID_MAX + 1];
    int found;

    if (strcmp(form, "trauma-commitment") != 0 && strcmp(form, "outside-purchase") != 0) {
        his_fail(call, POSA_ENOSUCH, "forms are trauma-commitment and outside-purchase", NULL);
        return;
    }
    found = his_query(call, "visit_id", visit_id, sizeof visit_id);
    if (found == 0) {
        his_fail_at(call, POSA_EFIELD, "visit_id", "visit_id is required: ?visit_id=...");
        return;
    }
    if (found == POSA_EDUPLICATE) {
        his_fail_at(call, POSA_EFIELD, "visit_id", "visit_id is given twice");
        return;
    }
    if (found == POSA_EFIELD) { /* it said "1 to 63 characters" of "V%zz" */
        his_fail_at(call, POSA_EFIELD, "visit_id",
                    "visit_id is not a visit id (a bad %-escape, or an escaped NUL)");
        return;
    }
    if (found < 0 || !visit_id[0] || strlen(visit_id) > BOUND_PATH_ID) {
        his_fail_at(call, POSA_EFIELD, "visit_id", "visit_id must be 1 to 63 characters");
        return;
    }
    if (!(f = his_flow_new(call, sizeof *f, flow_free)))
        return;
    str_copy(f->visit_id, sizeof f->visit_id, visit_id);
    his_db(call, run_visit, on_visit);
}
