/* The bounded output buffer and HTML escaping of the HIS server's text responses. */
#include "interface/his/html.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

void html_buf_init(struct html_buf *buf, size_t ceiling)
{
    memset(buf, 0, sizeof *buf);
    buf->ceiling = ceiling;
}

void html_buf_done(struct html_buf *buf)
{
    free(buf->data);
    buf->data = NULL;
    buf->len = buf->cap = 0;
}

/* Makes room for extra more bytes plus the NUL, doubling so appends stay amortised O(1). */
static int reserve(struct html_buf *buf, size_t extra)
{
    size_t need, cap;
    char *data;

    if (buf->err)
        return buf->err;
    if (extra > buf->ceiling - buf->len)
        return buf->err = POSA_ETOOLONG;
    need = buf->len + extra + 1;
    if (need <= buf->cap)
        return 0;
    cap = buf->cap ? buf->cap : 256;
    while (cap < need)
        cap *= 2;
    if (cap > buf->ceiling + 1)
        cap = buf->ceiling + 1;
    data = realloc(buf->data, cap);
    if (!data)
        return buf->err = -ENOMEM;
    buf->data = data;
    buf->cap = cap;
    return 0;
}

int html_buf_fail(struct html_buf *buf, int err)
{
    if (!buf->err)
        buf->err = err;
    return buf->err;
}

int html_buf_putn(struct html_buf *buf, const char *text, size_t len)
{
    int rc = reserve(buf, len);

    if (rc < 0)
        return rc;
    memcpy(buf->data + buf->len, text, len);
    buf->len += len;
    buf->data[buf->len] = '\0';
    return 0;
}

int html_buf_put(struct html_buf *buf, const char *text)
{
    return html_buf_putn(buf, text, strlen(text));
}

int html_buf_printf(struct html_buf *buf, const char *fmt, ...)
{
    va_list ap;
    int n, rc;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return buf->err ? buf->err : (buf->err = POSA_EFIELD);
    rc = reserve(buf, (size_t)n);
    if (rc < 0)
        return rc;
    va_start(ap, fmt);
    vsnprintf(buf->data + buf->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    buf->len += (size_t)n;
    return 0;
}

size_t html_utf8_len(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t len;
    unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */

    if (p[0] < 0x80)
        return 1;
    if (p[0] < 0xC2 || p[0] > 0xF4)
        return 0; /* continuation byte, overlong lead, or beyond U+10FFFF */
    len = p[0] < 0xE0 ? 2 : p[0] < 0xF0 ? 3 : 4;
    if (p[0] == 0xE0)
        lo = 0xA0; /* overlong */
    else if (p[0] == 0xED)
        hi = 0x9F; /* surrogates */
    else if (p[0] == 0xF0)
        lo = 0x90; /* overlong */
    else if (p[0] == 0xF4)
        hi = 0x8F; /* beyond U+10FFFF */
    if (n < len || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return len;
}

/* The entity for c, or NULL when c passes as it is. */
static const char *entity(unsigned char c)
{
    switch (c) {
    case '&': return "&amp;";
    case '<': return "&lt;";
    case '>': return "&gt;";
    case '"': return "&quot;";
    case '\'': return "&#39;";
    case '\t':
    case '\n': return NULL;
    default: return c < 0x20 || c == 0x7F ? "" : NULL;
    }
}

/* U+202A-U+202E and U+2066-U+2069 (UTF-8 E2 80 AA-AE, E2 81 A6-A9): direction overrides
 * and isolates. One left open in a diagnosis name turns the rest of its cell backwards on
 * paper; nothing a statement prints needs them. */
static bool bidi_control(const char *p, size_t len)
{
    const unsigned char *u = (const unsigned char *)p;

    return len == 3 && u[0] == 0xE2 &&
           ((u[1] == 0x80 && u[2] >= 0xAA && u[2] <= 0xAE) ||
            (u[1] == 0x81 && u[2] >= 0xA6 && u[2] <= 0xA9));
}

int html_escape(struct html_buf *buf, const char *text)
{
    size_t n = text ? strlen(text) : 0, i = 0, run = 0;

    /* Runs of plain bytes are copied in one append; only special bytes break them. */
    while (i < n) {
        size_t len = html_utf8_len(text + i, n - i);
        const char *sub = NULL;

        if (len == 0)
            sub = HTML_REPLACEMENT;
        else if (len == 1)
            sub = entity((unsigned char)text[i]);
        else if (bidi_control(text + i, len))
            sub = "";

        if (!sub) {
            i += len;
            continue;
        }
        html_buf_putn(buf, text + run, i - run);
        html_buf_put(buf, sub);
        i += len ? len : 1;
        run = i;
    }
    html_buf_putn(buf, text ? text + run : "", i - run);
    return buf->err;
}
