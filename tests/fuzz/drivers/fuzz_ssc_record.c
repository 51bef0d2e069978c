/* libFuzzer target: social-security card records and the vendor library's output. The
 * first byte picks the tag the record must carry; the rest is the READ RECORD answer.
 * Invariants checked: no crash, and a successful decode leaves NUL-terminated fields. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/ssc.h"
#include "drivers/vendor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_identity(const struct card_identity *id)
{
    if (memchr(id->card_no, 0, sizeof id->card_no) == NULL ||
        memchr(id->card_sn, 0, sizeof id->card_sn) == NULL ||
        memchr(id->certno, 0, sizeof id->certno) == NULL ||
        memchr(id->name, 0, sizeof id->name) == NULL ||
        memchr(id->spec_version, 0, sizeof id->spec_version) == NULL ||
        memchr(id->birthplace, 0, sizeof id->birthplace) == NULL)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t tags[] = {0x01, 0x02, 0x03, 0x05, 0x06, 0x07, 0x08,
                                   0x09, 0x4E, 0x0A, 0x0B, 0x0C, 0x0D};
    struct card_identity id;
    const uint8_t *val;
    size_t len;

    if (size < 1)
        return 0;
    memset(&id, 0, sizeof id);
    uint8_t tag = tags[data[0] % sizeof tags];
    if (ssc_record_parse(data + 1, size - 1, tag, &val, &len) == 0) {
        if (val < data + 1 || val + len > data + size)
            abort();
        ssc_field_decode(&id, tag, val, len);
        ssc_field_decode(&id, 0x4E, val, len); /* the extension appends: bound holds */
        check_identity(&id);
    }
    if (vendor_out_parse(data, size, &id) == 0)
        check_identity(&id);
    return 0;
}
