/* The sandbox's ledger in SQLite (the only SQL of the sandbox): message ids, sign-ins,
 * visits, fee lines with their split, settlements, year accumulations per person, account
 * balances and filing changes. Synchronous, on the loop thread. The messages of one loop
 * turn commit together: ledger_begin() .. ledger_commit() around them, each message inside
 * ledger_msg_begin() .. ledger_msg_end(), so a message that fails leaves nothing behind and
 * the others still commit. WAL with synchronous=NORMAL: a committed settlement survives the
 * process being killed; the file is mode 0600.
 *
 * Functions return 0 (or 1 for "found") or a negative posa error; strings in the structs
 * are copied into fixed buffers. */
#ifndef POSA_SANDBOX_LEDGER_H
#define POSA_SANDBOX_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/policy.h"
#include "core/split.h"

#define LEDGER_ID 72 /* room for ids and codes (BOUND_CODE + NUL, rounded up) */

struct ledger;

int ledger_open(const char *dir, struct ledger **ret, char *msg, size_t cap);
void ledger_close(struct ledger *l);

/* Copying the WAL back into the database, and its fsyncs, happen off the loop: SQLite's own
 * checkpoint after a commit stalled the loop for milliseconds at a time (a tenth of the
 * throughput, and most of p99). ledger_wal_frames says how long the WAL has grown;
 * ledger_checkpoint copies it back on a second connection, from one thread at a time, while
 * the loop goes on committing, and returns how many of its frames are in the database now.
 * The WAL starts over only when a transaction begins with all of it copied, which under load
 * never happens by itself: once what is left is small, ledger_checkpoint_rest copies it on
 * the loop, between transactions. */
int ledger_wal_frames(const struct ledger *l);
int ledger_checkpoint(struct ledger *l);
int ledger_checkpoint_rest(struct ledger *l);

int ledger_begin(struct ledger *l);
int ledger_commit(struct ledger *l);
void ledger_rollback(struct ledger *l);
/* One message inside the group's transaction; ledger_msg_end(l, false) undoes it all. */
int ledger_msg_begin(struct ledger *l);
void ledger_msg_end(struct ledger *l, bool keep);
/* A savepoint inside the message: the msgid row stays when the business part is undone. */
int ledger_savepoint(struct ledger *l);
void ledger_savepoint_release(struct ledger *l);
void ledger_savepoint_rollback(struct ledger *l);

/* A named counter that survives restarts: 1, 2, 3, ... */
int ledger_next_seq(struct ledger *l, const char *name, int64_t *ret);

/* --- message ids ---------------------------------------------------------------------- */
struct ledger_msg {
    char msgid[LEDGER_ID];
    char infno[16];
    char state[16]; /* "done", "refused", "reversed", "never" (reversed before it came) */
    char psn_no[LEDGER_ID];
    char mdtrt_id[LEDGER_ID];
    char setl_id[LEDGER_ID];
    char effect[LEDGER_ID]; /* what a reversal must undo beyond the ids */
};
int ledger_msg_get(struct ledger *l, const char *msgid, struct ledger_msg *ret);
int ledger_msg_put(struct ledger *l, const struct ledger_msg *m, int64_t time);

/* --- sign-in -------------------------------------------------------------------------- */
int ledger_signin_add(struct ledger *l, const char *sign_no, const char *opter, int64_t time);
int ledger_signin_is_open(struct ledger *l, const char *sign_no); /* 1 open, 0 not */
int ledger_signin_close(struct ledger *l, const char *sign_no);

/* --- visits --------------------------------------------------------------------------- */
struct ledger_visit {
    char mdtrt_id[LEDGER_ID];
    char psn_no[LEDGER_ID];
    bool inpatient;
    char insutype[8];
    char med_type[8];
    int64_t begntime; /* yyyymmddHHMMSS */
    int64_t endtime;  /* 0 while in hospital */
    bool emergency, trauma, third_party;
    char ipt_otp_no[LEDGER_ID];
    char state[16]; /* "open", "discharged", "cancelled" */
    char msgid[LEDGER_ID];
};
int ledger_visit_put(struct ledger *l, const struct ledger_visit *v); /* insert or replace */
int ledger_visit_get(struct ledger *l, const char *mdtrt_id, struct ledger_visit *ret);

/* --- fee lines ------------------------------------------------------------------------ */
struct ledger_fee {
    char mdtrt_id[LEDGER_ID];
    char feedetl_sn[LEDGER_ID];
    char msgid[LEDGER_ID]; /* the upload's */
    char chrg_bchno[LEDGER_ID];
    char list_code[LEDGER_ID];
    char init_sn[LEDGER_ID];
    char psn_no[LEDGER_ID];
    int64_t time;
    int64_t price_e6, qty_e4;
    struct split split;
    bool outside;
    char state[16];               /* "active", "cancelled", "reversed" */
    char setl_id[LEDGER_ID];      /* the last settlement that settled it (or "") */
    char cancel_msgid[LEDGER_ID]; /* of the message that cancelled it, while it is cancelled */
    char infno[16];               /* 2204 or 2301 */
};

/* The fee lines of one visit, loaded: an upload checks its lines against them (and against
 * its own earlier lines) and adds them, then saves. Stored per visit and message (fee_blob.h). */
struct ledger_lines;
int ledger_lines_open(struct ledger *l, const char *mdtrt_id, struct ledger_lines **ret);
void ledger_lines_close(struct ledger_lines *lines);
/* The visit's line sn (not one a new upload replaced), or NULL. */
const struct ledger_fee *ledger_lines_find(const struct ledger_lines *lines, const char *sn);
/* The quantity already refunded (a negative sum) of the visit's line init_sn: the sums of
 * every original are taken once, at the first call, and kept up to date by ledger_lines_add
 * and ledger_lines_cancel (a scan per call made many refunds in one message quadratic). */
int64_t ledger_lines_refunded(struct ledger_lines *lines, const char *init_sn);
/* Adds f, of the visit, under f->msgid: -EEXIST when the visit has a line of that feedetl_sn
 * that was not reversed; -ENOMEM. Nothing is written before ledger_lines_save. */
int ledger_lines_add(struct ledger_lines *lines, const struct ledger_fee *f);
/* Room for more lines, so that adding them one by one does not move the ones before. */
int ledger_lines_reserve(struct ledger_lines *lines, size_t more);
/* Cancels, under msgid, the visit's unsettled active lines: one (sn), one batch (bchno), or
 * all (both NULL); how many. Nothing is written before ledger_lines_save. */
int ledger_lines_cancel(struct ledger_lines *lines, const char *sn, const char *bchno,
                        const char *msgid);
int ledger_lines_save(struct ledger *l, struct ledger_lines *lines);

/* How many active lines of the visit another settlement than setl_id (or none) holds. */
int ledger_fees_not_of(struct ledger *l, const char *mdtrt_id, const char *setl_id,
                       int64_t *ret_count);
/* The unsettled active lines of a visit (or of one batch): their totals and count, and with
 * cover the same lines as a settlement records them (fee_cover_encode, malloc'd into
 * *cover): settling them is inserting a settlement with these lines, so no line is
 * rewritten. A line is settled while the last settlement to name it is active. */
int ledger_fees_unsettled(struct ledger *l, const char *mdtrt_id, const char *bchno,
                          struct split_totals *ret, int *ret_count, uint8_t **cover,
                          size_t *cover_len);
/* Records that message msgid wrote lines of visit mdtrt_id (once per visit and message):
 * what a reversal finds them by. */
int ledger_upload_visit(struct ledger *l, const char *msgid, const char *mdtrt_id);
/* Reversal helpers: uploads of msgid become "reversed" (fails with POSA_ESTATE when one is
 * settled); cancellations made by msgid become active again. Either fails with
 * POSA_ECONFLICT (nothing done) when the refund rules would break: refund lines standing
 * against a line that goes, or a refund that comes back taking more than its line charged
 * (or against a line no longer active). */
int ledger_fees_reverse_upload(struct ledger *l, const char *msgid, int *ret_count);
/* The lines msgid cancelled are active again; POSA_ESTATE (nothing done) when a visit of
 * theirs has an active settlement since. */
int ledger_fees_reverse_cancel(struct ledger *l, const char *msgid, int *ret_count);

/* --- settlements ---------------------------------------------------------------------- */
struct ledger_settlement {
    char setl_id[LEDGER_ID];
    char msgid[LEDGER_ID];
    char infno[16];
    char psn_no[LEDGER_ID];
    char mdtrt_id[LEDGER_ID];
    char insutype[8];
    char clr_type[4];
    char setl_optins[8];
    int64_t setl_time;
    int32_t year;
    int64_t medfee, fund, psn_part, acct_pay, cash, act_pay_dedc;
    struct policy_accum moved;
    char state[16]; /* "active", "cancelled", "reversed" */
    char cancel_msgid[LEDGER_ID];
    char *output; /* the setlinfo+setldetail JSON text; malloc'd by _get */
    /* ledger_settlement_insert only: the lines it settles (ledger_fees_unsettled), borrowed */
    const uint8_t *lines;
    size_t lines_len;
};
int ledger_settlement_insert(struct ledger *l, const struct ledger_settlement *s);
int ledger_settlement_get(struct ledger *l, const char *setl_id, struct ledger_settlement *ret);
int ledger_settlement_by_msgid(struct ledger *l, const char *msgid, struct ledger_settlement *ret);
int ledger_settlement_by_cancel(struct ledger *l, const char *msgid, struct ledger_settlement *ret);
/* The visit's latest active settlement. */
int ledger_settlement_active(struct ledger *l, const char *mdtrt_id, struct ledger_settlement *ret);
int ledger_settlement_set_state(struct ledger *l, const char *setl_id, const char *state,
                                const char *cancel_msgid);
/* The deductible already met by the visit's active settlements (per admission or visit). */
int ledger_visit_deductible(struct ledger *l, const char *mdtrt_id, int64_t *ret);
void ledger_settlement_free(struct ledger_settlement *s);

struct ledger_recon_query {
    const char *insutype; /* NULL or "" = any */
    const char *clr_type;
    const char *setl_optins;
    int32_t from, to; /* yyyymmdd inclusive */
};
struct ledger_recon_totals {
    int64_t medfee, fund, acct_pay, cash;
    int64_t count;
};
int ledger_recon_totals(struct ledger *l, const struct ledger_recon_query *q,
                        struct ledger_recon_totals *ret);

/* --- per person ------------------------------------------------------------------------ */
/* A person's year accumulations under one insurance (insutype) of stays (inpatient) or of
 * visits: each has its own cap. */
int ledger_accum_get(struct ledger *l, const char *psn_no, const char *insutype, int32_t year,
                     bool inpatient, struct policy_accum *ret);
int ledger_accum_move(struct ledger *l, const char *psn_no, const char *insutype, int32_t year,
                      bool inpatient, const struct policy_accum *moved, int sign);
/* The account balance: the ledger's, or opening when it never moved. */
int ledger_balance_get(struct ledger *l, const char *psn_no, int64_t opening, int64_t *ret);
int ledger_balance_set(struct ledger *l, const char *psn_no, int64_t balance);

struct ledger_filing_op {
    char psn_no[LEDGER_ID];
    char action[8]; /* "add", "revoke" */
    char kind[24];
    int32_t valid_from, valid_to; /* 0 = not given / open-ended */
};
int ledger_filing_op_add(struct ledger *l, const struct ledger_filing_op *op);
int ledger_filing_ops_each(struct ledger *l,
                           void (*cb)(const struct ledger_filing_op *op, void *data), void *data);

/* --- listing (GET /sandbox/ledger, 5205) ------------------------------------------------ */
int ledger_settlements_each(struct ledger *l,
                            void (*cb)(const struct ledger_settlement *s, void *data), void *data);
/* Lines by visit (in the order of their first uploads), then uploading message, then as the
 * message carried them. A damaged visit fails the listing (-EIO), or with skip_damaged is
 * logged and left out. */
int ledger_fees_each(struct ledger *l, const char *psn_no, bool skip_damaged,
                     void (*cb)(const struct ledger_fee *f, void *data), void *data);

#endif
