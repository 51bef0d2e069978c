/* Desk binding: which cashier desk a reader or a scanner belongs to. A small ordered
 * table from the configuration; the first matching row wins. Pure. */
#ifndef POSA_DRIVERS_DESK_H
#define POSA_DRIVERS_DESK_H

#include <stddef.h>

#include "core/bound.h"

#define DESK_ROWS_MAX    64
#define DESK_PATTERN_MAX 128
#define DESK_ID_MAX      BOUND_DESK

enum desk_kind { DESK_READER, DESK_SCANNER };

/* pattern: a PC/SC reader name glob (fnmatch, e.g. "ACS ACR39U * 00 00"; never hard-code
 * the full name) or a scanner source ("/dev/ttyACM0", "tcp:0.0.0.0:9100", evdev path). */
struct desk_row {
    enum desk_kind kind;
    char pattern[DESK_PATTERN_MAX + 1];
    char desk[DESK_ID_MAX + 1];
};

struct desk_table {
    struct desk_row rows[DESK_ROWS_MAX];
    size_t n;
};

/* Appends a row after checking it: pattern 1..128 bytes, desk a desk id (str_is_desk).
 * 0, DRV_ECONFIG (bad value) or POSA_ETOOLONG (table full). */
int desk_table_add(struct desk_table *t, enum desk_kind kind, const char *pattern,
                   const char *desk);

/* The desk of the first row of kind matching name, or NULL. */
const char *desk_table_find(const struct desk_table *t, enum desk_kind kind, const char *name);
/* Another desk than the first's whose row of kind matches name too (a pattern that overlaps
 * another: the first wins, and the other desk waits for its reader in vain), or NULL. */
const char *desk_table_other(const struct desk_table *t, enum desk_kind kind, const char *name);

#endif
