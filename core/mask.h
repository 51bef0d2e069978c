/* Masking of personal data for logs and the dashboard: identity numbers keep their first
 * 6 and last 4 characters, names their first character (UTF-8 aware), card numbers their
 * last 4. Output is always NUL-terminated and truncated to cap. */
#ifndef POSA_CORE_MASK_H
#define POSA_CORE_MASK_H

#include <stddef.h>

void mask_certno(const char *certno, char *buf, size_t cap);
void mask_name(const char *name, char *buf, size_t cap);
void mask_card(const char *card_no, char *buf, size_t cap);

#endif
