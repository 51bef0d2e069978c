/* The desk flow's records (schema 0002): identify answers behind tokens, visits, their fee
 * lines, settlements, and the first answers to idempotent HIS requests. Each record keeps
 * the engine's JSON document in body with the columns queries need beside it; cache/ does
 * not look inside bodies. Synchronous, on the database thread, inside the caller's
 * transaction. Strings are borrowed for the call; rows read back own their strings. */
#ifndef POSA_CACHE_RECORDS_H
#define POSA_CACHE_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/split.h"

struct db;

#define RECORD_ID_MAX 64 /* bytes of any id column */

/* identities */
int records_identity_put(struct db *db, const char *token, const char *desk, const char *body,
                         int64_t now, int64_t expires_at);
/* POSA_ENOTFOUND, or POSA_ETOKEN_EXPIRED when expires_at <= now. *ret_body is malloc'd. */
int records_identity_get(struct db *db, const char *token, int64_t now, char **ret_body,
                         char ret_desk[RECORD_ID_MAX + 1]);

/* The insured person's fields every message of a visit carries (the body's "identity"),
 * kept beside the body so uploading fees and settling need not parse it. */
struct visit_identity {
    char psn_no[RECORD_ID_MAX + 1];
    char insutype[16];
    char insuplc_admdvs[16];
    char cert_type[16];
    char cert_no[2 * RECORD_ID_MAX + 1]; /* an ID number, a card number or an ecToken */
    char card_sn[RECORD_ID_MAX + 1];
};

struct visit_record {
    char visit_id[RECORD_ID_MAX + 1];
    char desk[RECORD_ID_MAX + 1];
    char his_visit_id[RECORD_ID_MAX + 1];
    char kind[16];
    char state[16];
    char mdtrt_id[RECORD_ID_MAX + 1];
    struct visit_identity who;
    bool emergency; /* tagged so when it opened (core/flags.h): er_flag on its fee lines */
    char med_type[8]; /* as the HIS opened it (up to 6 digits): 2206/2207 carry it */
    char *body;
    int64_t created_at;
    int64_t updated_at;
};

/* Inserts or replaces by visit_id (created_at kept from the first write). */
int records_visit_put(struct db *db, const struct visit_record *v, int64_t now);
/* POSA_ENOTFOUND. *ret is malloc'd: free with records_visit_free(). */
int records_visit_get(struct db *db, const char *visit_id, struct visit_record **ret);
/* The latest visit of kind ("outpatient", "inpatient") with the HIS's his_visit_id still
 * open, billed or settling: its visit_id, or POSA_ENOTFOUND. */
int records_visit_open_by_his_id(struct db *db, const char *his_visit_id, const char *kind,
                                 char ret_visit_id[RECORD_ID_MAX + 1]);
/* The visit a desk opened under the platform's mdtrt_id: its visit_id, or POSA_ENOTFOUND. */
int records_visit_by_mdtrt(struct db *db, const char *mdtrt_id,
                           char ret_visit_id[RECORD_ID_MAX + 1]);
void records_visit_free(struct visit_record *v);

struct line_record {
    char visit_id[RECORD_ID_MAX + 1];
    char his_line_id[RECORD_ID_MAX + 1];
    int64_t seq;
    char feedetl_sn[RECORD_ID_MAX + 1];
    char state[16];
    char upload_msgid[RECORD_ID_MAX + 1];
    /* The line as the HIS sent it and core's split of it. The strings are borrowed: the
     * writer's (NULL reads as ""), or in records_lines_list the row's, valid during the
     * callback only. */
    const char *list_code;
    const char *name;
    const char *time;
    int64_t qty_e4;
    int64_t price_e6;
    struct split split;
    const char *outside_institution; /* "" when not an outside line */
    const char *outside_form;
    int outside_kind; /* enum outside_kind */
    /* The HIS request that kept it: Idempotency-Key and request hash ("" without a key). */
    const char *his_key;
    const char *his_hash;
    const char *cancel_msgid; /* the 2205/2302 that cancelled it ("" while active) */
};

/* Keeps lines[0..n), what one upload carried, as one set (records_fees.c): their visit_id,
 * upload_msgid, his_key and his_hash are lines[0]'s, their seqs ascend and come after the
 * visit's earlier lines'. With replacing (some line was kept before under its his_line_id:
 * refused, cancelled or damaged, and is sent again), such earlier lines leave their sets
 * first, as one replaced; without, the visit's sets are not read at all. */
int records_lines_put(struct db *db, const struct line_record *lines, size_t n, bool replacing,
                      int64_t now);
/* The platform's split of some of the visit's active lines (ids[0..n), splits[0..n) the
 * same order) replaces posad's money parts of them (amount and its four parts) and their fee
 * category when the platform said one (split.category not 0); the level stays posad's. */
int records_lines_platform_split(struct db *db, const char *visit_id, const char *const *ids,
                                 const struct split *splits, size_t n);
/* The active lines of visit_id that upload_msgid carried become `refused`; unheard (the
 * refusal came after the HIS heard "queued"): `refused_queued`, until records_lines_heard. */
int records_lines_refused(struct db *db, const char *visit_id, const char *upload_msgid,
                          bool unheard);
/* The visit's `refused_queued` lines become `refused`: the HIS has been told of them. */
int records_lines_heard(struct db *db, const char *visit_id);
/* The active lines ids[0..n) of visit_id become `cancelled` by cancel_msgid, in one pass over
 * the visit: POSA_ENOTFOUND (and nothing changed, in the caller's transaction) unless every
 * one of them was an active line. */
int records_lines_cancel(struct db *db, const char *visit_id, const char *const *ids, size_t n,
                         const char *cancel_msgid);
/* The lines cancel_msgid cancelled are active again (the platform refused it); *ret_n (may
 * be NULL) gets how many. unheard (refused after the HIS heard "queued"): they keep
 * cancel_msgid, the mark of a cancel the HIS believes done, until cancelled again. */
int records_lines_uncancel(struct db *db, const char *visit_id, const char *cancel_msgid,
                           bool unheard, int64_t *ret_n);
/* Lines of a visit in seq order; cb's non-zero return stops and is returned. */
typedef int (*records_line_cb)(const struct line_record *line, void *data);
int records_lines_list(struct db *db, const char *visit_id, records_line_cb cb, void *data);
/* What settling sums: each active line of visit_id, and each `refused_queued` one (not on
 * the bill; the HIS is to be told). A damaged line (its stored form was unreadable, schema
 * 0005) stops it with POSA_ECORRUPT: a visit is never settled without one of its lines.
 * cb's non-zero return stops and is returned. */
int records_lines_active(struct db *db, const char *visit_id, records_line_cb cb, void *data);
/* The next seq for a visit's lines (1 for the first). */
int records_lines_next_seq(struct db *db, const char *visit_id, int64_t *ret);

struct settlement_record {
    char settlement_id[RECORD_ID_MAX + 1];
    char visit_id[RECORD_ID_MAX + 1];
    char state[16];
    char msgid[RECORD_ID_MAX + 1];
    char setl_id[RECORD_ID_MAX + 1];
    int32_t settle_date; /* yyyymmdd (Beijing) posad sent it; schema 0002 says "for the day's
                          * reconciliation", but reconciliation goes by the platform's setl_time */
    char *body;
    int64_t created_at;
    int64_t updated_at;
};

int records_settlement_put(struct db *db, const struct settlement_record *s, int64_t now);
int records_settlement_get(struct db *db, const char *settlement_id,
                           struct settlement_record **ret);
/* By the msgid that carried it (the resolver knows msgids). */
int records_settlement_by_msgid(struct db *db, const char *msgid, struct settlement_record **ret);
/* By the platform's setl_id (a cancel sent through the passthrough names it so). */
int records_settlement_by_setl_id(struct db *db, const char *setl_id,
                                  struct settlement_record **ret);
/* The visit's latest settlement still "pending", "queued" or "unknown": POSA_ENOTFOUND. */
int records_settlement_by_visit_open(struct db *db, const char *visit_id,
                                     struct settlement_record **ret);
/* The visit's latest settlement that stands ("settled"): POSA_ENOTFOUND. */
int records_settlement_by_visit_settled(struct db *db, const char *visit_id,
                                        struct settlement_record **ret);
void records_settlement_free(struct settlement_record *s);

/* Settlements counted by state, for /metrics: cb(state, count). */
int records_settlement_counts(struct db *db, int (*cb)(const char *state, int64_t count, void *data),
                              void *data);

/* Settlements the platform holds cancelled though no cancel of posad's did it (schema 0022):
 * put once per setl_id (again: kept as first found); list calls cb with each. */
int records_cancelled_elsewhere_put(struct db *db, const char *setl_id, const char *msgid,
                                    int64_t now);
int records_cancelled_elsewhere_list(struct db *db, int (*cb)(const char *setl_id, void *data),
                                     void *data);

/* The day's reconciliation report: put replaces; get POSA_ENOTFOUND. *ret is malloc'd. */
int records_report_put(struct db *db, int32_t date, const char *body, int64_t now);
int records_report_get(struct db *db, int32_t date, char **ret);

/* Deletes what carries personal data past its use: identities that expired before
 * expired_before, first answers of idempotent requests stored before answered_before, and
 * the journal's reads answered before answered_before (every query row: 1101 with the
 * patient's identity, 1312, the sign-ins, presettlements, 3201/3202, 5203, 5205; uploads and
 * settlements stay), all Unix ms, at most limit rows of each
 * (a backlog goes in several transactions).
 * *ret_deleted (may be NULL) gets the rows deleted. */
int records_prune(struct db *db, int64_t expired_before, int64_t answered_before, int limit,
                  int64_t *ret_deleted);

/* The first answer to an idempotent request: POSA_ENOTFOUND when there is none. */
int records_answer_get(struct db *db, const char *idem_key, char ret_hash[RECORD_ID_MAX + 1],
                       int *ret_status, char **ret_answer);
/* POSA_EEXISTS when the key has an answer already (the first one stays). */
int records_answer_put(struct db *db, const char *idem_key, const char *body_hash, int status,
                       const char *answer, int64_t now);

#endif
