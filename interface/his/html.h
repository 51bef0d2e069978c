/* The bounded, growable output buffer of the HIS server's text responses (printable documents,
 * metrics), with HTML escaping and UTF-8 repair of everything that comes from outside. */
#ifndef POSA_HIS_HTML_H
#define POSA_HIS_HTML_H

#include <stddef.h>

/* Ceiling of one printable document or metrics page. A statement with all 14 categories and
 * a full diagnosis list is ~20 KiB, so 1 MiB only ever stops a runaway input.
 * (A candidate for core/bound.h.) */
#define HTML_BUF_CEILING (1u << 20)

/* Embedded by the caller. data is NUL-terminated whenever it is non-NULL; len excludes the
 * NUL and never exceeds ceiling. The first failed append (POSA_ETOOLONG past the ceiling,
 * -ENOMEM) is kept in err and every later append returns it without writing, like ferror():
 * a writer may append a whole page and check once at the end. The content of a failed buffer
 * is incomplete and must not be sent. */
struct html_buf {
    char *data;
    size_t len;
    size_t cap;     /* bytes allocated, NUL included */
    size_t ceiling; /* the most len may reach */
    int err;        /* 0, or the first error (of an append or of html_buf_fail()) */
};

void html_buf_init(struct html_buf *buf, size_t ceiling);
/* Frees the storage; the buffer may be initialised again. Accepts a zeroed buffer. */
void html_buf_done(struct html_buf *buf);

/* Marks the buffer failed with err (< 0) unless it already failed, for a writer that meets
 * something it cannot print midway: the page is then refused like one past the ceiling.
 * Returns buf->err. */
int html_buf_fail(struct html_buf *buf, int err);

/* Appends trusted text (literals, markup, formatted numbers) verbatim. 0 or buf->err. */
int html_buf_put(struct html_buf *buf, const char *text);
int html_buf_putn(struct html_buf *buf, const char *text, size_t len);
/* Appends trusted formatted text; never pass outside strings through %s, escape them. */
int html_buf_printf(struct html_buf *buf, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Appends untrusted text escaped for HTML content and quoted attribute values: & < > " '
 * become entities, invalid UTF-8 bytes become U+FFFD, control characters other than tab and
 * newline are dropped. NULL is the empty string. 0 or buf->err. */
int html_escape(struct html_buf *buf, const char *text);

/* Length of the well-formed UTF-8 character at s[0..n) (1..4, shortest form, no surrogates,
 * at most U+10FFFF), or 0 when the bytes there are not one. n must be > 0. */
size_t html_utf8_len(const char *s, size_t n);

#define HTML_REPLACEMENT "\xEF\xBF\xBD" /* U+FFFD, what an invalid byte becomes */

#endif
