/* The journal-then-send pipeline to the platform, the envelope posad completes, sign-in
 * and health. Every step that changes a row goes through the database thread, and nothing
 * leaves, and no one is answered, before the step is committed. */
#include "agent/upstream.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "agent/audit.h"
#include "agent/log.h"
#include "cache/db.h"
#include "core/bound.h"
#include "core/container_of.h"
#include "core/datetime.h"
#include "core/err.h"
#include "core/mask.h"
#include "core/str.h"
#include "interface/platform/messages.h"

static void upstream_sign_in(struct upstream *up);

/* --- small helpers -------------------------------------------------------------------- */

int64_t upstream_now_ms(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

int64_t upstream_monotonic_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t upstream_now_beijing(void)
{
    return datetime_of_unix((int64_t)time(NULL));
}

const char *upstream_health_name(enum upstream_health h)
{
    return h == UPSTREAM_ONLINE ? "online" : h == UPSTREAM_DEGRADED ? "degraded" : "offline";
}

const char *upstream_find_string(struct json_object *obj, const char *key)
{
    struct json_object *v;
    static const int max_depth = 4;
    struct {
        struct json_object *o;
        int depth;
    } stack[64];
    int n = 0;

    if (!obj)
        return NULL;
    stack[n].o = obj;
    stack[n++].depth = 0;
    /* Breadth doesn't matter; the first found in this walk is the shallowest in practice. */
    while (n > 0) {
        struct json_object *o = stack[--n].o;
        int depth = stack[n].depth;

        if (json_object_is_type(o, json_type_object)) {
            if (json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string))
                return json_object_get_string(v);
            json_object_object_foreach(o, k, child)
            {
                (void)k;
                if (depth < max_depth && child && n < 64 &&
                    (json_object_is_type(child, json_type_object) ||
                     json_object_is_type(child, json_type_array))) {
                    stack[n].o = child;
                    stack[n++].depth = depth + 1;
                }
            }
        } else if (json_object_is_type(o, json_type_array)) {
            size_t len = json_object_array_length(o);
            for (size_t i = 0; i < len && i < 4 && n < 64 && depth < max_depth; i++) {
                stack[n].o = json_object_array_get_idx(o, i);
                stack[n++].depth = depth + 1;
            }
        }
    }
    return NULL;
}

static struct json_object *parse_object(const char *text, size_t len)
{
    struct json_tokener *tok = json_tokener_new_ex(32);
    struct json_object *o;

    if (!tok)
        return NULL;
    o = json_tokener_parse_ex(tok, text, (int)len);
    if (o &&
        (json_tokener_get_parse_end(tok) != len || !json_object_is_type(o, json_type_object))) {
        json_object_put(o);
        o = NULL;
    }
    json_tokener_free(tok);
    return o;
}

static int dup_json(struct json_object *o, char **ret, size_t *ret_len)
{
    size_t len;
    const char *s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);

    if (!s || !(*ret = strndup(s, len)))
        return -ENOMEM;
    *ret_len = len;
    return 0;
}

int upstream_restamp(const char *body, size_t len, const char *msgid, const char *sign_no,
                     char **ret, size_t *ret_len)
{
    struct json_object *root = parse_object(body, len);
    char inf_time[DATETIME_TIME_LEN + 1];
    int err;

    if (!root)
        return POSA_EFIELD;
    /* Sent now (again, or from the queue, or under a new msgid): the time it leaves. */
    datetime_format(upstream_now_beijing(), inf_time);
    json_object_object_add(root, "inf_time", json_object_new_string(inf_time));
    if (msgid)
        json_object_object_add(root, "msgid", json_object_new_string(msgid));
    if (sign_no)
        json_object_object_add(root, "sign_no", json_object_new_string(sign_no));
    err = dup_json(root, ret, ret_len);
    json_object_put(root);
    return err;
}

struct upmsg *upmsg_new(const char *infno, upmsg_cb done, void *data)
{
    struct upmsg *m = calloc(1, sizeof *m);

    if (!m)
        return NULL;
    str_copy(m->infno, sizeof(m->infno), infno);
    m->done = done;
    m->data = data;
    return m;
}

void upmsg_free(struct upmsg *m)
{
    if (!m)
        return;
    free(m->standin_body);
    free(m->body);
    free(m->response);
    if (m->have_env)
        envelope_response_done(&m->env);
    journal_row_free(m->existing);
    free(m);
}

int upstream_next_msgid(struct upstream *up, char ret[MSGID_LEN + 1])
{
    return msgid_next(&up->gen, upstream_now_beijing(), ret);
}

/* --- the envelope ------------------------------------------------------------------- */

static const char *pick(const char *his, const char *ours)
{
    return his && *his ? his : ours;
}

int upstream_envelope(struct upstream *up, struct upmsg *m, const struct envelope_head *his,
                      struct json_object *input)
{
    const struct posad_config *cfg = up->cfg;
    struct envelope_head head = {0};
    struct json_object *env;
    char inf_time[DATETIME_TIME_LEN + 1];
    int64_t now = upstream_now_beijing();
    int err;

    err = msgid_next(&up->gen, now, m->msgid);
    if (err) {
        json_object_put(input);
        return err;
    }
    datetime_format(now, inf_time);
    if (his)
        head = *his;
    head.infno = m->infno;
    head.msgid = m->msgid;
    head.inf_time = inf_time;
    head.sign_no = up->sign_no;
    str_copy(m->sent_sign_no, sizeof(m->sent_sign_no), up->sign_no);
    head.fixmedins_code = cfg->fixmedins_code;
    head.fixmedins_name = cfg->fixmedins_name;
    head.mdtrtarea_admvs = cfg->mdtrtarea_admvs;
    head.recer_sys_code = pick(head.recer_sys_code, cfg->recer_sys_code);
    head.infver = pick(head.infver, cfg->infver);
    head.opter_type = pick(head.opter_type, cfg->opter_type);
    head.opter = pick(head.opter, cfg->opter);
    head.opter_name = pick(head.opter_name, cfg->opter_name);
    env = envelope_request_build(&head, input);
    if (!env)
        return -ENOMEM;
    err = dup_json(env, &m->body, &m->body_len);
    json_object_put(env);
    if (!err && m->body_len > BOUND_BODY)
        err = POSA_ETOOLONG;
    return err;
}

/* --- health --------------------------------------------------------------------------- */

static void upstream_set_health(struct upstream *up, enum upstream_health h)
{
    enum upstream_health old = up->health;

    if (old == h)
        return;
    up->health = h;
    log_event(h == UPSTREAM_ONLINE ? LOGL_INFO : LOGL_WARN,
              h == UPSTREAM_ONLINE    ? "upstream_online"
              : h == UPSTREAM_OFFLINE ? "upstream_offline"
                                      : "upstream_degraded",
              NULL);
    if (up->on_health)
        up->on_health(up, old);
}

/* Degraded means a message failed within the last probe interval: when only some kinds
 * fail (the resolver's queries) between others that succeed, each success brought it back
 * online and each failure took it down again, a log line and an SSE event every time (178
 * in 90 s). A success inside the interval leaves it degraded; the probe brings it back. */
static bool upstream_degraded_holds(const struct upstream *up)
{
    return up->health == UPSTREAM_DEGRADED &&
           uv_now(up->loop) - up->failed_at < up->cfg->probe_interval_ms;
}

static void upstream_back_online(struct upstream *up)
{
    upstream_set_health(up, UPSTREAM_ONLINE);
    if (up->on_queued)
        up->on_queued(up);
}

static void upstream_health_ok(struct upstream *up, uint32_t rtt_ms)
{
    up->last_outcome = uv_now(up->loop);
    up->failures = 0;
    up->check_failed = up->last_failed = false;
    up->last_ok_ms = upstream_now_ms();
    up->rtt_ms = rtt_ms;
    if (up->health != UPSTREAM_ONLINE && up->sign_no[0] && !upstream_degraded_holds(up))
        upstream_back_online(up);
}

static void upstream_health_fail(struct upstream *up)
{
    up->last_outcome = up->failed_at = uv_now(up->loop);
    up->last_failed = true;
    up->failures++;
    /* Only a success brings it back: failures never make offline look better. */
    if (up->failures >= up->cfg->offline_after || up->health == UPSTREAM_OFFLINE)
        upstream_set_health(up, UPSTREAM_OFFLINE);
    else
        upstream_set_health(up, UPSTREAM_DEGRADED);
}

/* A connection not made counts as a message lost: an idle posad learns that the platform
 * went away before a cashier's settlement waits for it. A connection made undoes only what
 * checks did: a platform that takes connections and does not answer messages stays
 * degraded, and goes offline, by its messages (it flapped back to online between them). */
static void on_checked(struct platform_request *req, const struct platform_result *res)
{
    struct upstream *up = container_of(req, struct upstream, check);

    up->checking = false;
    if (up->stopping)
        return;
    if (res->outcome == PLATFORM_ANSWERED) {
        if (up->check_failed || up->failures == 0) {
            upstream_health_ok(up, up->rtt_ms);
        } else { /* reachable; what its messages said stands */
            up->last_outcome = uv_now(up->loop);
            up->last_failed = false;
        }
        return;
    }
    if (!up->check_failed)
        log_event(LOGL_WARN, "upstream_check_failed", "error", res->error, "next",
                  "checked again every probe_interval_ms", NULL);
    upstream_health_fail(up);
    up->check_failed = true;
}

/* Nothing in flight, and nothing heard for idle_check_ms, or the last outcome a failure. */
static bool upstream_check_due(const struct upstream *up)
{
    return up->cfg->idle_check_ms && !up->checking && up->in_flight == 0 &&
           (up->last_failed || uv_now(up->loop) - up->last_outcome >= up->cfg->idle_check_ms);
}

static void on_probe(uv_timer_t *t)
{
    struct upstream *up = t->data;

    if (up->stopping || up->signing_in)
        return;
    if (up->health == UPSTREAM_OFFLINE || !up->sign_no[0]) {
        upstream_sign_in(up);
    } else if (up->health == UPSTREAM_DEGRADED && up->failures == 0 &&
               !upstream_degraded_holds(up)) {
        upstream_back_online(up); /* it answered last, and nothing failed since */
    } else if (upstream_check_due(up)) {
        up->check =
            (struct platform_request){.infno = "check", .connect_only = true, .done = on_checked};
        up->checking = platform_client_send(up->client, &up->check) == 0;
    }
}

/* --- the sign-in session ------------------------------------------------------------- */

/* Whether text names the sign-in's infno, 9001, as a transaction: "交易9001", "调用9001",
 * "9001交易", "9001接口", "infno 9001", "(9001)", or 9001 alone. Not a number that is 9001
 * as another thing is (a fee line numbered 9001 refused as a duplicate ended every desk's
 * session), nor one inside another (an amount of 19001.50, a code 90010). */
static bool names_9001(const char *text)
{
    static const char *const before[] = {"交易",   "接口",   "调用", "infno ",
                                         "infno=", "infno:", "(",    "（"};
    static const char *const after[] = {"交易", "接口"};

    if (strcmp(text, "9001") == 0)
        return true;
    for (const char *at = strstr(text, "9001"); at; at = strstr(at + 1, "9001")) {
        if (isdigit((unsigned char)at[4]) || (at[4] == '.' && isdigit((unsigned char)at[5])))
            continue;
        for (size_t i = 0; i < sizeof before / sizeof before[0]; i++) {
            size_t n = strlen(before[i]);

            if ((size_t)(at - text) >= n && memcmp(at - n, before[i], n) == 0)
                return true;
        }
        for (size_t i = 0; i < sizeof after / sizeof after[0]; i++)
            if (strncmp(at + 4, after[i], strlen(after[i])) == 0)
                return true;
    }
    return false;
}

/* Does a refusal say the sign-in session is gone? The national interface has no code for
 * it; platforms word it around sign_no / 签到 (sign-in) / the sign-in's infno (names_9001). */
bool upstream_is_session_refusal(const char *err_msg)
{
    /* A refused msgid ("msgid ... was already used (infno 9001 ...)") is about the message,
     * not the session: signing in again would not help. */
    return err_msg && !strstr(err_msg, "msgid") &&
           (strstr(err_msg, "sign_no") || strstr(err_msg, "签到") || names_9001(err_msg));
}

/* The session m went with is gone: sign in again. Only that one: a refusal that comes back
 * after a newer sign-in must not end that one too (and start another). */
static void session_end(struct upstream *up, const struct upmsg *m)
{
    if (strcmp(m->sent_sign_no, up->sign_no) != 0)
        return;
    log_event(LOGL_WARN, "session_lost", "msgid", m->msgid, "sign_no", up->sign_no, NULL);
    up->sign_no[0] = '\0';
    /* Nothing leaves without a session: not online until the new sign-in is answered. */
    if (up->health == UPSTREAM_ONLINE)
        upstream_set_health(up, UPSTREAM_DEGRADED);
    if (!up->signing_in && !up->stopping)
        upstream_sign_in(up);
}

/* Was msgid sent in place of a message refused for its session (a resend)? */
static bool resent_for_session(const struct upstream *up, const char *msgid)
{
    for (size_t i = 0; i < UPSTREAM_RESENT_MAX; i++)
        if (strcmp(up->resent[i], msgid) == 0)
            return true;
    return false;
}

/* The platform no longer knows our sign_no: sign in again. A refused upload goes again
 * under a new msgid (the refused one is spent) once that is done; an interactive message's
 * idempotency key is freed so the HIS may send the same message again. */
static void upstream_session_lost(struct upstream *up, struct upmsg *m)
{
    session_end(up, m);
    m->session_refused = true;
    if (m->kind != MSG_KIND_DEFERRABLE)
        return;
    if (upstream_next_msgid(up, m->standin_msgid) != 0 ||
        upstream_restamp(m->body, m->body_len, m->standin_msgid, NULL, &m->standin_body,
                         &m->standin_len) != 0) {
        m->standin_msgid[0] = '\0';
        return;
    }
    str_copy(up->resent[up->n_resent++ % UPSTREAM_RESENT_MAX], MSGID_LEN + 1, m->standin_msgid);
    m->result = UPMSG_QUEUED;
}

/* A message's answer as it bears on the session: a refusal for it ends the session it went
 * with, and the message goes again once; its resend refused so too is refused (words the
 * platform used for the message itself: signing in and resending went round for ever),
 * though the session still ends (a second loss, a nightly sign-out, is a loss). */
static void session_answered(struct upstream *up, struct upmsg *m,
                             const struct envelope_response *env)
{
    if (env->infcode == 0 || !upstream_is_session_refusal(env->err_msg))
        return;
    if (resent_for_session(up, m->msgid)) {
        log_event(LOGL_WARN, "session_refusal_repeated", "msgid", m->msgid, "infno", m->infno,
                  "err_msg", env->err_msg, "taken_as", "a refusal of the message", NULL);
        session_end(up, m);
        return;
    }
    upstream_session_lost(up, m);
}

/* --- finishing ------------------------------------------------------------------------ */

static void upmsg_finish(struct upmsg *m)
{
    struct upstream *up = m->up;

    up->in_flight--;
    if (m->result == UPMSG_UNKNOWN && up->on_unknown)
        up->on_unknown(up);
    /* A queued message, or the end of one a queued message of its visit may wait behind. */
    if ((m->result == UPMSG_QUEUED || m->visit_key[0]) && up->on_queued &&
        up->health != UPSTREAM_OFFLINE)
        up->on_queued(up);
    m->done(m);
}

/* --- after the platform answered (or did not) ---------------------------------------- */

static int run_apply(struct db *db, struct db_job *job)
{
    struct upmsg *m = container_of(job, struct upmsg, job);
    char last_error[sizeof m->error + sizeof m->detail + 4];
    struct journal_outcome out = {.response = m->answer_not_kept ? NULL : m->response,
                                  .response_len = m->answer_not_kept ? 0 : m->response_len,
                                  .last_error = m->error[0] ? last_error : NULL,
                                  .next_attempt = m->next_attempt};
    int err = 0;

    /* The queue is read by IT staff: the address and the transport's words help them. */
    snprintf(last_error, sizeof last_error, m->detail[0] ? "%s (%s)" : "%s", m->error, m->detail);

    for (int i = 0; i < m->n_events && !err; i++)
        err = journal_apply(db, m->msgid, m->events[i], i == 0 ? &out : NULL, upstream_now_ms(),
                            &m->state);
    if (!err && m->session_refused && m->standin_body) {
        struct journal_new in = {.msgid = m->standin_msgid,
                                 .infno = m->infno,
                                 .visit_key = m->visit_key,
                                 .ref_msgid = m->msgid,
                                 .ord_of = m->msgid,
                                 .request = m->standin_body,
                                 .request_len = m->standin_len,
                                 .next_attempt = upstream_now_ms()};
        /* A read changes nothing: as its first sending, not audited. */
        if ((err = journal_insert(db, &in, upstream_now_ms())) == 0 && m->kind != MSG_KIND_QUERY)
            err = audit_standin(db, "resend", m->msgid, m->standin_msgid);
    } else if (!err && m->session_refused && m->idem_key[0]) {
        err = journal_release_idem(db, m->msgid);
    }
    if (!err && m->up->applied_also)
        err = m->up->applied_also(db, m);
    if (!err && m->apply_also)
        err = m->apply_also(db, m);
    return err;
}

/* --- answers that could not be journaled ---------------------------------------------- */

#define UNRECORDED_RETRY_MS 2000

struct recording {
    struct db_job job;
    struct upstream *up;
    struct unrecorded *list; /* taken from up->unrecorded; what fails again goes back */
    int moved;
};

static void unrecorded_free(struct unrecorded *u)
{
    while (u) {
        struct unrecorded *next = u->next;

        free(u);
        u = next;
    }
}

/* On the database thread: each row still `sent` becomes `unknown`, as a restart would make
 * it; a row that is no longer `sent` has been settled otherwise and leaves the list. The
 * first failure ends the job (and takes its writes back): SQLite may have rolled the whole
 * transaction back by itself, and what ran after would write outside one. */
static int run_record(struct db *db, struct db_job *job)
{
    struct recording *r = container_of(job, struct recording, job);
    struct journal_outcome out = {.last_error = "its answer came but could not be journaled"};

    r->moved = 0;
    for (struct unrecorded *u = r->list; u; u = u->next) {
        int err = journal_apply(db, u->msgid, MSG_EV_LOST_AFTER, &out, upstream_now_ms(), NULL);

        if (err != 0 && err != POSA_ESTATE && err != POSA_ENOTFOUND)
            return err; /* still no room: all of them at the next try */
        u->settled = true;
        r->moved += err == 0;
    }
    return 0;
}

static void on_record_tick(uv_timer_t *t);

/* Due in UNRECORDED_RETRY_MS unless already due: failures that keep coming must not keep
 * putting the next try off. */
static void unrecorded_arm(struct upstream *up)
{
    if (up->unrecorded && !up->recording && !up->stopping &&
        !uv_is_active((uv_handle_t *)&up->unrecorded_timer))
        uv_timer_start(&up->unrecorded_timer, on_record_tick, UNRECORDED_RETRY_MS, 0);
}

static void on_recorded(struct db_job *job, int status)
{
    struct recording *r = container_of(job, struct recording, job);
    struct upstream *up = r->up;
    struct unrecorded *u, *next;

    up->recording = false;
    for (u = r->list; u; u = next) { /* back to the list unless its row left `sent` */
        next = u->next;
        if (status == 0 && u->settled) {
            free(u);
        } else {
            u->next = up->unrecorded;
            up->unrecorded = u;
        }
    }
    if (status == 0) {
        char count[STR_DECIMAL_MAX];

        log_event(LOGL_INFO, "unrecorded_to_resolve", "count",
                  str_decimal(count, (uint64_t)r->moved), NULL);
        if (up->on_unknown) /* also when another hand moved them: the resolver looks */
            up->on_unknown(up);
    }
    free(r);
    unrecorded_arm(up);
}

static void on_record_tick(uv_timer_t *t)
{
    struct upstream *up = t->data;
    struct recording *r;

    if (up->recording || !up->unrecorded || up->stopping)
        return;
    if (!(r = calloc(1, sizeof *r))) {
        unrecorded_arm(up);
        return;
    }
    r->up = up;
    r->list = up->unrecorded;
    up->unrecorded = NULL;
    up->recording = true;
    r->job = (struct db_job){.run = run_record, .done = on_recorded};
    db_worker_submit(up->db, &r->job);
}

/* The answer to m could not be journaled (a full disk...): its row stays `sent`; it is made
 * `unknown` as soon as the journal takes it, for the resolver to ask the platform. */
static void unrecorded_add(struct upstream *up, const char *msgid)
{
    struct unrecorded *u = calloc(1, sizeof *u);

    if (!u) {
        log_event(LOGL_ERROR, "unrecorded_lost", "msgid", msgid, NULL); /* a restart does it */
        return;
    }
    str_copy(u->msgid, sizeof u->msgid, msgid);
    u->next = up->unrecorded;
    up->unrecorded = u;
    unrecorded_arm(up);
}

static void on_applied(struct db_job *job, int status)
{
    struct upmsg *m = container_of(job, struct upmsg, job);

    if (status) {
        /* Tell the caller the truth now; the row is resolved once the journal takes it. */
        m->result = UPMSG_FAILED;
        m->err = status;
        log_event(LOGL_ERROR, "journal_failed", "msgid", m->msgid, "infno", m->infno, "error",
                  posa_strerror(status), NULL);
        unrecorded_add(m->up, m->msgid);
    }
    upmsg_finish(m);
}

/* Which events follow a platform result, by kind: a query lost after leaving changed
 * nothing upstream, so it is treated as lost before (and abandoned); a deferrable lost
 * before is queued again after a backoff. */
static void upmsg_classify(struct upmsg *m, const struct platform_result *res)
{
    struct upstream *up = m->up;
    struct envelope_response env;
    struct jsonmap_error jerr = {0};
    bool parsed, lost_after = false, answered = false, unreadable = false, twice = false;
    int32_t date;

    m->n_events = 0;
    parsed = res->outcome == PLATFORM_ANSWERED && res->http_status == 200 &&
             envelope_response_parse(res->body, res->body_len, &env, &jerr) == 0;
    /* JSON with a key written twice: the platform answered, in a form posad will not guess
     * at (which figure it meant); as an answer that cannot be read, not as a failed exchange
     * (which counted against the platform's health). */
    if (!parsed && res->outcome == PLATFORM_ANSWERED && res->http_status == 200 &&
        jerr.err == POSA_EDUPLICATE) {
        unreadable = twice = true;
        log_event(LOGL_WARN, "answer_key_twice", "msgid", m->msgid, "infno", m->infno, "key",
                  jerr.field, NULL);
    }
    /* Accepted, but what it did cannot be read (a settlement's amounts): as if its answer
     * were lost, for the resolver to ask about. */
    if (parsed && env.infcode == 0 && up->answer_readable && !up->answer_readable(m, &env)) {
        envelope_response_done(&env);
        parsed = false;
        unreadable = true;
    }
    if (parsed) {
        m->events[m->n_events++] = env.infcode == 0 ? MSG_EV_ANSWER_OK : MSG_EV_ANSWER_REFUSED;
        m->result = UPMSG_ANSWERED;
        answered = true;
        /* A refused sign-in is no session: the platform answers, but nothing can be sent. */
        if (env.infcode == 0 || strcmp(m->infno, "9001") != 0)
            upstream_health_ok(up, res->elapsed_ms);
        if (strcmp(m->infno, "9001") != 0)
            session_answered(up, m, &env);
        if ((date = envelope_respond_date(&env)) != 0)
            up->platform_date = date;
        /* Kept for the message's owner, so a 50-line answer is parsed once, not twice. */
        if (m->have_env)
            envelope_response_done(&m->env);
        m->env = env;
        m->have_env = true;
    } else if (unreadable) {
        upstream_health_ok(up, res->elapsed_ms);
        snprintf(m->error, sizeof m->error,
                 twice ? "the platform answered, but its answer gives a key twice and cannot be "
                         "read"
                       : "the platform accepted it, but its answer could not be read");
        lost_after = m->kind != MSG_KIND_QUERY;
    } else {
        upstream_health_fail(up);
        /* Words a cashier reads (they reach the HIS's messages); curl's own, with the
         * address and the milliseconds, go to the log (upstream_result's detail). */
        if (res->outcome == PLATFORM_ANSWERED)
            snprintf(m->error, sizeof m->error,
                     res->http_status == 200
                         ? "the platform answered, but not with a reply (HTTP %ld)"
                         : "the platform answered with an error page (HTTP %ld), not a reply",
                     res->http_status);
        else
            str_copy(m->error, sizeof(m->error),
                     res->err == -ETIMEDOUT      ? "no answer in time"
                     : res->err == -ECONNREFUSED ? "no connection could be made"
                                                 : "the connection failed");
        if (res->outcome != PLATFORM_ANSWERED && res->error)
            str_copy(m->detail, sizeof(m->detail), res->error);
        lost_after = res->outcome != PLATFORM_LOST_BEFORE && m->kind != MSG_KIND_QUERY;
    }
    /* The answer is kept (journaled, replayed to a passthrough's resend) when it is an
     * envelope: an HTTP error page is no answer, and kept it was replayed as one and barred
     * the question from being asked again. Bytes, copied whole: strndup stopped at a NUL
     * while the length said more, and the journal stored (and a resend relayed) what lay
     * past the copy in posad's heap. */
    if (res->outcome == PLATFORM_ANSWERED && res->body && (answered || unreadable) &&
        (m->response = malloc(res->body_len + 1))) {
        memcpy(m->response, res->body, res->body_len);
        m->response[res->body_len] = '\0';
        m->response_len = res->body_len;
    }
    if (answered)
        return;
    if (lost_after) {
        m->events[m->n_events++] = MSG_EV_LOST_AFTER;
        m->result = UPMSG_UNKNOWN;
    } else if (m->kind == MSG_KIND_DEFERRABLE || m->may_queue) {
        /* It never left: an upload, or a settlement that may wait, goes back in the queue. */
        m->events[m->n_events++] = MSG_EV_LOST_BEFORE;
        m->next_attempt = upstream_now_ms() + msg_backoff_ms(m->attempts, (uint32_t)rand());
        m->result = UPMSG_QUEUED;
    } else {
        char why[200];

        snprintf(why, sizeof why, "%.199s", m->error);
        /* A question that reached the platform and whose answer could not be read changed
         * nothing there either: asked again, it is the same question. */
        m->answer_unreadable = res->outcome != PLATFORM_LOST_BEFORE;
        snprintf(m->error, sizeof m->error,
                 m->answer_unreadable
                     ? "the platform's answer could not be read (%s)"
                     : "the insurance platform cannot be reached; nothing was sent (%s)",
                 why);
        m->events[m->n_events++] = MSG_EV_LOST_BEFORE;
        m->events[m->n_events++] = MSG_EV_ABANDON;
        m->result = UPMSG_OFFLINE;
    }
}

/* One exchange of m's with the platform, under its infno: one posad knows, else "other"
 * (the passthrough forwards any infno: a HIS's own would crowd out the desk's). */
static void latency_observe(struct upstream *up, const struct upmsg *m)
{
    const char *infno = messages_find(m->infno) ? m->infno : "other";
    size_t i = 0;

    while (i < up->n_latency && strcmp(up->latency[i].infno, infno) != 0)
        i++;
    if (i == UPSTREAM_LATENCY_MAX)
        return;
    if (i == up->n_latency)
        str_copy(up->latency[up->n_latency++].infno, sizeof up->latency[0].infno, infno);
    metrics_histogram_observe(&up->latency[i].latency, (uv_hrtime() - m->sent_ns) / 1000);
}

static void on_platform_done(struct platform_request *req, const struct platform_result *res)
{
    struct upmsg *m = container_of(req, struct upmsg, preq);

    if (m->sent_ns)
        latency_observe(m->up, m);
    upmsg_classify(m, res);
    /* A sign-in failing again while offline is the probe's every few seconds: on_signed_in
     * says the first one. */
    log_event(m->result == UPMSG_ANSWERED                               ? LOGL_INFO
              : strcmp(m->infno, "9001") == 0 && m->up->sign_in_failing ? LOGL_DEBUG
                                                                        : LOGL_WARN,
              "upstream_result", "msgid", m->msgid, "infno", m->infno, "outcome",
              m->result == UPMSG_ANSWERED  ? "answered"
              : m->result == UPMSG_UNKNOWN ? "unknown"
              : m->result == UPMSG_QUEUED  ? "queued"
              : m->answer_unreadable       ? "unreadable"
                                           : "not_sent",
              "error", m->error[0] ? m->error : NULL, "detail", m->detail[0] ? m->detail : NULL,
              NULL);
    /* The answer is written before the HIS hears it, but without an fsync of its own: one
     * fsync on a message's critical path (the journal row before it leaves). A power cut
     * that loses it leaves the row `sent`, resolved by query after the restart. A stand-in
     * row is a message about to leave, and the owner's writes (apply_also) are what it
     * answers the HIS from, so those commits sync, unless the owner says a loss of them is
     * recovered too (apply_lazy). */
    m->job = (struct db_job){.run = run_apply,
                             .done = on_applied,
                             .lazy = !(m->session_refused && m->standin_body) &&
                                     (!m->apply_also || m->apply_lazy),
                             .rerunnable = !m->apply_also || m->hooks_rerunnable};
    db_worker_submit(m->up->db, &m->job);
}

static void upmsg_send(struct upmsg *m)
{
    int err;

    m->preq = (struct platform_request){
        .infno = m->infno, .body = m->body, .body_len = m->body_len, .done = on_platform_done};
    m->sent_ns = uv_hrtime();
    err = platform_client_send(m->up->client, &m->preq);
    if (err) {
        m->sent_ns = 0; /* nothing left: no exchange to count */
        /* Nothing left: the same as a connection refused. */
        struct platform_result res = {
            .outcome = PLATFORM_LOST_BEFORE, .err = err, .error = posa_strerror(err)};
        on_platform_done(&m->preq, &res);
    }
}

bool upmsg_queued_behind(const struct upmsg *m)
{
    return m->result == UPMSG_QUEUED && !m->send_now && !m->offline_at_admit;
}

const struct envelope_response *upmsg_accepted(const struct upmsg *m)
{
    return m->result == UPMSG_ANSWERED && m->have_env && m->env.infcode == 0 ? &m->env : NULL;
}

/* --- admission of a new message --------------------------------------------------------- */

/* The HIS's message may have gone again under other msgids (after a reversal, or a refusal
 * for a lost session): its outcome is that of the last stand-in. Takes row. */
struct journal_row *upstream_last_standin(struct db *db, struct journal_row *row)
{
    struct journal_row *next = NULL;

    for (int hops = 0; hops < 16; hops++) {
        if (row->state != MSG_REVERSED && row->state != MSG_REFUSED)
            break;
        if (journal_get_standin(db, row->msgid, row->infno, &next) != 0)
            break;
        journal_row_free(row);
        row = next;
    }
    return row;
}

enum again { AGAIN_NO, AGAIN_GO, AGAIN_WAIT };

/* Whether the HIS may send a message again under the same key: yes when it never reached
 * the platform (refused with no answer), or, when m allows it, when the platform confirmed
 * its reversal (a row is `reversed` as soon as its 2601 is journaled: the 2601 done is what
 * undid it) and it was not sent again under another msgid, or when it allows it, once the
 * platform refused it; wait while that 2601 is on its way; otherwise the key keeps the
 * outcome it has (a 2601 refused leaves the original standing), but for a cancel. */
static enum again may_go_again(struct db *db, const struct upmsg *m, const struct journal_row *row)
{
    struct journal_row *next = NULL;
    enum again verdict = AGAIN_NO;
    enum msg_state rev = MSG_UNKNOWN;
    const struct message_info *info;

    /* Refused for a lost session and sent again under another msgid: that one's outcome is
     * the key's (upstream_last_standin), not a refusal to send again. */
    if (row->state == MSG_REFUSED &&
        journal_get_standin(db, row->msgid, row->infno, &next) != POSA_ENOTFOUND) {
        journal_row_free(next);
        return AGAIN_NO;
    }
    if (row->state == MSG_REFUSED)
        return !row->response || m->again_after_refusal ? AGAIN_GO : AGAIN_NO;
    if (row->state != MSG_REVERSED || !m->again_after_reversal ||
        journal_get_standin(db, row->msgid, row->infno, &next) != POSA_ENOTFOUND) {
        journal_row_free(next);
        return AGAIN_NO;
    }
    journal_row_free(next);
    if (journal_reversal_state(db, row->msgid, &rev) == 0)
        verdict = rev == MSG_DONE ? AGAIN_GO : rev == MSG_REFUSED ? AGAIN_NO : AGAIN_WAIT;
    /* A settlement cancel whose 2601 was refused was asked about since (resolve.c) and left
     * reversed: the settlement stood, or the platform would not say. Either way it may go
     * again: a cancel cannot land twice, as the platform refuses to cancel a settlement
     * that no longer stands. */
    if (verdict == AGAIN_NO && rev == MSG_REFUSED && (info = messages_find(row->infno)) &&
        info->cancel)
        verdict = AGAIN_GO;
    return verdict;
}

int upstream_journal_by_key(struct db *db, const char *idem_key, struct journal_row **ret)
{
    int err = journal_get_by_idem(db, idem_key, ret);

    /* Journals before keys of 128 bytes kept a longer one cut to 64 ("visit:" and a key of 59
     * or more): a retry across the upgrade finds its row under that. */
    if (err == POSA_ENOTFOUND && strlen(idem_key) > BOUND_CODE) {
        char cut[BOUND_CODE + 1];

        str_copy(cut, sizeof cut, idem_key);
        err = journal_get_by_idem(db, cut, ret);
    }
    return err;
}

static int run_admit(struct db *db, struct db_job *job)
{
    struct upmsg *m = container_of(job, struct upmsg, job);
    struct journal_row *row = NULL;
    bool open = false;
    int err;

    m->journaled = false;
    if (m->idem_key[0]) {
        err = upstream_journal_by_key(db, m->idem_key, &row);
        if (!err) {
            bool same = row->idem_hash && strcmp(row->idem_hash, m->idem_hash) == 0;
            enum again again = same ? may_go_again(db, m, row) : AGAIN_NO;

            if (again == AGAIN_WAIT) {
                journal_row_free(row); /* its reversal is on its way: retry shortly */
                m->result = UPMSG_BUSY;
                return 0;
            }
            if (again == AGAIN_GO) {
                err = journal_release_idem(db, row->msgid);
                journal_row_free(row);
                row = NULL;
                if (err)
                    return err;
            } else {
                m->result = same ? UPMSG_EXISTING : UPMSG_CONFLICT;
                m->existing = same ? upstream_last_standin(db, row) : row;
                return 0;
            }
        } else if (err != POSA_ENOTFOUND) {
            return err;
        }
    }
    if (m->visit_key[0]) {
        err = journal_visit_open(db, m->visit_key, &open);
        if (err)
            return err;
    }
    /* An interactive message leaves now or not at all, unless its owner let it wait for
     * the platform (may_queue: a settlement with wait_if_offline). */
    if (m->kind != MSG_KIND_DEFERRABLE && m->offline_at_admit && !m->may_queue) {
        m->result = UPMSG_OFFLINE;
        return 0;
    }
    if (m->kind != MSG_KIND_DEFERRABLE && open && !m->may_queue) {
        m->result = UPMSG_BUSY;
        return 0;
    }
    m->send_now = !(open || m->offline_at_admit);
    struct journal_new in = {.msgid = m->msgid,
                             .infno = m->infno,
                             .idem_key = m->idem_key[0] ? m->idem_key : NULL,
                             .idem_hash = m->idem_hash[0] ? m->idem_hash : NULL,
                             .visit_key = m->visit_key,
                             .ref_msgid = m->ref_msgid[0] ? m->ref_msgid : NULL,
                             .ord_of = m->ord_of[0] ? m->ord_of : NULL,
                             .request = m->body,
                             .request_len = m->body_len,
                             .send_now = m->send_now,
                             .next_attempt = upstream_now_ms()};
    err = journal_insert(db, &in, upstream_now_ms());
    if (!err && m->admit_also)
        err = m->admit_also(db, m);
    if (!err && m->audit_action[0])
        err = audit_append(db, m->audit_who, m->audit_action,
                           m->audit_target[0] ? m->audit_target : m->visit_key, m->msgid);
    if (err)
        return err;
    m->journaled = true;
    m->state = m->send_now ? MSG_SENT : MSG_QUEUED;
    m->result = m->send_now ? UPMSG_ANSWERED : UPMSG_QUEUED; /* ANSWERED: to be sent */
    return 0;
}

static void on_admitted(struct db_job *job, int status)
{
    struct upmsg *m = container_of(job, struct upmsg, job);

    if (status) {
        m->result = UPMSG_FAILED;
        m->journaled = false; /* its group did not commit, or its sync failed: it never left */
        m->err = status;
        snprintf(m->error, sizeof m->error, "could not journal: %s", posa_strerror(status));
        log_event(LOGL_ERROR, "journal_failed", "msgid", m->msgid, "infno", m->infno, "error",
                  posa_strerror(status), NULL);
        upmsg_finish(m);
        return;
    }
    if (m->result == UPMSG_ANSWERED && m->send_now) {
        upmsg_send(m);
        return;
    }
    if (m->result == UPMSG_OFFLINE)
        snprintf(m->error, sizeof m->error, "%s", upstream_unsent_why(m->up));
    upmsg_finish(m);
}

const char *upstream_unsent_why(struct upstream *up)
{
    if (up->sign_in_refusal[0]) {
        snprintf(up->unsent_words, sizeof up->unsent_words,
                 "the insurance platform refused posad's sign-in (%s): nothing was sent; IT "
                 "must check [upstream] opter and the institution's codes in posad.conf",
                 up->sign_in_refusal);
        return up->unsent_words;
    }
    return up->signing_in && up->failures == 0
               ? "posad is signing in to the insurance platform; nothing was sent: ask again in "
                 "a moment"
               : "the insurance platform cannot be reached; nothing was sent";
}

bool upstream_can_send(const struct upstream *up)
{
    return up->health != UPSTREAM_OFFLINE && up->sign_no[0] && !up->stopping;
}

int upstream_submit(struct upstream *up, struct upmsg *m, const struct envelope_head *head,
                    struct json_object *input)
{
    int err;

    m->up = up;
    m->kind = msg_kind_of(m->infno);
    if (m->now_only && m->kind == MSG_KIND_DEFERRABLE)
        m->kind = MSG_KIND_INTERACTIVE; /* admitted and failed as one; its row keeps its kind */
    m->attempts = 1;
    err = upstream_envelope(up, m, head, input);
    if (err)
        return err;
    m->offline_at_admit = !upstream_can_send(up);
    /* 9001 itself is how posad gets a sign_no: it may go while not signed in. */
    if (strcmp(m->infno, "9001") == 0)
        m->offline_at_admit = up->stopping;
    up->in_flight++;
    /* A read (1101, 2206, ...) changes nothing upstream: its row need not be on disk before
     * it leaves, and a crash that loses the row loses nothing to resolve. */
    m->job = (struct db_job){.run = run_admit,
                             .done = on_admitted,
                             .lazy = m->kind == MSG_KIND_QUERY && !m->admit_also,
                             .rerunnable = !m->admit_also || m->hooks_rerunnable};
    db_worker_submit(up->db, &m->job);
    return 0;
}

/* --- a queued row leaves -------------------------------------------------------------- */

static int run_mark_sent(struct db *db, struct db_job *job)
{
    struct upmsg *m = container_of(job, struct upmsg, job);
    struct journal_outcome out = {.request = m->body, .request_len = m->body_len};

    return journal_apply(db, m->msgid, MSG_EV_SEND, &out, upstream_now_ms(), &m->state);
}

static void on_marked_sent(struct db_job *job, int status)
{
    struct upmsg *m = container_of(job, struct upmsg, job);

    if (status) {
        m->result = UPMSG_FAILED;
        m->err = status;
        upmsg_finish(m);
        return;
    }
    upmsg_send(m);
}

int upstream_send_row(struct upstream *up, struct upmsg *m, const struct journal_row *row)
{
    int err;

    m->up = up;
    m->kind = row->kind;
    m->attempts = row->attempts + 1;
    m->may_queue = true; /* a queued row waits again if it cannot leave */
    str_copy(m->msgid, sizeof(m->msgid), row->msgid);
    str_copy(m->visit_key, sizeof(m->visit_key), row->visit_key);
    /* The sign_no of today's session, not the one of when it was queued. */
    err =
        upstream_restamp(row->request, row->request_len, NULL, up->sign_no, &m->body, &m->body_len);
    str_copy(m->sent_sign_no, sizeof(m->sent_sign_no), up->sign_no);
    if (err)
        return err;
    up->in_flight++;
    m->job = (struct db_job){.run = run_mark_sent, .done = on_marked_sent, .rerunnable = true};
    db_worker_submit(up->db, &m->job);
    return 0;
}

/* --- sign-in ---------------------------------------------------------------------------- */

static void on_signed_in(struct upmsg *m)
{
    struct upstream *up = m->data;
    struct envelope_response env;
    struct jsonmap_error jerr;
    const char *sign_no = NULL;

    up->signing_in = false;
    up->sign_in_refusal[0] = '\0';
    if (m->result == UPMSG_ANSWERED && m->response &&
        envelope_response_parse(m->response, m->response_len, &env, &jerr) == 0) {
        if (env.infcode == 0)
            sign_no = upstream_find_string(env.output, "sign_no");
        /* A sign_no goes into every message's envelope: one the platform could not have
         * meant (empty, blank, control characters, too long) is no session. */
        bool good =
            env.infcode == 0 && str_is_code(sign_no) && strlen(sign_no) < sizeof up->sign_no;
        const char *why =
            env.infcode != 0 ? env.err_msg : "the sign-in answer's sign_no is missing or malformed";

        if (good) {
            str_copy(up->sign_no, sizeof(up->sign_no), sign_no);
            log_event(LOGL_INFO, "signed_in", "sign_no", up->sign_no, NULL);
            up->sign_in_failing = false;
            upstream_health_ok(up, up->rtt_ms);
            if (up->on_queued)
                up->on_queued(up); /* what waited for a session may go */
        } else {
            /* Kept masked, as the log has them: health (every desk's client reads it) and
             * the HIS's messages say them (they may name the operator, or a patient). */
            mask_free_text(why && why[0] ? why : "no reason given", up->sign_in_refusal,
                           sizeof up->sign_in_refusal);
            log_event(up->sign_in_failing ? LOGL_DEBUG : LOGL_WARN, "sign_in_refused", "err_msg",
                      why, "next", "tried again every probe_interval_ms", NULL);
            up->sign_in_failing = true;
        }
        envelope_response_done(&env);
    } else {
        /* Unreachable, from the start or since it went offline: said once, not every probe. */
        log_event(up->sign_in_failing ? LOGL_DEBUG : LOGL_WARN, "sign_in_failed", "error",
                  m->error[0] ? m->error : NULL, "next", "tried again every probe_interval_ms",
                  NULL);
        up->sign_in_failing = true;
    }
    upmsg_free(m);
}

static void upstream_sign_in(struct upstream *up)
{
    struct upmsg *m = upmsg_new("9001", on_signed_in, up);
    struct json_object *input = json_object_new_object(), *sign = json_object_new_object();

    if (!m || !input || !sign) {
        upmsg_free(m);
        json_object_put(input);
        json_object_put(sign);
        return;
    }
    json_object_object_add(sign, "opter_no", json_object_new_string(up->cfg->opter));
    json_object_object_add(sign, "mac", json_object_new_string(""));
    json_object_object_add(sign, "ip", json_object_new_string("127.0.0.1"));
    json_object_object_add(input, "signIn", sign);
    up->signing_in = true;
    if (upstream_submit(up, m, NULL, input) != 0) {
        up->signing_in = false;
        upmsg_free(m);
    }
}

int upstream_init(struct upstream *up, uv_loop_t *loop, const struct posad_config *cfg,
                  struct db_worker *db, struct platform_client *client, const char *last_msgid)
{
    int err;

    memset(up, 0, sizeof *up);
    up->loop = loop;
    up->cfg = cfg;
    up->db = db;
    up->client = client;
    up->health = UPSTREAM_OFFLINE; /* until the first sign-in */
    if (!last_msgid || !*last_msgid)
        last_msgid = NULL;
    /* fixmedins_code corrected since the journal's last message: ids of the new code start
     * afresh (none of the old code's can be met again); posad would not start, saying only
     * "upstream: missing, or not of the type". */
    if (last_msgid && str_is_code(cfg->fixmedins_code) &&
        !msgid_is_valid(last_msgid, strlen(last_msgid), cfg->fixmedins_code)) {
        log_event(LOGL_WARN, "msgid_code_changed", "last_msgid", last_msgid, "fixmedins_code",
                  cfg->fixmedins_code, "action",
                  "message ids start afresh under this code; the journal's open messages keep "
                  "their ids (posactl queue)",
                  NULL);
        last_msgid = NULL;
    }
    err = msgid_gen_init(&up->gen, cfg->fixmedins_code,
                         cfg->msgid_terminal[0] ? cfg->msgid_terminal[0] - '0' : MSGID_NO_TERMINAL,
                         last_msgid);
    if (err)
        return err;
    uv_timer_init(loop, &up->probe);
    up->probe.data = up;
    uv_timer_init(loop, &up->unrecorded_timer);
    up->unrecorded_timer.data = up;
    return 0;
}

void upstream_start(struct upstream *up)
{
    upstream_sign_in(up);
    uv_timer_start(&up->probe, on_probe, up->cfg->probe_interval_ms, up->cfg->probe_interval_ms);
}

void upstream_stop(struct upstream *up)
{
    up->stopping = true;
    uv_timer_stop(&up->probe);
    uv_close((uv_handle_t *)&up->probe, NULL);
    uv_close((uv_handle_t *)&up->unrecorded_timer, NULL);
    unrecorded_free(up->unrecorded); /* still `sent`: unknown at the next start */
    up->unrecorded = NULL;
}
