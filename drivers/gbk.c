/* GB18030 -> UTF-8 through iconv, with card padding rules. */
#include "drivers/gbk.h"

#include <errno.h>
#include <iconv.h>
#include <string.h>

#include "core/err.h"
#include "core/err.h"

size_t gbk_char_len(const uint8_t *s, size_t avail)
{
    if (avail == 0)
        return 0;
    if (s[0] < 0x80)
        return 1;
    if (s[0] == 0x80 || s[0] == 0xFF || avail < 2)
        return 0;
    if (s[1] >= 0x40 && s[1] <= 0xFE && s[1] != 0x7F)
        return 2;
    if (s[1] >= 0x30 && s[1] <= 0x39 && avail >= 4 && s[2] >= 0x81 && s[2] <= 0xFE &&
        s[3] >= 0x30 && s[3] <= 0x39)
        return 4;
    return 0;
}

int gbk_to_utf8(const uint8_t *in, size_t len, char *out, size_t cap)
{
    const uint8_t *nul = memchr(in, 0, len);
    size_t n = nul ? (size_t)(nul - in) : len;
    int rc = 0;

    while (n > 0 && in[n - 1] == ' ')
        n--;
    if (cap == 0)
        return POSA_ETOOLONG;
    iconv_t cd = iconv_open("UTF-8", "GB18030");
    if (cd == (iconv_t)-1)
        return DRV_EGBK;
    char *src = (char *)(uintptr_t)in; /* iconv's prototype is not const-correct */
    char *dst = out;
    size_t src_left = n, dst_left = cap - 1;
    if (iconv(cd, &src, &src_left, &dst, &dst_left) == (size_t)-1)
        rc = errno == E2BIG ? POSA_ETOOLONG : DRV_EGBK;
    iconv_close(cd);
    if (rc < 0) {
        out[0] = '\0';
        return rc;
    }
    *dst = '\0';
    return 0;
}
