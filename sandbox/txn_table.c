/* THE table of national transactions the sandbox serves: infno -> handler. */
#include <string.h>

#include "sandbox/txn.h"

static const struct txn_def txn_table[] = {
    {"9001", txn_9001_sign_in, TXN_NO_SIGN},
    {"9002", txn_9002_sign_out, 0},
    {"1101", txn_1101_person, 0},
    {"1312", txn_1312_catalog, 0},
    /* outpatient */
    {"2201", txn_2201_register, 0},
    {"2202", txn_2202_unregister, 0},
    {"2203", txn_2203_visit_info, 0},
    {"2203A", txn_2203_visit_info, 0},
    {"2204", txn_2204_fees, 0},
    {"2205", txn_2205_fees_cancel, 0},
    {"2206", txn_2206_presettle, 0},
    {"2207", txn_2207_settle, 0},
    {"2208", txn_2208_settle_cancel, 0},
    /* inpatient */
    {"2401", txn_2401_admit, 0},
    {"2402", txn_2402_discharge, 0},
    {"2403", txn_2403_admission_change, 0},
    {"2404", txn_2404_admit_cancel, 0},
    {"2405", txn_2405_discharge_cancel, 0},
    {"2301", txn_2301_fees, 0},
    {"2302", txn_2302_fees_cancel, 0},
    {"2303", txn_2303_presettle, 0},
    {"2304", txn_2304_settle, 0},
    {"2305", txn_2305_settle_cancel, 0},
    /* reversal, reconciliation, queries */
    {"2601", txn_2601_reverse, 0},
    {"3201", txn_3201_totals, 0},
    {"3202", txn_3202_detail, 0},
    {"5203", txn_5203_settlement, 0},
    {"5205", txn_5205_drug_record, 0},
};

const struct txn_def *txn_find(const char *infno)
{
    for (size_t i = 0; i < sizeof(txn_table) / sizeof(txn_table[0]); i++)
        if (strcmp(txn_table[i].infno, infno) == 0)
            return &txn_table[i];
    return NULL;
}
