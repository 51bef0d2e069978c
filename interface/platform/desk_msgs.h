/* The national messages of the desk flow (national-interface.md §2), encoded from and
 * decoded into plain structs: 1101 (person), 2201/2203 and 2401/2402 (visits), 2204/2301
 * (fee uploads and the platform's split), 2206/2207/2303/2304 (settlement and its
 * estimate), 2208/2305 (cancel), 3201 (day totals). Pure codec over json-c: encoders return
 * a new `input` object for envelope_request_build (NULL when out of memory); decoders read
 * an `output` object, borrow its strings, and name the bad field in err. Money is read from
 * exact text, strings or numbers alike. */
#ifndef POSA_PLATFORM_DESK_MSGS_H
#define POSA_PLATFORM_DESK_MSGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "core/bound.h"
#include "core/policy.h"
#include "core/split.h"
#include "interface/json/jsonmap.h"

#define DESK_INSURANCE_MAX 8
/* A 1101's filings read at most; of them, the BOUND_FILINGS that end last are kept. */
#define DESK_FILINGS_READ_MAX 256
#define DESK_FUNDS_MAX        16 /* kept; the last sums the rest when there are more */
#define DESK_FUNDS_REST       "其余基金"

/* How the patient was identified (mdtrt_cert_type): 01 e-voucher, 02 ID number, 03 card. */
struct desk_cert {
    const char *type;   /* "01" | "02" | "03" */
    const char *number; /* ecToken, ID number or card number */
    const char *card_sn;
    /* The person's certificate and name as the card or the e-voucher service gave them
     * ("" when not known); for 02 the number itself, as 01 (居民身份证). */
    const char *certno;
    const char *psn_cert_type;
    const char *psn_name;
};

/* 1101 (national-interface.md §2.2, §5) */
json_object *desk_1101_input(const struct desk_cert *cert);

struct desk_insurance {
    const char *insutype;
    const char *insuplc_admdvs;
    const char *psn_type;
    int64_t balance; /* balc, fen */
};

struct desk_person {
    const char *psn_no;
    const char *psn_name;
    const char *certno;
    const char *gender; /* gend */
    const char *birthday; /* brdy */
    struct desk_insurance insurance[DESK_INSURANCE_MAX];
    size_t n_insurance;
    bool has_filinginfo; /* the provincial extension was present */
    struct filing filings[BOUND_FILINGS];
    size_t n_filings;
};

int desk_1101_decode(struct json_object *output, struct desk_person *ret,
                     struct jsonmap_error *err);

struct desk_diagnosis {
    const char *code;
    const char *name;
    bool main;
};

/* What 2201/2203 and 2401 carry about a visit. */
struct desk_visit {
    const char *psn_no;
    const char *insutype;
    const char *insuplc_admdvs;
    const char *mdtrtarea_admvs;
    struct desk_cert cert;
    const char *his_visit_id; /* ipt_no / ipt_otp_no */
    const char *mdtrt_id;     /* 2203, 2402 */
    const char *med_type;
    const char *begntime;     /* "YYYY-MM-DD HH:MM:SS" */
    const char *dept_code;
    const char *dept_name;
    const char *doctor_code;
    const char *doctor_name;
    bool emergency;
    bool referral;
    bool trauma;
    bool third_party;
    const struct desk_diagnosis *diagnoses;
    size_t n_diagnoses;
};

json_object *desk_2401_input(const struct desk_visit *v);
json_object *desk_2201_input(const struct desk_visit *v);
json_object *desk_2203_input(const struct desk_visit *v);
/* 2402 discharge: endtime "YYYY-MM-DD HH:MM:SS", reason may be NULL. */
json_object *desk_2402_input(const struct desk_visit *v, const char *endtime, const char *reason);
/* 2405 discharge cancel: the stay is in hospital again (national-interface.md §2.5). */
json_object *desk_2405_input(const struct desk_visit *v);
/* 2202 registration cancel (data{psn_no, mdtrt_id, ipt_otp_no}) or 2404 admission cancel
 * (data{mdtrt_id, psn_no}), by infno. */
json_object *desk_visit_cancel_input(const char *infno, const char *psn_no, const char *mdtrt_id,
                                     const char *ipt_otp_no);

/* One fee line to upload (2204 outpatient, 2301 inpatient). */
struct desk_fee {
    const char *feedetl_sn;
    const char *list_code;  /* med_list_codg */
    const char *hosp_code;  /* medins_list_codg */
    const char *name;
    int64_t qty_e4;
    int64_t price_e6;
    int64_t amount_fen;
    const char *time;       /* fee_ocur_time */
    const char *dept_code;
    const char *doctor_code;
    const char *etip_hosp_code; /* outside line: the institution; NULL otherwise */
    const char *init_feedetl_sn; /* refund line: the line it refunds */
    bool discharge_med;          /* taken home at discharge (dscg_tkdrug_flag) */
};

/* infno is "2204" or "2301"; chrg_bchno is the outpatient batch (2204 only); emergency
 * makes each line's exp_content say er_flag 1. */
json_object *desk_fees_input(const char *infno, const char *psn_no, const char *mdtrt_id,
                             const char *chrg_bchno, bool emergency, const struct desk_fee *fees,
                             size_t n);

/* 2302 (inpatient: the lines by feedetl_sn) or 2205 (outpatient: the batch). */
json_object *desk_fees_cancel_input(const char *infno, const char *psn_no, const char *mdtrt_id,
                                    const char *chrg_bchno, const char *const *feedetl_sns,
                                    size_t n);

/* The platform's split of one uploaded line (2204/2301 output result[]). */
struct desk_fee_split {
    const char *feedetl_sn;
    struct split split; /* split.category 0 when the row has no med_chrgitm_type */
};

/* Calls cb for each row of output.result[]; a non-zero return stops and is returned. */
typedef int (*desk_fee_split_cb)(const struct desk_fee_split *row, void *data);
int desk_fees_decode(struct json_object *output, desk_fee_split_cb cb, void *data,
                     struct jsonmap_error *err);

/* 1312, the catalog by pages: page's rows (output.data[], borrowed), the page count the
 * platform gives (output.pages; -1 when absent: the caller pages on while pages come full)
 * and the rows of all pages (recordCounts; -1 when absent). A count outside 1..max_pages, or a page
 * with no row before the last, is POSA_ERANGE: a wrong count would load for ever. */
int desk_1312_decode(struct json_object *output, int64_t page, int64_t max_pages,
                     struct json_object **ret_rows, int64_t *ret_pages, int64_t *ret_total,
                     struct jsonmap_error *err);

/* 2206/2207 (outpatient) and 2303/2304 (inpatient). */
struct desk_settle {
    const char *psn_no;
    const char *mdtrt_id;
    const char *insutype;
    const char *insuplc_admdvs;
    struct desk_cert cert;
    int64_t medfee_sumamt;
    struct split_totals totals; /* the bill's parts (2207, 2304) */
    const char *med_type;       /* outpatient (2206, 2207) */
    bool use_account;
    const char *chrg_bchno; /* outpatient */
    const char *dscg_time;  /* inpatient, may be NULL */
};

json_object *desk_settle_input(const char *infno, const struct desk_settle *s);

struct desk_fund {
    const char *fund_pay_type;
    const char *name;
    int64_t amount;
};

struct desk_settlement {
    const char *setl_id;
    const char *mdtrt_id;
    const char *psn_no;
    const char *filing_kind; /* provincial extension; may be "" */
    const char *insutype;    /* "" when absent, as the three below */
    const char *clr_type;    /* clearing type: "11" outpatient, "21" stays */
    const char *clr_optins;  /* clearing institution: the insured region */
    const char *setl_time;   /* "yyyy-MM-dd HH:mm:ss", the platform's clock */
    struct policy_result amounts;
    struct desk_fund funds[DESK_FUNDS_MAX];
    size_t n_funds;
};

/* What a settlement's request said, for desk_settlement_check (NULL or "": not compared;
 * medfee_sumamt < 0: not compared). */
struct desk_settlement_sent {
    const char *mdtrt_id;
    const char *psn_no;
    int64_t medfee_sumamt;
};

/* output.setlinfo (+ setldetail[]) of 2206/2207/2303/2304/2208/2305/5203. */
int desk_settlement_decode(struct json_object *output, struct desk_settlement *ret,
                           struct jsonmap_error *err);

/* Whether a settlement's answer (2207/2304, or 5203 about one) can be what the platform did:
 * a setl_id, no negative amount, no part (fund, person, account, cash) larger than the total,
 * a setl_time that is a time, and the visit, person and total of the request (sent may be
 * NULL). How the parts add up is the province's (national-interface.md §2.4), not checked.
 * NULL when it can; else what is wrong, for the log. */
const char *desk_settlement_check(const struct desk_settlement *s,
                                  const struct desk_settlement_sent *sent);
/* ... but for the setl_id: a presettle's answer (2206, 2303), which settles nothing. */
const char *desk_amounts_check(const struct desk_settlement *s,
                               const struct desk_settlement_sent *sent);
/* The request's visit, person and total (a 2207/2304 envelope as journaled); all unset when
 * it cannot be read. Its strings are doc's, which the caller frees. */
struct json_object *desk_settlement_sent_read(const char *request,
                                              struct desk_settlement_sent *ret);

/* data{psn_no, mdtrt_id, setl_id} (NULL: ""): a settlement's cancel (2208/2305) and the
 * question about it (5203) name it alike. */
json_object *desk_settlement_input(const char *psn_no, const char *mdtrt_id, const char *setl_id);

/* 3201: the day's totals for one insutype and clearing type ("11" outpatient, "21" stays). */
struct desk_day_totals {
    const char *insutype;
    const char *clr_type;
    const char *setl_optins; /* the insured region */
    const char *begin_date;  /* "YYYY-MM-DD": the period's first day */
    const char *end_date;    /* and its last (the same for a day) */
    int64_t medfee_sumamt;
    int64_t fund_pay_sumamt;
    int64_t acct_pay;
    int64_t cash_pay; /* the persons' cash (psn_cash_pay), for 3202's cash_payamt */
    int64_t count;
};

json_object *desk_3201_input(const struct desk_day_totals *t);

/* One settlement of the day for 3202 (detail reconciliation inline, sandbox/README.md). */
struct desk_day_row {
    const char *psn_no;
    const char *mdtrt_id;
    const char *setl_id;
    const char *msgid;
    int64_t medfee_sumamt;
    int64_t fund_pay_sumamt;
    int64_t acct_pay;
};

json_object *desk_3202_input(const struct desk_day_totals *t, const struct desk_day_row *rows,
                             size_t n);
/* Calls cb for each row of output.detail[] that does not match (stmt_rslt != "0"), and for
 * each of output.platform_only[]; a non-zero return stops. */
typedef int (*desk_mismatch_cb)(struct json_object *row, bool platform_only, void *data);
int desk_3202_decode(struct json_object *output, desk_mismatch_cb cb, void *data,
                     struct jsonmap_error *err);
/* true when output.stmtinfo.stmt_rslt is "0" (the platform's totals match). */
int desk_3201_decode(struct json_object *output, bool *ret_match, const char **ret_text,
                     struct jsonmap_error *err);

#endif
