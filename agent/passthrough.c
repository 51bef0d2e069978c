/* POST /fsi/api/rsfComIfsService/callService: an HIS that speaks the national interface
 * points here. posad validates and completes the envelope (its own msgid, inf_time,
 * sign_no, institution), journals, forwards or queues, and answers with a national
 * response envelope. The HIS's msgid, or else its Idempotency-Key, is the message's journal
 * key: a resend gets the journaled answer, never a second send. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "agent/his.h"
#include "agent/audit.h"
#include "interface/platform/messages.h"
#include "agent/log.h"
#include "agent/posad.h"
#include "core/bound.h"
#include "core/datetime.h"
#include "core/err.h"
#include "core/str.h"
#include "interface/json/jsonmap.h"
#include "interface/json/jsontext.h"

/* An Idempotency-Key's journal key (never an HIS msgid, never another route's key). */
#define PT_KEY_PREFIX "pt:"
#define PT_KEY_FMT    PT_KEY_PREFIX "%s"

/* Was a message journaled under journal_key sent under an Idempotency-Key (else under its
 * HIS's msgid, or under neither)? */
static bool under_key(const char *journal_key)
{
    return journal_key && strncmp(journal_key, PT_KEY_PREFIX, strlen(PT_KEY_PREFIX)) == 0;
}

int passthrough_key_used(struct db *db, const char *idem_key, bool *ret)
{
    char key[RECORD_ID_MAX + 4];
    struct journal_row *row = NULL;
    int err;

    snprintf(key, sizeof key, PT_KEY_FMT, idem_key);
    err = journal_get_by_idem(db, key, &row);
    journal_row_free(row);
    *ret = err == 0;
    return err == POSA_ENOTFOUND ? 0 : err;
}

struct pt_head_field {
    const char *name;
    size_t offset;
    size_t max;
};

#define HF(f, max)                                                                                 \
    {                                                                                              \
#f, offsetof(struct envelope_head, f), max                                                 \
    }
/* What the HIS may bring; the rest (msgid, inf_time, sign_no, institution) is posad's. */
static const struct pt_head_field pt_head_fields[] = {
    HF(insuplc_admdvs, 6),    HF(recer_sys_code, 16),
    HF(dev_no, BOUND_CODE),   HF(dev_safe_info, BOUND_STRING),
    HF(cainfo, BOUND_STRING), HF(signtype, 16),
    HF(infver, 16),           HF(opter_type, 4),
    HF(opter, BOUND_CODE),    HF(opter_name, BOUND_NAME),
};

static void pt_answer(struct his_call *call, int status, int infcode, const char *msgid,
                      const char *err_msg, const char *warn_msg)
{
    struct envelope_response resp = {
        .infcode = infcode, .inf_refmsgid = msgid, .err_msg = err_msg, .warn_msg = warn_msg};
    struct json_object *out = json_object_new_object();

    his_reply(call, status, envelope_response_build(&resp, out));
}

static void pt_relay_text(struct his_call *call, const char *body, size_t len)
{
    his_reply_text(call, 200, "application/json;charset=utf-8", body, len);
}

/* The platform's answer as the HIS reads it: a 2601's omsgid, which posad put in place of
 * the HIS's own (on_desk_check), is the HIS's again; an HIS matching the reversal's answer
 * to its message by omsgid found none. */
static void pt_relay(struct his_call *call, const char *body, size_t len);

/* A message queued for the outbox: accepted, not yet sent. */
static void pt_queued(struct his_call *call, const char *msgid)
{
    char warn[200];

    /* Waiting for the platform, or (after a crash) in turn behind the reversal of the
     * message it stands in for. */
    snprintf(warn, sizeof warn,
             "queued: posad sends it in turn, once the platform is reachable and the visit's "
             "earlier messages are final (msgid %s)",
             msgid);
    pt_answer(call, 200, 0, msgid, NULL, warn);
}

static void pt_unknown(struct his_call *call, const char *msgid, bool keyed)
{
    pt_answer(call, 200, -1, msgid,
              keyed
                  ? "outcome unknown: posad is resolving it with the platform; send the same "
                    "message under the same Idempotency-Key again later for the result"
                  : "outcome unknown: posad is resolving it with the platform; send the same msgid "
                    "again later for the result",
              NULL);
}

/* posad keeps the one platform session every desk's messages go under (its 9001 at start and
 * whenever the platform says it is gone), and stamps its sign_no on what the HIS sends. An
 * HIS's own sign-in or sign-out is answered here from that session, never forwarded: its
 * 9002 ended the session under every desk, and its 9001 may replace posad's. */
static bool pt_session(struct his_call *call, const char *infno, const char *his_msgid)
{
    const struct upstream *up = &call->pd->up;
    struct json_object *out, *o;
    char now[DATETIME_TIME_LEN + 1];
    bool sign_in = strcmp(infno, "9001") == 0;

    if (!sign_in && strcmp(infno, "9002") != 0)
        return false;
    if (!up->sign_no[0]) {
        pt_answer(call, 200, -1, his_msgid,
                  "posad is not signed in to the platform yet (it is unreachable): try again "
                  "shortly",
                  NULL);
        return true;
    }
    datetime_format(upstream_now_beijing(), now);
    out = json_object_new_object();
    o = json_object_new_object();
    json_object_object_add(o, "sign_time", json_object_new_string(now));
    json_object_object_add(o, "sign_no", json_object_new_string(up->sign_no));
    json_object_object_add(out, sign_in ? "signinoutb" : "signoutoutb", o);
    his_reply(call, 200,
              envelope_response_build(
                  &(struct envelope_response){.infcode = 0, .inf_refmsgid = his_msgid}, out));
    return true;
}

void passthrough_refuse(struct his_call *call, int status, const char *err_msg)
{
    pt_answer(call, status, -1, "", err_msg, NULL);
}

/* The answer for a message journaled earlier under the same HIS msgid (or key). */
static void pt_answer_existing(struct his_call *call, const struct journal_row *row)
{
    switch (row->state) {
    case MSG_DONE:
    case MSG_REFUSED:
        if (row->response) {
            pt_relay(call, row->response, row->response_len);
            return;
        }
        pt_answer(call, 200, -1, row->msgid,
                  row->last_error ? row->last_error : "not sent: the platform was unreachable",
                  NULL);
        return;
    case MSG_QUEUED: pt_queued(call, row->msgid); return;
    case MSG_SENT:
    case MSG_UNKNOWN: pt_unknown(call, row->msgid, under_key(row->idem_key)); return;
    case MSG_REVERSED:
        if (row->response) { /* answered, then undone by the HIS's 2601 (passthrough_applied) */
            pt_answer(call, 200, -1, row->msgid,
                      "this message was reversed (2601) since it was answered: nothing of it "
                      "stands; send it again under a new msgid if it should",
                      NULL);
            return;
        }
        break;
    default: break;
    }
    /* Reversed by posad, its outcome unknown; named by what the HIS sent it under: its
     * msgid, or else its Idempotency-Key. */
    pt_answer(call, 200, -1, row->msgid,
              under_key(row->idem_key)
                  ? "the outcome was unknown and has been reversed: nothing stands; send it "
                    "again under a new Idempotency-Key"
                  : "the outcome was unknown and has been reversed: nothing stands; send it "
                    "again under a new msgid",
              NULL);
}

static bool pt_wait_for_first(struct his_call *call);

static void on_pt_done(struct upmsg *m)
{
    struct his_call *call = m->data;

    switch (m->result) {
    case UPMSG_ANSWERED:
        pt_relay(call, m->response ? m->response : "{}", m->response ? m->response_len : 2);
        break;
    case UPMSG_QUEUED: pt_queued(call, m->msgid); break;
    case UPMSG_UNKNOWN: pt_unknown(call, m->msgid, under_key(m->idem_key)); break;
    case UPMSG_OFFLINE:
        pt_answer(call, 200, -1, m->msgid,
                  m->error[0] ? m->error : upstream_unsent_why(&call->pd->up), NULL);
        break;
    case UPMSG_BUSY:
        pt_answer(call, 200, -1, m->msgid,
                  "an earlier message of this visit is not final yet; try again shortly", NULL);
        break;
    case UPMSG_EXISTING:
        if (m->existing->state != MSG_SENT || !pt_wait_for_first(call))
            pt_answer_existing(call, m->existing);
        break;
    case UPMSG_CONFLICT:
        /* The key the message was known by: the HIS's msgid, or else its Idempotency-Key. */
        pt_answer(call, 200, -1, m->existing ? m->existing->msgid : "",
                  under_key(m->idem_key)
                      ? "this Idempotency-Key was already used for a different message"
                      : "this msgid was already used for a different message",
                  NULL);
        break;
    case UPMSG_FAILED:
    default:
        if (m->journaled) {
            /* Sent, and only its answer could not be recorded: the row is resolved by query
             * once the journal takes it. Sending it again under a new msgid could do it twice. */
            pt_answer(call, 200, -1, m->msgid,
                      "outcome unknown: posad could not record the platform's answer; send the "
                      "same msgid again later for the result",
                      NULL);
            break;
        }
        pt_answer(call, 503, -1, m->msgid,
                  m->error[0] ? m->error : "posad could not journal the message", NULL);
        break;
    }
    upmsg_free(m);
}

/* SHA-256 (hex) of infno and input as json-c prints them (and of the client, when given):
 * the same message resent with a new inf_time or sign_no hashes the same; another message
 * under the same key does not, nor the same one from another client. */
static void pt_hash(const char *client, const char *infno, const char *text, size_t len,
                    char ret[65])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    memset(md, 0, sizeof md);
    if (ctx) {
        EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
        if (client)
            EVP_DigestUpdate(ctx, client, strlen(client) + 1);
        EVP_DigestUpdate(ctx, infno, strlen(infno) + 1);
        EVP_DigestUpdate(ctx, text, len);
        EVP_DigestFinal_ex(ctx, md, NULL);
        EVP_MD_CTX_free(ctx);
    }
    for (int i = 0; i < 32; i++) {
        ret[2 * i] = hex[md[i] >> 4];
        ret[2 * i + 1] = hex[md[i] & 15];
    }
    ret[64] = '\0';
}

#define PT_ALNUM "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

/* min to max characters, each one of chars. */
static bool pt_is_code(const char *s, size_t min, size_t max, const char *chars)
{
    size_t n = strlen(s);

    return n >= min && n <= max && strspn(s, chars) == n;
}

/* Reads and checks what the HIS sent; on failure why names the field. */
static int pt_parse(struct posad *pd, struct json_object *root, struct envelope_head *head,
                    const char **infno, const char **his_msgid, struct json_object **input,
                    char *why, size_t cap)
{
    struct jsonmap_error jerr = {0};
    const char *code = NULL;

    if (jsonmap_get_string(root, "infno", ENVELOPE_INFNO_MAX, true, infno, &jerr) ||
        !pt_is_code(*infno, 4, ENVELOPE_INFNO_MAX, PT_ALNUM)) {
        snprintf(why, cap, "infno: required, 4 to 8 letters or digits");
        return POSA_EFIELD;
    }
    *his_msgid = NULL;
    /* Letters, digits, '-' and '_': the HIS's msgid is its message's journal key, and posad's
     * own keys carry a route's prefix with ':' ("visit:", "fees-cancel:"), never taken. */
    if (jsonmap_get_string(root, "msgid", BOUND_CODE, false, his_msgid, &jerr) ||
        (*his_msgid && !pt_is_code(*his_msgid, 0, BOUND_CODE, PT_ALNUM "-_"))) {
        snprintf(why, cap, "msgid: at most %d letters, digits, '-' or '_'", BOUND_CODE);
        return POSA_EFIELD;
    }
    if (jsonmap_get_string(root, "fixmedins_code", BOUND_CODE, false, &code, &jerr) == 0 && code &&
        *code && strcmp(code, pd->cfg.fixmedins_code) != 0) {
        snprintf(why, cap, "fixmedins_code: %s is not this institution (%s)", code,
                 pd->cfg.fixmedins_code);
        return POSA_EFIELD;
    }
    if (!json_object_object_get_ex(root, "input", input) || !*input)
        *input = NULL;
    else if (!json_object_is_type(*input, json_type_object)) {
        snprintf(why, cap, "input: must be an object");
        return POSA_EFIELD;
    }
    for (size_t i = 0; i < sizeof pt_head_fields / sizeof pt_head_fields[0]; i++) {
        const struct pt_head_field *f = &pt_head_fields[i];
        const char *v = NULL;

        if (jsonmap_get_string(root, f->name, f->max, false, &v, &jerr)) {
            snprintf(why, cap, "%s: must be a string of at most %zu characters", f->name, f->max);
            return POSA_EFIELD;
        }
        *(const char **)(void *)((char *)head + f->offset) = v;
    }
    if (head->insuplc_admdvs && *head->insuplc_admdvs &&
        (strlen(head->insuplc_admdvs) != 6 || strspn(head->insuplc_admdvs, "0123456789") != 6)) {
        snprintf(why, cap, "insuplc_admdvs: must be 6 digits");
        return POSA_EFIELD;
    }
    return 0;
}

/* What a passthrough call carries from its parse to its submission, across the journal
 * lookup a reversal (2601) needs. */
struct pt_flow {
    struct json_object *root; /* the envelope; infno, his_msgid, input and head point in it */
    struct envelope_head head;
    const char *infno, *his_msgid;
    struct json_object *input;
    const char *mdtrt_id;       /* the visit the input names, or NULL */
    struct json_object *mdtrt_ids; /* every mdtrt_id it names (keys; a set), or NULL */
    const char *desk_mdtrt;        /* ... the one of a visit a desk opened (run_desk_check) */
    struct journal_row *target; /* a 2601's omsgid's row, when it is in the journal */
    bool by_his_msgid;          /* ... found as an HIS msgid, not as posad's */
    char his_omsgid[MSGID_LEN + 1]; /* ... that msgid, put back in the answer ("" when not) */
    bool desk;                  /* ... a message of a visit a desk opened */
    bool desk_cancel;           /* ... the cancel of a desk's settlement, recorded so */
    char desk_visit[RECORD_ID_MAX + 1]; /* the visit a desk opened that the message names */
    bool desk_refund;       /* ... a settlement cancel of it: allowed, journaled as that visit's */
    uv_timer_t *recheck;    /* a repeat of a message on its way asks again (pt_wait_for_first) */
    uint64_t recheck_until; /* ... until then (loop time, ms) */
};

static void on_recheck_closed(uv_handle_t *handle)
{
    free(handle);
}

static void pt_flow_free(void *p)
{
    struct pt_flow *f = p;

    json_object_put(f->root);
    json_object_put(f->mdtrt_ids);
    journal_row_free(f->target);
    if (f->recheck) { /* its own allocation: freed once libuv lets go of it */
        f->recheck->data = NULL;
        uv_close((uv_handle_t *)f->recheck, on_recheck_closed);
    }
    free(f);
}

static void pt_relay(struct his_call *call, const char *body, size_t len)
{
    struct pt_flow *f = call->flow;
    struct json_object *answer, *output, *data, *o;
    const char *text;
    size_t text_len;

    if (!f || !f->his_omsgid[0] || !(answer = json_tokener_parse(body))) {
        pt_relay_text(call, body, len);
        return;
    }
    if (json_object_object_get_ex(answer, "output", &output) &&
        json_object_object_get_ex(output, "data", &data) &&
        json_object_object_get_ex(data, "omsgid", &o) && json_object_is_type(o, json_type_string) &&
        strcmp(json_object_get_string(o), f->target->msgid) == 0)
        json_object_object_add(data, "omsgid", json_object_new_string(f->his_omsgid));
    text = json_object_to_json_string_length(
        answer, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &text_len);
    pt_relay_text(call, text, text_len);
    json_object_put(answer);
}

static void pt_submit(struct his_call *call)
{
    struct pt_flow *f = call->flow;
    const char *text = "{}";
    size_t text_len = 2;
    struct json_object *printed;
    struct upmsg *m;
    int err;

    /* The input is printed once: hashed for the idempotency key, and forwarded as that text
     * (jsontext_value) instead of printed again inside the envelope. */
    if (f->input)
        text = json_object_to_json_string_length(f->input, JSON_C_TO_STRING_PLAIN, &text_len);
    printed = text ? jsontext_value(text, text_len) : NULL;
    m = upmsg_new(f->infno, on_pt_done, call);
    if (!m || !printed) {
        json_object_put(printed);
        upmsg_free(m);
        pt_answer(call, 503, -1, "", "out of memory", NULL);
        return;
    }
    /* The HIS's msgid names its message whatever key comes with it; without one, the key
     * does ("pt:": never an HIS msgid, never another route's key). */
    if (f->his_msgid && *f->his_msgid) {
        str_copy(m->idem_key, sizeof(m->idem_key), f->his_msgid);
        pt_hash(NULL, f->infno, text, text_len, m->idem_hash);
    } else if (call->idem_key[0]) {
        snprintf(m->idem_key, sizeof m->idem_key, PT_KEY_FMT, call->idem_key);
        pt_hash(call->client ? call->client->name : "", f->infno, text, text_len, m->idem_hash);
    }
    /* Kept beside sealed rows, keyed: a 1101's digest is the ID number it asks about. */
    if (m->idem_hash[0] && call->pd->seal_key &&
        seal_digest(call->pd->seal_key, m->idem_hash, m->idem_hash) != 0) {
        json_object_put(printed);
        upmsg_free(m);
        pt_answer(call, 503, -1, "", "the request's digest could not be made", NULL);
        return;
    }
    /* A desk's visit's settlement cancel goes in that visit's order, as the desk's own
     * refund does: the one waits for the other (journal_visit_open, refund_open) instead of
     * both reaching the platform (the desk's then heard "cancelled elsewhere"). */
    if (f->desk_refund)
        str_copy(m->visit_key, sizeof(m->visit_key), f->desk_visit);
    else if (f->mdtrt_id && strlen(f->mdtrt_id) < sizeof m->visit_key)
        str_copy(m->visit_key, sizeof(m->visit_key), f->mdtrt_id);
    /* What moves money or records goes in the audit log; reads do not. */
    if (msg_kind_of(f->infno) != MSG_KIND_QUERY) {
        snprintf(m->audit_action, sizeof m->audit_action, "passthrough %s", f->infno);
        audit_who(call, m->audit_who);
    }
    err = upstream_submit(&call->pd->up, m, &f->head, printed);
    if (err) {
        pt_answer(call, 400, -1, "", posa_strerror(err), NULL);
        upmsg_free(m);
    }
}

/* How often a repeat asks again about a message still on its way. */
#define PT_RECHECK_MS 100

static void on_recheck(uv_timer_t *t)
{
    if (t->data)
        pt_submit(t->data);
}

/* A repeat of a message still on its way (sent, its answer not in yet) asks again in a
 * moment, as a repeat through the HIS API waits for its first, until the first send's own
 * wait ([upstream] timeout_ms) and a second more are over. "Outcome unknown" at once sent
 * the HIS to reverse (2601) what the first send was landing. false: past waiting, or no
 * memory for it (then it is said unknown). */
static bool pt_wait_for_first(struct his_call *call)
{
    struct pt_flow *f = call->flow;
    uint64_t now = uv_now(call->pd->loop);

    if (!f->recheck) {
        if (!(f->recheck = malloc(sizeof *f->recheck)))
            return false;
        uv_timer_init(call->pd->loop, f->recheck);
        f->recheck->data = call;
        f->recheck_until = now + call->pd->cfg.timeout_ms + 1000;
    }
    if (now >= f->recheck_until)
        return false;
    uv_timer_start(f->recheck, on_recheck, PT_RECHECK_MS, 0);
    return true;
}

/* A 2601's input.data, and the msgid it would reverse (NULL when it names none). */
static const char *pt_omsgid(struct pt_flow *f, struct json_object **ret_data)
{
    struct json_object *o;

    *ret_data = NULL;
    if (strcmp(f->infno, "2601") != 0 || !f->input ||
        !json_object_object_get_ex(f->input, "data", ret_data) ||
        !json_object_object_get_ex(*ret_data, "omsgid", &o) ||
        !json_object_is_type(o, json_type_string))
        return NULL;
    return json_object_get_string(o);
}

static bool is_settlement_cancel(const char *infno)
{
    const struct message_info *mi = messages_find(infno);

    return mi && mi->cancel;
}

/* A 2601's target. A message of a visit a desk opened, or a cancel posad recorded as one of
 * a desk's settlements (desk_cancel_landed): posad's records follow them, so the HIS undoes
 * them through the HIS API (reversed, the cancel left the settlement standing at the
 * platform and cancelled in posad's records), and posad reverses its own messages whose
 * outcome is unknown. */
static int reversal_target(struct db *db, struct pt_flow *f, const char *omsgid)
{
    struct visit_record *visit = NULL;
    struct settlement_record *settled = NULL;
    /* An HIS msgid has no ':' (pt_parse); posad's own keys do ("settle:S..."). */
    int err = strchr(omsgid, ':') ? POSA_ENOTFOUND : journal_get_by_idem(db, omsgid, &f->target);

    f->by_his_msgid = err == 0;
    if (err == 0) /* sent again under another msgid: that one is what stands */
        f->target = upstream_last_standin(db, f->target);
    else if (err == POSA_ENOTFOUND)
        err = journal_get(db, omsgid, &f->target);
    /* A cancel of a desk's settlement first: the HIS's own through the passthrough is
     * journaled under the desk's visit too (in its order), and is no desk message. */
    if (err == 0 && is_settlement_cancel(f->target->infno)) {
        int found = desk_cancel_settlement(db, f->target->request, &settled);

        if (found == 0)
            f->desk = f->desk_cancel = true;
        else if (found != POSA_ENOTFOUND)
            err = found;
    }
    if (err == 0 && !f->desk && !f->by_his_msgid && f->target->visit_key[0] &&
        (err = records_visit_get(db, f->target->visit_key, &visit)) == 0)
        f->desk = true;
    records_visit_free(visit);
    records_settlement_free(settled);
    return err == POSA_ENOTFOUND ? 0 : err;
}

/* Whether the message would change what a desk's records hold without them following: a
 * 2601 of a desk's message, or any other message (but a query) for a visit a desk opened, by
 * its mdtrt_id: its fees, discharge or settlement sent from outside left the desk's visit
 * unable to settle (the platform had settled it, posad's records said billed). A
 * settlement's cancel, which posad follows, goes, in the visit's order (desk_refund). */
static int run_desk_check(struct db *db, struct db_job *job)
{
    struct pt_flow *f = his_call_of_job(job)->flow;
    struct json_object *data;
    const char *omsgid = pt_omsgid(f, &data);
    int err;

    if (omsgid)
        return reversal_target(db, f, omsgid);
    /* Every one: a 2204 of an HIS's visit with a line of a desk's among them put that line
     * on the desk's bill at the platform, unseen by posad's records. */
    json_object_object_foreach(f->mdtrt_ids, id, unused)
    {
        (void)unused;
        err = records_visit_by_mdtrt(db, id, f->desk_visit);
        if (err != POSA_ENOTFOUND) {
            f->desk_refund = err == 0 && is_settlement_cancel(f->infno);
            f->desk = err == 0 && !f->desk_refund;
            f->desk_mdtrt = id;
            return err;
        }
    }
    return 0;
}

/* Every non-empty string under a key "mdtrt_id" in o, at any depth (the envelope is
 * bounded: jsonmap_parse_request), as keys of set. */
static void pt_mdtrt_ids(struct json_object *o, struct json_object *set)
{
    if (json_object_is_type(o, json_type_array)) {
        for (size_t i = 0, n = json_object_array_length(o); i < n; i++)
            pt_mdtrt_ids(json_object_array_get_idx(o, i), set);
    } else if (json_object_is_type(o, json_type_object)) {
        json_object_object_foreach(o, key, v)
        {
            if (strcmp(key, "mdtrt_id") == 0 && json_object_is_type(v, json_type_string) &&
                json_object_get_string_len(v) > 0)
                json_object_object_add(set, json_object_get_string(v), NULL);
            else
                pt_mdtrt_ids(v, set);
        }
    }
}

/* Whether run_desk_check must look: a 2601, or a message that changes a visit by mdtrt_id. */
static bool may_touch_a_desk(struct pt_flow *f)
{
    struct json_object *data;

    if (pt_omsgid(f, &data))
        return true;
    return f->mdtrt_ids && json_object_object_length(f->mdtrt_ids) > 0 &&
           msg_kind_of(f->infno) != MSG_KIND_QUERY;
}

static void on_desk_check(struct db_job *job, int status)
{
    struct his_call *call = his_call_of_job(job);
    struct pt_flow *f = call->flow;
    struct json_object *data;
    char why[320];

    if (status) {
        pt_answer(call, 503, -1, "", posa_strerror(status), NULL);
        return;
    }
    if (f->desk && !f->target) {
        snprintf(why, sizeof why,
                 "mdtrt_id %s is the platform's id of a visit a desk opened (%s): its fees, "
                 "discharge, settlement and cancel go through the HIS API, which posad's records "
                 "follow",
                 f->desk_mdtrt, f->desk_visit);
        pt_answer(call, 200, -1, "", why, NULL);
        return;
    }
    if (f->desk_cancel) {
        snprintf(why, sizeof why,
                 "msgid %s cancelled a settlement a desk made, and posad recorded it so: the "
                 "visit is settled again through the HIS API (POST /v1/visits/{id}/settle)",
                 f->target->msgid);
        pt_answer(call, 200, -1, "", why, NULL);
        return;
    }
    if (f->desk) {
        snprintf(why, sizeof why,
                 "msgid %s is posad's own %s (a desk's): undo a settlement with POST "
                 "/v1/settlements/{id}/cancel, fee lines with POST /v1/visits/{id}/fees/cancel; "
                 "posad reverses its own messages whose outcome is unknown",
                 f->target->msgid, f->target->infno);
        pt_answer(call, 200, -1, "", why, NULL);
        return;
    }
    const char *omsgid = pt_omsgid(f, &data);

    /* Not answered yet, or its answer lost: posad finds out itself, reversing and sending
     * it again if need be, so the HIS's own reversal would leave it sent twice (a line
     * billed twice). Its msgid asked again says how it ended. */
    if (omsgid && f->target && !msg_state_is_final(f->target->state)) {
        snprintf(why, sizeof why,
                 "msgid %s is %s: posad finds out how it went itself (and reverses and sends "
                 "it again if need be); send that message again for its outcome instead of "
                 "reversing it",
                 omsgid,
                 f->target->state == MSG_QUEUED ? "waiting in posad's queue, not sent yet"
                                                : "on its way, its outcome not known yet");
        pt_answer(call, 200, -1, "", why, NULL);
        return;
    }
    /* The HIS names its message by its own msgid; the platform knows it by posad's. */
    if (f->target && f->by_his_msgid) {
        str_copy(f->his_omsgid, sizeof f->his_omsgid, omsgid);
        json_object_object_add(data, "omsgid", json_object_new_string(f->target->msgid));
    }
    pt_submit(call);
}

void passthrough_handle(struct his_call *call)
{
    struct posad *pd = call->pd;
    struct http_request *req = call->req;
    struct jsonmap_error jerr = {0};
    struct pt_flow *f;
    char why[160];
    int err;

    /* An envelope names no desk (a 2305 may refund any desk's settlement): it is for a client
     * of every desk, as the queue is. */
    if (his_every_desk(call, "the passthrough acts for every desk") < 0)
        return;
    /* Its answers are never kept as an Idempotency-Key's: the journal keeps the message
     * under the key and answers a repeat as the message stands then (queued, then done). */
    call->transient = true;
    if (!(f = his_flow_new(call, sizeof *f, pt_flow_free)))
        return;
    if ((err = jsonmap_parse_request(req->body, req->body_len, &f->root, &jerr)) < 0 ||
        !json_object_is_type(f->root, json_type_object)) {
        snprintf(why, sizeof why,
                 err == POSA_EDUPLICATE ? "the envelope gives %s twice"
                                        : "the body is not a JSON envelope",
                 jerr.field);
        pt_answer(call, 400, -1, "", why, NULL);
        return;
    }
    if (pt_parse(pd, f->root, &f->head, &f->infno, &f->his_msgid, &f->input, why, sizeof why)) {
        pt_answer(call, 400, -1, "", why, NULL);
        return;
    }
    f->mdtrt_id = f->input ? upstream_find_string(f->input, "mdtrt_id") : NULL;
    if (f->input && !(f->mdtrt_ids = json_object_new_object())) {
        pt_answer(call, 503, -1, "", "out of memory", NULL);
        return;
    }
    pt_mdtrt_ids(f->input, f->mdtrt_ids);
    if (pt_session(call, f->infno, f->his_msgid ? f->his_msgid : ""))
        return;
    if (may_touch_a_desk(f))
        his_db_read(call, run_desk_check, on_desk_check);
    else
        pt_submit(call);
}

/* A 2601 the platform carried out (rvs_rslt "1"): the message it undid becomes `reversed`,
 * so that its msgid sent again is answered as undone, not with its first answer (a
 * settlement the fund no longer pays, printed and paid in cash). Its omsgid is posad's
 * msgid by now (on_desk_check). posad's own 2601s undo rows `reversed` already (resolve.c):
 * those stay as they are, as does a target not in the journal. */
int passthrough_applied(struct db *db, struct upmsg *m)
{
    struct json_object *request;
    const char *done, *omsgid;
    int err = 0;

    if (strcmp(m->infno, "2601") != 0 || !m->have_env || m->env.infcode != 0 ||
        m->session_refused || !(done = upstream_find_string(m->env.output, "rvs_rslt")) ||
        strcmp(done, "1") != 0 || !m->body || !(request = json_tokener_parse(m->body)))
        return 0;
    if ((omsgid = upstream_find_string(request, "omsgid")))
        err = journal_apply(db, omsgid, MSG_EV_UNDONE, NULL, upstream_now_ms(), NULL);
    json_object_put(request);
    return err == POSA_ESTATE || err == POSA_ENOTFOUND ? 0 : err;
}
