/* The desk flow (architecture.md "What one settlement looks like"): identify, open a
 * visit, upload fees split by the cached catalog, estimate, settle, cancel, print. These
 * are the HIS API's handlers; each answers its call exactly once. */
#ifndef POSA_AGENT_DESK_H
#define POSA_AGENT_DESK_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "agent/his.h"
#include "agent/log.h"
#include "agent/upstream.h"
#include "cache/catalog.h"
#include "cache/db.h"
#include "core/bound.h"
#include "core/flags.h"
#include "drivers/card.h"
#include "drivers/desk.h"
#include "core/err.h"
#include "drivers/pcsc_watch.h"
#include "drivers/qr_source.h"
#include "core/policy.h"
#include "core/split.h"
#include "interface/his/auth.h"

#define DESK_TOKEN_TTL_MS        (30 * 60 * 1000) /* an identification is good for half an hour */
#define DESK_CATALOG_PAGE        1000
#define DESK_CATALOG_LOG_PAGES   10 /* a download's progress logged every so many pages */
#define DESK_CATALOG_REFRESH_MS (24 * 3600 * 1000) /* the catalog changes monthly at most */
#define DESK_CATALOG_MISMATCH_MS (10 * 60 * 1000)
#define DESK_RECONCILE_FIRST_MS  (10 * 1000) /* after start: signed in by then */
#define DESK_RECONCILE_TICK_MS   (10 * 60 * 1000)
#define DESK_EMERGENCY_DEPTS_MAX 64

#define DESK_CARDS_MAX 64
#define DESK_SCANNERS_MAX 32
#define DESK_QR_FRESH_MS 60000 /* an e-voucher code is valid for about a minute */

/* The card in one desk's reader, as the reader thread last told. */
struct desk_card {
    char desk[CARD_DESK_MAX + 1];
    bool present; /* inserted and read (status says how the read went) */
    bool reading; /* inserted, its read not done yet */
    char reader[CARD_READER_MAX + 1]; /* whose card it is (a desk may have two slots) */
    int status;   /* 0, DRV_ENOT_SSC or DRV_ECARD_UNREADABLE */
    int cause;
    struct card_identity id;
    char qr[BOUND_QR_LINE + 1]; /* the desk's last scanned code, "" once used */
    uint64_t qr_at;             /* uv_now() of that scan */
    /* uv_now() of a scan that could not be read, the desk's newest (qr is then ""); 0 none or
     * answered: auto says so, rather than take a code scanned before it (the last patient's) */
    uint64_t qr_bad_at;
    uint64_t input_at;          /* uv_now() of the desk's newest scan or card read */
    struct log_every bad_scans; /* at most a line a second of a scanner's line noise */
};

/* A configured QR scanner (GET /v1/readers, kind "qr"). */
struct desk_scanner {
    char desk[CARD_DESK_MAX + 1];
    char spec[160]; /* "tcp:127.0.0.1:9100" */
    struct qr_source *src;
    struct desk *owner; /* the scanner's callbacks' data is the scanner */
};

/* Someone waiting for a desk's card: cb runs once, with the card, or NULL when wait_ms
 * passed without one. The waiter is the caller's memory and is off the list before cb. */
struct desk_waiter {
    void (*cb)(struct desk_waiter *w, const struct desk_card *card);
    /* identify {source:"auto"}: a code scanned at the desk while it waits ends the wait too,
     * handed here (valid until the next scan), or NULL for a scan that could not be read.
     * NULL: cards only. */
    void (*on_qr)(struct desk_waiter *w, const char *code);
    void *data;
    /* private */
    char desk[CARD_DESK_MAX + 1];
    uint64_t deadline;    /* uv_now() it ends at: asked_until, or later for a card being read */
    uint64_t asked_until; /* uv_now() + the wait_ms asked */
    struct desk_waiter *next;
};

/* A reader as the reader thread last told (GET /v1/readers). */
struct desk_reader {
    char name[CARD_READER_MAX + 1];
    char desk[CARD_DESK_MAX + 1];
    bool present;
    char card_type[16]; /* "social_security", "other", "unreadable", "reading", "" */
};

struct desk_subscriber;
struct desk_policy;

/* A client table replaced by a reload, kept until exit: calls in flight point into it. */
struct desk_retired {
    struct auth_table *auth;
    struct desk_retired *next;
};

/* The engine's state beside posad's: the catalog the split uses, the clients allowed on
 * TCP, the emergency departments, the cards in the desks' readers. */
struct desk {
    struct posad *pd;
    /* The treating region's catalog: downloaded (1312) into SQLite, split from memory. */
    struct catalog_copy catalog_copy;
    struct catalog_index catalog;
    bool catalog_ready;
    bool catalog_loading;
    bool catalog_fresh; /* downloaded since start (or the last timer) */
    uint64_t catalog_mismatch_at; /* uv_now of the last refresh a mismatch asked for */
    uv_timer_t catalog_timer;
    /* For GET /v1/health: a download under way (rows so far, of total; -1: not counted) and
     * why the last one failed ("" when it did not). */
    bool catalog_downloading;
    int64_t catalog_rows, catalog_total;
    char catalog_failed[256];
    /* retention (desk_retention.c) */
    uv_timer_t retention_timer;
    uv_timer_t reconcile_timer;
    bool reconciling;         /* a scheduled reconciliation is under way */
    int32_t reconciled_day;   /* yyyymmdd the schedule last reconciled, 0: none yet */
    int32_t reconciled_month; /* yyyymm00 likewise */
    struct db_job retention_job;
    bool retention_busy;
    int64_t retention_batch;   /* rows the last job deleted */
    int64_t retention_deleted; /* rows this run deleted so far */
    /* sealing the rows from before [posad] seal_key_file (desk_retention.c) */
    struct db_job seal_job;
    struct db_seal_cursor seal_cursor;
    int seal_batch;          /* rows with plain values the last job sealed */
    bool seal_finished;      /* the last job looked at the last row */
    int64_t seal_rows;       /* rows sealed since the start */
    int64_t seal_logged;     /* seal_rows when progress was last logged */
    char seal_failed[128];   /* why the pass stopped ("" while it has not failed) */
    /* Why seal_key_file no longer opens the database (desk_seal_key_check), "" while it does:
     * the next start would fail. Health says it, not only the log. */
    char seal_key_changed[256];
    uint32_t chunk_lines;    /* fee lines per 2204/2301 upload */
    struct auth_table *auth; /* NULL or empty: no tokens configured */
    struct desk_retired *retired;
    char emergency_buf[256];
    const char *emergency_depts[DESK_EMERGENCY_DEPTS_MAX];
    size_t n_emergency_depts;
    struct flag_config flag_config;
    /* cards (desk_cards.c) */
    struct desk_table readers; /* reader name globs -> desk ids, from the config */
    struct pcsc_watch *watch;  /* NULL when no reader is configured */
    struct desk_card cards[DESK_CARDS_MAX];
    size_t n_cards;
    struct desk_waiter *waiters;
    uv_timer_t wait_timer;
    bool pcsc_up;
    /* The reader thread reads a card, and sees no other reader meanwhile: a desk's card read
     * before may have been pulled out since (CARD_EV_WATCHING ends it). */
    bool cards_blind;
    struct desk_reader seen[DESK_CARDS_MAX];
    size_t n_seen;
    struct desk_scanner scanners[DESK_SCANNERS_MAX];
    size_t n_scanners;
    /* server-sent events (desk_events.c) */
    struct desk_subscriber *subscribers;
    uv_timer_t heartbeat;
    /* the insured regions' rules for the offline estimate (desk_estimate.c), or NULL */
    struct desk_policy *policy;
};

int desk_init(struct desk *d, struct posad *pd);
struct posad_config;
/* The grammar of each key desk_configure reads, for the config loader (file:line errors):
 * 0, or POSA_EFIELD with why. */
int desk_check_readers(const char *value, char *why, size_t cap);
int desk_check_scanners(const char *value, char *why, size_t cap);
int desk_check_clients(const char *value, char *why, size_t cap);
int desk_check_depts(const char *value, char *why, size_t cap);
/* Reads the [desks] and [his] keys of cfg into d. On a bad value POSA_EFIELD and msg names
 * the key and what is wrong. (Whether a listener may leave loopback is config_check's.) */
int desk_configure(struct desk *d, const struct posad_config *cfg, char *msg, size_t cap);
/* SIGHUP: [his] clients and emergency_depts and the [policy] file of cfg replace the ones in
 * use when all three read well; otherwise nothing changes and msg says why. When the clients
 * changed, the old table is kept until exit (calls in flight point into it) and the TCP
 * event streams end (they reconnect and are checked against the new list, so a revoked
 * token stops hearing events). d->pd->cfg is still the running config here. *policy_changed
 * says whether the rules in use changed (the file's contents, edited in place, or another). */
int desk_reload(struct desk *d, const struct posad_config *cfg, bool *policy_changed, char *msg,
                size_t cap);
void desk_done(struct desk *d);
/* Loads the stored catalog, then keeps it fresh: a download (1312, page by page) when the
 * platform comes online without one, and every DESK_CATALOG_REFRESH_MS. */
void desk_catalog_start(struct desk *d);
/* policy.md §38: yesterday reconciled every day at [his] reconcile_at (Beijing time), and
 * the month before on the 1st to the 3rd, as POST /v1/reconcile would; a period that fails
 * is tried again every DESK_RECONCILE_TICK_MS. */
void desk_reconcile_start(struct desk *d);
void desk_reconcile_stop(struct desk *d);
void desk_catalog_stop(struct desk *d);
/* Downloads the catalog in the background; a download under way is not started twice. */
void desk_catalog_refresh(struct desk *d);
/* The same after a split the platform made otherwise, at most every
 * DESK_CATALOG_MISMATCH_MS: a line the platform splits otherwise for a reason a download
 * does not change (another period of its catalog) would download it at every upload. */
void desk_catalog_refresh_after_mismatch(struct desk *d);
/* GET /v1/health's catalog: the items the split uses, when downloaded, a download's
 * progress, the last download's failure. */
struct json_object *desk_catalog_json(const struct desk *d);
/* GET /v1/health's "sealing": NULL without [posad] seal_key_file (desk_retention.c). */
struct json_object *desk_sealing_json(const struct desk *d);

/* Retention: a minute after start and every DESK_RETENTION_EVERY_MS, deletes identities a
 * day after they expired, idempotent answers older than [his] idempotency_days, and the
 * journal's reads (queries: 1101, sign-ins, 5203, ...) answered before then: they hold
 * personal data with no use after their window (records_prune). The journal's other
 * messages, visits, fee lines and settlements are the hospital's record and stay. */
#define DESK_RETENTION_FIRST_MS  (60 * 1000)
#define DESK_RETENTION_EVERY_MS  (6 * 3600 * 1000)
#define DESK_IDENTITY_KEEP_MS    (24 * 3600 * 1000) /* "expired" for a day, then "unknown" */
/* The key file still holds the key the database is sealed under (an install step run again
 * may have made another over it, and posad would not start again): seal_key_changed in the
 * log when not; at SIGHUP and with retention's timer. */
void desk_seal_key_check(struct desk *d);
/* Also seals, in the background from the start, the rows written plain before the database
 * had its key (cache/db.h, db_seal_plain_rows), logging its progress. */
void desk_retention_start(struct desk *d);
void desk_retention_stop(struct desk *d);

/* Starts the reader thread when readers are bound to desks; stops it. */
int desk_cards_start(struct desk *d);
void desk_cards_stop(struct desk *d);
/* The desk's last scanned e-voucher code if it is fresh, taken (each scan is used once);
 * NULL otherwise, with *ret_unreadable true when the desk's newest fresh scan could not be
 * read (said once). Valid until the next event of the loop. */
const char *desk_qr_take(struct desk *d, const char *desk, bool *ret_unreadable);
/* The HIS identified with code (identify {source:"qr"}): the scan that is this code is used,
 * and auto will not identify with it again. desk's own first (NULL: none named), else any
 * desk's: a code is one patient's wherever it was scanned, and one identified without its
 * desk, or at another, stayed for that desk's next patient. The name of the desk it was taken
 * from, or NULL when no desk held it. */
const char *desk_qr_used(struct desk *d, const char *desk, const char *code);
/* A code taken (at uv_now() taken_at) that could not be used for want of the platform goes
 * back to its desk, fresh again, so the patient need not scan it twice; unless the desk has
 * read a card or a scan since, which is the newer patient's. */
void desk_qr_give_back(struct desk *d, const char *desk, const char *code, uint64_t taken_at);
/* A patient was identified at desk (any source), asked at uv_now() asked_at, by the e-voucher
 * code (NULL: by another source): the desk's scan state from before is theirs and goes (a
 * code given back, an unreadable scan), so the next patient's auto does not meet it; a scan
 * since is the next patient's and stays, unless it is code again (the patient showed the
 * phone twice while waiting: the next patient's auto identified them again). */
void desk_identified(struct desk *d, const char *desk, uint64_t asked_at, const char *code);
/* The desk's card now, or when it is read within wait_ms (0: only now). */
void desk_card_wait(struct desk *d, const char *desk, uint32_t wait_ms, struct desk_waiter *w);
/* w no longer waits (its HIS went away): true when it was waiting, and then it is not called. */
bool desk_card_unwait(struct desk *d, struct desk_waiter *w);
/* Whether [desks] readers / scanners bind a reader / a scanner to desk. */
bool desk_reader_configured(const struct desk *d, const char *desk);
bool desk_scanner_configured(const struct desk *d, const char *desk);
/* Whether a scanner of desk is open (its device, or its connection made). */
bool desk_scanner_available(const struct desk *d, const char *desk);
/* Whether pcscd is up and a reader of desk is there (plugged in, seen by the reader thread). */
bool desk_reader_available(const struct desk *d, const char *desk);
/* Whether a card was inserted at desk and its read is not done yet, or the desk's card is not
 * known to be in still (the reader thread reads another desk's: cards_blind). */
bool desk_card_reading(struct desk *d, const char *desk);

/* Sends event name with data (taken) to the subscribers of desk, or to all when desk is
 * NULL (upstream_online, ...). */
void desk_event(struct desk *d, const char *desk, const char *name, struct json_object *data);
/* The resolver decided msgid: a settlement waiting on it follows, and its desk hears
 * settlement_resolved. */
void desk_outcome_resolved(struct desk *d, const char *msgid);
/* The same for the visit's settlement still open (queued, unknown, pending), if it has one:
 * withdrawn (desk_settle_withdraw) after a refusal before it. */
void desk_visit_settlement_resolved(struct desk *d, const char *visit_id);
/* A settlement's outcome became known (desk_settlement_refresh changed its record to one
 * not in flight): logged, and desk (its visit's) hears settlement_resolved. Whoever refreshed it
 * says so: a GET that came first left the desk never told. Loop thread. */
void desk_settlement_told(struct desk *d, const struct settlement_record *rec, const char *desk);
/* A message the outbox sent, after the HIS heard "queued", was refused: the visit's desk
 * hears what that undid. An upload or a fee cancel: `fees_refused` / `fees_cancel_refused`
 * with the his_line_ids of its lines (refused; active again); a visit cancel:
 * `visit_cancel_refused` (the visit is open again). Other messages: nothing. */
void desk_refused_from_queue(struct desk *d, const struct upmsg *m);
/* Starts the streams' heartbeat; desk_events_close ends every stream and it (shutdown). */
void desk_events_start(struct desk *d);
void desk_events_close(struct desk *d);
/* Ends the event streams opened over TCP (a reload changed the tokens: they reconnect and
 * are checked again); those of the Unix socket stay. */
void desk_events_end_tcp_streams(struct desk *d);

/* A settlement left unknown, queued, or pending (posad stopped between journaling it and its
 * outcome) whose journal row was decided since follows the row (database thread);
 * *ret_changed tells whether it did. */
int desk_settlement_refresh(struct db *db, struct settlement_record *s, bool *ret_changed);
/* upstream's applied_also, for every answer whoever sent the message: the desk's records
 * follow what the platform did (desk_fees_applied, desk_settle_applied). */
int desk_applied(struct db *db, struct upmsg *m);
/* An upload the platform refused keeps none of the lines it carried (they are `refused`, and
 * a later upload may carry them again); a fee cancel it refused gives its lines back. An
 * upload the outbox sent (every chunk after a bill's first, or one that waited for the
 * platform) that it took: where it split a line otherwise than posad, its split is kept,
 * as the desk flow keeps a first chunk's (m->split_mismatches counts them). */
int desk_fees_applied(struct db *db, struct upmsg *m);
/* A settlement cancel (2208/2305) done that no desk flow records itself (sent through the
 * passthrough, or drained by the outbox): the desk's settlement of that setl_id, if there is
 * one, is cancelled, and its visit billed again. */
int desk_settle_applied(struct db *db, const struct upmsg *m);
/* In the transaction that journals the platform's refusal of an upload or a fee cancel of
 * visit_id: a settlement queued behind it (wait_if_offline) would settle a bill without
 * those lines, or with lines the HIS believes cancelled. It is not sent: its row refused
 * here (never having left) and its record given the error why (409 CONFLICT), as a settle
 * now would be answered; desk_visit_settlement_resolved then tells its desk. */
int desk_settle_withdraw(struct db *db, const char *visit_id, const char *why);
/* The settlement cancel msgid (its journaled request) landed: the desk's settlement of the
 * request's setl_id, if it is still settled, is cancelled and its visit billed again. */
/* Does the settlement setl_id stand by a 5203 answer's output? 1 it does (vali_flag "1"), 0
 * it no longer does ("0"), -1 the answer does not say. */
int desk_settlement_stands(struct json_object *output, const char *setl_id);
int desk_cancel_landed(struct db *db, const char *msgid, const char *request);
/* The resolver is about to decide msgid, left unknown (its answer lost, or posad stopped
 * while it was out): the settlement it carries, pending or queued, is recorded unknown first,
 * so that its history shows the step. 0 when msgid settles nothing. */
int desk_settlement_unknown(struct db *db, const char *msgid);
/* The desk's settlement a cancel's journaled request names (by setl_id), or POSA_ENOTFOUND. */
int desk_cancel_settlement(struct db *db, const char *request, struct settlement_record **ret);
/* upstream's answer_readable: a settlement's accepted answer (2207, 2304) must say what it
 * settled, and what it says must be possible (desk_settlement_check against the request);
 * one that is not leaves the settlement unknown for the resolver's query, not settled with
 * amounts nobody can show or undo. So must a registration's (2201, 2401,
 * desk_registration_possible): one that is not is unknown, and reversed. */
bool desk_answer_readable(const struct upmsg *m, const struct envelope_response *env);
/* ... the same of output, an answer about the settlement msgid of infno sent as request
 * (its own, or a 5203's about it). */
bool desk_answer_possible(const char *infno, const char *msgid, const char *request,
                          struct json_object *output);
/* Can a registration's answer (2201, 2401) be what it says? Its mdtrt_id a code, and the
 * person and the HIS's visit number (psn_no, ipt_otp_no / ipt_no), where it names them, those
 * request sent: another's registration would take this visit's lines (desk_visit.c). */
bool desk_registration_possible(const char *request, struct json_object *output);

/* The readers as GET /v1/readers and /v1/health list them. */
struct json_object *desk_readers_json(const struct desk *d);

/* Reads [policy] file (the scenario format's "regions"); "" reads nothing. POSA_EFIELD with
 * msg naming the file and field. */
int desk_policy_load(struct desk *d, const char *path, char *msg, size_t cap);
void desk_policy_free(struct desk_policy *p);
/* Whether two loaded policies read the same file contents (NULL: none loaded). */
bool desk_policy_same(const struct desk_policy *a, const struct desk_policy *b);
/* The insured region's settlement of the visit's bill, computed here while the platform is
 * away: POSA_EUPSTREAM_OFFLINE when the region's rules or the filing are not known,
 * POSA_EFILING when the patient is not filed. Year accumulations are assumed zero. */
int desk_estimate(const struct desk *d, struct json_object *visit_doc, const struct bill *bill,
                  bool inpatient, bool use_account, struct policy_result *ret,
                  enum filing_kind *ret_kind);

/* Handlers (his_route.handle). */
void desk_identify(struct his_call *call);
void desk_visit_open(struct his_call *call);
void desk_visit_get(struct his_call *call);
/* POST /v1/visits/{visit_id}/cancel: a visit without fee lines undone (2202 / 2404). */
void desk_visit_cancel(struct his_call *call);
/* The platform refused a visit's cancel (2202, 2404): the visit is open again. Database
 * thread, in the answer's transaction. */
int desk_visit_cancel_refused(struct db *db, const struct upmsg *m);
void desk_fees_upload(struct his_call *call);
void desk_fees_cancel(struct his_call *call);
void desk_presettle(struct his_call *call);
void desk_settle(struct his_call *call);
void desk_settlement_get(struct his_call *call);
void desk_settlement_cancel(struct his_call *call);
void desk_document_settlement(struct his_call *call);
void desk_document_form(struct his_call *call);
void desk_events(struct his_call *call);
void desk_readers(struct his_call *call);
void desk_queue_retry(struct his_call *call);
void desk_reconcile(struct his_call *call);
void desk_reconcile_get(struct his_call *call);
void desk_metrics(struct his_call *call);

/* Shared by the flows (desk_common.c). */

/* What an upstream message's outcome means for the cashier: 0 and *ret_env parsed (an
 * answer with infcode 0: release with envelope_response_done), or the posa error to answer
 * with and, for a refusal, the platform's words in ret_message. */
int desk_outcome(struct upmsg *m, struct envelope_response *ret_env, char *ret_message, size_t cap);
/* The same for a deferrable message (a fee cancel, a visit cancel): 0 with *ret_queued when
 * it is on its way (the outbox has it, or the journal resolves its lost answer: not refused),
 * else as desk_outcome, the answer released. */
int desk_deferrable_outcome(struct upmsg *m, bool *ret_queued, char *ret_message, size_t cap);
/* A settled visit's settlement, ret "" when the visit is not settled, and whether the journal
 * still has a refund of it open (a cancel whose answer was lost, its reversal waiting: it may
 * yet turn out cancelled). Database thread. */
int desk_settled_of(struct db *db, const struct visit_record *v, char ret[RECORD_ID_MAX + 1],
                    bool *ret_refund_open);
/* Is the settlement's outcome still being found out (pending, queued, unknown)? It may yet
 * turn out settled: what waits on that is retryable. */
bool desk_setl_in_flight(const char *state);
/* Is a refund of the settled visit's settlement on its way: its call holds it (his_locked),
 * or the journal's refund_open? The visit may be billed again in a moment. Loop thread. */
bool desk_refund_on_its_way(const char *settled_id, bool refund_open);
/* A visit settling (its settlement on its way, queued, or its answer lost) may be billed
 * again in a moment (reversed, refused, withdrawn): fees, fee cancels and the visit's cancel
 * are refused as retryable, and not kept under the request's key, whose "settled" would
 * stay when it no longer is. True when the visit_state named so, and call is answered. */
bool desk_settling_busy(struct his_call *call, const char *visit_state);
/* Answers the HIS with desk_outcome's error and message; a refusal carries the platform's
 * words in details.upstream_message too (his-api.md). */
void desk_fail_outcome(struct his_call *call, int err, const char *message);
/* An error's details (taken by his_fail) with the platform's words in upstream_message
 * (his-api.md), when there are some; the caller may add more. */
struct json_object *desk_upstream_details(const char *words);
/* A refusal's words for the cashier: the platform's err_msg, or "refused" when it gave none. */
const char *desk_refusal_words(const struct envelope_response *env);

/* Today (yyyymmdd): Beijing's date, or the platform's when its last answer was dated later
 * (its calendar settles; tests move the sandbox's clock ahead). */
int32_t desk_today(const struct posad *pd);
/* Whether a time the HIS gave (YYYYMMDDhhmmss) falls on a day after today, allowing the HIS's
 * clock ten minutes ahead of posad's at midnight. A later day is a typo, or a discharge not
 * yet made: one dated next year would settle by next year's policy (§41). */
bool desk_is_future(const struct posad *pd, int64_t datetime);

/* Sends infno with input (taken) for psn in insuplc (may be NULL), in the order of visit_key
 * (may be NULL), keyed by idem (may be NULL). done runs when the outcome is durable; its
 * upmsg's data is data. Returns an error (done will not run) when it could not be sent. */
int desk_send(struct posad *pd, const char *infno, const char *insuplc, const char *visit_key,
              const char *idem, struct json_object *input, upmsg_cb done, void *data);
/* The owner's writes that commit with the message's journal rows (struct upmsg), and
 * whether it may wait in the queue. */
struct desk_hooks {
    int (*admit_also)(struct db *db, struct upmsg *m);
    int (*apply_also)(struct db *db, struct upmsg *m);
    bool rerunnable; /* both may run twice (struct db_job's rerunnable) */
    bool apply_lazy; /* struct upmsg's */
    bool may_queue;
    bool now_only;            /* struct upmsg's */
    bool answer_not_kept;     /* struct upmsg's */
    bool again_after_refusal; /* struct upmsg's */
    /* What the key's message must match to be the same message (the caller's request body
     * hash); NULL: the key itself, for keys that name one thing to do. */
    const char *idem_hash;
    /* The audit log's action for the message, asked for by audit_by, on audit_target (the
     * visit when NULL); NULL: none. */
    const char *audit;
    const struct his_call *audit_by;
    const char *audit_target;
};
int desk_send_hooked(struct posad *pd, const char *infno, const char *insuplc,
                     const char *visit_key, const char *idem, struct json_object *input,
                     upmsg_cb done, void *data, const struct desk_hooks *hooks);

/* A visit's document (what desk_visit_open kept) read back for later messages: v borrows
 * doc's strings; diagnoses has room for BOUND_DIAGNOSES. */
struct desk_visit;
struct desk_diagnosis;
void desk_visit_from_doc(struct json_object *doc, const char *visit_id, const char *mdtrt_id,
                         struct desk_visit *v, struct desk_diagnosis *diagnoses);

/* A JSON document from a record body (NULL when it is not JSON). */
struct json_object *desk_doc(const char *body);
/* The string at key of obj, or "" (never NULL). */
const char *desk_str(struct json_object *obj, const char *key);

#endif
