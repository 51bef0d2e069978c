/* THE message table (national-interface.md §2): names, which transactions a reversal can
 * undo, which are settlements and which cancel one. */
#include "interface/platform/messages.h"

#include <string.h>

static const struct message_info message_table[] = {
    {"1101", "person info", false, false, false},
    {"1312", "catalog query", false, false, false},
    {"2001", "treatment check", false, false, false},
    {"2201", "outpatient registration", true, false, false},
    {"2202", "outpatient registration cancel", true, false, false},
    {"2203", "outpatient visit info upload", false, false, false},
    {"2204", "outpatient fee upload", false, false, false},
    {"2205", "outpatient fee cancel", false, false, false},
    {"2206", "outpatient pre-settlement", false, false, false},
    {"2207", "outpatient settlement", true, true, false},
    {"2208", "outpatient settlement cancel", true, false, true},
    {"2301", "inpatient fee upload", false, false, false},
    {"2302", "inpatient fee cancel", false, false, false},
    {"2303", "inpatient pre-settlement", false, false, false},
    {"2304", "inpatient settlement", true, true, false},
    {"2305", "inpatient settlement cancel", true, false, true},
    {"2401", "admission", true, false, false},
    {"2402", "discharge", true, false, false},
    {"2403", "admission info change", false, false, false},
    {"2404", "admission cancel", true, false, false},
    {"2405", "discharge cancel", true, false, false},
    {"2601", "reversal", false, false, false},
    {"3201", "reconciliation totals", false, false, false},
    {"3202", "reconciliation detail", false, false, false},
    {"5203", "settlement query", false, false, false},
    {"5205", "chronic disease medication query", false, false, false},
    {"9001", "sign in", false, false, false},
    {"9002", "sign out", false, false, false},
};

const struct message_info *messages_find(const char *infno)
{
    if (!infno)
        return NULL;
    for (size_t i = 0; i < sizeof message_table / sizeof message_table[0]; i++) {
        /* Provinces suffix some codes ("2203A"): the four digits decide. */
        if (strncmp(message_table[i].infno, infno, 4) == 0 && strlen(infno) >= 4 &&
            (infno[4] == '\0' || (infno[5] == '\0' && infno[4] >= 'A' && infno[4] <= 'Z')))
            return &message_table[i];
    }
    return NULL;
}

enum msg_kind messages_kind(const char *infno)
{
    return msg_kind_of(infno);
}
