/* POST /fsi/api/rsfComIfsService/callService: the national envelope in, THE table's handler
 * inside a savepoint of the turn's commit group, the national response envelope out once the
 * group committed; faults are applied here, around the transaction.
 *
 * The loop thread owns the ledger, the scenario and every handler, so the transactions stay
 * as simple as one thread makes them. For a big message (a fee upload of many lines) what
 * needs none of that runs on libuv's thread pool: parsing the request's JSON, the
 * transaction's reader (a fee upload's lines read and split, their answer rows written), and
 * writing the answer's JSON and freeing both trees. That was half of the loop's work on a
 * 50-line upload, and with the loop saturated the second core sat mostly idle (bench/sandbox). A
 * small message stays on the loop: two trips to the pool and back cost more than it does. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/datetime.h"
#include "core/bound.h"
#include "core/err.h"
#include "core/str.h"
#include "sandbox/txn.h"

/* Request bodies from this size on are parsed and read, and their answers written, on the
 * pool. */
#define POOL_BYTES 8192

struct job {
    struct sandbox *sb;
    struct http_request *req;
    uv_work_t work; /* a big message's parsing, then its answer, on the thread pool */
    struct envelope_request env;
    char refusal[320]; /* why the request could not be read ("" when it could) */
    const struct txn_def *def;
    void *read; /* what def's reader read of the message, off the loop */
    bool drop_after_commit;
    bool garble_after_commit;
    bool oversize_after_commit;
    struct fault *tamper; /* tamper_after_commit, or NULL */
    uv_timer_t timer;
    struct json_object *resp; /* the answer, sent once the group commits */
    const char *text;         /* resp written out (off the loop); resp's own */
    size_t text_len;
    struct job *next; /* in the commit group */
};

static const struct http_header json_header[] = {
    {"Content-Type", "application/json;charset=utf-8"}};

static const char *json_text(struct json_object *body, size_t *len)
{
    return json_object_to_json_string_length(
        body, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, len);
}

void sandbox_respond_json(struct http_request *req, int status, struct json_object *body)
{
    size_t len = 0;
    const char *text = json_text(body, &len);

    http_respond(req, status, json_header, 1, text, len);
    json_object_put(body);
}

/* The response envelope: infcode, the platform's message id, times, and output or err_msg. */
static struct json_object *response(struct sandbox *sb, int infcode, const char *err_msg,
                                    struct json_object *output)
{
    char refmsgid[40], stamp[24];
    int64_t now = sandbox_now(sb);
    struct envelope_response head = {.infcode = infcode, .err_msg = err_msg};

    sb->refmsg_seq = (sb->refmsg_seq + 1) % 1000000000u;
    snprintf(refmsgid, sizeof(refmsgid), "%s%014lld%010u", sb->scenario.treating_region,
             (long long)now, sb->refmsg_seq);
    snprintf(stamp, sizeof(stamp), "%014lld%03u", (long long)now,
             (unsigned)(uv_now(sb->loop) % 1000));
    head.inf_refmsgid = refmsgid;
    head.refmsg_time = stamp;
    head.respond_time = stamp;
    return envelope_response_build(&head, output);
}

static void respond_refusal(struct sandbox *sb, struct http_request *req, int code, const char *fmt,
                            ...) __attribute__((format(printf, 4, 5)));

static void respond_refusal(struct sandbox *sb, struct http_request *req, int code, const char *fmt,
                            ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sandbox_respond_json(req, 200, response(sb, code, msg, NULL));
}

/* Checks that need the ledger or the scenario, before the handler. */
static int precheck(struct txn *t, const struct txn_def *def)
{
    const struct envelope_head *h = &t->env->head;
    int rc;

    if (strcmp(h->fixmedins_code, t->sb->scenario.inst_code) != 0)
        return txn_refuse(t, "fixmedins_code %s is not an institution of this platform",
                          h->fixmedins_code);
    if (h->mdtrtarea_admvs[0] && strcmp(h->mdtrtarea_admvs, t->sb->scenario.treating_region))
        return txn_refuse(t, "mdtrtarea_admvs must be this platform's region %s, not %s",
                          t->sb->scenario.treating_region, h->mdtrtarea_admvs);
    if (def->flags & TXN_NO_SIGN)
        return 0;
    if (!h->sign_no[0])
        return txn_refuse(t, "sign_no is missing: sign in with 9001 first");
    rc = ledger_signin_is_open(t->sb->ledger, h->sign_no);
    if (rc < 0)
        return txn_ledger_error(t, rc);
    if (rc == 0)
        return txn_refuse(t, "sign_no %s is unknown or signed out: sign in with 9001", h->sign_no);
    return 0;
}

/* Most messages of one loop turn commit in one ledger transaction: a client is answered
 * only after its message committed, and the WAL is written once per turn, not once per
 * message (with 64 clients that is most of the ledger's cost). */
#define GROUP_MAX 256

static void on_turn_end(uv_check_t *handle)
{
    service_flush(handle->data);
}

static int group_join(struct sandbox *sb)
{
    struct commit_group *g = &sb->group;

    if (g->open)
        return 0;
    if (ledger_begin(sb->ledger) < 0)
        return -1;
    g->open = true;
    uv_check_start(&g->turn_end, on_turn_end);
    return 0;
}

/* Runs the transaction inside the group's transaction; the msgid is recorded whatever the
 * outcome (a refused message's msgid cannot be used again either), while a refusal undoes
 * everything the handler wrote. */
static struct json_object *execute(struct sandbox *sb, const struct envelope_request *env,
                                   const struct txn_def *def, void *read)
{
    struct ledger_msg msg;
    struct ledger_msg old;
    struct txn t = {.sb = sb, .env = env, .now = sandbox_now(sb), .msg = &msg, .read = read};
    int rc;

    memset(&msg, 0, sizeof(msg));
    str_copy(msg.msgid, sizeof(msg.msgid), env->head.msgid);
    str_copy(msg.infno, sizeof(msg.infno), env->head.infno);
    if (group_join(sb) < 0 || ledger_msg_begin(sb->ledger) < 0)
        return response(sb, -1, "the platform's ledger is unavailable; try again", NULL);
    rc = ledger_msg_get(sb->ledger, msg.msgid, &old);
    if (rc != 0) {
        ledger_msg_end(sb->ledger, false);
        if (rc < 0)
            return response(sb, -1, "the platform's ledger failed; nothing was recorded", NULL);
        snprintf(t.err, sizeof(t.err),
                 "msgid %s was already used (infno %s, %s): every message needs a new msgid",
                 msg.msgid, old.infno, strcmp(old.state, "never") ? old.state : "reversed");
        return response(sb, -1, t.err, NULL);
    }
    rc = ledger_savepoint(sb->ledger);
    if (rc == 0 && (rc = precheck(&t, def)) == 0)
        rc = def->fn(&t);
    if (rc < 0) {
        ledger_savepoint_rollback(sb->ledger);
        json_object_put(t.output);
        t.output = NULL;
        snprintf(msg.state, sizeof(msg.state), "refused");
        if (!t.err[0])
            snprintf(t.err, sizeof(t.err), "refused");
    } else {
        ledger_savepoint_release(sb->ledger);
        snprintf(msg.state, sizeof(msg.state), "done");
    }
    if (ledger_msg_put(sb->ledger, &msg, t.now) < 0) {
        ledger_msg_end(sb->ledger, false);
        json_object_put(t.output);
        return response(sb, -1, "the platform's ledger failed; nothing was recorded", NULL);
    }
    ledger_msg_end(sb->ledger, true);
    if (rc < 0) {
        fprintf(stderr, "refused infno=%s msgid=%s err=\"%s\"\n", msg.infno, msg.msgid, t.err);
        return response(sb, -1, t.err, NULL);
    }
    return response(sb, 0, NULL, t.output ? t.output : json_object_new_object());
}

static void job_read_free(struct job *job)
{
    if (job->read)
        job->def->read_free(job->read);
    job->read = NULL;
}

static void job_free(struct job *job)
{
    job_read_free(job);
    envelope_request_done(&job->env);
    free(job->tamper);
    free(job);
}

static bool pooled(const struct job *job)
{
    return job->req->body_len >= POOL_BYTES;
}

/* On the thread pool: seals the answer for an SM gateway, writes it out, frees the request's
 * tree. The loop has let go of the job; only the gateway's fixed keys are shared. */
static void answer_work(uv_work_t *work)
{
    struct job *job = work->data;

    if (gateway_check_seal(&job->sb->gateway, job->resp) < 0)
        fprintf(stderr, "gateway: could not encrypt the output of msgid=%s\n", job->env.head.msgid);
    job->text = json_text(job->resp, &job->text_len);
    envelope_request_done(&job->env);
}

static void answer_done(uv_work_t *work, int status)
{
    struct job *job = work->data;

    (void)status; /* never cancelled */
    if (job->text)
        http_respond(job->req, 200, json_header, 1, job->text, job->text_len);
    else
        http_respond(job->req, 503, NULL, 0, "", 0);
    json_object_put(job->resp); /* a big answer's rows are one text value: cheap to free */
    free(job);
}

/* Sets the member at path ("setlinfo.psn_cash_pay", "insuinfo.0.insuplc_admdvs": an object's
 * keys and an array's indexes) of o to the string value, if the path leads to an object. */
static void tamper(struct json_object *o, const char *path, const char *value)
{
    char key[sizeof(((struct fault *)0)->field)];
    const char *dot;

    for (; (dot = strchr(path, '.')); path = dot + 1) {
        size_t n = (size_t)(dot - path);

        if (n >= sizeof key)
            return;
        memcpy(key, path, n);
        key[n] = '\0';
        if (json_object_is_type(o, json_type_array))
            o = json_object_array_get_idx(o, (size_t)strtoul(key, NULL, 10));
        else if (!json_object_object_get_ex(o, key, &o))
            return;
    }
    if (json_object_is_type(o, json_type_object))
        out_str(o, path, value);
}

/* Sends a committed message's answer (or, for drop_after_commit, none) and frees the job. */
static void job_answer(struct job *job)
{
    if (job->drop_after_commit) {
        /* Committed, and the client never learns it: the outcome it holds is unknown. */
        json_object_put(job->resp);
        http_request_drop(job->req, false);
        fprintf(stderr, "fault drop_after_commit infno=%s msgid=%s\n", job->env.head.infno,
                job->env.head.msgid);
        job_free(job);
        return;
    }
    if (job->garble_after_commit) {
        /* Committed, and the client is told so in words it cannot read: a well-formed
         * envelope whose output holds none of the fields the message's answer has. */
        struct json_object *output = json_object_new_object();

        json_object_object_add(output, "garbled", json_object_new_string("injected fault"));
        json_object_object_add(job->resp, "output", output);
        fprintf(stderr, "fault garble_after_commit infno=%s msgid=%s\n", job->env.head.infno,
                job->env.head.msgid);
    }
    if (job->oversize_after_commit) {
        /* Committed, and told in more than a client reads (BOUND_BODY): a 45,000-line upload's
         * answer, without the 45,000 lines. */
        struct json_object *output = NULL;
        size_t len = ((size_t)BOUND_BODY) + (1u << 20);
        char *pad = malloc(len + 1);

        if (pad && json_object_object_get_ex(job->resp, "output", &output) &&
            json_object_is_type(output, json_type_object)) {
            memset(pad, 'x', len);
            pad[len] = '\0';
            json_object_object_add(output, "padding", json_object_new_string_len(pad, (int)len));
        }
        free(pad);
        fprintf(stderr, "fault oversize_after_commit infno=%s msgid=%s\n", job->env.head.infno,
                job->env.head.msgid);
    }
    if (job->tamper) {
        /* Committed, and the client is told something else: one field of setlinfo. */
        struct json_object *output = NULL, *copy = NULL;

        /* The output may print as text it keeps (jsontext): changed in a copy read back. */
        if (json_object_object_get_ex(job->resp, "output", &output) &&
            (copy = json_tokener_parse(json_object_to_json_string(output)))) {
            tamper(copy, job->tamper->field, job->tamper->value);
            json_object_object_add(job->resp, "output", copy);
        }
        fprintf(stderr, "fault tamper_after_commit infno=%s msgid=%s %s=%s\n", job->env.head.infno,
                job->env.head.msgid, job->tamper->field, job->tamper->value);
        free(job->tamper); /* the answer may be freed by answer_done, which knows no faults */
        job->tamper = NULL;
    }
    job->work.data = job;
    if (!pooled(job) || uv_queue_work(job->sb->loop, &job->work, answer_work, answer_done) < 0) {
        answer_work(&job->work);
        answer_done(&job->work, 0);
    }
}

/* Once the WAL holds sb->checkpoint.pages, they are copied back into the database on the
 * pool, and again while more than CHECKPOINT_REST were committed meanwhile; the loop copies
 * those few itself, so that the WAL starts over (ledger.h). */
#define CHECKPOINT_REST 256

static void checkpoint_work(uv_work_t *work)
{
    struct sandbox *sb = work->data;

    sb->checkpoint.copied = ledger_checkpoint(sb->ledger);
}

static void checkpoint_done(uv_work_t *work, int status)
{
    struct sandbox *sb = work->data;

    (void)status; /* never cancelled */
    sb->checkpoint.running = false;
    /* A failed checkpoint (logged by the ledger) is tried again once the WAL has grown by
     * as much again, not after every commit. */
    sb->checkpoint.due = sb->checkpoint.copied < 0
                             ? ledger_wal_frames(sb->ledger) + sb->checkpoint.pages
                             : sb->checkpoint.pages;
}

/* After a commit, with no transaction open. copied is the pool's until checkpoint_done. */
static void checkpoint_if_due(struct sandbox *sb)
{
    int frames = ledger_wal_frames(sb->ledger);
    bool catching_up;

    if (sb->checkpoint.running)
        return;
    catching_up = sb->checkpoint.copied > 0;
    if (frames < (catching_up ? 1 : sb->checkpoint.due))
        return;
    if (catching_up && frames - sb->checkpoint.copied <= CHECKPOINT_REST) {
        sb->checkpoint.copied = 0;
        ledger_checkpoint_rest(sb->ledger);
        return;
    }
    sb->checkpoint.work.data = sb;
    sb->checkpoint.running =
        uv_queue_work(sb->loop, &sb->checkpoint.work, checkpoint_work, checkpoint_done) == 0;
}

/* Commits the open group, then answers its jobs. An answer can start the connection's next
 * pipelined request at once, and that one joins a new group: the list is taken before the
 * answers go out, and the loop commits the new group too before returning (a check handle
 * started in the check phase would wait for the next poll). */
void service_flush(struct sandbox *sb)
{
    struct commit_group *g = &sb->group;
    struct job *job, *next;
    bool committed;

    while (g->open) {
        job = g->head;
        g->head = NULL;
        g->tail = &g->head;
        g->n = 0;
        committed = ledger_commit(sb->ledger) == 0;
        if (committed)
            checkpoint_if_due(sb);
        else
            ledger_rollback(sb->ledger);
        g->open = false;
        uv_check_stop(&g->turn_end);
        for (; job; job = next) {
            next = job->next;
            if (!committed) {
                json_object_put(job->resp);
                job->resp =
                    response(sb, -1, "the platform's ledger failed; nothing was recorded", NULL);
                job->drop_after_commit = job->garble_after_commit = false;
                job->oversize_after_commit = false;
                free(job->tamper);
                job->tamper = NULL;
            }
            job_answer(job);
        }
    }
}

void service_init(struct sandbox *sb)
{
    uv_check_init(sb->loop, &sb->group.turn_end);
    sb->group.turn_end.data = sb;
    sb->group.tail = &sb->group.head;
}

void service_close(struct sandbox *sb)
{
    sb->group.closing = true; /* requests still being parsed are dropped */
    service_flush(sb);
    uv_close((uv_handle_t *)&sb->group.turn_end, NULL);
}

/* Runs the job's message; its answer waits for the group to commit. */
static void job_run(struct job *job)
{
    struct commit_group *g = &job->sb->group;

    job->resp = execute(job->sb, &job->env, job->def, job->read);
    job_read_free(job);
    if (!g->open) { /* nothing was written (the ledger could not begin): answer now */
        job_answer(job);
        return;
    }
    *g->tail = job;
    g->tail = &job->next;
    if (++g->n >= GROUP_MAX)
        service_flush(job->sb);
}

/* A delayed message runs once its timer is closed (the job owns the timer); not when the
 * sandbox is stopping: its client gets no answer, so nothing may be committed for it. */
static void on_delay_closed(uv_handle_t *handle)
{
    struct job *job = handle->data;
    struct sandbox *sb = job->sb;

    if (sb->group.closing) {
        http_request_drop(job->req, false);
        job_free(job);
        return;
    }
    job_run(job);
    service_flush(sb);
}

static void on_delay(uv_timer_t *timer)
{
    uv_close((uv_handle_t *)timer, on_delay_closed);
}

/* Applies an armed fault; true when the request is finished (answered, dropped or queued). */
static bool apply_fault(struct job *job)
{
    struct fault f;

    if (!faults_take(&job->sb->faults, job->env.head.infno, &f))
        return false;
    fprintf(stderr, "fault %s infno=%s msgid=%s\n", fault_mode_name(f.mode), job->env.head.infno,
            job->env.head.msgid);
    switch (f.mode) {
    case FAULT_HTTP_500: {
        struct json_object *body = json_object_new_object();

        out_str(body, "error", "injected fault: http_500");
        sandbox_respond_json(job->req, 500, body);
        job_free(job);
        return true;
    }
    case FAULT_RESET:
        http_request_drop(job->req, true);
        job_free(job);
        return true;
    case FAULT_REFUSE:
        respond_refusal(job->sb, job->req, f.code ? f.code : -1, "%s",
                        f.message[0] ? f.message : "refused by the platform (injected)");
        job_free(job);
        return true;
    case FAULT_DELAY:
        uv_timer_init(job->sb->loop, &job->timer);
        job->timer.data = job;
        uv_timer_start(&job->timer, on_delay, f.delay_ms, 0);
        return true;
    case FAULT_DROP_AFTER_COMMIT: job->drop_after_commit = true; return false;
    case FAULT_GARBLE_AFTER_COMMIT: job->garble_after_commit = true; return false;
    case FAULT_OVERSIZE_AFTER_COMMIT: job->oversize_after_commit = true; return false;
    case FAULT_TAMPER_AFTER_COMMIT:
        if ((job->tamper = malloc(sizeof *job->tamper)))
            *job->tamper = f;
        return false;
    }
    return false;
}

static int64_t real_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* On the thread pool: opens an SM gateway's input, parses the envelope, and has the
 * transaction's reader read the message. */
static void parse_work(uv_work_t *work)
{
    struct job *job = work->data;
    struct http_request *req = job->req;
    struct jsonmap_error err = {0};
    char why[256], *opened = NULL;
    size_t opened_len = 0;
    int rc;

    /* An SM gateway's input arrives encrypted: opened (and its signature checked) first. */
    if (gateway_check_open(&job->sb->gateway, req->body, req->body_len, &opened, &opened_len, why,
                           sizeof(why)) < 0) {
        str_copy(job->refusal, sizeof(job->refusal), why);
        return;
    }
    rc = envelope_request_parse(opened ? opened : req->body, opened ? opened_len : req->body_len,
                                &job->env, &err);
    free(opened);
    if (rc < 0) {
        snprintf(job->refusal, sizeof(job->refusal), "the envelope is not valid: %s: %s",
                 err.field[0] ? err.field : "the document", posa_strerror(err.err));
        return;
    }
    job->def = txn_find(job->env.head.infno);
    if (job->def && job->def->read)
        job->read = job->def->read(&job->env, &job->sb->scenario.catalog);
}

/* Back on the loop with the envelope read: the checks that keep state, then the message. */
static void parse_done(uv_work_t *work, int status)
{
    struct job *job = work->data;
    struct sandbox *sb = job->sb;
    char why[256];

    (void)status; /* never cancelled */
    if (sb->group.closing) {
        http_request_drop(job->req, false);
        job_free(job);
        return;
    }
    if (job->refusal[0]) {
        respond_refusal(sb, job->req, -1, "%s", job->refusal);
        job_free(job);
        return;
    }
    if (gateway_check_request(&sb->gateway, job->req, job->env.head.infno, real_now_ms(), why,
                              sizeof(why)) < 0) {
        respond_refusal(sb, job->req, -1, "%s", why);
        job_free(job);
        return;
    }
    if (!job->def) {
        respond_refusal(sb, job->req, -1, "unknown infno %s: this platform does not offer it",
                        job->env.head.infno);
        job_free(job);
        return;
    }
    if (apply_fault(job))
        return;
    job_run(job);
}

void service_handle(struct sandbox *sb, struct http_request *req)
{
    struct job *job;

    if (strcmp(req->method, "POST") != 0) {
        struct json_object *body = json_object_new_object();

        out_str(body, "error", "use POST with the national envelope");
        sandbox_respond_json(req, 405, body);
        return;
    }
    job = calloc(1, sizeof(*job));
    if (!job) {
        http_respond(req, 503, NULL, 0, "", 0);
        return;
    }
    job->sb = sb;
    job->req = req;
    job->work.data = job;
    if (!pooled(job) || uv_queue_work(sb->loop, &job->work, parse_work, parse_done) < 0) {
        parse_work(&job->work);
        parse_done(&job->work, 0);
    }
}
