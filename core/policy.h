/* The insured region's policy (policy.md, "Filing" and "Insured-region computation"): which
 * filing applies to a visit, and the settlement of split totals into fund and person parts.
 * Used by posa-sandbox to settle and by posad to estimate offline, so it takes plain structs.
 * Year accumulations are explicit input and output state. */
#ifndef POSA_CORE_POLICY_H
#define POSA_CORE_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bound.h"
#include "split.h"

enum filing_kind {
    FILING_NONE,
    FILING_LONG_TERM,
    FILING_REFERRAL,
    FILING_EMERGENCY,       /* never filed: deemed filed by an emergency visit */
    FILING_TEMPORARY_OTHER,
    FILING_COMMITMENT,      /* settles as long-term while valid */
};

struct filing {
    enum filing_kind kind;
    int32_t valid_from; /* yyyymmdd */
    int32_t valid_to;   /* yyyymmdd inclusive; 0 = open-ended */
};

struct filing_query {
    bool inpatient;
    bool emergency;
    int32_t begin_date;  /* admission, or the outpatient visit's date */
    int32_t settle_date; /* the (discharge) settlement's date; = begin_date for outpatient */
};

/* Chooses the filing kind for a visit: for a stay, any filing valid at some time between
 * admission and settlement counts (valid at admission covers the whole stay; a late filing
 * before the discharge settlement counts too); an outpatient visit needs one valid on its
 * date. Preference: long-term, commitment, referral, other temporary. An emergency visit with
 * no filing or only an other-temporary one applies FILING_EMERGENCY. Not filed and not
 * emergency: POSA_EFILING. *ret_used is the filing applied (NULL for emergency). */
int filing_resolve(const struct filing *filings, size_t n, const struct filing_query *query,
                   enum filing_kind *ret_kind, const struct filing **ret_used);

const char *filing_kind_name(enum filing_kind kind); /* "long_term", ... */
int filing_kind_parse(const char *name, enum filing_kind *ret);

enum temp_mode {
    TEMP_REDUCE_POINTS, /* ratio minus value percentage points */
    TEMP_SHARE_FIRST,   /* the person first bears value (a ratio) of the eligible amount */
};

struct temp_rule {
    enum temp_mode mode;
    int64_t value_e6; /* points as a ratio (10 points = 100000) or the share (0.20 = 200000) */
};

struct region_rate {
    const char *insutype;   /* "310" employee, "390" resident, ... */
    bool inpatient;
    char level;             /* hospital level '1'..'3', or '*' for any */
    int64_t deductible_fen;
    int64_t ratio_e6;
    int64_t cap_fen;        /* annual cap of the fund */
};

/* How each filing kind changes the local ratio. */
struct temp_rules {
    struct temp_rule referral, emergency, other;
};

/* An insurance type's own rules: Wuxi 2025 states its rules for employees (310) only, and
 * its residents keep the province's. */
struct insutype_rules {
    char insutype[4];
    struct temp_rules rules;
};

struct region_policy {
    const struct region_rate *rates;
    size_t n_rates;
    bool inpatient_deductible_per_year;  /* default: per admission */
    bool outpatient_deductible_per_year; /* default (policy.md): per year */
    struct temp_rules temporary;         /* every insurance type without its own below */
    struct insutype_rules temporary_for[BOUND_INSUTYPE_RULES];
    size_t n_temporary_for;
};

/* Per person and calendar year; moved by a settlement and moved back by its cancel. */
struct policy_accum {
    int64_t deductible_used; /* year-based deductible consumed */
    int64_t fund_paid;       /* fund paid towards the annual cap */
};

struct policy_input {
    const struct region_policy *region;
    const char *insutype;
    bool inpatient;
    char hospital_level;
    enum filing_kind filing;
    struct split_totals totals;       /* the visit's split (what this settlement covers) */
    int64_t visit_deductible_used;    /* deductible this visit already met (when per visit) */
    bool fund_excluded;               /* trauma with a third party: the fund pays nothing */
    bool use_account;
    int64_t account_balance;
};

struct policy_result {
    int64_t medfee_sumamt;
    int64_t fulamt_ownpay_amt;
    int64_t overlmt_selfpay;
    int64_t preselfpay_amt;
    int64_t inscp_scp_amt;
    int64_t act_pay_dedc;     /* deductible applied */
    int64_t share_first_amt;  /* borne first by the person in share mode */
    int64_t ratio_e6;         /* the ratio applied */
    int64_t hifp_pay;         /* pooled fund */
    int64_t fund_pay_sumamt;
    int64_t psn_part_amt;
    int64_t acct_pay;
    int64_t psn_cash_pay;
    bool cap_reached;
    struct policy_accum moved; /* what this settlement added to the year */
};

/* Settles totals under the region's policy. accum is the year so far; on success *ret holds
 * the amounts and ret->moved what to add to accum (see policy_accum_apply). POSA_ENORATE when
 * the region has no matching rate; POSA_EFILING for FILING_NONE; POSA_ERANGE/POSA_EOVERFLOW
 * on absurd input (year totals below zero among it). */
int policy_compute(const struct policy_input *in, const struct policy_accum *accum,
                   struct policy_result *ret);

/* Moves the year by a settlement (sign +1) or back by its cancel (sign -1). */
void policy_accum_apply(struct policy_accum *accum, const struct policy_accum *moved, int sign);

/* The filing kinds' rules for an insurance type: its own, or the region's. */
const struct temp_rules *policy_temp_rules(const struct region_policy *region,
                                           const char *insutype);

/* The rate row for (insutype, in/outpatient, level): an exact level beats '*'. */
const struct region_rate *policy_find_rate(const struct region_policy *region,
                                           const char *insutype, bool inpatient, char level);

#endif
