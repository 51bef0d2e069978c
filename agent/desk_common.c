/* What the desk flows share: the engine's state, sending a national message for a flow and
 * reading its outcome, and the treating region's catalog downloaded page by page (1312). */
#include "agent/desk.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/audit.h"
#include "agent/log.h"
#include "agent/posad.h"
#include "core/bound.h"
#include "core/datetime.h"
#include "core/err.h"
#include "core/str.h"
#include "core/visit_fsm.h"
#include "interface/json/catalog_json.h"
#include "interface/platform/desk_msgs.h"

int desk_init(struct desk *d, struct posad *pd)
{
    memset(d, 0, sizeof *d);
    d->pd = pd;
    d->chunk_lines = 500;
    d->flag_config = (struct flag_config){d->emergency_depts, 0};
    return 0;
}

/* Copies the next item of a list separated by sep from *p into buf, trimmed of blanks;
 * false at the end. *ret_too_long when it did not fit (buf then holds its start). */
static bool next_item(const char **p, char sep, char *buf, size_t cap, bool *ret_too_long)
{
    const char *s = *p, *end;
    size_t len;

    while (*s == sep || *s == ' ')
        s++;
    if (!*s)
        return false;
    end = strchr(s, sep);
    if (!end)
        end = s + strlen(s);
    *p = end;
    while (end > s && end[-1] == ' ')
        end--;
    len = (size_t)(end - s);
    *ret_too_long = len >= cap;
    if (*ret_too_long)
        len = cap - 1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    return true;
}

static int bad_desk(const char *desk, char *why, size_t cap)
{
    snprintf(why, cap, "\"%s\" is not a desk id (" STR_DESK_RULE ")", desk);
    return POSA_EFIELD;
}

/* Each key's grammar, read into d: 0, or POSA_EFIELD and why (without the key's name). */
static int config_readers(struct desk *d, const char *list, char *why, size_t cap)
{
    const char *p = list;
    char item[DESK_PATTERN_MAX + DESK_ID_MAX + 2];
    bool too_long;

    while (next_item(&p, ';', item, sizeof item, &too_long)) {
        char *eq = strchr(item, '=');

        if (eq)
            *eq = '\0'; /* item is the desk, eq + 1 the reader pattern */
        if (!too_long && eq && !str_is_desk(item))
            return bad_desk(item, why, cap);
        if (too_long || !eq || desk_table_add(&d->readers, DESK_READER, eq + 1, item) != 0) {
            if (eq)
                *eq = '=';
            snprintf(why, cap, "\"%s\" is not DESK=READER-NAME-PATTERN", item);
            return POSA_EFIELD;
        }
    }
    return 0;
}

/* "D01=tcp:127.0.0.1:9100;D02=serial:/dev/ttyACM0;D03=evdev:/dev/input/event3" */
static int config_scanners(struct desk *d, const char *list, char *why, size_t cap)
{
    const char *p = list;
    char item[CARD_DESK_MAX + 160 + 2];
    bool too_long;

    while (next_item(&p, ';', item, sizeof item, &too_long)) {
        char *eq = strchr(item, '='), *colon = eq ? strchr(eq + 1, ':') : NULL;
        enum qr_source_kind kind;
        struct desk_scanner *s = &d->scanners[d->n_scanners];

        if (too_long || !eq || !colon || eq == item || (size_t)(eq - item) > CARD_DESK_MAX ||
            strlen(eq + 1) >= sizeof s->spec || d->n_scanners == DESK_SCANNERS_MAX) {
            snprintf(why, cap, "\"%s\" is not DESK=KIND:PATH (kind serial, evdev or tcp)", item);
            return POSA_EFIELD;
        }
        *eq = '\0';
        if (!str_is_desk(item))
            return bad_desk(item, why, cap);
        *eq = '=';
        *colon = '\0';
        if (qr_source_kind_parse(eq + 1, &kind) != 0 || !colon[1]) {
            snprintf(why, cap, "\"%s\": the kind is serial, evdev or tcp, then a path", eq + 1);
            return POSA_EFIELD;
        }
        memcpy(s->desk, item, (size_t)(eq - item));
        s->desk[eq - item] = '\0';
        if (qr_source_check(&(struct qr_source_cfg){.kind = kind, .path = colon + 1,
                                                    .desk = s->desk}) != 0) {
            snprintf(why, cap, "\"%s\": %s", colon + 1,
                     kind == QR_SRC_TCP ? "not IP:PORT (an address: names are not resolved)"
                                        : "not an absolute device path (/dev/...)");
            return POSA_EFIELD;
        }
        *colon = ':';
        /* One device, one desk: a second would take the other's scans. */
        for (size_t i = 0; i < d->n_scanners; i++)
            if (strcmp(d->scanners[i].spec, eq + 1) == 0) {
                snprintf(why, cap, "\"%s\" is desk %s's scanner already", eq + 1,
                         d->scanners[i].desk);
                return POSA_EFIELD;
            }
        str_copy(s->spec, sizeof(s->spec), eq + 1);
        d->n_scanners++;
    }
    return 0;
}

#define EMPTY_TOKEN_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* Which field of a client entry the auth table refused, in words: one message for every
 * slip left the installer to guess (the token put where its hash goes, above all). */
static void client_fault(char *const fields[4], char *why, size_t cap)
{
    static const char hex[] = "0123456789abcdefABCDEF";
    static const char *const roles[] = {"readonly", "cashier", "ops"};
    bool role_ok = false;

    for (size_t i = 0; fields[2] && i < sizeof roles / sizeof roles[0]; i++)
        role_ok |= strcmp(fields[2], roles[i]) == 0;
    if (!fields[3])
        snprintf(why, cap, "\"%.64s\" is not NAME:SHA256-HEX:ROLE:DESKS (four fields)", fields[0]);
    else if (!fields[0][0] || strlen(fields[0]) >= AUTH_NAME_MAX)
        snprintf(why, cap, "\"%.64s\": a name of 1 to %d bytes comes first", fields[0],
                 AUTH_NAME_MAX - 1);
    else if (strlen(fields[1]) != 64 || strspn(fields[1], hex) != 64)
        snprintf(why, cap,
                 "\"%s\": its SHA256-HEX is not 64 hex digits (the hash of the token, not the "
                 "token: printf %%s TOKEN | sha256sum, without the \"  -\")",
                 fields[0]);
    else if (!role_ok)
        snprintf(why, cap, "\"%s\": role \"%.32s\" is not readonly, cashier or ops", fields[0],
                 fields[2]);
    else
        snprintf(why, cap,
                 "\"%s\": desks \"%.64s\" are not * or D01,D02 (desk ids of " STR_DESK_RULE
                 ", no blanks)",
                 fields[0], fields[3]);
}

static int config_clients(struct desk *d, const char *list, char *why, size_t cap)
{
    const char *p = list;
    char item[512];
    bool too_long;

    while (next_item(&p, ';', item, sizeof item, &too_long)) {
        char *fields[4] = {item, NULL, NULL, NULL};

        for (int i = 1; i < 4 && fields[i - 1]; i++)
            if ((fields[i] = strchr(fields[i - 1], ':')))
                *fields[i]++ = '\0';
        if (!d->auth && !(d->auth = calloc(1, sizeof *d->auth)))
            return -ENOMEM;
        /* printf %s "$TOKEN" | sha256sum with TOKEN unset: a client that can never sign in. */
        if (fields[1] && strcasecmp(fields[1], EMPTY_TOKEN_SHA256) == 0) {
            snprintf(why, cap,
                     "\"%s\": its hash is the SHA-256 of an empty token (the token was not set "
                     "when it was hashed)",
                     fields[0]);
            return POSA_EFIELD;
        }
        int err = too_long || !fields[3]
                      ? POSA_EFIELD
                      : auth_table_add(d->auth, fields[0], fields[1], fields[2], fields[3]);

        if (err == POSA_EDUPLICATE) {
            snprintf(why, cap, "\"%s\": its name or its token is listed twice", fields[0]);
            return POSA_EFIELD;
        }
        if (err == POSA_ETOOLONG) {
            snprintf(why, cap, "\"%s\": more than %d clients", fields[0], AUTH_CLIENTS_MAX);
            return POSA_EFIELD;
        }
        if (err) {
            client_fault(fields, why, cap);
            return POSA_EFIELD;
        }
    }
    return 0;
}

/* A department code as a visit may carry it (A03.01, 急诊科), but for what only a value
 * copied with its quotes or a comment has: such a code would never match a visit's
 * department, and emergencies would be refused. */
static bool dept_code_ok(const char *code)
{
    return code[0] && !strpbrk(code, "\"'#; \t");
}

static int config_depts(struct desk *d, const char *list, char *why, size_t cap)
{
    const char *p = list;
    char dept[BOUND_CODE];
    size_t used = 0;
    bool too_long;

    while (next_item(&p, ',', dept, sizeof dept, &too_long)) {
        size_t len = strlen(dept) + 1;

        if (too_long || d->n_emergency_depts == DESK_EMERGENCY_DEPTS_MAX ||
            used + len > sizeof d->emergency_buf) {
            snprintf(why, cap, "too many or too long department codes");
            return POSA_EFIELD;
        }
        if (!dept_code_ok(dept)) {
            snprintf(why, cap,
                     "\"%.64s\" is not a department code (codes separated by commas, "
                     "without quotes, blanks, ';' or a comment)",
                     dept);
            return POSA_EFIELD;
        }
        memcpy(d->emergency_buf + used, dept, len);
        d->emergency_depts[d->n_emergency_depts++] = d->emergency_buf + used;
        used += len;
    }
    d->flag_config = (struct flag_config){d->emergency_depts, d->n_emergency_depts};
    return 0;
}

/* A list's separator typed full-width, as a Chinese input method does: "JZ01，JZ02" read as
 * one department that no visit has, and emergencies were not tagged, without a word. */
static bool fullwidth_separator(const char *list, char *why, size_t cap)
{
    static const char *const marks[][2] = {{"，", ","}, {"；", ";"}, {"：", ":"}};

    for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++)
        if (strstr(list, marks[i][0])) {
            snprintf(why, cap, "a full-width '%s' (a Chinese input method's): write '%s'",
                     marks[i][0], marks[i][1]);
            return true;
        }
    return false;
}

/* Runs a key's grammar on a scratch desk: what the config loader checks, line by line. */
static int check_with(int (*parse)(struct desk *, const char *, char *, size_t),
                      const char *value, char *why, size_t cap)
{
    struct desk *scratch;
    int err;

    if (fullwidth_separator(value, why, cap))
        return POSA_EFIELD;
    if (!(scratch = calloc(1, sizeof *scratch)))
        return -ENOMEM;
    err = parse(scratch, value, why, cap);
    free(scratch->auth);
    free(scratch);
    return err;
}

int desk_check_readers(const char *value, char *why, size_t cap)
{
    return check_with(config_readers, value, why, cap);
}

int desk_check_scanners(const char *value, char *why, size_t cap)
{
    return check_with(config_scanners, value, why, cap);
}

int desk_check_clients(const char *value, char *why, size_t cap)
{
    return check_with(config_clients, value, why, cap);
}

int desk_check_depts(const char *value, char *why, size_t cap)
{
    return check_with(config_depts, value, why, cap);
}

int desk_configure(struct desk *d, const struct posad_config *cfg, char *msg, size_t cap)
{
    static const char *const names[] = {"[desks] readers", "[his] clients",
                                        "[his] emergency_depts", "[desks] scanners"};
    char why[300] = "";
    int err = 0, which = 0;

    d->chunk_lines = cfg->chunk_lines;
    if ((err = config_readers(d, cfg->readers, why, sizeof why)) < 0 ||
        (which = 1, err = config_clients(d, cfg->clients, why, sizeof why)) < 0 ||
        (which = 2, err = config_depts(d, cfg->emergency_depts, why, sizeof why)) < 0 ||
        (which = 3, err = config_scanners(d, cfg->scanners, why, sizeof why)) < 0)
        snprintf(msg, cap, "%s: %s", names[which], why);
    return err;
}

/* The departments of src (a scratch desk) into d, pointing into d's own buffer. */
static void depts_move(struct desk *d, const struct desk *src)
{
    memcpy(d->emergency_buf, src->emergency_buf, sizeof d->emergency_buf);
    for (size_t i = 0; i < src->n_emergency_depts; i++)
        d->emergency_depts[i] = d->emergency_buf + (src->emergency_depts[i] - src->emergency_buf);
    d->n_emergency_depts = src->n_emergency_depts;
    d->flag_config = (struct flag_config){d->emergency_depts, d->n_emergency_depts};
}

int desk_reload(struct desk *d, const struct posad_config *cfg, bool *policy_changed, char *msg,
                size_t cap)
{
    bool clients_changed = strcmp(cfg->clients, d->pd->cfg.clients) != 0;
    struct desk *next = calloc(1, sizeof *next);
    struct desk_retired *old = clients_changed ? calloc(1, sizeof *old) : NULL;
    char why[300] = "";
    int err;

    if (!next || (clients_changed && !old)) {
        free(next);
        free(old);
        snprintf(msg, cap, "out of memory");
        return -ENOMEM;
    }
    if (clients_changed && (err = config_clients(next, cfg->clients, why, sizeof why)) < 0)
        snprintf(msg, cap, "[his] clients: %s", why);
    else if ((err = config_depts(next, cfg->emergency_depts, why, sizeof why)) < 0)
        snprintf(msg, cap, "[his] emergency_depts: %s", why);
    else
        err = desk_policy_load(next, cfg->policy_file, msg, cap);
    if (err < 0) {
        free(next->auth);
        desk_policy_free(next->policy);
        free(next);
        free(old);
        return err;
    }
    if (clients_changed) {
        /* Calls in flight hold pointers into the old table: it is retired, not freed. */
        old->auth = d->auth;
        old->next = d->retired;
        d->retired = old;
        d->auth = next->auth;
        desk_events_end_tcp_streams(d);
    }
    depts_move(d, next);
    *policy_changed = !desk_policy_same(d->policy, next->policy);
    desk_policy_free(d->policy);
    d->policy = next->policy;
    free(next);
    return 0;
}

void desk_done(struct desk *d)
{
    catalog_copy_free(&d->catalog_copy);
    desk_policy_free(d->policy);
    free(d->auth);
    while (d->retired) {
        struct desk_retired *r = d->retired;

        d->retired = r->next;
        free(r->auth);
        free(r);
    }
}

int desk_applied(struct db *db, struct upmsg *m)
{
    int err = desk_fees_applied(db, m);

    if (!err && m->have_env && m->env.infcode != 0 && !m->session_refused &&
        (strcmp(m->infno, "2202") == 0 || strcmp(m->infno, "2404") == 0))
        err = desk_visit_cancel_refused(db, m);
    return err ? err : desk_settle_applied(db, m);
}

struct json_object *desk_doc(const char *body)
{
    return body ? json_tokener_parse(body) : NULL;
}

const char *desk_str(struct json_object *obj, const char *key)
{
    struct json_object *v = NULL;

    if (!json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_string))
        return "";
    return json_object_get_string(v);
}

int desk_send_hooked(struct posad *pd, const char *infno, const char *insuplc,
                     const char *visit_key, const char *idem, struct json_object *input,
                     upmsg_cb done, void *data, const struct desk_hooks *hooks)
{
    struct envelope_head head = {.insuplc_admdvs = insuplc};
    struct upmsg *m;
    int err;

    if (!input)
        return -ENOMEM;
    if (!(m = upmsg_new(infno, done, data))) {
        json_object_put(input);
        return -ENOMEM;
    }
    if (visit_key)
        str_copy(m->visit_key, sizeof(m->visit_key), visit_key);
    if (idem) {
        str_copy(m->idem_key, sizeof(m->idem_key), idem);
        str_copy(m->idem_hash, sizeof(m->idem_hash), idem);
        m->again_after_reversal = true;
    }
    if (hooks) {
        m->may_queue = hooks->may_queue;
        m->now_only = hooks->now_only;
        m->answer_not_kept = hooks->answer_not_kept;
        m->admit_also = hooks->admit_also;
        m->apply_also = hooks->apply_also;
        m->hooks_rerunnable = hooks->rerunnable;
        m->apply_lazy = hooks->apply_lazy;
        m->again_after_refusal = hooks->again_after_refusal;
        if (idem && hooks->idem_hash)
            str_copy(m->idem_hash, sizeof(m->idem_hash), hooks->idem_hash);
        if (hooks->audit) {
            str_copy(m->audit_action, sizeof(m->audit_action), hooks->audit);
            audit_who(hooks->audit_by, m->audit_who);
            str_copy(m->audit_target, sizeof(m->audit_target),
                     hooks->audit_target ? hooks->audit_target : "");
        }
    }
    if ((err = upstream_submit(&pd->up, m, &head, input)) < 0)
        upmsg_free(m);
    return err;
}

int desk_send(struct posad *pd, const char *infno, const char *insuplc, const char *visit_key,
              const char *idem, struct json_object *input, upmsg_cb done, void *data)
{
    return desk_send_hooked(pd, infno, insuplc, visit_key, idem, input, done, data, NULL);
}

int32_t desk_today(const struct posad *pd)
{
    int32_t today = datetime_date(upstream_now_beijing());

    return pd->up.platform_date > today ? pd->up.platform_date : today;
}

#define HIS_CLOCK_AHEAD_S 600

bool desk_is_future(const struct posad *pd, int64_t datetime)
{
    int32_t ahead = datetime_date(datetime_add_seconds(upstream_now_beijing(), HIS_CLOCK_AHEAD_S));
    int32_t today = desk_today(pd);

    return datetime_date(datetime) > (ahead > today ? ahead : today);
}

const char *desk_refusal_words(const struct envelope_response *env)
{
    return env->err_msg && env->err_msg[0] ? env->err_msg : "refused";
}

/* An answer journaled earlier under the same key counts as this message's answer. */
static int answered(const char *body, size_t len, struct envelope_response *env, char *msg,
                    size_t cap)
{
    struct jsonmap_error jerr = {0};

    if (!body || envelope_response_parse(body, len, env, &jerr) < 0) {
        snprintf(msg, cap, "the platform's answer could not be read (%s)", jerr.field);
        return POSA_EUPSTREAM_REFUSED;
    }
    if (env->infcode == 0)
        return 0;
    str_copy(msg, cap, desk_refusal_words(env));
    envelope_response_done(env);
    return POSA_EUPSTREAM_REFUSED;
}

int desk_outcome(struct upmsg *m, struct envelope_response *ret_env, char *msg, size_t cap)
{
    msg[0] = '\0';
    switch (m->result) {
    case UPMSG_ANSWERED:
        /* The platform had lost posad's session, not refused the request: posad signs in
         * again, so the same request may go again (not kept under its key). */
        if (m->session_refused) {
            snprintf(msg, cap,
                     "the platform's session had ended and posad is signing in again: "
                     "send the request again");
            return POSA_EUPSTREAM_OFFLINE;
        }
        if (!m->have_env)
            return answered(m->response, m->response_len, ret_env, msg, cap);
        /* Parsed once by upstream.c: taken over rather than parsed again. */
        if (m->env.infcode != 0) {
            str_copy(msg, cap, desk_refusal_words(&m->env));
            return POSA_EUPSTREAM_REFUSED;
        }
        *ret_env = m->env;
        m->have_env = false;
        return 0;
    case UPMSG_EXISTING:
        if (m->existing && m->existing->state == MSG_DONE)
            return answered(m->existing->response, m->existing->response_len, ret_env, msg, cap);
        snprintf(msg, cap, "an earlier request with this key is %s",
                 m->existing ? msg_state_name(m->existing->state) : "journaled");
        return m->existing && m->existing->state == MSG_UNKNOWN ? POSA_EOUTCOME_UNKNOWN
                                                                : POSA_ESTATE;
    case UPMSG_UNKNOWN: return POSA_EOUTCOME_UNKNOWN;
    case UPMSG_OFFLINE: /* error says it: cannot be reached, or the answer not read */
        snprintf(msg, cap, m->answer_unreadable ? "%s: ask again shortly" : "%s", m->error);
        return POSA_EUPSTREAM_OFFLINE;
    case UPMSG_QUEUED:
        return POSA_EUPSTREAM_OFFLINE; /* callers that accept a queue look before calling */
    case UPMSG_BUSY:
        snprintf(msg, cap, "an earlier message of this visit is still on its way");
        return POSA_EBUSY;
    case UPMSG_CONFLICT: return POSA_ECONFLICT;
    case UPMSG_FAILED:
    default: return m->err ? m->err : -EIO;
    }
}

int desk_settled_of(struct db *db, const struct visit_record *v, char ret[RECORD_ID_MAX + 1],
                    bool *ret_refund_open)
{
    struct settlement_record *rec = NULL;
    int err;

    ret[0] = '\0';
    *ret_refund_open = false;
    if (strcmp(v->state, visit_state_name(VISIT_SETTLED)) != 0)
        return 0;
    if ((err = records_settlement_by_visit_settled(db, v->visit_id, &rec)) != 0)
        return err == POSA_ENOTFOUND ? 0 : err;
    str_copy(ret, RECORD_ID_MAX + 1, rec->settlement_id);
    records_settlement_free(rec);
    return journal_visit_refund_open(db, v->visit_id, ret_refund_open);
}

bool desk_setl_in_flight(const char *state)
{
    return strcmp(state, "pending") == 0 || strcmp(state, "queued") == 0 ||
           strcmp(state, "unknown") == 0;
}

bool desk_refund_on_its_way(const char *settled_id, bool refund_open)
{
    return settled_id[0] && (refund_open || his_locked(settled_id));
}

bool desk_settling_busy(struct his_call *call, const char *visit_state)
{
    if (strcmp(visit_state, visit_state_name(VISIT_SETTLING)) != 0)
        return false;
    his_fail(call, POSA_EBUSY,
             "the visit's settlement is not decided yet (on its way, queued, or its answer "
             "lost): send this again once it is (GET the visit); once settled, the settlement "
             "must be cancelled first",
             NULL);
    return true;
}

int desk_deferrable_outcome(struct upmsg *m, bool *ret_queued, char *ret_message, size_t cap)
{
    struct envelope_response env;
    int err;

    *ret_queued = m->result == UPMSG_QUEUED;
    if (*ret_queued)
        return 0;
    if ((err = desk_outcome(m, &env, ret_message, cap)) == 0)
        envelope_response_done(&env);
    else if (err == POSA_EUPSTREAM_OFFLINE || err == POSA_EOUTCOME_UNKNOWN)
        *ret_queued = true;
    return *ret_queued ? 0 : err;
}

struct json_object *desk_upstream_details(const char *words)
{
    struct json_object *d = json_object_new_object();

    if (d && words && words[0])
        json_object_object_add(d, "upstream_message", json_object_new_string(words));
    return d;
}

void desk_fail_outcome(struct his_call *call, int err, const char *message)
{
    his_fail(call, err, message && message[0] ? message : NULL,
             err == POSA_EUPSTREAM_REFUSED ? desk_upstream_details(message) : NULL);
}

/* --- the catalog: stored in SQLite, downloaded page by page (1312) ------------------------ */

struct catalog_load {
    struct db_job job;
    struct desk *d;
    bool downloaded; /* a download's, not the start's load of what the database holds */
    int64_t page;
    int64_t rows_seen; /* the rows of the pages so far, in force or not */
    int64_t last_rows; /* the last page's */
    int64_t total;     /* the rows of all pages, as the first page counted them; -1: not */
    struct catalog_item *items;
    size_t n_items;
    size_t unreadable; /* rows in force that could not be read, left out */
    char **blocks; /* the items' strings, copied out of each page's document */
    size_t n_blocks, block_used;
    struct catalog_copy copy; /* what the database holds afterwards */
};

#define CATALOG_BLOCK 65536

static int catalog_request(struct catalog_load *cl);

static void catalog_load_free(struct catalog_load *cl)
{
    for (size_t i = 0; i < cl->n_blocks; i++)
        free(cl->blocks[i]);
    free(cl->blocks);
    free(cl->items);
    catalog_copy_free(&cl->copy);
    free(cl);
}

/* A copy of s kept with the load (a page's document is freed once read: a province's
 * 100,000 items as json-c trees took some 300 MB). */
static const char *catalog_keep(struct catalog_load *cl, const char *s)
{
    size_t len = strlen(s) + 1;
    char **grown, *at;

    if (len > CATALOG_BLOCK)
        return NULL;
    if (!cl->n_blocks || cl->block_used + len > CATALOG_BLOCK) {
        if (!(grown = realloc(cl->blocks, (cl->n_blocks + 1) * sizeof grown[0])))
            return NULL;
        cl->blocks = grown;
        if (!(cl->blocks[cl->n_blocks] = malloc(CATALOG_BLOCK)))
            return NULL;
        cl->n_blocks++;
        cl->block_used = 0;
    }
    at = cl->blocks[cl->n_blocks - 1] + cl->block_used;
    memcpy(at, s, len);
    cl->block_used += len;
    return at;
}

/* Why the catalog's last download (or the start's load) failed, for GET /v1/health. */
static void catalog_failed(struct desk *d, const char *what, int err, const char *detail)
{
    /* A long platform message is cut here (the log has it whole). */
    snprintf(d->catalog_failed, sizeof d->catalog_failed, "%s: %s%s%.120s", what,
             posa_strerror(err), detail && detail[0] ? ": " : "", detail ? detail : "");
}

/* Swaps in what the database holds, once it indexes. */
static void catalog_install(struct desk *d, struct catalog_copy *copy)
{
    struct catalog_index index;
    size_t bad = 0;
    char count[24];
    int err;

    if (copy->damaged) {
        snprintf(count, sizeof count, "%zu", copy->damaged);
        log_event(LOGL_ERROR, "catalog_rows_damaged", "rows", count, "action",
                  "left out of the stored catalog (its items are self-paid in full locally "
                  "until the next download); check the disk",
                  NULL);
    }
    if (copy->n == 0)
        return;
    if ((err = catalog_index_init(&index, copy->items, copy->n, &bad)) < 0) {
        const char *item = bad < copy->n ? copy->items[bad].list_code : "";

        log_event(LOGL_ERROR, "catalog_refused", "item", item, "error", posa_strerror(err), NULL);
        catalog_failed(d, "not taken", err, item);
        return;
    }
    catalog_copy_free(&d->catalog_copy);
    d->catalog_copy = *copy;
    *copy = (struct catalog_copy){0};
    d->catalog = index;
    d->catalog_ready = true;
    snprintf(count, sizeof count, "%zu", d->catalog_copy.n);
    log_event(LOGL_INFO, "catalog_loaded", "items", count, NULL);
}

static int run_store(struct db *db, struct db_job *job)
{
    struct catalog_load *cl = (struct catalog_load *)job;
    int err = cl->downloaded ? catalog_store(db, cl->items, cl->n_items, upstream_now_ms()) : 0;

    return err ? err : catalog_load(db, &cl->copy);
}

static void on_stored(struct db_job *job, int status)
{
    struct catalog_load *cl = (struct catalog_load *)job;
    struct desk *d = cl->d;

    d->catalog_loading = false;
    d->catalog_downloading = false;
    if (status) {
        log_event(LOGL_ERROR, "catalog_not_stored", "error", posa_strerror(status), NULL);
        catalog_failed(d, cl->downloaded ? "not stored" : "not loaded", status, NULL);
    } else {
        if (cl->downloaded)
            d->catalog_failed[0] = '\0';
        if (cl->unreadable) {
            char n[24];

            snprintf(n, sizeof n, "%zu", cl->unreadable);
            log_event(LOGL_WARN, "catalog_rows_unreadable", "rows", n, "action",
                      "left out: their items are self-paid in full locally, and the platform's "
                      "own split of them is kept (upstream_mismatch); tell the platform's operator",
                      NULL);
        }
        catalog_install(d, &cl->copy);
    }
    if (cl->downloaded)
        d->catalog_fresh = status == 0;
    else if (d->pd->up.health == UPSTREAM_ONLINE)
        desk_catalog_refresh(d); /* the start's load is done; online came meanwhile */
    catalog_load_free(cl);
}

/* jerr names the field of a page that cannot be taken. */
static int catalog_page_add(struct catalog_load *cl, struct envelope_response *env,
                            int64_t *ret_pages, struct jsonmap_error *jerr)
{
    struct json_object *rows = NULL;
    size_t from = cl->n_items;
    int64_t total;
    int err;

    if ((err = desk_1312_decode(env->output, cl->page, BOUND_CATALOG_ITEMS, &rows, ret_pages,
                                &total, jerr)) < 0 ||
        (err = catalog_json_append(rows, &catalog_keys_1312, desk_today(cl->d->pd), &cl->items,
                                   &cl->n_items, &cl->unreadable, jerr)) < 0)
        return err;
    if (cl->page == 1)
        cl->total = total;
    else if (total != cl->total) /* the catalog changed between pages: rows moved */
        return jsonmap_fail(jerr, POSA_ERANGE, NULL, "recordCounts");
    cl->last_rows = (int64_t)json_object_array_length(rows);
    cl->rows_seen += cl->last_rows;
    cl->d->catalog_rows = cl->rows_seen;
    cl->d->catalog_total = cl->total;
    for (size_t i = from; i < cl->n_items; i++) {
        struct catalog_item *it = &cl->items[i];

        if (!(it->list_code = catalog_keep(cl, it->list_code)) ||
            !(it->name = catalog_keep(cl, it->name)))
            return -ENOMEM;
    }
    return 0;
}

/* The whole download, checked before it replaces the stored catalog: every row the platform
 * counted came (a short page was stored as the catalog, its items then self-paid in full),
 * some item is in force, and one period per code. */
static int catalog_complete(struct catalog_load *cl, struct jsonmap_error *jerr)
{
    size_t kept;
    char count[24];

    if (cl->total >= 0 && cl->rows_seen != cl->total)
        return jsonmap_fail(jerr, POSA_ERANGE, NULL, "recordCounts");
    if (cl->n_items == 0)
        return jsonmap_fail(jerr, POSA_EFIELD, NULL, "data");
    kept = catalog_items_latest(cl->items, cl->n_items);
    if (kept < cl->n_items) {
        snprintf(count, sizeof count, "%zu", cl->n_items - kept);
        log_event(LOGL_INFO, "catalog_earlier_periods", "rows", count, NULL);
    }
    cl->n_items = kept;
    return 0;
}

/* A long download (a province's 100,000 items: 100 pages) says how far it is. */
static void catalog_progress_log(const struct catalog_load *cl, int64_t pages)
{
    char page[24], of[24], rows[24];

    snprintf(page, sizeof page, "%" PRId64, cl->page);
    snprintf(of, sizeof of, "%" PRId64, pages);
    snprintf(rows, sizeof rows, "%" PRId64, cl->rows_seen);
    log_event(LOGL_INFO, "catalog_downloading", "page", page, "pages", of, "rows", rows, NULL);
}

static void on_catalog_page(struct upmsg *m)
{
    struct catalog_load *cl = m->data;
    struct envelope_response env;
    struct jsonmap_error jerr = {0};
    char msg[200];
    int64_t pages = 0;
    int err = desk_outcome(m, &env, msg, sizeof msg);

    if (!err) {
        err = catalog_page_add(cl, &env, &pages, &jerr);
        envelope_response_done(&env);
    }
    upmsg_free(m);
    /* Without a page count, a full page says there may be more (one page was taken for the
     * catalog, and the items past it self-paid in full, without a word). */
    bool more = pages > 0 ? cl->page < pages
                          : cl->last_rows == DESK_CATALOG_PAGE &&
                                cl->page < BOUND_CATALOG_ITEMS / DESK_CATALOG_PAGE;
    if (!err && more) {
        if (cl->page % DESK_CATALOG_LOG_PAGES == 0)
            catalog_progress_log(cl, pages);
        cl->page++;
        if ((err = catalog_request(cl)) == 0)
            return;
    }
    if (!err)
        err = catalog_complete(cl, &jerr);
    if (err) {
        /* The stored catalog (if any) stays in use; the next refresh tries again. */
        log_event(LOGL_WARN, "catalog_failed", "error", posa_strerror(err), "err_msg",
                  msg[0] ? msg : NULL, "field", jerr.field[0] ? jerr.field : NULL, NULL);
        catalog_failed(cl->d, "download failed", err, msg[0] ? msg : jerr.field);
        cl->d->catalog_loading = false;
        cl->d->catalog_downloading = false;
        catalog_load_free(cl);
        return;
    }
    cl->job = (struct db_job){.run = run_store, .done = on_stored};
    db_worker_submit(&cl->d->pd->db, &cl->job);
}

static int catalog_request(struct catalog_load *cl)
{
    struct json_object *input = json_object_new_object(), *data = json_object_new_object();

    if (!input || !data) {
        json_object_put(input);
        json_object_put(data);
        return -ENOMEM;
    }
    json_object_object_add(data, "updt_time", json_object_new_string("2000-01-01 00:00:00"));
    json_object_object_add(data, "page_num", json_object_new_int64(cl->page));
    json_object_object_add(data, "page_size", json_object_new_int64(DESK_CATALOG_PAGE));
    json_object_object_add(input, "data", data);
    /* The page is kept in the catalog table, not again in the journal. */
    return desk_send_hooked(cl->d->pd, "1312", NULL, NULL, NULL, input, on_catalog_page, cl,
                            &(struct desk_hooks){.answer_not_kept = true});
}

void desk_catalog_refresh(struct desk *d)
{
    struct catalog_load *cl;

    if (d->catalog_loading || !(cl = calloc(1, sizeof *cl)))
        return;
    cl->d = d;
    cl->downloaded = true;
    cl->page = 1;
    cl->total = -1;
    d->catalog_loading = true;
    d->catalog_downloading = true;
    d->catalog_rows = 0;
    d->catalog_total = -1;
    if (catalog_request(cl) < 0) {
        d->catalog_loading = false;
        d->catalog_downloading = false;
        catalog_load_free(cl);
    }
}

struct json_object *desk_catalog_json(const struct desk *d)
{
    struct json_object *o = json_object_new_object(), *dl = NULL;
    char when[DATETIME_TIME_LEN + 1];

    json_object_object_add(
        o, "items", json_object_new_int64(d->catalog_ready ? (int64_t)d->catalog_copy.n : 0));
    if (d->catalog_ready && d->catalog_copy.loaded_at > 0) {
        datetime_format(datetime_of_unix(d->catalog_copy.loaded_at / 1000), when);
        json_object_object_add(o, "updated", json_object_new_string(when));
    } else {
        json_object_object_add(o, "updated", NULL);
    }
    if (d->catalog_downloading) {
        dl = json_object_new_object();
        json_object_object_add(dl, "rows", json_object_new_int64(d->catalog_rows));
        json_object_object_add(
            dl, "of", d->catalog_total >= 0 ? json_object_new_int64(d->catalog_total) : NULL);
    }
    json_object_object_add(o, "download", dl);
    json_object_object_add(o, "last_error",
                           d->catalog_failed[0] ? json_object_new_string(d->catalog_failed) : NULL);
    return o;
}

void desk_catalog_refresh_after_mismatch(struct desk *d)
{
    uint64_t now = uv_now(d->pd->loop);

    if (d->catalog_mismatch_at && now - d->catalog_mismatch_at < DESK_CATALOG_MISMATCH_MS)
        return;
    d->catalog_mismatch_at = now;
    desk_catalog_refresh(d);
}

static void on_catalog_timer(uv_timer_t *t)
{
    struct desk *d = t->data;

    d->catalog_fresh = false;
    desk_catalog_refresh(d);
}

void desk_catalog_start(struct desk *d)
{
    struct catalog_load *cl = calloc(1, sizeof *cl);

    uv_timer_init(d->pd->loop, &d->catalog_timer);
    d->catalog_timer.data = d;
    uv_timer_start(&d->catalog_timer, on_catalog_timer, DESK_CATALOG_REFRESH_MS,
                   DESK_CATALOG_REFRESH_MS);
    if (!cl)
        return;
    /* What the last download left: fees can be split before the platform answers. */
    cl->d = d;
    d->catalog_loading = true;
    cl->job = (struct db_job){.run = run_store, .done = on_stored};
    db_worker_submit(&d->pd->db, &cl->job);
}

void desk_catalog_stop(struct desk *d)
{
    uv_close((uv_handle_t *)&d->catalog_timer, NULL);
}
