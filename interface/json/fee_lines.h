/* The HIS's fee lines (POST /v1/visits/{id}/fees body, his-api.md) mapped to core structs.
 * The lines' strings are the result's own (one block); the parsed document is freed before
 * fee_lines_parse returns. */
#ifndef POSA_JSON_FEE_LINES_H
#define POSA_JSON_FEE_LINES_H

#include <stdbool.h>
#include <stddef.h>

#include "core/flags.h"
#include "core/split.h"
#include "interface/json/jsonmap.h"

struct his_fee_line {
    const char *his_line_id;
    const char *hosp_code;   /* may be NULL */
    const char *name;        /* may be NULL */
    const char *time;        /* "YYYY-MM-DD HH:MM:SS" or NULL */
    const char *dept_code;   /* may be NULL */
    const char *doctor_code; /* may be NULL */
    struct fee_line fee;     /* list_code, price, qty, amount */
    bool has_outside;
    struct outside_line outside;
    bool discharge_med;
};

struct fee_lines {
    char *strings; /* every string of lines[], one after another */
    struct his_fee_line *lines;
    size_t n;
};

/* Parses {"lines":[...]} with at most max_lines lines (1..BOUND_LINES). On failure err names
 * the field ("lines[3].price") and nothing is kept. Release with fee_lines_done(). */
int fee_lines_parse(const char *text, size_t len, size_t max_lines, struct fee_lines *ret,
                    struct jsonmap_error *err);
void fee_lines_done(struct fee_lines *lines);

#endif
