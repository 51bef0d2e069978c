/* The link to the provincial platform: every message is journaled before it leaves, sent
 * with the platform client, and its outcome journaled before anyone hears of it
 * (architecture.md, "Durability and exactly-once"). Also the envelope posad completes
 * (msgid, inf_time, sign_no, institution), the sign-in (9001) and the platform's health
 * (online / degraded / offline from consecutive failures, probed while offline).
 *
 * A message is a struct upmsg its owner allocates with upmsg_new(), fills and hands to
 * upstream_submit() (a new message) or upstream_send_row() (a queued journal row the
 * outbox drains). done runs exactly once, on the loop, after the outcome is durable; the
 * owner then frees it with upmsg_free(). Loop thread only. */
#ifndef POSA_AGENT_UPSTREAM_H
#define POSA_AGENT_UPSTREAM_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>
#include <uv.h>

#include "agent/config.h"
#include "agent/db_worker.h"
#include "cache/audit.h"
#include "cache/journal.h"
#include "core/msgid.h"
#include "interface/platform/client.h"
#include "interface/platform/envelope.h"

enum upstream_health { UPSTREAM_ONLINE, UPSTREAM_DEGRADED, UPSTREAM_OFFLINE };

enum upmsg_result {
    UPMSG_ANSWERED, /* the platform answered: state done or refused, response set */
    UPMSG_QUEUED,   /* journaled as queued: the outbox will send it */
    UPMSG_UNKNOWN,  /* it may have landed: journaled unknown, the resolver takes over */
    UPMSG_OFFLINE,  /* not sent: the platform is unreachable (error says why) */
    UPMSG_BUSY,     /* not sent: an earlier message of the visit is not final yet */
    UPMSG_EXISTING, /* the idempotency key is journaled already: see existing */
    UPMSG_CONFLICT, /* the idempotency key is journaled with another body */
    UPMSG_FAILED,   /* posad could not journal it (err: -ENOSPC, ...) */
};

struct upstream;
struct upmsg;
typedef void (*upmsg_cb)(struct upmsg *m);

#define UPMSG_IDEM_MAX 128

struct upmsg {
    /* in: set by the owner (strings are copied in by upmsg_new / the owner) */
    char infno[JOURNAL_INFNO_MAX + 1];
    char visit_key[65];
    char idem_key[UPMSG_IDEM_MAX + 1]; /* a HIS key (64) under its route's prefix */
    char idem_hash[65];
    char sent_sign_no[64]; /* the session it was stamped with ("" before 9001) */
    char ref_msgid[MSGID_LEN + 1];
    char ord_of[MSGID_LEN + 1];
    /* An interactive message that may wait (a settlement with wait_if_offline): it leaves
     * at once when it can, else it is queued like an upload (while offline, behind its
     * visit's earlier messages, or when it could not leave) and is still sent only once. */
    bool may_queue;
    /* A message of a kind that would wait (deferrable) that must leave now or not at all,
     * as an interactive one: a stay's discharge when its settle may not wait. */
    bool now_only;
    /* Its answer is not journaled with it (its row keeps the outcome only): the owner keeps
     * what it needs elsewhere (a catalog page: a province's catalog was ~35 MB of journal a
     * download, kept idempotency_days). */
    bool answer_not_kept;
    /* The owner's writes that must commit with this message's journal rows, on the
     * database thread (they may read m and fill the owner's state through m->data):
     * admit_also with the row's insert, before the message leaves; apply_also with its
     * outcome, before done runs. An error rolls the step back with them. One fsync each
     * instead of two. */
    int (*admit_also)(struct db *db, struct upmsg *m);
    int (*apply_also)(struct db *db, struct upmsg *m);
    bool hooks_rerunnable; /* both may run twice (struct db_job's rerunnable) */
    /* apply_also's writes may wait for the next synced commit, as the answer's do (struct
     * db_job's lazy): what they keep, a restart or the HIS gets again. */
    bool apply_lazy;
    /* The key's message may go again once the platform confirmed its reversal (the desk
     * flows: the HIS asks again for what was undone). Not the passthrough: there the HIS's
     * msgid is the key, and a resend gets the journaled answer, never a second send. */
    bool again_after_reversal;
    /* And once the platform refused it: the key is posad's own, one per thing done (a
     * settlement's cancel), not a request's, so a refusal leaves the thing to do again. */
    bool again_after_refusal;
    /* Sent by the outbox: the owner (the HIS) was answered "queued" and does not wait for
     * this outcome, so a refusal is heard only if posad tells it (desk_fees_applied). */
    bool from_queue;
    /* Lines of an upload sent by the outbox that the platform split otherwise than posad
     * (desk_fees_applied kept its split): the outbox logs them and fetches the catalog. */
    int split_mismatches;
    /* The audit log's row for the message (agent/audit.h), appended with its journal row:
     * who asked for it, as what action ("": none), on what (its visit when ""). */
    char audit_action[24];
    char audit_who[AUDIT_WHO_MAX + 1];
    char audit_target[65];
    upmsg_cb done;
    void *data;
    /* out */
    enum upmsg_result result;
    bool journaled; /* its row is in the journal (UPMSG_FAILED: it may have left) */
    /* UPMSG_OFFLINE for a question that reached the platform, whose answer posad could not
     * read (not valid, an HTTP error): asking again is the same question. */
    bool answer_unreadable;
    enum msg_state state;
    char msgid[MSGID_LEN + 1];
    char *response; /* the platform's answer (opened), NUL-terminated */
    size_t response_len;
    struct envelope_response env; /* response parsed once, when have_env; owned */
    bool have_env;
    int err;
    char error[320];  /* why it failed, in a cashier's words */
    char detail[200]; /* ... and the transport's own (curl's), for the log and the queue */
    struct journal_row *existing;
    /* private */
    struct upstream *up;
    enum msg_kind kind;
    char *body;
    size_t body_len;
    bool offline_at_admit;
    bool send_now;
    enum msg_event events[2];
    int n_events;
    int64_t next_attempt;
    uint32_t attempts;
    struct db_job job;
    struct platform_request preq;
    uint64_t sent_ns;     /* uv_hrtime() when handed to the platform client; 0: not handed */
    bool session_refused; /* refused because the sign-in session is gone */
    char standin_msgid[MSGID_LEN + 1];
    char *standin_body; /* a deferrable refused for its session goes again as this */
    size_t standin_len;
};

struct upmsg *upmsg_new(const char *infno, upmsg_cb done, void *data);
void upmsg_free(struct upmsg *m);

struct unrecorded {
    char msgid[MSGID_LEN + 1];
    bool settled; /* its row left `sent` (set on the database thread) */
    struct unrecorded *next;
};

/* Each message kind's exchanges with the platform, for GET /metrics: the kinds posad knows
 * (messages_find, some thirty), and "other" for the passthrough's any else. */
#define UPSTREAM_LATENCY_MAX 48
struct upstream_latency {
    char infno[JOURNAL_INFNO_MAX + 1];
    struct metrics_histogram latency;
};

#define UPSTREAM_RESENT_MAX 64

struct upstream {
    uv_loop_t *loop;
    const struct posad_config *cfg;
    struct db_worker *db;
    struct platform_client *client;
    struct msgid_gen gen;
    char sign_no[64];
    enum upstream_health health;
    uint32_t failures;  /* consecutive */
    int64_t last_ok_ms; /* wall clock */
    uint32_t rtt_ms;
    struct upstream_latency latency[UPSTREAM_LATENCY_MAX]; /* loop only */
    size_t n_latency;
    int32_t platform_date; /* yyyymmdd of the platform's last answer (respond_time), or 0 */
    int in_flight; /* upmsgs between submit and done */
    bool signing_in;
    /* The last msgids sent in place of messages refused for their session (a ring): one
     * refused so again is refused, not sent a third time (it looped: sign in, resend,
     * refused, for ever). */
    char resent[UPSTREAM_RESENT_MAX][MSGID_LEN + 1];
    size_t n_resent;
    bool sign_in_failing; /* its failure was logged: the probe's next ones go at debug */
    char sign_in_refusal[160]; /* the platform's words refusing the last sign-in, or "" */
    char unsent_words[320];    /* upstream_unsent_why's, when it formats them */
    bool stopping;
    uv_timer_t probe;
    /* While nothing goes to the platform, a connect-only check every idle_check_ms tells
     * whether it can still be reached (and, once one failed, every probe interval). */
    struct platform_request check;
    bool checking;
    bool check_failed;     /* the failures since the last success include a check's */
    bool last_failed;      /* the last outcome (a message's or a check's) was a failure */
    uint64_t last_outcome; /* loop time of the last message's or check's outcome */
    uint64_t failed_at;    /* loop time of the last failure (degraded holds for a probe interval) */
    /* Answers that came but could not be journaled (a full disk): their rows stay `sent`
     * until they can be made `unknown`, for the resolver to ask the platform. Tried again
     * every UNRECORDED_RETRY_MS; moved in a job of their own while recording. */
    struct unrecorded *unrecorded;
    uv_timer_t unrecorded_timer;
    bool recording; /* that job is on the database thread */
    /* Told when a message was queued or the platform came back (the outbox), and when a
     * message became unknown (the resolver). */
    void (*on_queued)(struct upstream *up);
    void (*on_unknown)(struct upstream *up);
    void (*on_health)(struct upstream *up, enum upstream_health old);
    /* Runs on the database thread in the transaction that records every answer, whoever sent
     * the message (a desk flow, the outbox, the resolver): what an answer means for the
     * desk's own records. 0 or an error (the answer is then not recorded either). */
    int (*applied_also)(struct db *db, struct upmsg *m);
    /* On the loop, for every accepted answer (infcode 0): can the message's owner read what
     * it says (a settlement's amounts)? When it cannot, nobody can tell what the message did
     * upstream: it is treated as an answer without an envelope is, unknown for the resolver
     * to ask about (a query: not answered). NULL: every answer is readable. */
    bool (*answer_readable)(const struct upmsg *m, const struct envelope_response *env);
    void *data;
};

/* Does a refusal say the platform no longer knows our session (sign_no, 签到, 9001)? */
bool upstream_is_session_refusal(const char *err_msg);

/* last_msgid: the journal's last (seeds the msgid generator), may be "". */
int upstream_init(struct upstream *up, uv_loop_t *loop, const struct posad_config *cfg,
                  struct db_worker *db, struct platform_client *client, const char *last_msgid);
/* Signs in (9001) now; while offline the probe signs in again every probe interval, and
 * while idle it checks that the platform can be reached (idle_check_ms). */
void upstream_start(struct upstream *up);
void upstream_stop(struct upstream *up); /* closes the probe timer */

/* Whether a message admitted now would leave (online or degraded, signed in, not stopping);
 * else an interactive one is refused with "nothing was sent" and a deferrable one queued. */
bool upstream_can_send(const struct upstream *up);
/* Why a message cannot leave now, in a cashier's words: the platform refused posad's last
 * sign-in (its words: an operator code it does not know), or posad is signing in (at its
 * start, or after the platform ended the session) and nothing has failed, or the platform
 * cannot be reached. Both of the first were said as "cannot be reached", which sent IT
 * staff looking for a network fault. */
const char *upstream_unsent_why(struct upstream *up);

/* A new message: head holds what the caller brings (NULL fields: posad's); input's
 * reference is taken. Builds the envelope, journals it (deduplicated by idem_key) and
 * sends it now or queues it. Returns an error (and done will not run) only when the
 * envelope cannot be built. */
int upstream_submit(struct upstream *up, struct upmsg *m, const struct envelope_head *head,
                    struct json_object *input);

/* Builds m's envelope (m->msgid, m->body) without journaling or sending: for rows the
 * resolver journals itself. input's reference is taken. */
int upstream_envelope(struct upstream *up, struct upmsg *m, const struct envelope_head *head,
                      struct json_object *input);

/* A queued row of the journal (the outbox's): marks it sent and sends it. m->msgid,
 * infno, visit_key and the body come from row. */
int upstream_send_row(struct upstream *up, struct upmsg *m, const struct journal_row *row);

const char *upstream_health_name(enum upstream_health h);

/* Beijing time now as yyyymmddHHMMSS (the national interface's time, whatever zone the
 * machine is set to); the wall clock's Unix ms (kept in the journal); and a clock's ms for
 * waits that a step of the wall clock must not stretch or cut. */
int64_t upstream_now_beijing(void);
int64_t upstream_now_ms(void);
int64_t upstream_monotonic_ms(void);

/* A fresh msgid. */
int upstream_next_msgid(struct upstream *up, char ret[MSGID_LEN + 1]);

/* Re-stamps an envelope's text with a new msgid and/or sign_no (NULL: keep), and inf_time
 * with now (it is sent now); *ret is malloc'd. */
int upstream_restamp(const char *body, size_t len, const char *msgid, const char *sign_no,
                     char **ret, size_t *ret_len);

/* A queued message (UPMSG_QUEUED) that waits behind its visit's earlier messages, the
 * platform reachable when it was admitted: not one the platform could not be reached for. */
bool upmsg_queued_behind(const struct upmsg *m);

/* The platform's answer when it took the message (infcode 0), parsed; NULL otherwise. For an
 * owner's apply_also, which runs with every outcome. */
const struct envelope_response *upmsg_accepted(const struct upmsg *m);

/* The journal's row under idem_key, or under its first 64 bytes, as journals before keys of
 * 128 bytes kept a longer one: 0 or POSA_ENOTFOUND (*ret the caller's to free). */
int upstream_journal_by_key(struct db *db, const char *idem_key, struct journal_row **ret);
/* Database thread: the row that speaks for row now, following the stand-ins journaled for it
 * (a resend after a reversal or a lost session); takes row. */
struct journal_row *upstream_last_standin(struct db *db, struct journal_row *row);

/* The first string value of key anywhere in obj (objects and arrays, depth <= 4). */
const char *upstream_find_string(struct json_object *obj, const char *key);

#endif
