/* POST /v1/identify: who is at the desk. Reads the desk's card (waiting for one up to
 * wait_ms), or takes the resident ID number, asks the platform (1101) and answers with the
 * person, the insurance, whether the visit is cross-province and the filing status; the
 * answer is kept behind an identity_token that opening a visit needs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent/desk.h"
#include "agent/posad.h"
#include "core/datetime.h"
#include "core/err.h"
#include "core/mask.h"
#include "core/str.h"
#include "drivers/qr.h"
#include "interface/his/requests.h"
#include "interface/his/responses.h"
#include "interface/platform/desk_msgs.h"

struct identify_flow {
    struct identify_request req;
    char cert_type[3];
    char cert_no[BOUND_CODE * 2 + 1]; /* an ID number, a card number or an ecToken */
    char card_sn[CARD_SN_LEN + 1];
    /* The person as the card or the e-voucher service says, sent in 1101 beside the number */
    char certno[BOUND_CODE + 1];
    char psn_cert_type[4];
    char psn_name[BOUND_NAME + 1];
    bool card_expired;
    char token[HIS_TOKEN_LEN + 1];
    char *doc; /* the identity kept behind the token */
    struct json_object *answer;
    char hospital_admdvs[7]; /* the treating region, copied for the database thread */
    int built;               /* 1101's answer read: 0, or why not (decode_field says) */
    char decode_field[sizeof((struct jsonmap_error *)0)->field];
    bool stored; /* the identity committed with 1101's outcome */
    struct desk_waiter waiter;
    struct platform_request ec; /* the e-voucher decode request */
    char *ec_body;
    char ec_url[600];
    /* auto: the code taken from the desk, given back if the platform could not be reached */
    struct desk *d;
    char taken_desk[CARD_DESK_MAX + 1];
    char taken_qr[BOUND_QR_LINE + 1];
    uint64_t taken_at; /* uv_now() */
    uint64_t asked_at; /* uv_now() the request came */
    bool offline;
};

static void flow_free(void *p)
{
    struct identify_flow *f = p;

    if (f->offline && f->taken_qr[0])
        desk_qr_give_back(f->d, f->taken_desk, f->taken_qr, f->taken_at);
    his_request_done(&f->req.root);
    free(f->ec_body);
    free(f->doc);
    json_object_put(f->answer);
    free(f);
}

/* --- the answer ------------------------------------------------------------------------ */

/* The contract's fields of a filing, null when there is none in force. */
static struct json_object *filing_none(struct json_object *o)
{
    json_object_object_add(o, "kind", NULL);
    json_object_object_add(o, "valid_from", NULL);
    json_object_object_add(o, "valid_to", NULL);
    return o;
}

/* Of the person's filings that ended before today, the one that ended last; NULL if none. */
static const struct filing *filing_last_ended(const struct desk_person *p, int32_t today)
{
    const struct filing *last = NULL;

    for (size_t i = 0; i < p->n_filings; i++) {
        const struct filing *f = &p->filings[i];

        if (f->valid_to && f->valid_to < today && (!last || f->valid_to > last->valid_to))
            last = f;
    }
    return last;
}

static struct json_object *filing_json(const struct desk_person *p, int32_t today)
{
    struct json_object *o = json_object_new_object();
    struct filing_query q = {.begin_date = today, .settle_date = today};
    const struct filing *used = NULL;
    enum filing_kind kind;
    char from[DATETIME_DATE_LEN + 1], to[DATETIME_DATE_LEN + 1];

    if (!p->has_filinginfo) {
        /* The national interface has no filing query: only the platform's refusal tells. */
        json_object_object_add(o, "status", json_object_new_string("unknown"));
        return filing_none(o);
    }
    if (filing_resolve(p->filings, p->n_filings, &q, &kind, &used) < 0 || !used) {
        const struct filing *ended = filing_last_ended(p, today);

        json_object_object_add(o, "status", json_object_new_string("not_filed"));
        if (ended) { /* "expired on ...: renew it" is what the cashier can tell the patient */
            struct json_object *e = json_object_new_object();

            date_format(ended->valid_to, to);
            json_object_object_add(e, "kind",
                                   json_object_new_string(filing_kind_name(ended->kind)));
            json_object_object_add(e, "valid_to", json_object_new_string(to));
            json_object_object_add(o, "expired", e);
        }
        return filing_none(o);
    }
    date_format(used->valid_from, from);
    json_object_object_add(o, "status", json_object_new_string("filed"));
    json_object_object_add(o, "kind", json_object_new_string(filing_kind_name(kind)));
    json_object_object_add(o, "valid_from", json_object_new_string(from));
    if (used->valid_to) {
        date_format(used->valid_to, to);
        json_object_object_add(o, "valid_to", json_object_new_string(to));
    } else {
        json_object_object_add(o, "valid_to", NULL);
    }
    return o;
}

/* The insurance rows, in the answer and in the identity kept: a visit is of one of them
 * (its insutype; desk_visit.c), each cross-province or not by its own region. */
static struct json_object *insurance_json(const struct identify_flow *f,
                                          const struct desk_person *p)
{
    struct json_object *a = json_object_new_array();

    for (size_t i = 0; i < p->n_insurance; i++) {
        const struct desk_insurance *ins = &p->insurance[i];
        struct json_object *o = json_object_new_object();

        json_object_object_add(o, "insutype", json_object_new_string(ins->insutype));
        json_object_object_add(o, "insuplc_admdvs", json_object_new_string(ins->insuplc_admdvs));
        json_object_object_add(o, "psn_type", json_object_new_string(ins->psn_type));
        json_object_object_add(o, "balance", his_money(ins->balance));
        json_object_object_add(o, "cross_province",
                               json_object_new_boolean(flags_is_cross_province(
                                   ins->insuplc_admdvs, f->hospital_admdvs)));
        json_object_array_add(a, o);
    }
    return a;
}

static struct json_object *person_json(const struct desk_person *p)
{
    struct json_object *o = json_object_new_object();
    char masked[64];

    mask_certno(p->certno, masked, sizeof masked);
    json_object_object_add(o, "psn_no", json_object_new_string(p->psn_no));
    json_object_object_add(o, "name", json_object_new_string(p->psn_name));
    json_object_object_add(o, "gender", json_object_new_string(p->gender));
    json_object_object_add(o, "birthday", json_object_new_string(p->birthday));
    json_object_object_add(o, "certno_masked", json_object_new_string(masked));
    return o;
}

/* The identity kept behind the token: what opening a visit needs, unmasked (the database
 * is 0600; logs and answers only ever see masked numbers). Its own insutype, region and
 * balance are the first row's until a visit picks its row. */
static char *identity_doc(const struct identify_flow *f, const struct desk_person *p, bool cross)
{
    struct json_object *o = json_object_new_object(), *filings = json_object_new_array();
    const struct desk_insurance *ins = &p->insurance[0];
    char *text;

    json_object_object_add(o, "psn_no", json_object_new_string(p->psn_no));
    json_object_object_add(o, "name", json_object_new_string(p->psn_name));
    json_object_object_add(o, "certno", json_object_new_string(p->certno));
    json_object_object_add(o, "gender", json_object_new_string(p->gender));
    json_object_object_add(o, "birthday", json_object_new_string(p->birthday));
    json_object_object_add(o, "insutype", json_object_new_string(ins->insutype));
    json_object_object_add(o, "insuplc_admdvs", json_object_new_string(ins->insuplc_admdvs));
    json_object_object_add(o, "balance", his_money(ins->balance));
    json_object_object_add(o, "cert_type", json_object_new_string(f->cert_type));
    json_object_object_add(o, "cert_no", json_object_new_string(f->cert_no));
    json_object_object_add(o, "card_sn", json_object_new_string(f->card_sn));
    json_object_object_add(o, "cross_province", json_object_new_boolean(cross));
    json_object_object_add(o, "insurance", insurance_json(f, p));
    json_object_object_add(o, "has_filinginfo", json_object_new_boolean(p->has_filinginfo));
    for (size_t i = 0; i < p->n_filings; i++) {
        struct json_object *r = json_object_new_object();

        json_object_object_add(r, "kind",
                               json_object_new_string(filing_kind_name(p->filings[i].kind)));
        json_object_object_add(r, "valid_from", json_object_new_int(p->filings[i].valid_from));
        json_object_object_add(r, "valid_to", json_object_new_int(p->filings[i].valid_to));
        json_object_array_add(filings, r);
    }
    json_object_object_add(o, "filings", filings);
    text = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
    return text;
}

/* Whether the HIS's name is another than the platform's, the spaces around it aside (an
 * HIS's CHAR column pads it). */
static bool name_differs(const char *his, const char *platform)
{
    size_t len;

    his += strspn(his, " ");
    len = strlen(his);
    while (len > 0 && his[len - 1] == ' ')
        len--;
    return len != strlen(platform) || memcmp(his, platform, len) != 0;
}

static void add_warning(struct json_object *warnings, const char *code, const char *message)
{
    struct json_object *w = json_object_new_object();

    json_object_object_add(w, "code", json_object_new_string(code));
    json_object_object_add(w, "message", json_object_new_string(message));
    json_object_array_add(warnings, w);
}

static struct json_object *answer_json(struct identify_flow *f, const struct desk_person *p,
                                       bool cross, int32_t today)
{
    struct json_object *o = json_object_new_object(), *cert = json_object_new_object();
    struct json_object *warnings = json_object_new_array();

    json_object_object_add(o, "identity_token", json_object_new_string(f->token));
    json_object_object_add(o, "person", person_json(p));
    json_object_object_add(o, "insurance", insurance_json(f, p));
    json_object_object_add(cert, "type", json_object_new_string(f->cert_type));
    if (f->card_sn[0])
        json_object_object_add(cert, "card_sn", json_object_new_string(f->card_sn));
    json_object_object_add(o, "cert", cert);
    json_object_object_add(o, "cross_province", json_object_new_boolean(cross));
    json_object_object_add(o, "filing", filing_json(p, today));
    if (f->card_expired)
        add_warning(warnings, "CARD_EXPIRED",
                    "the card has expired: it still identifies the patient, advise renewing it");
    /* The platform answers by the ID number alone: a name the HIS gave that is not the
     * platform's is a patient mixed up at the desk, or a typo (it was passed over). */
    if (f->req.psn_name && f->req.psn_name[strspn(f->req.psn_name, " ")] &&
        name_differs(f->req.psn_name, p->psn_name))
        add_warning(warnings, "NAME_MISMATCH",
                    "the platform's name for this ID number is not the psn_name given: check "
                    "that this is the patient before opening a visit");
    json_object_object_add(o, "warnings", warnings);
    return o;
}

/* --- steps ----------------------------------------------------------------------------- */

/* The platform's date when it answered (respond_time, yyyyMMddHHmmssSSS): a filing is valid
 * or not by the platform's calendar, which decides the settlement; posad's own date only when
 * the answer has none. */
static int32_t platform_today(const struct envelope_response *env)
{
    int32_t date = envelope_respond_date(env);

    return date ? date : datetime_date(upstream_now_beijing());
}

/* 1101's answer read into the identity kept and the HIS's answer, on whichever thread has
 * it: 0, or why not (f->decode_field then names the missing field). */
static int identity_build(struct identify_flow *f, const struct envelope_response *env)
{
    struct json_object *output = env->output;
    struct jsonmap_error jerr = {0};
    struct desk_person p;
    const char *sent;
    bool cross;
    int err;

    if ((err = desk_1101_decode(output, &p, &jerr)) < 0) {
        str_copy(f->decode_field, sizeof(f->decode_field), jerr.field);
        return err;
    }
    /* Asked for one person (by ID number, or with the certificate number the card or the
     * e-voucher gave), answered with another's record: never kept, never a visit. Asked by
     * ID number, an answer without one cannot be told from another's. */
    sent = strcmp(f->cert_type, "02") == 0 ? f->cert_no : f->certno;
    if ((sent[0] && p.certno[0] && strcasecmp(p.certno, sent) != 0) ||
        (strcmp(f->cert_type, "02") == 0 && !p.certno[0]))
        return POSA_ECONFLICT;
    cross = flags_is_cross_province(p.insurance[0].insuplc_admdvs, f->hospital_admdvs);
    free(f->doc); /* a second call (the database thread ran it again) starts afresh */
    json_object_put(f->answer);
    his_new_token(f->token);
    f->doc = identity_doc(f, &p, cross);
    f->answer = answer_json(f, &p, cross, platform_today(env));
    return f->doc && f->answer ? 0 : -ENOMEM;
}

static int identity_put(struct db *db, struct identify_flow *f)
{
    int64_t now = upstream_now_ms();

    return records_identity_put(db, f->token, f->req.desk, f->doc, now, now + DESK_TOKEN_TTL_MS);
}

/* 1101's apply_also: the identity commits with the message's outcome, one database step
 * instead of two. A refusal or an answer that does not read stores nothing. */
static int identity_apply(struct db *db, struct upmsg *m)
{
    struct his_call *call = m->data;
    struct identify_flow *f = call->flow;
    const struct envelope_response *env = upmsg_accepted(m);
    int err;

    if (!env || (f->built = identity_build(f, env)) < 0)
        return 0;
    err = identity_put(db, f);
    f->stored = err == 0;
    return err;
}

static int run_store(struct db *db, struct db_job *job)
{
    return identity_put(db, his_call_of_job(job)->flow);
}

static void reply(struct his_call *call)
{
    struct identify_flow *f = call->flow;
    struct json_object *answer = f->answer;

    f->answer = NULL;
    /* This patient is identified: a code of theirs given back to the desk, or a scan of
     * theirs that could not be read, is not the next patient's. */
    if (f->req.desk)
        desk_identified(&call->pd->desk, f->req.desk, f->asked_at,
                        f->taken_qr[0] ? f->taken_qr : NULL);
    his_reply(call, 200, answer);
}

static void on_stored(struct db_job *job, int status)
{
    struct his_call *call = his_call_of_job(job);

    if (status)
        his_fail(call, status, NULL, NULL);
    else
        reply(call);
}

static void on_1101(struct upmsg *m)
{
    struct his_call *call = m->data;
    struct identify_flow *f = call->flow;
    struct envelope_response env;
    char msg[256];
    int err = desk_outcome(m, &env, msg, sizeof msg);

    upmsg_free(m);
    if (err == POSA_EUPSTREAM_REFUSED && strcmp(f->cert_type, "01") == 0) {
        /* An ecToken the platform refuses is spent: a fresh scan, never a retry of it. */
        his_fail(call, POSA_EQR_EXPIRED, NULL, desk_upstream_details(msg));
        return;
    }
    if (err) {
        f->offline = err == POSA_EUPSTREAM_OFFLINE;
        desk_fail_outcome(call, err, msg);
        return;
    }
    /* Read and stored with the outcome already, unless the outcome was not written here. */
    if (!f->built && !f->stored)
        f->built = identity_build(f, &env);
    envelope_response_done(&env);
    if (f->built == -ENOMEM) {
        his_fail(call, -ENOMEM, NULL, NULL);
    } else if (f->built == POSA_ECONFLICT) {
        his_fail(call, POSA_EUPSTREAM_REFUSED,
                 "the platform answered with another person's record (its ID number differs): "
                 "nothing was kept; try again",
                 NULL);
    } else if (f->built < 0) {
        snprintf(msg, sizeof msg, "the platform's person record is incomplete or malformed (%s)",
                 f->decode_field);
        his_fail(call, POSA_EUPSTREAM_REFUSED, msg, NULL);
    } else if (f->stored) {
        reply(call);
    } else {
        his_db(call, run_store, on_stored);
    }
}

static void ask_platform(struct his_call *call)
{
    struct identify_flow *f = call->flow;
    struct desk_cert cert = {f->cert_type,     f->cert_no,
                             f->card_sn,       f->certno,
                             f->psn_cert_type, f->req.psn_name ? f->req.psn_name : f->psn_name};
    /* The identity token is kept without an fsync of its own: a power cut that loses it
     * before the next synced commit (the visit's registration) makes the HIS identify the
     * patient again, with "unknown identity_token". */
    struct desk_hooks hooks = {
        .apply_also = identity_apply, .rerunnable = true, .apply_lazy = true};
    int err;

    str_copy(f->hospital_admdvs, sizeof(f->hospital_admdvs), call->pd->cfg.mdtrtarea_admvs);
    err = desk_send_hooked(call->pd, "1101", NULL, NULL, NULL, desk_1101_input(&cert), on_1101,
                           call, &hooks);

    if (err)
        his_fail(call, err, NULL, NULL);
}

/* --- the e-voucher: a scanned code becomes an ecToken (national-interface.md §5) ------------- */

/* Whether the decode service's code is a number (an integer, or one written in digits):
 * json-c reads "abc" and 0.5 as 0, which is success. */
static bool ec_code_is_number(struct json_object *code)
{
    const char *s = json_object_get_string(code), *digits;

    if (json_object_is_type(code, json_type_int))
        return true;
    if (!json_object_is_type(code, json_type_string))
        return false;
    digits = s + (s[0] == '-');
    return digits[0] && strspn(digits, "0123456789") == strlen(digits);
}

/* The decode service's answer: {code:0, data:{ecToken, ...}} where data may be an object or
 * a JSON string. 0 and the token, or the service's message in msg. */
/* Copies the service's field key into buf when it fits, else leaves buf "". */
static void ec_copy(struct json_object *data, const char *key, char *buf, size_t cap)
{
    const char *v = desk_str(data, key);

    if (strlen(v) < cap)
        str_copy(buf, cap, v);
}

/* The decode service's answer: the ecToken into f->cert_no, the person's certificate and
 * name beside it (national-interface.md §5); 0, POSA_EQR_EXPIRED with the service's words in
 * msg, or POSA_EUPSTREAM_REFUSED when the answer is not in the service's format. */
static int ec_token_of(const char *body, size_t len, struct identify_flow *f, char *msg,
                       size_t msg_cap)
{
    struct json_object *root = NULL, *code = NULL, *data = NULL, *parsed = NULL;
    struct jsonmap_error jerr;
    const char *t;
    int err = POSA_EQR_EXPIRED;

    msg[0] = '\0'; /* the service's words, when it refused; POSA_EUPSTREAM_REFUSED: no format */
    if (jsonmap_parse(body, len, &root, &jerr) < 0)
        return POSA_EUPSTREAM_REFUSED;
    json_object_object_get_ex(root, "code", &code);
    json_object_object_get_ex(root, "data", &data);
    if (!ec_code_is_number(code)) {
        err = POSA_EUPSTREAM_REFUSED;
        goto out;
    }
    if (json_object_get_int64(code) != 0) {
        str_copy(msg, msg_cap, desk_str(root, "message"));
        goto out;
    }
    if (json_object_is_type(data, json_type_string))
        data = parsed = json_tokener_parse(json_object_get_string(data));
    t = desk_str(data, "ecToken");
    if (!t[0] || strlen(t) >= sizeof f->cert_no) {
        err = POSA_EUPSTREAM_REFUSED;
        goto out;
    }
    str_copy(f->cert_no, sizeof(f->cert_no), t);
    ec_copy(data, "idNo", f->certno, sizeof f->certno);
    ec_copy(data, "idType", f->psn_cert_type, sizeof f->psn_cert_type);
    ec_copy(data, "userName", f->psn_name, sizeof f->psn_name);
    err = 0;
out:
    json_object_put(parsed);
    json_object_put(root);
    return err;
}

static void on_ec(struct platform_request *req, const struct platform_result *result)
{
    struct his_call *call = req->data;
    struct identify_flow *f = call->flow;
    char msg[256];
    int err;

    if (result->outcome != PLATFORM_ANSWERED || result->http_status != 200) {
        f->offline = true;
        his_fail(call, POSA_EUPSTREAM_OFFLINE, "the e-voucher service cannot be reached", NULL);
        return;
    }
    err = ec_token_of(result->body, result->body_len, f, msg, sizeof msg);
    /* Not the service's format: nobody refused (it said "the insurance platform refused"),
     * and the words are posad's, not the service's. */
    if (err == POSA_EUPSTREAM_REFUSED) {
        his_fail(call, err,
                 "the e-voucher service's answer could not be read: scan the e-voucher again, "
                 "or identify by card or ID number",
                 NULL);
        return;
    }
    if (err) {
        his_fail(call, err, NULL, desk_upstream_details(msg));
        return;
    }
    snprintf(f->cert_type, sizeof f->cert_type, "01");
    ask_platform(call);
}

/* The service's URL: [upstream] ec_url, or the service URL's host with the decode path. */
static void ec_url(const struct posad_config *cfg, char *buf, size_t cap)
{
    const char *host_end = strstr(cfg->url, "://");

    if (cfg->ec_url[0] || !host_end) {
        str_copy(buf, cap, cfg->ec_url);
        return;
    }
    host_end = strchr(host_end + 3, '/');
    snprintf(buf, cap, "%.*s/localcfc/api/hsecfc/localQrCodeQuery",
             (int)(host_end ? host_end - cfg->url : (long)strlen(cfg->url)), cfg->url);
}

static void decode_qr(struct his_call *call)
{
    struct identify_flow *f = call->flow;
    const struct posad_config *cfg = &call->pd->cfg;
    struct json_object *o = json_object_new_object(), *data = json_object_new_object();
    int err;

    if (qr_line_check((const uint8_t *)f->req.qr, strlen(f->req.qr)) < 0) {
        json_object_put(o);
        json_object_put(data);
        his_fail(call, POSA_EQR_INVALID, NULL, NULL);
        return;
    }
    json_object_object_add(data, "orgId", json_object_new_string(cfg->fixmedins_code));
    json_object_object_add(data, "businessType", json_object_new_string("01101"));
    json_object_object_add(data, "operatorId", json_object_new_string(cfg->opter));
    json_object_object_add(data, "operatorName", json_object_new_string(cfg->opter_name));
    json_object_object_add(data, "officeId",
                           json_object_new_string(f->req.desk ? f->req.desk : ""));
    json_object_object_add(data, "officeName", json_object_new_string(""));
    json_object_object_add(data, "ecQrCode", json_object_new_string(f->req.qr));
    json_object_object_add(o, "orgId", json_object_new_string(cfg->fixmedins_code));
    json_object_object_add(o, "transType", json_object_new_string("ec.query"));
    json_object_object_add(o, "data", data);
    json_object_object_add(o, "extra", json_object_new_object());
    f->ec_body = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
    ec_url(cfg, f->ec_url, sizeof f->ec_url);
    f->ec = (struct platform_request){.infno = "ec.query",
                                      .body = f->ec_body,
                                      .body_len = f->ec_body ? strlen(f->ec_body) : 0,
                                      .url = f->ec_url,
                                      .done = on_ec,
                                      .data = call};
    if (!f->ec_body || (err = platform_client_send(call->pd->client, &f->ec)) < 0)
        his_fail(call, f->ec_body ? err : -ENOMEM, NULL, NULL);
}

/* auto: a code taken from the desk, kept to give back (flow_free) if the platform is away. */
static void keep_taken(struct his_call *call, const char *desk, const char *code)
{
    struct identify_flow *f = call->flow;

    f->d = &call->pd->desk;
    str_copy(f->taken_desk, sizeof(f->taken_desk), desk);
    str_copy(f->taken_qr, sizeof(f->taken_qr), code);
    f->taken_at = uv_now(call->pd->loop);
    f->req.qr = f->taken_qr;
}

/* auto: the desk's newest scan could not be read. Not a code scanned before it: that one may
 * be the last patient's. */
static void fail_unreadable_scan(struct his_call *call)
{
    his_fail(call, POSA_EQR_INVALID,
             "the code scanned at the desk could not be read: ask the patient to show the "
             "e-voucher again, or insert the card",
             NULL);
}

/* auto: the patient showed the e-voucher while the desk waited (code NULL: unreadable). */
static void on_waited_qr(struct desk_waiter *w, const char *code)
{
    struct his_call *call = w->data;
    struct identify_flow *f = call->flow;

    if (!code) {
        fail_unreadable_scan(call);
        return;
    }
    keep_taken(call, f->req.desk, code);
    decode_qr(call);
}

/* Why nothing could be read at the desk: a card's read still under way (a slow card), no
 * reader or (auto) no scanner to read with (pcscd stopped, unplugged, a connection lost), or
 * nothing shown. */
static void fail_no_card(struct his_call *call)
{
    struct identify_flow *f = call->flow;
    struct desk *d = &call->pd->desk;
    bool any = f->req.source == IDENTIFY_AUTO;
    bool no_reader =
        desk_reader_configured(d, f->req.desk) && !desk_reader_available(d, f->req.desk);
    bool no_scanner =
        any && desk_scanner_configured(d, f->req.desk) && !desk_scanner_available(d, f->req.desk);
    const char *reader = no_reader
                             ? (d->pcsc_up ? "the desk's card reader is not there (unplugged?)"
                                           : "the card service (pcscd) is not running")
                         : desk_reader_configured(d, f->req.desk) ? "no card in the desk's reader"
                                                                  : "the desk has no card reader";
    const char *scanner = no_scanner ? "the desk's scanner is not there (unplugged, or its "
                                       "connection lost: GET /v1/readers says why)"
                          : desk_scanner_configured(d, f->req.desk)
                              ? "no e-voucher scanned at the desk"
                              : "the desk has no scanner";
    char msg[320];

    if (desk_card_reading(d, f->req.desk)) {
        his_fail(call, POSA_ECARD_NOT_PRESENT,
                 "the card in the desk's reader is still being read, or the reader is busy with "
                 "another desk's card (a slow card): ask again in a moment",
                 NULL);
    } else if (no_reader || no_scanner) {
        snprintf(msg, sizeof msg, "%s%s%s: check %s, or identify by ID number%s", reader,
                 any ? ", and " : "", any ? scanner : "", no_reader && no_scanner ? "them" : "it",
                 any ? "" : " or e-voucher");
        /* A reader that cannot read is the same fault whichever source asked (card or auto);
         * a scanner gone with the reader there is only nothing shown yet. */
        his_fail(call, no_reader ? DRV_ECARD_UNREADABLE : POSA_ECARD_NOT_PRESENT, msg, NULL);
    } else {
        snprintf(msg, sizeof msg, "%s, and %s", reader, scanner);
        his_fail(call, POSA_ECARD_NOT_PRESENT, any ? msg : NULL, NULL);
    }
}

/* The card was read and failed. A cause that inserting it again cannot help (its data, a 3.0
 * card that wants a PSAM) is said as such, not retryable; any other: insert it again. */
static void fail_unreadable(struct his_call *call, const struct desk_card *card)
{
    int cause = card->status == DRV_ENOT_SSC ? DRV_ENOT_SSC : card->cause;
    bool final =
        cause && strcmp(posa_err_code(cause), "CARD_UNREADABLE") == 0 && !posa_err_retryable(cause);
    struct json_object *d = json_object_new_object();
    char msg[200];
    const char *words = NULL;

    if (cause)
        json_object_object_add(d, "cause", json_object_new_string(posa_strerror(cause)));
    if (cause == DRV_ENOT_SSC) {
        words = "this card is not a social-security card: use the patient's insurance card";
    } else if (final && cause != DRV_ESW_SECURITY) { /* the PSAM's words say what to do */
        snprintf(msg, sizeof msg,
                 "this card's data cannot be read (%s): inserting it again will not help; "
                 "identify by ID number or e-voucher",
                 posa_strerror(cause));
        words = msg;
    }
    his_fail(call, final ? cause : POSA_ECARD_UNREADABLE, words, d);
}

/* The desk's card is known (or is not coming): go on or say why not. */
static void on_card(struct desk_waiter *w, const struct desk_card *card)
{
    struct his_call *call = w->data;
    struct identify_flow *f = call->flow;

    if (!card || !card->present) {
        fail_no_card(call);
        return;
    }
    if (card->status != 0) {
        fail_unreadable(call, card);
        return;
    }
    snprintf(f->cert_type, sizeof f->cert_type, "03");
    str_copy(f->cert_no, sizeof(f->cert_no), card->id.card_no);
    str_copy(f->card_sn, sizeof(f->card_sn), card->id.card_sn);
    if (card->id.certno[0]) { /* 社会保障号码: the ID number, as 01 */
        str_copy(f->certno, sizeof(f->certno), card->id.certno);
        snprintf(f->psn_cert_type, sizeof f->psn_cert_type, "01");
    }
    str_copy(f->psn_name, sizeof(f->psn_name), card->id.name);
    f->card_expired = card->id.expired;
    ask_platform(call);
}

/* The HIS gave up waiting (its timeout shorter than wait_ms): the desk stops waiting for it,
 * so the next card or scan is the next request's (a code scanned then was taken, sent to
 * the platform for nobody, and the cashier's retry said none was scanned). */
static void on_his_gone(struct http_request *req, void *data)
{
    struct his_call *call = data;
    struct identify_flow *f = call->flow;

    (void)req;
    if (desk_card_unwait(&call->pd->desk, &f->waiter))
        his_fail(call, POSA_ECARD_NOT_PRESENT, "the HIS went away while the desk waited", NULL);
}

void desk_identify(struct his_call *call)
{
    struct identify_flow *f = his_flow_new(call, sizeof *f, flow_free);
    struct jsonmap_error jerr = {0};
    const char *qr, *at;
    bool unreadable = false;
    int err;

    if (!f)
        return;
    f->asked_at = uv_now(call->pd->loop);
    if ((err = identify_request_parse(call->req->body, call->req->body_len, &f->req, &jerr)) < 0) {
        his_fail_field(call, &jerr);
        return;
    }
    /* A desk-scoped client's patient belongs to its desk: leaving desk out must not make
     * the visit everyone's. */
    if (!f->req.desk && his_client_desk(call, &f->req.desk) < 0) {
        his_fail_at(call, POSA_EFIELD, "desk",
                    "desk is required: this client serves several desks");
        return;
    }
    if (!f->req.desk && (f->req.source == IDENTIFY_CARD || f->req.source == IDENTIFY_AUTO)) {
        his_fail_field(call, &(struct jsonmap_error){.err = POSA_EFIELD, .field = "desk"});
        return; /* whose reader? */
    }
    if (f->req.desk && (err = his_check_desk(call, f->req.desk)) < 0) {
        his_fail(call, err, HIS_DESK_REFUSED, NULL);
        return;
    }
    switch (f->req.source) {
    case IDENTIFY_ID:
        snprintf(f->cert_type, sizeof f->cert_type, "02");
        str_copy(f->cert_no, sizeof(f->cert_no), f->req.certno);
        if (f->cert_no[17] == 'x') /* the platform knows the check character as X */
            f->cert_no[17] = 'X';
        ask_platform(call);
        return;
    case IDENTIFY_QR:
        /* The scan that is this code, at the desk or another: used, and given back to its
         * desk as auto's would be when the platform cannot be reached. */
        if ((at = desk_qr_used(&call->pd->desk, f->req.desk, f->req.qr)))
            keep_taken(call, at, f->req.qr);
        decode_qr(call);
        return;
    case IDENTIFY_AUTO:
    case IDENTIFY_CARD:
        /* A desk with nothing to read from would only wait out wait_ms, then say "no card":
         * the cashier would insert it again and again. */
        if (!desk_reader_configured(&call->pd->desk, f->req.desk) &&
            (f->req.source == IDENTIFY_CARD ||
             !desk_scanner_configured(&call->pd->desk, f->req.desk))) {
            char msg[160];

            snprintf(msg, sizeof msg,
                     "desk %s has no %s ([desks] in posad.conf; GET /v1/readers lists them): "
                     "identify by ID number",
                     f->req.desk,
                     f->req.source == IDENTIFY_CARD ? "card reader" : "card reader or scanner");
            his_fail(call, POSA_ENOSUCH, msg, NULL);
            return;
        }
        /* auto: a fresh scan at the desk wins (the patient just showed the code). */
        if (f->req.source == IDENTIFY_AUTO &&
            ((qr = desk_qr_take(&call->pd->desk, f->req.desk, &unreadable)) || unreadable)) {
            if (!qr) {
                fail_unreadable_scan(call);
                return;
            }
            keep_taken(call, f->req.desk, qr);
            decode_qr(call);
            return;
        }
        /* Waiting with nothing that can read would end in "no card": say why now. */
        if (!desk_reader_available(&call->pd->desk, f->req.desk) &&
            (f->req.source == IDENTIFY_CARD ||
             !desk_scanner_available(&call->pd->desk, f->req.desk))) {
            fail_no_card(call);
            return;
        }
        f->waiter = (struct desk_waiter){
            .cb = on_card, .on_qr = f->req.source == IDENTIFY_AUTO ? on_waited_qr : NULL,
            .data = call};
        http_request_on_close(call->req, on_his_gone, call); /* before: it may answer at once */
        desk_card_wait(&call->pd->desk, f->req.desk, f->req.wait_ms, &f->waiter);
        return;
    }
}
