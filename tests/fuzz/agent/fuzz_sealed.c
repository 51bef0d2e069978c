/* libFuzzer target: opening sealed values (agent/seal.c), what posad does to every sealed
 * column it reads, so a damaged database page reaches it as any bytes. Under one key loaded
 * for each cipher, the first byte chooses:
 *   even  the rest is a sealed value as read from disk: it opens to at most its own length,
 *         or is refused with POSA_ESEALED, never anything else;
 *   odd   the rest (after a 3-byte change: a position and a mask) is a plain value: sealed,
 *         it opens to itself; with one byte of the sealed value changed it does not open
 *         (a changed byte anywhere, the cipher byte, the IV, the text or the tag, is seen).
 * Bit 1 of the first byte chooses the cipher that seals (either opens both). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/seal.h"
#include "core/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define VALUE_MAX 65536

static struct db_sealer sealers[2]; /* aes-256-gcm, sm4: the same key */

static void load_keys(void)
{
    char path[] = "/tmp/posa-fuzz-seal-XXXXXX", why[256];
    static const char hex[] = "000102030405060708090a0b0c0d0e0f"
                              "101112131415161718191a1b1c1d1e1f\n";
    static const char *const ciphers[2] = {"aes-256-gcm", "sm4"};
    int fd = mkstemp(path); /* 0600: the owner-only file seal_key_load asks for */

    if (fd < 0 || write(fd, hex, sizeof hex - 1) != (ssize_t)(sizeof hex - 1))
        abort();
    close(fd);
    for (int i = 0; i < 2; i++) {
        struct seal_key *k;
        if (seal_key_load(path, ciphers[i], &k, why, sizeof why) != 0) {
            fprintf(stderr, "fuzz_sealed: %s: %s\n", ciphers[i], why);
            abort();
        }
        seal_sealer(k, &sealers[i]); /* kept for the process's life */
    }
    unlink(path);
}

static void open_any(const struct db_sealer *s, const uint8_t *v, size_t len)
{
    static unsigned char out[VALUE_MAX];
    size_t n = SIZE_MAX;
    int rc = s->open(s->ctx, v, len, out, &n);

    if (rc == 0 ? n > len : rc != POSA_ESEALED)
        abort();
}

static void round_trip(const struct db_sealer *s, const uint8_t *in, size_t size)
{
    static unsigned char sealed[VALUE_MAX + DB_SEAL_OVERHEAD_MAX], out[sizeof sealed];
    size_t pos, mask, len, n = 0;

    if (size < 3)
        return;
    pos = (size_t)in[0] << 8 | in[1];
    mask = in[2];
    in += 3;
    size -= 3;
    if (s->seal(s->ctx, in, size, sealed, &len) != 0 || len > size + DB_SEAL_OVERHEAD_MAX)
        abort();
    if (s->open(s->ctx, sealed, len, out, &n) != 0 || n != size || memcmp(out, in, size) != 0)
        abort();
    if (mask == 0)
        return;
    sealed[pos % len] ^= (unsigned char)mask;
    if (s->open(s->ctx, sealed, len, out, &n) != POSA_ESEALED)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!sealers[0].ctx)
        load_keys();
    if (size < 1 || size - 1 > VALUE_MAX)
        return 0;
    const struct db_sealer *s = &sealers[(data[0] >> 1) & 1];
    if (data[0] & 1)
        round_trip(s, data + 1, size - 1);
    else
        open_any(s, data + 1, size - 1);
    return 0;
}
