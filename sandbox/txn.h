/* One national transaction being served: its context, THE table of transactions (infno ->
 * handler), and the helpers the handlers share to read input and write output.
 *
 * A handler runs inside the ledger transaction that service.c opened (and under a savepoint:
 * when the handler refuses, everything it wrote is undone). It returns 0 with t->output set,
 * or txn_refuse()'s -1 with a plain message for the cashier in t->err.
 *
 * A handler of big messages may have a reader: it reads the message before the handler runs,
 * on the thread pool (service.c), seeing only the message and the scenario's catalog (fixed
 * once loaded), never the ledger or the rest of the sandbox; the handler finds what it read in
 * t->read. */
#ifndef POSA_SANDBOX_TXN_H
#define POSA_SANDBOX_TXN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "interface/platform/envelope.h"
#include "sandbox/ledger.h"
#include "sandbox/sandbox.h"

#define TXN_ERR 512

struct txn {
    struct sandbox *sb;
    const struct envelope_request *env;
    int64_t now;                /* the sandbox clock, yyyymmddHHMMSS */
    struct json_object *output; /* set by the handler on success */
    struct ledger_msg *msg;     /* the msgid row: the handler records ids and effects */
    void *read;                 /* what the def's reader read, or NULL */
    char err[TXN_ERR];
};

typedef int (*txn_fn)(struct txn *t);
/* NULL only when out of memory; the handler then refuses. */
typedef void *(*txn_read_fn)(const struct envelope_request *env,
                             const struct catalog_index *catalog);

enum txn_flags {
    TXN_NO_SIGN = 1, /* needs no sign_no (9001 itself) */
};

struct txn_def {
    const char *infno;
    txn_fn fn;
    unsigned flags;
    txn_read_fn read;              /* optional */
    void (*read_free)(void *read); /* with read */
};

/* The transaction of infno, or NULL. */
const struct txn_def *txn_find(const char *infno);

/* --- helpers (txn_util.c) ------------------------------------------------------------ */

int txn_refuse(struct txn *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The ledger failed: a refusal that says so. */
int txn_ledger_error(struct txn *t, int rc);

/* input[key] as an object (or the first element when it is an array of one object). */
struct json_object *txn_node(struct txn *t, const char *key);
/* input[key] as an array of objects (a single object counts as an array of one). */
struct json_object *txn_array(struct txn *t, const char *key, size_t max);

/* The entries of what txn_array returned (a list, or one object standing for a list). */
size_t txn_list_len(struct json_object *list);
struct json_object *txn_list_get(struct json_object *list, size_t i);

/* obj[key] as a string (a JSON number is taken by its text); absent or null: "" (or a
 * refusal naming where.key when required). */
int txn_str(struct txn *t, struct json_object *obj, const char *where, const char *key, size_t max,
            bool required, const char **ret);
/* obj[key] as a decimal at scale from a string or a number. */
int txn_dec(struct txn *t, struct json_object *obj, const char *where, const char *key, int scale,
            bool required, int64_t *ret);
/* "yyyy-MM-dd HH:mm:ss" or "yyyy-MM-dd" (then 00:00:00) into yyyymmddHHMMSS; "" gives
 * dflt. */
int txn_time(struct txn *t, struct json_object *obj, const char *where, const char *key,
             int64_t dflt, int64_t *ret);

/* The person psn_no; the envelope's insuplc_admdvs must be the person's insured region. */
int txn_person(struct txn *t, const char *psn_no, struct sc_person **ret);
/* The visit mdtrt_id of psn_no, inpatient or not, not cancelled. */
int txn_visit(struct txn *t, const char *mdtrt_id, const struct sc_person *p, bool inpatient,
              struct ledger_visit *ret);
/* A new id from a named counter: prefix + region + date + zero-padded sequence. */
int txn_new_id(struct txn *t, const char *counter, const char *prefix, char *buf, size_t cap);

/* Output helpers. */
void out_str(struct json_object *obj, const char *key, const char *value);
void out_money(struct json_object *obj, const char *key, int64_t fen);
void out_dec(struct json_object *obj, const char *key, int64_t value, int scale);
void out_time(struct json_object *obj, const char *key, int64_t time); /* "yyyy-MM-dd HH:mm:ss" */
void out_date(struct json_object *obj, const char *key, int32_t date); /* "yyyy-MM-dd"; 0: null */

/* The person's filings as they count: [{kind, valid_from, valid_to}]. */
struct json_object *out_filings(const struct sc_person *p);

/* --- handlers, by area --------------------------------------------------------------- */
int txn_9001_sign_in(struct txn *t);
int txn_9002_sign_out(struct txn *t);
int txn_1101_person(struct txn *t);
int txn_2201_register(struct txn *t);
int txn_2202_unregister(struct txn *t);
int txn_2203_visit_info(struct txn *t);
int txn_2204_fees(struct txn *t);
int txn_2205_fees_cancel(struct txn *t);
int txn_2206_presettle(struct txn *t);
int txn_2207_settle(struct txn *t);
int txn_2208_settle_cancel(struct txn *t);
int txn_2401_admit(struct txn *t);
int txn_2402_discharge(struct txn *t);
int txn_2403_admission_change(struct txn *t);
int txn_2404_admit_cancel(struct txn *t);
int txn_2405_discharge_cancel(struct txn *t);
int txn_2301_fees(struct txn *t);
int txn_2302_fees_cancel(struct txn *t);
int txn_2303_presettle(struct txn *t);
int txn_2304_settle(struct txn *t);
int txn_2305_settle_cancel(struct txn *t);
int txn_2601_reverse(struct txn *t);
int txn_3201_totals(struct txn *t);
int txn_3202_detail(struct txn *t);
int txn_5203_settlement(struct txn *t);
int txn_5205_drug_record(struct txn *t);
int txn_1312_catalog(struct txn *t);

/* Readers of the fee uploads (txn_fees.c). */
void *txn_2204_read(const struct envelope_request *env, const struct catalog_index *catalog);
void *txn_2301_read(const struct envelope_request *env, const struct catalog_index *catalog);
void fees_read_free(void *read);

/* Shared by outpatient and inpatient (txn_settle.c). */
int settle_run(struct txn *t, bool inpatient, bool commit);
int settle_cancel(struct txn *t, bool inpatient);
/* Undo or redo of a settlement by a reversal (txn_settle.c). */
int settle_reverse(struct txn *t, const char *msgid);
int settle_unreverse_cancel(struct txn *t, const char *cancel_msgid);

/* Undoing what a message did, for 2601 (by the msgid row's effect). */
int visit_reverse(struct txn *t, const struct ledger_msg *m);
int fees_reverse(struct txn *t, const struct ledger_msg *m);

/* Filing check shared by 2201 and 2401 (txn_visits.c). */
int visit_check_filing(struct txn *t, const struct sc_person *p, bool inpatient, bool emergency,
                       int32_t begin_date, enum filing_kind *ret_kind);

#endif
