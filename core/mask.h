/* Masking of personal data for logs and the dashboard: identity numbers keep their first
 * 6 and last 4 characters (an old 15-digit one 6 and 3, other lengths 2 and 2 or nothing: the
 * birth date never shows), names their first character (UTF-8 aware), card numbers their
 * last 4. Output is always NUL-terminated and truncated to cap. */
#ifndef POSA_CORE_MASK_H
#define POSA_CORE_MASK_H

#include <stddef.h>

void mask_certno(const char *certno, char *buf, size_t cap);
void mask_name(const char *name, char *buf, size_t cap);
void mask_card(const char *card_no, char *buf, size_t cap);
/* Free text from outside (the platform's err_msg) for a log: every run of 6 or more digits
 * (an X after them is an ID number's check character) masked, keeping of a run of 15 or more
 * what mask_certno does, the last 4 of 8-14 (card, phone), the last 2 of 6-7; and a
 * name where a name is said, after 参保人(员), 患者, 病人, 就诊人, 被保险人, 姓名 or
 * psn_name (and a colon, space, '=', or an opening bracket or quote, as in 参保人员【张三】;
 * not a parenthesis, as in 姓名(必填)):
 * 2 to 4 Han characters, up to a word that is not a name (信息, 身份, 不,
 * 已, ...), keep their first as mask_name does. A name said otherwise cannot be told from
 * other words and stays; also after the word name, and after 人员 with a colon, space, bracket
 * or quote (人员死亡 says why, not whose). A code or token (16 or more ASCII letters
 * and digits, with 2 or more letters: an e-voucher's QR code, an ecToken) keeps its first 4.
 * Truncated whole characters. */
void mask_free_text(const char *text, char *buf, size_t cap);

#endif
