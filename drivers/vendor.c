/* Vendor card library: dlopen'd ReadCardBas and the parser of its output. */
#include "drivers/vendor.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/datetime.h"
#include "core/err.h"
#include "drivers/gbk.h"
#include "drivers/ssc.h"

#define VENDOR_FIELDS_MAX 16

struct field {
    const uint8_t *p;
    size_t len;
};

/* Splits on '|' without cutting a GBK character whose second byte is 0x7C. */
static int split_fields(const uint8_t *text, size_t len, struct field *f, size_t *ret_n)
{
    size_t n = 0, start = 0, i = 0;

    while (i < len) {
        size_t cl = gbk_char_len(text + i, len - i);
        if (cl == 0)
            return DRV_EGBK;
        if (cl == 1 && text[i] == '|') {
            if (n == VENDOR_FIELDS_MAX)
                break; /* trailing extras are ignored */
            f[n++] = (struct field){text + start, i - start};
            start = i + 1;
        }
        i += cl;
    }
    *ret_n = n; /* text after the last '|' (normally nothing) is not a field */
    return 0;
}

static bool digits(const struct field *f, size_t want)
{
    if (f->len != want)
        return false;
    for (size_t i = 0; i < f->len; i++)
        if (f->p[i] < '0' || f->p[i] > '9')
            return false;
    return true;
}

static int text_date(const struct field *f, int32_t *ret)
{
    int32_t v = 0;

    if (!digits(f, 8))
        return DRV_EDATE;
    for (size_t i = 0; i < 8; i++)
        v = v * 10 + (f->p[i] - '0');
    if (!date_is_valid(v))
        return DRV_EDATE;
    *ret = v;
    return 0;
}

static int hex_card_sn(const struct field *f, uint8_t bin[CARD_SN_LEN / 2])
{
    if (f->len != CARD_SN_LEN)
        return DRV_EFIELD;
    for (size_t i = 0; i < CARD_SN_LEN; i++) {
        uint8_t c = f->p[i], v;
        if (c >= '0' && c <= '9')
            v = c - '0';
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            v = (uint8_t)((c | 0x20) - 'a' + 10);
        else
            return DRV_EFIELD;
        bin[i / 2] = (uint8_t)(i % 2 ? bin[i / 2] | v : v << 4);
    }
    return 0;
}

int vendor_out_parse(const uint8_t *text, size_t len, struct card_identity *ret)
{
    struct field f[VENDOR_FIELDS_MAX];
    struct card_identity id = {.profile = "vendor"};
    uint8_t sn[CARD_SN_LEN / 2];
    size_t n = 0;
    int rc = split_fields(text, len, f, &n);

    if (rc < 0)
        return rc;
    size_t b = (n > 0 && !digits(&f[0], 6) && n > 1 && digits(&f[1], 6)) ? 1 : 0;
    if (n < b + 9 || !digits(&f[b], 6))
        return DRV_EVENDOR;
    const struct field *v = f + b;
    rc = ssc_field_decode(&id, 0x08, v[1].p, v[1].len);
    if (rc == 0)
        rc = ssc_field_decode(&id, 0x07, v[2].p, v[2].len);
    if (rc == 0)
        rc = hex_card_sn(&v[3], sn);
    if (rc == 0)
        rc = ssc_field_decode(&id, 0x01, sn, sizeof sn);
    if (rc == 0)
        rc = ssc_field_decode(&id, 0x09, v[4].p, v[4].len);
    if (rc == 0)
        rc = ssc_field_decode(&id, 0x03, v[6].p, v[6].len);
    if (rc == 0)
        rc = text_date(&v[7], &id.issue_date);
    if (rc == 0)
        rc = text_date(&v[8], &id.expiry_date);
    if (rc < 0)
        return rc;
    if (id.name[0] == '\0')
        return DRV_EFIELD;
    memcpy(id.region, v[0].p, 6); /* the library's own 发卡地区区划 wins over card_sn's */
    id.region[6] = '\0';
    *ret = id;
    return 0;
}

int vendor_lib_open(struct vendor_lib *lib, const char *path, const char *init_json)
{
    *lib = (struct vendor_lib){0};
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h)
        return DRV_EVENDOR;
    /* POSIX allows converting dlsym's object pointer to a function pointer. */
    vendor_read_fn rd = (vendor_read_fn)(uintptr_t)dlsym(h, "ReadCardBas");
    vendor_init_fn in = (vendor_init_fn)(uintptr_t)dlsym(h, "Init");
    if (!rd)
        goto fail;
    if (init_json && in) {
        char err[VENDOR_OUT_MAX] = {0};
        lib->last_rc = in(init_json, err);
        if (lib->last_rc != 0)
            goto fail;
    }
    lib->handle = h;
    lib->read_card_bas = rd;
    return 0;
fail:
    dlclose(h);
    return DRV_EVENDOR;
}

void vendor_lib_close(struct vendor_lib *lib)
{
    if (lib->handle)
        dlclose(lib->handle);
    lib->handle = NULL;
    lib->read_card_bas = NULL;
}

int vendor_read_identity(struct vendor_lib *lib, struct card_identity *ret)
{
    /* Heap, not stack: two large buffers on the reader thread's stack are not worth it. */
    char *out = calloc(2, VENDOR_OUT_MAX + 1);
    int rc;

    if (!out)
        return -ENOMEM;
    lib->last_rc = lib->read_card_bas(out, out + VENDOR_OUT_MAX + 1);
    if (lib->last_rc != 0) {
        rc = DRV_EVENDOR;
        goto out;
    }
    out[VENDOR_OUT_MAX] = '\0';
    rc = vendor_out_parse((const uint8_t *)out, strlen(out), ret);
out:
    free(out);
    return rc;
}
