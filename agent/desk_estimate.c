/* The offline estimate (his-api.md: presettle "estimated locally by core/'s policy engine
 * with estimated:true when the platform is offline"): the insured regions' rules come from
 * the file [policy] file names (the scenario format, read by interface/json/policy_json),
 * the filing from the identify answer, the split from the visit's lines. Year accumulations
 * are the insured region's and unknown here: the estimate assumes none used this year and
 * says so. */
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/desk.h"
#include "agent/posad.h"
#include "core/bound.h"
#include "core/datetime.h"
#include "core/decimal.h"
#include "core/err.h"
#include "interface/json/jsonmap.h"
#include "interface/json/policy_json.h"

struct desk_policy_region {
    char code[7];
    struct region_rate rates[BOUND_RATES];
    struct region_policy policy;
};

struct desk_policy {
    unsigned char digest[32]; /* SHA-256 of the file: a reload tells whether it changed */
    struct json_object *doc;  /* the rates' strings live here */
    char level;              /* the hospital's level, "institution.level" */
    struct desk_policy_region *regions;
    size_t n;
};

void desk_policy_free(struct desk_policy *p)
{
    if (!p)
        return;
    json_object_put(p->doc);
    free(p->regions);
    free(p);
}

static int regions_map(struct desk_policy *p, struct json_object *regions, char *msg, size_t cap)
{
    struct jsonmap_error err = {0};
    size_t i = 0;

    p->n = (size_t)json_object_object_length(regions);
    if (!(p->regions = calloc(p->n ? p->n : 1, sizeof p->regions[0])))
        return -ENOMEM;
    json_object_object_foreach(regions, code, value)
    {
        struct desk_policy_region *r = &p->regions[i++];
        const char *name;

        if (strlen(code) != 6 || strspn(code, "0123456789") != 6 ||
            policy_json_region(value, r->rates, BOUND_RATES, &r->policy, &name, &err) < 0) {
            snprintf(msg, cap, "regions.%s%s%s: %s", code, err.field[0] ? "." : "", err.field,
                     posa_strerror(err.err ? err.err : POSA_EFIELD));
            return POSA_EFIELD;
        }
        memcpy(r->code, code, 7);
    }
    return 0;
}

int desk_policy_load(struct desk *d, const char *path, char *msg, size_t cap)
{
    struct desk_policy *p = calloc(1, sizeof *p);
    struct json_object *regions = NULL, *inst = NULL, *level = NULL;
    struct jsonmap_error jerr = {0};
    size_t len = 0;
    char *text = NULL;
    int err = POSA_EFIELD;

    if (!path[0]) {
        free(p);
        return 0; /* no offline estimate */
    }
    errno = 0;
    if (!p || jsonmap_read_file(path, BOUND_BODY, &text, &len) < 0) {
        snprintf(msg, cap, "[policy] file: cannot read %s%s%s", path, errno ? ": " : "",
                 errno ? strerror(errno) : "");
        goto out;
    }
    if (!EVP_Digest(text, len, p->digest, NULL, EVP_sha256(), NULL)) {
        snprintf(msg, cap, "[policy] file: %s: its digest could not be made", path);
        goto out;
    }
    if (jsonmap_parse(text, len, &p->doc, &jerr) < 0) {
        if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) /* Notepad's; posad.conf takes it */
            snprintf(msg, cap,
                     "[policy] file: %s starts with a byte-order mark (EF BB BF): save it as UTF-8 "
                     "without one",
                     path);
        else if (jerr.line)
            snprintf(msg, cap,
                     "[policy] file: %s is not JSON: it stops being JSON at line %zu, "
                     "column %zu",
                     path, jerr.line, jerr.column);
        else
            snprintf(msg, cap, "[policy] file: %s cannot be read as JSON: %s", path,
                     posa_strerror(jerr.err));
        goto out;
    }
    if (!json_object_object_get_ex(p->doc, "regions", &regions) ||
        !json_object_is_type(regions, json_type_object)) {
        snprintf(msg, cap, "[policy] file: %s has no \"regions\" object (the scenario format)", path);
        goto out;
    }
    json_object_object_get_ex(p->doc, "institution", &inst);
    json_object_object_get_ex(inst, "level", &level);
    p->level = level ? json_object_get_string(level)[0] : '3';
    if ((err = regions_map(p, regions, msg, cap)) < 0)
        goto out;
    desk_policy_free(d->policy);
    d->policy = p;
    p = NULL;
out:
    free(text);
    desk_policy_free(p);
    return err < 0 ? err : 0;
}

bool desk_policy_same(const struct desk_policy *a, const struct desk_policy *b)
{
    return a == b || (a && b && memcmp(a->digest, b->digest, sizeof a->digest) == 0);
}

static const struct desk_policy_region *region_of(const struct desk_policy *p, const char *code)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->regions[i].code, code) == 0)
            return &p->regions[i];
    return NULL;
}

/* The identify answer's filings, as desk_identify kept them. */
static size_t filings_of(struct json_object *id, struct filing *out)
{
    struct json_object *list = NULL;
    size_t n = 0;

    json_object_object_get_ex(id, "filings", &list);
    for (size_t i = 0; list && i < json_object_array_length(list) && n < BOUND_FILINGS; i++) {
        struct json_object *r = json_object_array_get_idx(list, i), *from = NULL, *to = NULL;

        if (filing_kind_parse(desk_str(r, "kind"), &out[n].kind) < 0)
            continue;
        json_object_object_get_ex(r, "valid_from", &from);
        json_object_object_get_ex(r, "valid_to", &to);
        out[n].valid_from = json_object_get_int(from);
        out[n++].valid_to = json_object_get_int(to);
    }
    return n;
}

int desk_estimate(const struct desk *d, struct json_object *visit_doc, const struct bill *bill,
                  bool inpatient, bool use_account, struct policy_result *ret,
                  enum filing_kind *ret_kind)
{
    struct json_object *id = NULL, *req = NULL, *b = NULL;
    const struct desk_policy_region *region;
    struct filing filings[BOUND_FILINGS];
    struct filing_query q = {.inpatient = inpatient};
    struct policy_accum year = {0}; /* unknown offline: none used assumed */
    struct policy_input in;
    const struct filing *used;
    const char *balance;
    int64_t begin = 0, fen = 0;
    int err;

    if (!d->policy)
        return POSA_EUPSTREAM_OFFLINE;
    json_object_object_get_ex(visit_doc, "identity", &id);
    json_object_object_get_ex(visit_doc, "request", &req);
    if (!(region = region_of(d->policy, desk_str(id, "insuplc_admdvs"))) ||
        !json_object_object_get_ex(id, "has_filinginfo", &b) || !json_object_get_boolean(b))
        return POSA_EUPSTREAM_OFFLINE; /* neither the rules nor the filing are known here */
    datetime_parse(desk_str(req, "begin_time"), strlen(desk_str(req, "begin_time")), &begin);
    q.begin_date = datetime_date(begin);
    q.settle_date = datetime_date(upstream_now_beijing());
    q.emergency = json_object_object_get_ex(visit_doc, "emergency", &b) && json_object_get_boolean(b);
    if ((err = filing_resolve(filings, filings_of(id, filings), &q, ret_kind, &used)) < 0)
        return err;
    balance = desk_str(id, "balance");
    money_parse(balance, strlen(balance), &fen);
    in = (struct policy_input){
        .region = &region->policy, .insutype = desk_str(id, "insutype"), .inpatient = inpatient,
        .hospital_level = d->policy->level, .filing = *ret_kind, .totals = bill->total,
        .fund_excluded = json_object_object_get_ex(visit_doc, "third_party", &b) &&
                         json_object_get_boolean(b),
        .use_account = use_account, .account_balance = fen};
    return policy_compute(&in, &year, ret);
}
