/* Masking of identity numbers, names and card numbers for logs and screens. */
#include "core/mask.h"

#include <string.h>

/* Copies text keeping the first `head` and last `tail` bytes, stars between; a text too
 * short to show anything safely is all stars. */
static void mask_middle(const char *text, size_t head, size_t tail, char *buf, size_t cap)
{
    size_t len = text ? strlen(text) : 0, out = 0;

    if (cap == 0)
        return;
    if (len <= head + tail)
        head = tail = 0;
    for (size_t i = 0; i < len && out + 1 < cap; i++)
        buf[out++] = (i < head || i >= len - tail) ? text[i] : '*';
    buf[out] = '\0';
}

void mask_certno(const char *certno, char *buf, size_t cap)
{
    mask_middle(certno, 6, 4, buf, cap);
}

void mask_card(const char *card_no, char *buf, size_t cap)
{
    mask_middle(card_no, 0, 4, buf, cap);
}

/* Length of the UTF-8 sequence that starts with byte c (1 for invalid lead bytes). */
static size_t utf8_len(unsigned char c)
{
    if (c >= 0xF0 && c <= 0xF4)
        return 4;
    if (c >= 0xE0)
        return c <= 0xEF ? 3 : 1;
    if (c >= 0xC2)
        return 2;
    return 1;
}

void mask_name(const char *name, char *buf, size_t cap)
{
    size_t len = name ? strlen(name) : 0, first, out = 0, chars = 0;

    if (cap == 0)
        return;
    first = len ? utf8_len((unsigned char)name[0]) : 0;
    if (first > len)
        first = len;
    if (first + 1 > cap) { /* not even the first character fits whole */
        buf[0] = '\0';
        return;
    }
    memcpy(buf, name, first);
    out = first;
    for (size_t i = first; i < len; i += utf8_len((unsigned char)name[i]))
        chars++;
    /* One star per remaining character, so the name's length still shows. */
    for (; chars > 0 && out + 1 < cap; chars--)
        buf[out++] = '*';
    buf[out] = '\0';
}

static size_t digit_run(const char *s, size_t len)
{
    size_t n = 0;

    while (n < len && s[n] >= '0' && s[n] <= '9')
        n++;
    if (n && n < len && (s[n] == 'X' || s[n] == 'x'))
        n++;
    return n;
}

void mask_numbers_in(const char *text, char *buf, size_t cap)
{
    size_t len = text ? strlen(text) : 0, out = 0, i = 0;

    if (cap == 0)
        return;
    while (i < len) {
        size_t run = digit_run(text + i, len - i), n = run ? run : utf8_len((unsigned char)text[i]);
        size_t head = run >= 15 ? 6 : 0, tail = run >= 8 ? 4 : 2;

        if (n > len - i)
            n = len - i;
        if (out + n >= cap)
            break; /* whole characters and whole numbers only */
        for (size_t k = 0; k < n; k++)
            buf[out++] = run < 6 || k < head || k >= run - tail ? text[i + k] : '*';
        i += n;
    }
    buf[out] = '\0';
}
