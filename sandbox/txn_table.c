/* THE table of national transactions the sandbox serves: infno -> handler. */
#include <string.h>

#include "sandbox/txn.h"

static const struct txn_def txn_table[] = {
    {.infno = "9001", .fn = txn_9001_sign_in, .flags = TXN_NO_SIGN},
    {.infno = "9002", .fn = txn_9002_sign_out},
    {.infno = "1101", .fn = txn_1101_person},
    {.infno = "1312", .fn = txn_1312_catalog},
    /* outpatient */
    {.infno = "2201", .fn = txn_2201_register},
    {.infno = "2202", .fn = txn_2202_unregister},
    {.infno = "2203", .fn = txn_2203_visit_info},
    {.infno = "2203A", .fn = txn_2203_visit_info},
    {.infno = "2204", .fn = txn_2204_fees, .read = txn_2204_read, .read_free = fees_read_free},
    {.infno = "2205", .fn = txn_2205_fees_cancel},
    {.infno = "2206", .fn = txn_2206_presettle},
    {.infno = "2207", .fn = txn_2207_settle},
    {.infno = "2208", .fn = txn_2208_settle_cancel},
    /* inpatient */
    {.infno = "2401", .fn = txn_2401_admit},
    {.infno = "2402", .fn = txn_2402_discharge},
    {.infno = "2403", .fn = txn_2403_admission_change},
    {.infno = "2404", .fn = txn_2404_admit_cancel},
    {.infno = "2405", .fn = txn_2405_discharge_cancel},
    {.infno = "2301", .fn = txn_2301_fees, .read = txn_2301_read, .read_free = fees_read_free},
    {.infno = "2302", .fn = txn_2302_fees_cancel},
    {.infno = "2303", .fn = txn_2303_presettle},
    {.infno = "2304", .fn = txn_2304_settle},
    {.infno = "2305", .fn = txn_2305_settle_cancel},
    /* reversal, reconciliation, queries */
    {.infno = "2601", .fn = txn_2601_reverse},
    {.infno = "3201", .fn = txn_3201_totals},
    {.infno = "3202", .fn = txn_3202_detail},
    {.infno = "5203", .fn = txn_5203_settlement},
    {.infno = "5205", .fn = txn_5205_drug_record},
};

const struct txn_def *txn_find(const char *infno)
{
    for (size_t i = 0; i < sizeof(txn_table) / sizeof(txn_table[0]); i++)
        if (strcmp(txn_table[i].infno, infno) == 0)
            return &txn_table[i];
    return NULL;
}
