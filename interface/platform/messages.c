/* THE message table (national-interface.md §2): names, which are settlements and which
 * cancel one. */
#include "interface/platform/messages.h"

#include <string.h>

static const struct message_info message_table[] = {
    {"1101", "person info", false, false},
    {"1312", "catalog query", false, false},
    {"2001", "treatment check", false, false},
    {"2201", "outpatient registration", false, false},
    {"2202", "outpatient registration cancel", false, false},
    {"2203", "outpatient visit info upload", false, false},
    {"2204", "outpatient fee upload", false, false},
    {"2205", "outpatient fee cancel", false, false},
    {"2206", "outpatient pre-settlement", false, false},
    {"2207", "outpatient settlement", true, false},
    {"2208", "outpatient settlement cancel", false, true},
    {"2301", "inpatient fee upload", false, false},
    {"2302", "inpatient fee cancel", false, false},
    {"2303", "inpatient pre-settlement", false, false},
    {"2304", "inpatient settlement", true, false},
    {"2305", "inpatient settlement cancel", false, true},
    {"2401", "admission", false, false},
    {"2402", "discharge", false, false},
    {"2403", "admission info change", false, false},
    {"2404", "admission cancel", false, false},
    {"2405", "discharge cancel", false, false},
    {"2601", "reversal", false, false},
    {"3201", "reconciliation totals", false, false},
    {"3202", "reconciliation detail", false, false},
    {"5203", "settlement query", false, false},
    {"5205", "chronic disease medication query", false, false},
    {"9001", "sign in", false, false},
    {"9002", "sign out", false, false},
};

const struct message_info *messages_find(const char *infno)
{
    if (!infno)
        return NULL;
    for (size_t i = 0; i < sizeof message_table / sizeof message_table[0]; i++)
        if (msg_infno_is(infno, message_table[i].infno))
            return &message_table[i];
    return NULL;
}
