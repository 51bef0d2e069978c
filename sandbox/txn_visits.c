/* Visits: outpatient registration (2201-2203) and hospital stays (2401-2405), the filing
 * check at registration/admission, and the undoing of both by a reversal. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bound.h"
#include "core/datetime.h"
#include "core/err.h"
#include "core/str.h"
#include "sandbox/txn.h"

/* A visit is of one of the person's insurance rows, and goes under its region (the
 * envelope's insuplc_admdvs, which txn_person found to be one of the person's). */
static int visit_check_insurance(struct txn *t, const struct sc_person *p, const char *where,
                                 const char *insutype)
{
    const char *region = scenario_person_region(p, insutype);

    if (!region)
        return txn_refuse(t, "%s.insutype %s is not one of the person's insurance types (%s)",
                          where, insutype, p->insutype);
    if (strcmp(region, t->env->head.insuplc_admdvs) != 0)
        return txn_refuse(t, "insuplc_admdvs %s is not the region of insurance type %s (%s)",
                          t->env->head.insuplc_admdvs, insutype, region);
    return 0;
}

int visit_check_filing(struct txn *t, const struct sc_person *p, bool inpatient, bool emergency,
                       int32_t begin_date, enum filing_kind *ret_kind)
{
    struct filing eff[BOUND_FILINGS];
    const struct filing *used = NULL;
    int32_t today = (int32_t)(t->now / 1000000);
    struct filing_query q = {.inpatient = inpatient,
                             .emergency = emergency,
                             .begin_date = begin_date,
                             .settle_date = today > begin_date ? today : begin_date};
    size_t n;

    if (scenario_is_local(&t->sb->scenario, t->env->head.insuplc_admdvs)) {
        *ret_kind = FILING_LONG_TERM; /* insured here: local rates, no filing needed */
        return 0;
    }
    n = scenario_effective_filings(p, eff);
    if (filing_resolve(eff, n, &q, ret_kind, &used) < 0)
        return txn_refuse(t,
                          "%s has no valid cross-province filing for this %s and it is not an "
                          "emergency: no direct settlement (the patient pays and claims at "
                          "home)",
                          p->psn_no, inpatient ? "stay" : "visit");
    return 0;
}

/* input.diseinfo, when present: a list of diagnoses, each with a diag_code. */
static int check_diseinfo(struct txn *t)
{
    struct json_object *list = NULL;
    const char *code;
    char where[32];

    if (!json_object_object_get_ex(t->env->input, "diseinfo", &list) ||
        json_object_is_type(list, json_type_null))
        return 0;
    if (!json_object_is_type(list, json_type_array) ||
        json_object_array_length(list) > BOUND_DIAGNOSES)
        return txn_refuse(t, "input.diseinfo must be a list of at most %d diagnoses",
                          BOUND_DIAGNOSES);
    for (size_t i = 0; i < json_object_array_length(list); i++) {
        struct json_object *d = json_object_array_get_idx(list, i);

        str_index(where, sizeof(where), "diseinfo", i);
        if (!json_object_is_type(d, json_type_object))
            return txn_refuse(t, "input.%s is not an object", where);
        if (txn_str(t, d, where, "diag_code", BOUND_CODE, true, &code) < 0)
            return -1;
    }
    return 0;
}

static bool flag_ok(const char *v)
{
    return !v[0] || strcmp(v, "0") == 0 || strcmp(v, "1") == 0;
}

/* The visit has an active settlement: it must be cancelled first. */
static int refuse_if_settled(struct txn *t, const struct ledger_visit *v, const char *what)
{
    struct ledger_settlement s;
    int rc = ledger_settlement_active(t->sb->ledger, v->mdtrt_id, &s);

    if (rc < 0)
        return txn_ledger_error(t, rc);
    if (rc == 0)
        return 0;
    ledger_settlement_free(&s);
    return txn_refuse(t, "visit %s has an active settlement %s: cancel it before %s", v->mdtrt_id,
                      s.setl_id, what);
}

static int put_visit(struct txn *t, const struct ledger_visit *v)
{
    int rc = ledger_visit_put(t->sb->ledger, v);

    return rc < 0 ? txn_ledger_error(t, rc) : 0;
}

/* --- outpatient ------------------------------------------------------------------------ */

int txn_2201_register(struct txn *t)
{
    struct json_object *d = txn_node(t, "data"), *out;
    const char *psn, *insutype, *ipt_otp_no, *med_type, *er;
    struct ledger_visit v = {0};
    enum filing_kind kind;
    struct sc_person *p = NULL;

    if (!d || txn_str(t, d, "data", "psn_no", BOUND_CODE, true, &psn) < 0 ||
        txn_str(t, d, "data", "insutype", 3, true, &insutype) < 0 ||
        txn_str(t, d, "data", "ipt_otp_no", BOUND_CODE, true, &ipt_otp_no) < 0 ||
        txn_str(t, d, "data", "med_type", 6, false, &med_type) < 0 ||
        txn_str(t, d, "data", "otp_er_refl_flag", 1, false, &er) < 0 ||
        txn_time(t, d, "data", "begntime", t->now, &v.begntime) < 0 || txn_person(t, psn, &p) < 0)
        return -1;
    if (er[0] && strcmp(er, "0") != 0 && strcmp(er, "1") != 0 && strcmp(er, "2") != 0)
        return txn_refuse(t, "data.otp_er_refl_flag is 0, 1 (emergency) or 2 (referral): %s", er);
    if (visit_check_insurance(t, p, "data", insutype) < 0)
        return -1;
    v.emergency = strcmp(med_type, "13") == 0 || strcmp(er, "1") == 0;
    if (visit_check_filing(t, p, false, v.emergency, (int32_t)(v.begntime / 1000000), &kind) < 0)
        return -1;
    if (txn_new_id(t, "mdtrt_id", "", v.mdtrt_id, sizeof(v.mdtrt_id)) < 0)
        return -1;
    str_copy(v.psn_no, sizeof(v.psn_no), p->psn_no);
    str_copy(v.insutype, sizeof(v.insutype), insutype);
    str_copy(v.med_type, sizeof(v.med_type), med_type[0] ? med_type : "11");
    str_copy(v.ipt_otp_no, sizeof(v.ipt_otp_no), ipt_otp_no);
    snprintf(v.state, sizeof(v.state), "open");
    str_copy(v.msgid, sizeof(v.msgid), t->env->head.msgid);
    if (put_visit(t, &v) < 0)
        return -1;
    str_copy(t->msg->mdtrt_id, sizeof(t->msg->mdtrt_id), v.mdtrt_id);
    snprintf(t->msg->effect, sizeof(t->msg->effect), "visit");
    t->output = json_object_new_object();
    out = json_object_new_object();
    out_str(out, "mdtrt_id", v.mdtrt_id);
    out_str(out, "psn_no", v.psn_no);
    out_str(out, "ipt_otp_no", v.ipt_otp_no);
    json_object_object_add(t->output, "data", out);
    return 0;
}

/* Reads {node}{mdtrt_id, psn_no} and finds the visit. */
static int visit_of(struct txn *t, const char *node, bool inpatient, struct json_object **ret_obj,
                    struct ledger_visit *v)
{
    struct json_object *d = txn_node(t, node);
    const char *psn, *mdtrt_id;
    struct sc_person *p = NULL;

    if (!d || txn_str(t, d, node, "psn_no", BOUND_CODE, true, &psn) < 0 ||
        txn_str(t, d, node, "mdtrt_id", BOUND_CODE, true, &mdtrt_id) < 0 ||
        txn_person(t, psn, &p) < 0 || txn_visit(t, mdtrt_id, p, inpatient, v) < 0)
        return -1;
    if (ret_obj)
        *ret_obj = d;
    return 0;
}

static int cancel_visit(struct txn *t, struct ledger_visit *v)
{
    if (refuse_if_settled(t, v, "cancelling the visit") < 0)
        return -1;
    snprintf(t->msg->effect, sizeof(t->msg->effect), "state:%s", v->state);
    snprintf(v->state, sizeof(v->state), "cancelled");
    if (put_visit(t, v) < 0)
        return -1;
    t->output = json_object_new_object();
    return 0;
}

int txn_2202_unregister(struct txn *t)
{
    struct ledger_visit v;

    if (visit_of(t, "data", false, NULL, &v) < 0)
        return -1;
    return cancel_visit(t, &v);
}

int txn_2203_visit_info(struct txn *t)
{
    struct json_object *d;
    struct ledger_visit v;
    const char *med_type;

    if (check_diseinfo(t) < 0 || visit_of(t, "mdtrtinfo", false, &d, &v) < 0 ||
        txn_str(t, d, "mdtrtinfo", "med_type", 6, false, &med_type) < 0)
        return -1;
    if (refuse_if_settled(t, &v, "changing the visit") < 0)
        return -1;
    if (med_type[0]) {
        str_copy(v.med_type, sizeof(v.med_type), med_type);
        v.emergency = v.emergency || strcmp(med_type, "13") == 0;
    }
    if (put_visit(t, &v) < 0)
        return -1;
    t->output = json_object_new_object();
    return 0;
}

/* --- hospital stays -------------------------------------------------------------------- */

static bool is_inpatient_med_type(const char *m)
{
    /* 13: an outpatient emergency admitted straight away (counts as an emergency). */
    static const char *const ok[] = {"13", "21", "22", "23", "24", "52", "2101", "2102"};

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (strcmp(m, ok[i]) == 0)
            return true;
    return false;
}

static bool is_emergency_med_type(const char *m)
{
    return strcmp(m, "24") == 0 || strcmp(m, "13") == 0;
}

/* Each field present ("" is absent) changes the visit, alone: a 2403 may change one flag.
 * The visit keeps outcomes, not flags: what a flag gave is what its med_type does not. */
static void apply_stay_flags(struct ledger_visit *v, const char *med_type, const char *ipt_type,
                             const char *trum, const char *ttp)
{
    bool emergency_by_ipt_type = v->emergency && !is_emergency_med_type(v->med_type);
    bool trauma_by_flag = v->trauma && strcmp(v->med_type, "22") != 0;

    if (med_type[0])
        str_copy(v->med_type, sizeof(v->med_type), med_type);
    if (ipt_type[0])
        emergency_by_ipt_type = strcmp(ipt_type, "2") == 0;
    if (trum[0])
        trauma_by_flag = strcmp(trum, "1") == 0;
    if (ttp[0])
        v->third_party = strcmp(ttp, "1") == 0;
    v->emergency = is_emergency_med_type(v->med_type) || emergency_by_ipt_type;
    v->trauma = strcmp(v->med_type, "22") == 0 || trauma_by_flag;
}

/* med_type, ipt_type, trum_flag, rel_ttp_flag of mdtrtinfo/adminfo into the visit. */
static int stay_flags(struct txn *t, struct json_object *d, const char *node, bool required,
                      struct ledger_visit *v)
{
    const char *med_type, *ipt_type, *trum, *ttp;

    if (txn_str(t, d, node, "med_type", 6, required, &med_type) < 0 ||
        txn_str(t, d, node, "ipt_type", 1, false, &ipt_type) < 0 ||
        txn_str(t, d, node, "trum_flag", 1, false, &trum) < 0 ||
        txn_str(t, d, node, "rel_ttp_flag", 1, false, &ttp) < 0)
        return -1;
    if (med_type[0] && !is_inpatient_med_type(med_type))
        return txn_refuse(t, "%s.med_type %s is not an inpatient type (13, 21, 22, 23, 24, 52)",
                          node, med_type);
    if (!flag_ok(trum) || !flag_ok(ttp) ||
        (ipt_type[0] && strcmp(ipt_type, "1") && strcmp(ipt_type, "2")))
        return txn_refuse(t, "%s: trum_flag and rel_ttp_flag are 0 or 1, ipt_type 1 or 2", node);
    apply_stay_flags(v, med_type, ipt_type, trum, ttp);
    return 0;
}

int txn_2401_admit(struct txn *t)
{
    struct json_object *d = txn_node(t, "mdtrtinfo"), *out;
    const char *psn, *insutype, *ipt_no;
    struct ledger_visit v = {0};
    enum filing_kind kind;
    struct sc_person *p = NULL;

    if (!d || check_diseinfo(t) < 0 ||
        txn_str(t, d, "mdtrtinfo", "psn_no", BOUND_CODE, true, &psn) < 0 ||
        txn_str(t, d, "mdtrtinfo", "insutype", 3, true, &insutype) < 0 ||
        txn_str(t, d, "mdtrtinfo", "ipt_no", BOUND_CODE, true, &ipt_no) < 0 ||
        txn_time(t, d, "mdtrtinfo", "begntime", t->now, &v.begntime) < 0 ||
        stay_flags(t, d, "mdtrtinfo", true, &v) < 0 || txn_person(t, psn, &p) < 0)
        return -1;
    if (visit_check_insurance(t, p, "mdtrtinfo", insutype) < 0)
        return -1;
    if (visit_check_filing(t, p, true, v.emergency, (int32_t)(v.begntime / 1000000), &kind) < 0)
        return -1;
    if (txn_new_id(t, "mdtrt_id", "", v.mdtrt_id, sizeof(v.mdtrt_id)) < 0)
        return -1;
    v.inpatient = true;
    str_copy(v.psn_no, sizeof(v.psn_no), p->psn_no);
    str_copy(v.insutype, sizeof(v.insutype), insutype);
    str_copy(v.ipt_otp_no, sizeof(v.ipt_otp_no), ipt_no);
    snprintf(v.state, sizeof(v.state), "open");
    str_copy(v.msgid, sizeof(v.msgid), t->env->head.msgid);
    if (put_visit(t, &v) < 0)
        return -1;
    str_copy(t->msg->mdtrt_id, sizeof(t->msg->mdtrt_id), v.mdtrt_id);
    snprintf(t->msg->effect, sizeof(t->msg->effect), "visit");
    t->output = json_object_new_object();
    out = json_object_new_object();
    out_str(out, "mdtrt_id", v.mdtrt_id);
    out_str(out, "psn_no", v.psn_no);
    out_str(out, "ipt_no", v.ipt_otp_no);
    json_object_object_add(t->output, "result", out);
    return 0;
}

int txn_2402_discharge(struct txn *t)
{
    struct json_object *d;
    struct ledger_visit v;

    if (check_diseinfo(t) < 0 || visit_of(t, "dscginfo", true, &d, &v) < 0)
        return -1;
    if (strcmp(v.state, "open") != 0)
        return txn_refuse(t, "stay %s is already discharged", v.mdtrt_id);
    if (txn_time(t, d, "dscginfo", "endtime", t->now, &v.endtime) < 0)
        return -1;
    if (v.endtime < v.begntime)
        return txn_refuse(t, "dscginfo.endtime is before the admission");
    snprintf(v.state, sizeof(v.state), "discharged");
    snprintf(t->msg->effect, sizeof(t->msg->effect), "discharge");
    if (put_visit(t, &v) < 0)
        return -1;
    t->output = json_object_new_object();
    return 0;
}

int txn_2403_admission_change(struct txn *t)
{
    struct json_object *d;
    struct ledger_visit v;

    if (check_diseinfo(t) < 0 || visit_of(t, "adminfo", true, &d, &v) < 0 ||
        refuse_if_settled(t, &v, "changing the stay") < 0 ||
        txn_time(t, d, "adminfo", "begntime", v.begntime, &v.begntime) < 0 ||
        stay_flags(t, d, "adminfo", false, &v) < 0 || put_visit(t, &v) < 0)
        return -1;
    t->output = json_object_new_object();
    return 0;
}

int txn_2404_admit_cancel(struct txn *t)
{
    struct ledger_visit v;

    if (visit_of(t, "data", true, NULL, &v) < 0)
        return -1;
    return cancel_visit(t, &v);
}

int txn_2405_discharge_cancel(struct txn *t)
{
    struct ledger_visit v;

    if (visit_of(t, "data", true, NULL, &v) < 0 ||
        refuse_if_settled(t, &v, "cancelling the discharge") < 0)
        return -1;
    if (strcmp(v.state, "discharged") != 0)
        return txn_refuse(t, "stay %s is not discharged", v.mdtrt_id);
    snprintf(t->msg->effect, sizeof(t->msg->effect), "endtime:%lld", (long long)v.endtime);
    snprintf(v.state, sizeof(v.state), "open");
    v.endtime = 0;
    if (put_visit(t, &v) < 0)
        return -1;
    t->output = json_object_new_object();
    return 0;
}

/* --- reversal -------------------------------------------------------------------------- */

int visit_reverse(struct txn *t, const struct ledger_msg *m)
{
    struct ledger_visit v;
    int rc = ledger_visit_get(t->sb->ledger, m->mdtrt_id, &v);

    if (rc < 0)
        return txn_ledger_error(t, rc);
    if (rc == 0)
        return 0;
    if (refuse_if_settled(t, &v, "reversing this message") < 0)
        return -1;
    if (strcmp(m->effect, "visit") == 0) {
        snprintf(v.state, sizeof(v.state), "cancelled");
    } else if (strncmp(m->effect, "state:", 6) == 0) {
        str_copy(v.state, sizeof(v.state), m->effect + 6);
    } else if (strcmp(m->effect, "discharge") == 0) {
        snprintf(v.state, sizeof(v.state), "open");
        v.endtime = 0;
    } else if (strncmp(m->effect, "endtime:", 8) == 0) {
        snprintf(v.state, sizeof(v.state), "discharged");
        v.endtime = strtoll(m->effect + 8, NULL, 10);
    } else {
        return 0; /* changed details only: nothing the ledger's money depends on */
    }
    return put_visit(t, &v);
}
