/* Copying a C string into a fixed buffer, writing a number, naming an element of a list,
 * and ordering arrays of strings. */
#ifndef POSA_CORE_STR_H
#define POSA_CORE_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Copies src (NULL: "") into dst of cap bytes, cut to fit and terminated (cap 0: nothing is
 * written); true when all of it fit. A cut falls between UTF-8 characters, never inside one:
 * a platform's long Chinese message cut mid-character made the HIS's JSON unreadable. What
 * snprintf(dst, cap, "%s", src) does, without parsing a format: the sandbox copies a dozen fields
 * of every fee line this way. */
bool str_copy(char *dst, size_t cap, const char *src);

/* n in decimal, written at the end of buf; returns where it starts. */
#define STR_DECIMAL_MAX 21 /* the digits of any uint64_t and the NUL */
const char *str_decimal(char buf[STR_DECIMAL_MAX], uint64_t n);

/* Writes "name[i]" into dst like str_copy (cut to fit, terminated); true when all of it fit.
 * What snprintf(dst, cap, "%s[%zu]", name, i) does: the name of a line in a refusal, built
 * for every line of every upload, where the format parsing was 3% of the sandbox's work. */
bool str_index(char *dst, size_t cap, const char *name, size_t i);

/* The 32-bit FNV-1a hash of s: for tables keyed by an id (the sandbox's fee lines by
 * feedetl_sn, an upload's visits by mdtrt_id). Not for anything an attacker chooses keys of
 * to slow down more than the input's own size allows. */
uint32_t str_hash(const char *s);

/* Whether s is an identifier as a platform gives them (mdtrt_id, psn_no, setl_id): one or
 * more visible ASCII characters, no blank, no control: one that is not would go into later
 * messages, logs and printed documents as it came. */
bool str_is_code(const char *s);

/* Whether s is a desk's id: 1 to BOUND_DESK bytes of ASCII letters and digits, '-', '_', '.'
 * or other (well-formed UTF-8) characters past Latin-1's symbols that are no space or
 * punctuation (U+2000-U+206F, U+3000-U+303F, U+FEFF, U+FFF0-), such as 门诊收费1. Everything else
 * is refused where a desk is named (config, requests, ?desk=): '*' means every desk, ',' ';' '='
 * ':' separate the config's lists, and a blank or a control would pass into logs as it came. */
bool str_is_desk(const char *s);
#define STR_DESK_RULE "letters, digits, '-', '_', '.' or Chinese characters, at most 32 bytes"

/* The value of a hex digit (either case), or -1. */
int str_hex_digit(char c);

/* qsort/bsearch order of an array of `const char *` (strcmp of the pointed-to strings). */
int str_ptr_cmp(const void *a, const void *b);

#endif
