/* Printable documents of a cross-province visit as HTML (UTF-8, A4/A5 print CSS): the
 * settlement statement (annex 13 of the 2022 national operating procedures), the trauma
 * no-third-party commitment (annex 11) and the outside exam/treatment/purchase form
 * (annex 12). The views are plain data the engine fills; every string in them is treated
 * as untrusted and escaped, identity numbers are printed masked. Pure: no clock, no I/O. */
#ifndef POSA_HIS_DOCUMENTS_H
#define POSA_HIS_DOCUMENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/policy.h"
#include "core/split.h"
#include "interface/his/html.h"

/* Strings below may be NULL: they print as empty (or as a blank line to fill by hand). */

struct doc_diagnosis {
    const char *code; /* ICD-10, "S72.001" */
    const char *name;
    bool main;
};

struct doc_patient {
    const char *name;
    const char *gend;   /* national code "1" 男, "2" 女, "9"; other text printed as is */
    const char *certno; /* the full number: documents print it through mask_certno() */
    const char *psn_no;
    const char *insutype;       /* national code "310"; its name is added when known */
    const char *insured_region; /* insuplc_admdvs, or its name */
};

struct doc_visit {
    const char *province; /* treating province for titles ("江苏省"); NULL: "___省（区、市）" */
    const char *hospital_name;
    const char *hospital_code;   /* fixmedins_code */
    const char *treating_region; /* the hospital's admdvs, or its name */
    bool inpatient;
    const char *his_visit_id; /* the hospital's admission or outpatient number */
    const char *mdtrt_id;
    const char *dept_name;
    const char *begin_time; /* "YYYY-MM-DD HH:MM:SS" */
    const char *end_time;   /* discharge; NULL while in hospital */
    const struct doc_diagnosis *diagnoses;
    size_t n_diagnoses;
};

/* The settlement's amounts in fen, named as in the HIS API and 2207's setlinfo. */
struct doc_amounts {
    int64_t medfee_sumamt;
    int64_t fulamt_ownpay_amt;
    int64_t overlmt_selfpay;
    int64_t preselfpay_amt;
    int64_t inscp_scp_amt;
    int64_t act_pay_dedc;
    int64_t hifp_pay;
    int64_t fund_pay_sumamt;
    int64_t psn_part_amt;
    int64_t acct_pay;
    int64_t psn_cash_pay;
};

struct doc_fund {
    const char *fund_pay_type; /* "310100" */
    const char *name;          /* fund_pay_type_name as the platform sent it */
    int64_t amount;
};

struct statement_view {
    struct doc_patient patient;
    struct doc_visit visit;
    enum filing_kind filing;
    const char *setl_id; /* NULL for an estimate */
    const char *settle_time;
    const struct bill *bill; /* the 14 fee categories; NULL leaves the table out */
    struct doc_amounts amounts;
    const struct doc_fund *funds;
    size_t n_funds;
    bool emergency;
    bool trauma;
    bool trauma_third_party;
    bool outside;           /* the stay has outside exam/treatment/purchase lines */
    bool audit_30k;         /* inpatient total >= 30,000.00: may be investigated (§58) */
    bool estimated;         /* computed locally while the platform was offline */
    bool cancelled;         /* refunded (2208/2305) since: printed, but marked void */
    const char *cancelled_at, *cancel_msgid; /* ... when, and by which message ("": unknown) */
    bool
        cancelled_elsewhere; /* ... not by posad: found so (cancelled_at), posad refunded nothing */
    const char *printed_at; /* the caller's clock; core and documents read none */
};

struct trauma_form_view {
    struct doc_patient patient;
    struct doc_visit visit;
    bool certno_unmasked;    /* print the full identity number (the hospital's choice) */
    const char *injury_time; /* NULL: a blank line the patient fills by hand */
    const char *injury_place;
    const char *injury_cause;
    const char *printed_at;
};

struct doc_outside_line {
    const char *institution_code;
    const char *institution_name; /* NULL: the code alone */
    const char *kind;             /* "exam" | "treatment" | "pharmacy", as in the HIS API */
    const char *form_ref;
    const char *item_name;
    int64_t amount;
};

struct outside_form_view {
    struct doc_patient patient;
    struct doc_visit visit;
    bool certno_unmasked;
    const struct doc_outside_line *lines;
    size_t n_lines;
    const char *printed_at;
};

/* Each appends one complete HTML page to out (which the caller initialised with its
 * ceiling, e.g. HTML_BUF_CEILING). 0, POSA_ETOOLONG past the ceiling, POSA_EOVERFLOW when a
 * total overflows, POSA_ERANGE for an amount that cannot be printed (INT64_MIN; a cash part
 * beyond documents_amount_upper()'s range is printed in digits only), or -ENOMEM; on error out
 * holds an incomplete page that must not be sent. */
int documents_statement_format(const struct statement_view *view, struct html_buf *out);
int documents_trauma_format(const struct trauma_form_view *view, struct html_buf *out);
int documents_outside_format(const struct outside_form_view *view, struct html_buf *out);

/* Room for any amount documents_amount_upper() accepts, NUL included. */
#define DOCUMENTS_UPPER_MAX 256

/* Writes fen as a Chinese uppercase amount (大写) the way bank and invoice forms require:
 * 壹仟柒佰贰拾元整, 壹拾元零伍分, 伍角, 负… for a refund. Only the 零 the rules make
 * mandatory are written (壹拾万柒仟元, 壹佰元壹角), 整 only after 元. Returns the length,
 * POSA_ERANGE beyond +-999,999,999,999.99 yuan, or POSA_ETOOLONG when cap is too small. */
int documents_amount_upper(int64_t fen, char *buf, size_t cap);

/* The amounts of a local estimate (core's policy engine) as a statement shows them. */
void documents_amounts_from_policy(const struct policy_result *result, struct doc_amounts *ret);

#endif
