/* libFuzzer target: the scanner line splitter, validation and de-duplication. The input
 * is fed in chunks whose sizes come from the input itself. Invariants: every line
 * reported valid is 1..512 printable bytes; nothing longer is ever valid. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/err.h"
#include "drivers/qr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ctx {
    struct qr_dedup dedup;
    int64_t now;
};

static void on_line(void *data, int status, const uint8_t *line, size_t len)
{
    struct ctx *c = data;

    if (status == 0) {
        if (len == 0 || len > BOUND_QR_LINE || qr_line_check(line, len) != 0)
            abort();
        for (size_t i = 0; i < len; i++)
            if (line[i] < 0x20 || line[i] > 0x7E)
                abort();
        qr_dedup_is_repeat(&c->dedup, (const char *)line, len, c->now);
        c->now += len % 3000;
    } else if (status != DRV_EQR_INVALID) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct qr_line l;
    struct ctx c = {.now = 0};
    size_t off = 0;

    qr_line_init(&l);
    qr_dedup_init(&c.dedup, QR_DEDUP_WINDOW_MS);
    qr_line_check(data, size);
    while (off < size) {
        size_t chunk = 1 + data[off] % 64;
        if (chunk > size - off)
            chunk = size - off;
        qr_line_feed(&l, data + off, chunk, on_line, &c);
        off += chunk;
    }
    return 0;
}
