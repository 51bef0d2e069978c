/* THE message table: every national transaction posad knows, by infno, with what the
 * journal and the resolver need to know about it. Whether a message is interactive,
 * deferrable or a query is core's msg_kind_of(), not repeated here. */
#ifndef POSA_PLATFORM_MESSAGES_H
#define POSA_PLATFORM_MESSAGES_H

#include <stdbool.h>

#include "core/msg_fsm.h"

struct message_info {
    const char *infno;
    const char *name; /* for logs: "outpatient settlement" */
    bool settlement;  /* an unknown outcome is looked for with 5203 */
    bool cancel;      /* cancels a settlement: reversed when unknown, and if the platform
                       * refuses that 2601, 5203 says whether the settlement still stands */
};

/* The entry for infno (a suffixed "2203A" matches "2203": msg_infno_is), or NULL for one
 * posad does not know (which the passthrough still forwards, as interactive). */
const struct message_info *messages_find(const char *infno);

#endif
