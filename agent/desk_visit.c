/* POST /v1/visits: opens a visit for an identified patient. core/ tags the flags (with
 * their reasons), posad checks what it can know before asking (cross-province, filing),
 * registers the visit with the platform (2401 for a stay; 2201 and the visit detail 2203
 * for an outpatient visit) and keeps it. GET /v1/visits/{id} reads it back. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/desk.h"
#include "agent/posad.h"
#include "cache/db.h"
#include "core/datetime.h"
#include "core/err.h"
#include "core/visit_fsm.h"
#include "core/str.h"
#include "interface/his/requests.h"
#include "interface/his/responses.h"
#include "interface/platform/desk_msgs.h"

struct visit_flow {
    struct visit_request req;
    char *identity_body;
    char identity_desk[RECORD_ID_MAX + 1];
    struct json_object *identity;
    struct visit_flags flags;
    struct visit_record rec;
    struct desk_visit dv;
    struct desk_diagnosis diagnoses[BOUND_DIAGNOSES];
    char *doc;
    bool emergency, trauma, third_party;
    bool stored; /* the visit committed with 2201/2401's outcome */
    char open_visit_id[RECORD_ID_MAX + 1]; /* a visit of this his_visit_id still open */
    char open_visit_desk[RECORD_ID_MAX + 1]; /* ... and the desk it is kept at */
    char open_visit_psn[sizeof(((struct visit_identity *)0)->psn_no)]; /* ... and its patient */
    bool open_by_another; /* ... that this request's Idempotency-Key did not register */
};

static void flow_free(void *p)
{
    struct visit_flow *f = p;

    his_request_done(&f->req.root);
    free(f->identity_body);
    json_object_put(f->identity);
    free(f->doc);
    free(f);
}

static bool flag_value(const struct visit_flags *flags, enum flag_id id)
{
    const struct flag *f = visit_flags_get(flags, id);

    return f && f->value;
}

/* --- the visit's document ------------------------------------------------------------- */

static struct json_object *request_json(const struct visit_request *r)
{
    struct json_object *o = json_object_new_object(), *diag = json_object_new_array();

    json_object_object_add(o, "kind", json_object_new_string(visit_kind_name(r->kind)));
    json_object_object_add(o, "insutype", json_object_new_string(r->insutype));
    json_object_object_add(o, "med_type", json_object_new_string(r->med_type));
    json_object_object_add(o, "his_visit_id", json_object_new_string(r->his_visit_id));
    json_object_object_add(o, "dept_code", json_object_new_string(r->dept_code));
    json_object_object_add(o, "dept_name", json_object_new_string(r->dept_name));
    json_object_object_add(o, "doctor_code", json_object_new_string(r->doctor_code));
    json_object_object_add(o, "doctor_name", json_object_new_string(r->doctor_name));
    json_object_object_add(o, "begin_time", json_object_new_string(r->begin_time));
    for (size_t i = 0; i < r->n_diagnoses; i++) {
        struct json_object *d = json_object_new_object();

        json_object_object_add(d, "code", json_object_new_string(r->diagnoses[i].code));
        json_object_object_add(d, "name", json_object_new_string(r->diagnoses[i].name));
        json_object_object_add(d, "main", json_object_new_boolean(r->diagnoses[i].main));
        json_object_array_add(diag, d);
    }
    json_object_object_add(o, "diagnoses", diag);
    return o;
}

static char *visit_doc(struct visit_flow *f)
{
    struct json_object *o = json_object_new_object();
    char *text;

    json_object_object_add(o, "identity", json_object_get(f->identity));
    json_object_object_add(o, "request", request_json(&f->req));
    json_object_object_add(o, "flags", his_flags(&f->flags));
    json_object_object_add(o, "warnings", his_warnings(&f->flags));
    json_object_object_add(o, "emergency", json_object_new_boolean(f->emergency));
    json_object_object_add(o, "trauma", json_object_new_boolean(f->trauma));
    json_object_object_add(o, "third_party", json_object_new_boolean(f->third_party));
    json_object_object_add(o, "referral", json_object_new_boolean(f->req.referral));
    json_object_object_add(o, "commitment_signed",
                           json_object_new_boolean(f->req.trauma_commitment_signed));
    text = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
    return text;
}

/* 1101 may answer several insurance rows; the visit is of the one of its insutype, whose
 * type, region, balance and cross-province become the identity's own, which the visit
 * keeps and every message of it reads. An identity kept before there were rows has one. */
static int choose_insurance(struct json_object *id, const char *insutype, char *types, size_t cap)
{
    struct json_object *rows;
    size_t n = 0;

    snprintf(types, cap, "%s", desk_str(id, "insutype"));
    if (!json_object_object_get_ex(id, "insurance", &rows) ||
        !json_object_is_type(rows, json_type_array))
        return strcmp(insutype, types) == 0 ? 0 : POSA_EFIELD;
    for (size_t i = 0; i < json_object_array_length(rows); i++) {
        struct json_object *row = json_object_array_get_idx(rows, i);

        if (strcmp(desk_str(row, "insutype"), insutype) != 0) {
            if (n < cap) /* the types for the cashier; a list cut short is cut */
                n += (size_t)snprintf(types + n, cap - n, "%s%s", i ? ", " : "",
                                      desk_str(row, "insutype"));
            continue;
        }
        json_object_object_foreach(row, key, value)
        {
            json_object_object_add(id, key, json_object_get(value));
        }
        return 0;
    }
    return POSA_EFIELD;
}

/* The identity's fields the visit's messages carry, kept beside its body: 0, or
 * POSA_ECORRUPT when one does not fit (identify bounds them, so the token was damaged). */
static int identity_columns(struct json_object *id, struct visit_identity *who)
{
    bool fit = str_copy(who->psn_no, sizeof who->psn_no, desk_str(id, "psn_no"));

    fit &= str_copy(who->insutype, sizeof who->insutype, desk_str(id, "insutype"));
    fit &=
        str_copy(who->insuplc_admdvs, sizeof who->insuplc_admdvs, desk_str(id, "insuplc_admdvs"));
    fit &= str_copy(who->cert_type, sizeof who->cert_type, desk_str(id, "cert_type"));
    fit &= str_copy(who->cert_no, sizeof who->cert_no, desk_str(id, "cert_no"));
    fit &= str_copy(who->card_sn, sizeof who->card_sn, desk_str(id, "card_sn"));
    return fit ? 0 : POSA_ECORRUPT;
}

void desk_visit_from_doc(struct json_object *doc, const char *visit_id, const char *mdtrt_id,
                         struct desk_visit *v, struct desk_diagnosis *diagnoses)
{
    struct json_object *id = NULL, *req = NULL, *diag = NULL, *b;

    json_object_object_get_ex(doc, "identity", &id);
    json_object_object_get_ex(doc, "request", &req);
    json_object_object_get_ex(req, "diagnoses", &diag);
    *v = (struct desk_visit){
        .psn_no = desk_str(id, "psn_no"),
        .insutype = desk_str(req, "insutype"),
        .insuplc_admdvs = desk_str(id, "insuplc_admdvs"),
        .cert = {.type = desk_str(id, "cert_type"),
                 .number = desk_str(id, "cert_no"),
                 .card_sn = desk_str(id, "card_sn")},
        .his_visit_id = desk_str(req, "his_visit_id"),
        .mdtrt_id = mdtrt_id,
        .med_type = desk_str(req, "med_type"),
        .begntime = desk_str(req, "begin_time"),
        .dept_code = desk_str(req, "dept_code"),
        .dept_name = desk_str(req, "dept_name"),
        .doctor_code = desk_str(req, "doctor_code"),
        .doctor_name = desk_str(req, "doctor_name"),
        .diagnoses = diagnoses,
    };
    (void)visit_id;
    v->emergency = json_object_object_get_ex(doc, "emergency", &b) && json_object_get_boolean(b);
    v->trauma = json_object_object_get_ex(doc, "trauma", &b) && json_object_get_boolean(b);
    v->third_party =
        json_object_object_get_ex(doc, "third_party", &b) && json_object_get_boolean(b);
    v->referral = json_object_object_get_ex(doc, "referral", &b) && json_object_get_boolean(b);
    for (size_t i = 0; diag && i < json_object_array_length(diag) && i < BOUND_DIAGNOSES; i++) {
        struct json_object *d = json_object_array_get_idx(diag, i), *m = NULL;

        diagnoses[i] = (struct desk_diagnosis){desk_str(d, "code"), desk_str(d, "name"),
                                               json_object_object_get_ex(d, "main", &m) &&
                                                   json_object_get_boolean(m)};
        v->n_diagnoses = i + 1;
    }
}

/* --- steps ------------------------------------------------------------------------------ */

static void answer(struct his_call *call)
{
    struct visit_flow *f = call->flow;
    struct json_object *o = json_object_new_object();

    json_object_object_add(o, "visit_id", json_object_new_string(f->rec.visit_id));
    json_object_object_add(o, "mdtrt_id", json_object_new_string(f->rec.mdtrt_id));
    json_object_object_add(o, "state", json_object_new_string(f->rec.state));
    json_object_object_add(o, "cross_province", json_object_new_boolean(true));
    json_object_object_add(o, "flags", his_flags(&f->flags));
    json_object_object_add(o, "warnings", his_warnings(&f->flags));
    his_reply(call, 201, o);
}

static void on_2203(struct upmsg *m)
{
    struct his_call *call = m->data;
    struct visit_flow *f = call->flow;
    struct envelope_response env;
    char msg[256];
    bool queued = m->result == UPMSG_QUEUED;
    int err = queued ? 0 : desk_outcome(m, &env, msg, sizeof msg);

    upmsg_free(m);
    if (!err && !queued)
        envelope_response_done(&env);
    /* The visit stands (2201 registered it); a detail still in the outbox, or refused, is
     * said without failing the visit. */
    if (err && f->flags.n_warnings < FLAG_WARNINGS_MAX)
        f->flags.warnings[f->flags.n_warnings++] =
            (struct flag_warning){"VISIT_DETAIL_NOT_UPLOADED",
                                  "the visit detail (2203) was not accepted by the platform"};
    answer(call);
}

/* The registration's mdtrt_id, or NULL when the answer has none worth keeping. */
static const char *registered_id(struct json_object *output)
{
    const char *mdtrt_id = upstream_find_string(output, "mdtrt_id");

    return str_is_code(mdtrt_id) && strlen(mdtrt_id) <= RECORD_ID_MAX ? mdtrt_id : NULL;
}

/* Does json-c print s as it is (ASCII, nothing it escapes)? */
static bool printed_as_is(const char *s)
{
    for (; *s; s++)
        if (*s < 0x20 || *s > 0x7e || *s == '"' || *s == '\\' || *s == '/')
            return false;
    return true;
}

/* Does the request (posad's own envelope text) carry key with the value the answer gives,
 * where the answer gives one? Looked for in the text ("key":"value"), as json-c printed it,
 * for a value it prints as it is; another is read from the request parsed. A registration's
 * answer is checked at every visit, which parsed its request again. */
static bool same_where_named(const char *request, struct json_object *output, const char *key)
{
    const char *said = upstream_find_string(output, key), *sent;
    char needle[2 * RECORD_ID_MAX + 16];
    struct json_object *req;
    bool same;

    if (!said)
        return true;
    if (strlen(said) <= RECORD_ID_MAX && printed_as_is(said)) {
        snprintf(needle, sizeof needle, "\"%s\":\"%s\"", key, said);
        return strstr(request, needle) != NULL;
    }
    req = json_tokener_parse(request);
    sent = upstream_find_string(req, key);
    same = sent && strcmp(sent, said) == 0;
    json_object_put(req);
    return same;
}

bool desk_registration_possible(const char *request, struct json_object *output)
{
    return registered_id(output) && same_where_named(request, output, "psn_no") &&
           same_where_named(request, output, "ipt_otp_no") &&
           same_where_named(request, output, "ipt_no");
}

/* Keeps the visit, registered as f->rec.mdtrt_id. */
static int visit_put(struct db *db, struct visit_flow *f)
{
    str_copy(f->rec.state, sizeof(f->rec.state), visit_state_name(VISIT_OPEN));
    f->rec.body = f->doc;
    return records_visit_put(db, &f->rec, upstream_now_ms());
}

/* 2201/2401's apply_also: the visit commits with the registration's outcome, one database
 * step instead of two. A refusal stores nothing. */
static int visit_apply(struct db *db, struct upmsg *m)
{
    struct his_call *call = m->data;
    struct visit_flow *f = call->flow;
    const struct envelope_response *env = upmsg_accepted(m);
    const char *mdtrt_id;
    int err;

    if (!env || !(mdtrt_id = registered_id(env->output)))
        return 0;
    str_copy(f->rec.mdtrt_id, sizeof(f->rec.mdtrt_id), mdtrt_id);
    err = visit_put(db, f);
    f->stored = err == 0;
    return err;
}

static int run_store_visit(struct db *db, struct db_job *job)
{
    return visit_put(db, his_call_of_job(job)->flow);
}

static void detail(struct his_call *call)
{
    struct visit_flow *f = call->flow;
    char idem[RECORD_ID_MAX + 8];
    int err;

    if (f->req.kind == VISIT_INPATIENT) {
        answer(call);
        return;
    }
    f->dv.mdtrt_id = f->rec.mdtrt_id;
    /* One detail a visit: a retry of the request (its 2201 found under its key) finds this
     * one, or the one the resolver sent in its place, instead of sending a second. */
    snprintf(idem, sizeof idem, "detail:%s", f->rec.visit_id);
    err = desk_send(call->pd, "2203", f->dv.insuplc_admdvs, f->rec.visit_id, idem,
                    desk_2203_input(&f->dv), on_2203, call);
    if (err)
        answer(call); /* the visit stands; the detail can be sent again */
}

static void on_visit_stored(struct db_job *job, int status)
{
    struct his_call *call = his_call_of_job(job);

    if (status)
        his_fail(call, status, NULL, NULL);
    else
        detail(call);
}

static void on_registered(struct upmsg *m)
{
    struct his_call *call = m->data;
    struct visit_flow *f = call->flow;
    struct envelope_response env;
    const char *mdtrt_id;
    char msg[256];
    int err = desk_outcome(m, &env, msg, sizeof msg);

    /* A registration journaled by an earlier request with this Idempotency-Key: the visit
     * is the one it registered (and may have kept already), not a second one. */
    if (!err && m->result == UPMSG_EXISTING && m->existing && m->existing->visit_key[0])
        str_copy(f->rec.visit_id, sizeof(f->rec.visit_id), m->existing->visit_key);
    upmsg_free(m);
    if (err == POSA_EOUTCOME_UNKNOWN) /* there is no settlement to look up */
        snprintf(msg, sizeof msg,
                 "the platform's answer to the registration was lost; posad undoes a "
                 "registration it has no answer to: send the same request again, with the same "
                 "Idempotency-Key, in a moment");
    if (err) {
        desk_fail_outcome(call, err, msg);
        return;
    }
    if (f->stored) { /* with the outcome */
        envelope_response_done(&env);
        detail(call);
        return;
    }
    /* A registration journaled before (the same Idempotency-Key): keep the visit now. */
    if (!(mdtrt_id = registered_id(env.output))) {
        envelope_response_done(&env);
        his_fail(call, POSA_EUPSTREAM_REFUSED, "the platform registered no mdtrt_id", NULL);
        return;
    }
    str_copy(f->rec.mdtrt_id, sizeof(f->rec.mdtrt_id), mdtrt_id);
    envelope_response_done(&env);
    his_db(call, run_store_visit, on_visit_stored);
}

/* What posad knows before asking: a local patient is not this agent's; a patient the
 * province says is unfiled, on a visit that is no emergency, would be refused. */
static int precheck(struct his_call *call, struct visit_flow *f)
{
    struct json_object *filings = NULL, *b = NULL;
    struct filing list[BOUND_FILINGS];
    int32_t begin = datetime_date(f->req.begin), today = desk_today(call->pd);
    /* A stay may be registered after its admission: a filing made since counts (§16). */
    struct filing_query q = {.inpatient = f->req.kind == VISIT_INPATIENT,
                             .emergency = f->emergency,
                             .begin_date = begin,
                             .settle_date = today > begin ? today : begin};
    const struct filing *used;
    enum filing_kind kind;
    size_t n = 0;

    if (!flag_value(&f->flags, FLAG_CROSS_PROVINCE))
        return POSA_ENOT_CROSS_PROVINCE;
    if (!json_object_object_get_ex(f->identity, "has_filinginfo", &b) ||
        !json_object_get_boolean(b))
        return 0; /* the platform decides */
    json_object_object_get_ex(f->identity, "filings", &filings);
    for (size_t i = 0; filings && i < json_object_array_length(filings) && n < BOUND_FILINGS; i++) {
        struct json_object *r = json_object_array_get_idx(filings, i), *from = NULL, *to = NULL;

        if (filing_kind_parse(desk_str(r, "kind"), &list[n].kind) < 0)
            continue;
        json_object_object_get_ex(r, "valid_from", &from);
        json_object_object_get_ex(r, "valid_to", &to);
        list[n].valid_from = json_object_get_int(from);
        list[n++].valid_to = json_object_get_int(to);
    }
    (void)call;
    return filing_resolve(list, n, &q, &kind, &used);
}

static void register_visit(struct his_call *call)
{
    struct visit_flow *f = call->flow;
    bool inpatient = f->req.kind == VISIT_INPATIENT;
    char idem[RECORD_ID_MAX + 8];
    int err;

    for (size_t i = 0; i < f->req.n_diagnoses; i++)
        f->diagnoses[i] = (struct desk_diagnosis){
            f->req.diagnoses[i].code, f->req.diagnoses[i].name, f->req.diagnoses[i].main};
    f->dv = (struct desk_visit){.psn_no = desk_str(f->identity, "psn_no"),
                                .insutype = f->req.insutype,
                                .insuplc_admdvs = desk_str(f->identity, "insuplc_admdvs"),
                                .mdtrtarea_admvs = call->pd->cfg.mdtrtarea_admvs,
                                .cert = {.type = desk_str(f->identity, "cert_type"),
                                         .number = desk_str(f->identity, "cert_no"),
                                         .card_sn = desk_str(f->identity, "card_sn")},
                                .his_visit_id = f->req.his_visit_id,
                                .med_type = f->req.med_type,
                                .begntime = f->req.begin_time,
                                .dept_code = f->req.dept_code,
                                .dept_name = f->req.dept_name,
                                .doctor_code = f->req.doctor_code,
                                .doctor_name = f->req.doctor_name,
                                .emergency = f->emergency,
                                .referral = f->req.referral,
                                .trauma = f->trauma,
                                .third_party = f->third_party,
                                .diagnoses = f->diagnoses,
                                .n_diagnoses = f->req.n_diagnoses};
    /* The HIS's key makes a retry after a crash find the journaled registration instead of
     * registering twice; the same key with another body is another request (CONFLICT), not
     * that registration, however long after (its stored answer is pruned, the row is not). */
    snprintf(idem, sizeof idem, "visit:%s", call->idem_key);
    err = desk_send_hooked(call->pd, inpatient ? "2401" : "2201", f->dv.insuplc_admdvs,
                           f->rec.visit_id, call->idem_key[0] ? idem : NULL,
                           inpatient ? desk_2401_input(&f->dv) : desk_2201_input(&f->dv),
                           on_registered, call,
                           &(struct desk_hooks){.apply_also = visit_apply,
                                                .rerunnable = true,
                                                .idem_hash = call->body_hash});
    if (err)
        his_fail(call, err, NULL, NULL);
}

static void tag(struct his_call *call, struct visit_flow *f)
{
    const char *codes[BOUND_DIAGNOSES];
    struct visit_facts facts = {.kind = f->req.kind,
                                .emergency = f->req.emergency,
                                .referral = f->req.referral,
                                .dept_code = f->req.dept_code,
                                .trauma = f->req.trauma,
                                .trauma_third_party = f->req.trauma_third_party,
                                .trauma_commitment_signed = f->req.trauma_commitment_signed,
                                .med_type = f->req.med_type,
                                .diagnoses = codes,
                                .n_diagnoses = f->req.n_diagnoses,
                                .insured_admdvs = desk_str(f->identity, "insuplc_admdvs"),
                                .hospital_admdvs = call->pd->cfg.mdtrtarea_admvs};
    int err;

    const char *field, *conflict = flags_conflict(&facts, &field);

    if (conflict) {
        his_fail_at(call, POSA_EFIELD, field, conflict);
        return;
    }
    for (size_t i = 0; i < f->req.n_diagnoses; i++)
        codes[i] = f->req.diagnoses[i].code;
    if ((err = flags_tag_visit(&facts, &call->pd->desk.flag_config, &f->flags)) < 0) {
        his_fail(call, err, "the patient's insured region is not a region code", NULL);
        return;
    }
    f->emergency = flag_value(&f->flags, FLAG_EMERGENCY);
    f->rec.emergency = f->emergency;
    str_copy(f->rec.med_type, sizeof f->rec.med_type, f->req.med_type);
    f->trauma = flag_value(&f->flags, FLAG_TRAUMA);
    f->third_party = flag_value(&f->flags, FLAG_THIRD_PARTY);
    /* The fund pays nothing for trauma a third party is liable for (policy.md §34-§36), and
     * an outpatient visit's messages (2201, 2203) cannot tell the platform so: it would pay. */
    if (f->third_party && f->req.kind == VISIT_OUTPATIENT) {
        his_fail_at(call, POSA_ENORATE, "trauma.third_party",
                    "trauma with a liable third party is not paid by the fund, and an outpatient "
                    "visit cannot say so to the platform: settle this visit as self-pay");
        return;
    }
    if ((err = precheck(call, f)) < 0) {
        /* The filings are identify's: one made since is the platform's to see. */
        his_fail(call, err,
                 err == POSA_EFILING
                     ? "not filed for cross-province settlement (as the platform said when the "
                       "patient was identified) and not an emergency: file first or self-pay; "
                       "a patient who filed since is identified again"
                     : NULL,
                 NULL);
        return;
    }
    his_new_id("V", f->rec.visit_id);
    str_copy(f->rec.desk, sizeof(f->rec.desk), f->identity_desk);
    str_copy(f->rec.his_visit_id, sizeof(f->rec.his_visit_id), f->req.his_visit_id);
    str_copy(f->rec.kind, sizeof f->rec.kind, visit_kind_name(f->req.kind));
    if (!(f->doc = visit_doc(f))) {
        his_fail(call, -ENOMEM, NULL, NULL);
        return;
    }
    register_visit(call);
}

static int run_identity(struct db *db, struct db_job *job)
{
    struct his_call *call = his_call_of_job(job);
    struct visit_flow *f = call->flow;

    int err = records_identity_get(db, f->req.identity_token, upstream_now_ms(), &f->identity_body,
                                   f->identity_desk);

    if (!err &&
        (err = records_visit_open_by_his_id(db, f->req.his_visit_id, visit_kind_name(f->req.kind),
                                            f->open_visit_id)) == POSA_ENOTFOUND)
        err = 0;
    if (!err && f->open_visit_id[0]) {
        struct visit_record *v = NULL;

        if ((err = records_visit_get(db, f->open_visit_id, &v)) == 0) {
            str_copy(f->open_visit_desk, sizeof f->open_visit_desk, v->desk);
            str_copy(f->open_visit_psn, sizeof f->open_visit_psn, v->who.psn_no);
        }
        records_visit_free(v);
    }
    /* With a key, the open visit is this request's if the journal's registration under the
     * key registered it; else it is another request's (another desk's, another key's), also
     * when the key's own registration is lost or reversed: sending that again would make a
     * second registration of the stay beside the open one. */
    if (!err && f->open_visit_id[0] && call->idem_key[0]) {
        char idem[RECORD_ID_MAX + 16];
        struct journal_row *row = NULL;

        snprintf(idem, sizeof idem, "visit:%s", call->idem_key);
        err = upstream_journal_by_key(db, idem, &row);
        f->open_by_another =
            err == POSA_ENOTFOUND ||
            (!err && (row->state != MSG_DONE || strcmp(row->visit_key, f->open_visit_id) != 0));
        journal_row_free(row);
        err = err == POSA_ENOTFOUND ? 0 : err;
    }
    return err;
}

static void on_identity(struct db_job *job, int status)
{
    struct his_call *call = his_call_of_job(job);
    struct visit_flow *f = call->flow;
    char types[64];
    int err;

    if (status == POSA_ENOTFOUND || status == POSA_ETOKEN_EXPIRED) {
        struct json_object *d = json_object_new_object();

        json_object_object_add(d, "field", json_object_new_string("identity_token"));
        his_fail(call, POSA_ETOKEN_EXPIRED,
                 status == POSA_ENOTFOUND ? "unknown identity_token: identify the patient first"
                                          : NULL,
                 d);
        return;
    }
    if (status) {
        his_fail(call, status, NULL, NULL);
        return;
    }
    if ((err = his_check_owner(call, f->identity_desk)) < 0) {
        his_fail(call, err,
                 f->identity_desk[0] ? "this patient was identified at another desk"
                                     : "this patient was identified at no desk: a client of some "
                                       "desks identifies with its desk",
                 NULL);
        return;
    }
    /* A retry without an Idempotency-Key would register the same visit with the platform a
     * second time (a second admission, a second registration), as would another request
     * under its own key (another desk's, told "being opened" and retrying). With the key
     * that registered it, the journal's registration answers with that visit (upstream.c,
     * UPMSG_EXISTING). */
    if (f->open_visit_id[0] && (!call->idem_key[0] || f->open_by_another) &&
        his_check_owner(call, f->open_visit_desk) < 0) {
        /* Another desk's patient's visit: its id is not this client's to know or use. */
        his_fail(call, POSA_ESTATE,
                 "this his_visit_id is already open at another desk: check the HIS's visit "
                 "number",
                 NULL);
        return;
    }
    if (!(f->identity = desk_doc(f->identity_body))) {
        his_fail(call, POSA_ECORRUPT, NULL, NULL);
        return;
    }
    /* Another patient's visit under the same number: "use that visit" would bill this
     * patient's fees to it. */
    if (f->open_visit_id[0] && strcmp(f->open_visit_psn, desk_str(f->identity, "psn_no")) != 0) {
        his_fail(call, POSA_ESTATE,
                 "this his_visit_id is already open for another patient: check the HIS's visit "
                 "number",
                 NULL);
        return;
    }
    if (f->open_visit_id[0] && (!call->idem_key[0] || f->open_by_another)) {
        struct json_object *d = json_object_new_object();

        json_object_object_add(d, "visit_id", json_object_new_string(f->open_visit_id));
        his_fail(call, POSA_ESTATE,
                 "this his_visit_id is already open here, opened by another request "
                 "(details.visit_id): use that visit",
                 d);
        return;
    }
    if (choose_insurance(f->identity, f->req.insutype, types, sizeof types) < 0) {
        char msg[200];

        snprintf(msg, sizeof msg, "insutype %s is not one of the patient's insurance types (%s)",
                 f->req.insutype, types);
        his_fail_at(call, POSA_EFIELD, "insutype", msg);
        return;
    }
    if (identity_columns(f->identity, &f->rec.who) < 0) {
        his_fail(call, POSA_ECORRUPT, NULL, NULL);
        return;
    }
    tag(call, f);
}

void desk_visit_open(struct his_call *call)
{
    struct visit_flow *f = his_flow_new(call, sizeof *f, flow_free);
    struct jsonmap_error jerr = {0};

    if (!f)
        return;
    if (visit_request_parse(call->req->body, call->req->body_len, &f->req, &jerr) < 0) {
        his_fail_field(call, &jerr);
        return;
    }
    if (his_lock_his_visit(call, f->req.his_visit_id) < 0) {
        his_fail(call, POSA_EBUSY, "this his_visit_id is being opened by another request", NULL);
        return;
    }
    if (desk_is_future(call->pd, f->req.begin)) {
        his_fail_at(call, POSA_EDATE, "begin_time",
                    "begin_time is on a day after today: check the date");
        return;
    }
    his_db_read(call, run_identity, on_identity);
}

/* --- POST /v1/visits/{visit_id}/cancel: 2202 / 2404 -------------------------------------- */

/* A registration made in error (the wrong patient, department or day) is undone while it has
 * no fee lines: the visit is closed in the commit that journals the cancel, and opened again
 * if the platform refuses it (desk_visit_cancel_refused). */
struct unreg_flow {
    struct visit_record *visit;
    bool queued;
    int64_t lines;    /* on the platform's bill (active) */
    bool cancel_open; /* a fee cancel of the visit is still on its way */
    char settled_id[RECORD_ID_MAX + 1]; /* a settled visit's settlement (desk_settled_of) */
    bool refund_open;                   /* ... whose refund the journal has not finished */
};

static void unreg_free(void *p)
{
    struct unreg_flow *u = p;

    records_visit_free(u->visit);
    free(u);
}

static int count_line(const struct line_record *l, void *data)
{
    if (strcmp(l->state, "active") == 0)
        ++*(int64_t *)data;
    return 0;
}

static int run_unreg_load(struct db *db, struct db_job *job)
{
    struct his_call *call = his_call_of_job(job);
    struct unreg_flow *u = call->flow;
    int err = records_visit_get(db, his_param(call, 0), &u->visit);

    if (!err)
        err = records_lines_active(db, u->visit->visit_id, count_line, &u->lines);
    if (!err)
        err = journal_visit_cancel_open(db, u->visit->visit_id, &u->cancel_open);
    /* A closed visit's repeat: its cancel (the last of its messages) still on its way? */
    if (!err && strcmp(u->visit->state, visit_state_name(VISIT_CLOSED)) == 0)
        err = journal_visit_open(db, u->visit->visit_id, &u->queued);
    if (!err)
        err = desk_settled_of(db, u->visit, u->settled_id, &u->refund_open);
    return err;
}

static int unreg_keep(struct db *db, struct upmsg *m)
{
    struct his_call *call = m->data;
    struct unreg_flow *u = call->flow;

    str_copy(u->visit->state, sizeof(u->visit->state), visit_state_name(VISIT_CLOSED));
    return records_visit_put(db, u->visit, upstream_now_ms());
}

static void unreg_answer(struct his_call *call)
{
    struct unreg_flow *u = call->flow;
    struct json_object *o = json_object_new_object();

    json_object_object_add(o, "visit_id", json_object_new_string(u->visit->visit_id));
    json_object_object_add(o, "state", json_object_new_string(visit_state_name(VISIT_CLOSED)));
    json_object_object_add(o, "cancel", json_object_new_string(u->queued ? "queued" : "uploaded"));
    his_reply(call, 200, o);
}

static void on_unreg_sent(struct upmsg *m)
{
    struct his_call *call = m->data;
    struct unreg_flow *u = call->flow;
    char msg[256];
    int err = desk_deferrable_outcome(m, &u->queued, msg, sizeof msg);

    upmsg_free(m);
    if (err)
        desk_fail_outcome(call, err, msg);
    else
        unreg_answer(call);
}

static void on_unreg_loaded(struct db_job *job, int status)
{
    struct his_call *call = his_call_of_job(job);
    struct unreg_flow *u = call->flow;
    bool inpatient;
    const char *infno;
    enum visit_state state;
    int err;

    if (!his_loaded(call, status, u->visit ? u->visit->desk : NULL))
        return;
    if (visit_state_parse(u->visit->state, &state) < 0) {
        his_fail(call, POSA_ECORRUPT, NULL, NULL);
        return;
    }
    if (state == VISIT_CLOSED) { /* a repeat: its cancel sent, or on its way; none again */
        unreg_answer(call);
        return;
    }
    /* Its fee cancel still on its way may yet be refused, the lines then on the bill. */
    if (u->cancel_open) {
        his_fail(call, POSA_EBUSY,
                 "a fee cancel of this visit is still on its way to the platform: ask again "
                 "once it is answered",
                 NULL);
        return;
    }
    /* Its refund on its way, the visit may be billed in a moment: retryable, not kept under
     * the request's key (which said "settled" for good, also once it was refunded). */
    if (state == VISIT_SETTLED && desk_refund_on_its_way(u->settled_id, u->refund_open)) {
        his_fail(call, POSA_EBUSY,
                 "the visit's settlement is being refunded: once it is, cancel its fee lines, "
                 "then the visit",
                 NULL);
        return;
    }
    if (desk_settling_busy(call, u->visit->state))
        return;
    /* Billed and every line refused is a visit with nothing on the bill. */
    if ((state != VISIT_OPEN && state != VISIT_BILLED) || u->lines > 0) {
        his_fail(call, POSA_ESTATE,
                 state == VISIT_OPEN || state == VISIT_BILLED
                     ? "the visit has fee lines: cancel them first (POST .../fees/cancel "
                       "{\"all\":true})"
                     : "the visit is settled: it cannot be cancelled",
                 NULL);
        return;
    }
    inpatient = visit_kind_named(u->visit->kind) == VISIT_INPATIENT;
    infno = inpatient ? "2404" : "2202";
    err = desk_send_hooked(call->pd, infno, u->visit->who.insuplc_admdvs, u->visit->visit_id, NULL,
                           desk_visit_cancel_input(infno, u->visit->who.psn_no, u->visit->mdtrt_id,
                                                   u->visit->his_visit_id),
                           on_unreg_sent, call,
                           &(struct desk_hooks){.admit_also = unreg_keep,
                                                .rerunnable = true,
                                                .audit = "visit_cancel",
                                                .audit_by = call});
    if (err)
        his_fail(call, err, NULL, NULL);
}

void desk_visit_cancel(struct his_call *call)
{
    struct unreg_flow *u = his_flow_new(call, sizeof *u, unreg_free);
    struct jsonmap_error jerr = {0};

    if (!u)
        return;
    /* A body meant for another route ({"all":true} of fees/cancel) must not undo the visit. */
    if (empty_request_parse(call->req->body, call->req->body_len, &jerr) < 0) {
        his_fail_field(call, &jerr);
        return;
    }
    if (his_lock(call, his_param(call, 0)) < 0) {
        his_fail(call, POSA_EBUSY, "another step of this visit is on its way: ask again", NULL);
        return;
    }
    his_db_read(call, run_unreg_load, on_unreg_loaded);
}

int desk_visit_cancel_refused(struct db *db, const struct upmsg *m)
{
    struct visit_record *v = NULL;
    int err;

    if ((err = records_visit_get(db, m->visit_key, &v)) != 0)
        return err == POSA_ENOTFOUND ? 0 : err;
    if (strcmp(v->state, visit_state_name(VISIT_CLOSED)) == 0) {
        str_copy(v->state, sizeof(v->state), visit_state_name(VISIT_OPEN));
        err = records_visit_put(db, v, upstream_now_ms());
    }
    records_visit_free(v);
    return err;
}

/* --- GET /v1/visits/{visit_id} --------------------------------------------------------- */

struct visit_get {
    struct visit_record *rec;
    struct json_object *lines; /* built on the database thread, handed over whole */
};

static void visit_get_free(void *p)
{
    struct visit_get *g = p;

    records_visit_free(g->rec);
    json_object_put(g->lines);
    free(g);
}

/* A line as the HIS may look it up: what is on the platform's bill, and what is not. A line
 * whose cancel the platform refused after the HIS heard "queued" says so. */
static int line_json(const struct line_record *l, void *data)
{
    struct json_object *o = json_object_new_object();

    json_object_object_add(o, "his_line_id", json_object_new_string(l->his_line_id));
    json_object_object_add(o, "feedetl_sn", json_object_new_string(l->feedetl_sn));
    json_object_object_add(o, "state", json_object_new_string(l->state));
    json_object_object_add(o, "amount", his_money(l->split.amount));
    if (strcmp(l->state, "active") == 0 && l->cancel_msgid[0])
        json_object_object_add(o, "cancel_refused", json_object_new_boolean(true));
    return json_object_array_add(data, o);
}

static int run_visit_get(struct db *db, struct db_job *job)
{
    struct his_call *call = his_call_of_job(job);
    struct visit_get *g = call->flow;
    int err = records_visit_get(db, his_param(call, 0), &g->rec);

    if (!err && !(g->lines = json_object_new_array()))
        err = -ENOMEM;
    return err ? err : records_lines_list(db, g->rec->visit_id, line_json, g->lines);
}

static void on_visit_get(struct db_job *job, int status)
{
    struct his_call *call = his_call_of_job(job);
    struct visit_get *g = call->flow;
    struct json_object *doc, *o, *v = NULL;

    if (!his_loaded(call, status, g->rec ? g->rec->desk : NULL))
        return;
    doc = desk_doc(g->rec->body);
    o = json_object_new_object();
    json_object_object_add(o, "visit_id", json_object_new_string(g->rec->visit_id));
    json_object_object_add(o, "mdtrt_id", json_object_new_string(g->rec->mdtrt_id));
    json_object_object_add(o, "state", json_object_new_string(g->rec->state));
    json_object_object_add(o, "kind", json_object_new_string(g->rec->kind));
    json_object_object_add(o, "his_visit_id", json_object_new_string(g->rec->his_visit_id));
    if (json_object_object_get_ex(doc, "flags", &v))
        json_object_object_add(o, "flags", json_object_get(v));
    if (json_object_object_get_ex(doc, "warnings", &v))
        json_object_object_add(o, "warnings", json_object_get(v));
    json_object_object_add(o, "lines", json_object_get(g->lines));
    json_object_put(doc);
    his_reply(call, 200, o);
}

void desk_visit_get(struct his_call *call)
{
    struct visit_get *g = his_flow_new(call, sizeof *g, visit_get_free);

    if (!g)
        return;
    his_db(call, run_visit_get, on_visit_get);
}
