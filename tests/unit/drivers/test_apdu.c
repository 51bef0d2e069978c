/* Unit tests of drivers/apdu.c: status-word mapping, 61xx GET RESPONSE, 6Cxx resend. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "drivers/apdu.h"
#include "core/err.h"

static void test_sw_map(void **state)
{
    static const struct {
        uint16_t sw;
        int err;
    } cases[] = {
        {0x9000, 0},
        {0x6A82, DRV_ESW_FILE},
        {0x6A83, DRV_ESW_RECORD},
        {0x6982, DRV_ESW_SECURITY},
        {0x6700, DRV_ESW_LENGTH},
        {0x6C10, DRV_ESW_LENGTH},
        {0x6A86, DRV_ESW_PARAM},
        {0x6A81, DRV_ESW_PARAM},
        {0x6B00, DRV_ESW_PARAM},
        {0x6D00, DRV_ESW_INS},
        {0x6E00, DRV_ESW_CLA},
        {0x6F00, DRV_ESW_OTHER},
        {0x6110, DRV_ESW_OTHER},
        {0x0000, DRV_ESW_OTHER},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(apdu_sw_err(cases[i].sw), cases[i].err);
}

/* A transport that answers from a script and records what it was sent. */
struct script {
    const char *const *answers; /* raw hex-free byte strings with their lengths */
    const size_t *lens;
    size_t n, next;
    uint8_t sent[8][APDU_MAX_CMD];
    size_t sent_len[8];
    int fail;
};

static int scripted(void *ctx, const uint8_t *cmd, size_t cmd_len, uint8_t *resp, size_t cap,
                    size_t *ret_len)
{
    struct script *s = ctx;
    if (s->fail)
        return s->fail;
    assert_true(s->next < s->n);
    if (s->next < 8) {
        memcpy(s->sent[s->next], cmd, cmd_len);
        s->sent_len[s->next] = cmd_len;
    }
    assert_true(s->lens[s->next] <= cap);
    memcpy(resp, s->answers[s->next], s->lens[s->next]);
    *ret_len = s->lens[s->next];
    s->next++;
    return 0;
}

static void test_plain_9000(void **state)
{
    const char *ans[] = {"\x07\x01\xAA\x90\x00"};
    const size_t lens[] = {5};
    struct script s = {ans, lens, 1, 0, {{0}}, {0}, 0};
    struct apdu_io io = {scripted, &s};
    const uint8_t cmd[] = {0x00, 0xB2, 0x07, 0x00, 0x03};
    uint8_t out[16];
    size_t n = 99;
    uint16_t sw = 0;

    (void)state;
    assert_int_equal(apdu_exchange(&io, cmd, sizeof cmd, out, sizeof out, &n, &sw), 0);
    assert_int_equal(n, 3);
    assert_int_equal(sw, 0x9000);
    assert_memory_equal(out, "\x07\x01\xAA", 3);
}

static void test_get_response_chain(void **state)
{
    /* 61 03 -> GET RESPONSE Le 03 gives 2 bytes + 61 01 -> GET RESPONSE Le 01 -> 1 byte. */
    const char *ans[] = {"\x61\x03", "\x01\x02\x61\x01", "\x03\x90\x00"};
    const size_t lens[] = {2, 4, 3};
    struct script s = {ans, lens, 3, 0, {{0}}, {0}, 0};
    struct apdu_io io = {scripted, &s};
    const uint8_t cmd[] = {0x00, 0xA4, 0x04, 0x00, 0x02, 0xAB, 0xCD};
    uint8_t out[16];
    size_t n = 0;
    uint16_t sw = 0;

    (void)state;
    assert_int_equal(apdu_exchange(&io, cmd, sizeof cmd, out, sizeof out, &n, &sw), 0);
    assert_int_equal(n, 3);
    assert_memory_equal(out, "\x01\x02\x03", 3);
    assert_int_equal(sw, 0x9000);
    assert_int_equal(s.sent_len[1], 5);
    assert_memory_equal(s.sent[1], "\x00\xC0\x00\x00\x03", 5);
    assert_memory_equal(s.sent[2], "\x00\xC0\x00\x00\x01", 5);
}

static void test_wrong_le_resend(void **state)
{
    const char *ans[] = {"\x6C\x0B", "\x07\x09"
                                     "A00000001"
                                     "\x90\x00"};
    const size_t lens[] = {2, 13};
    struct script s = {ans, lens, 2, 0, {{0}}, {0}, 0};
    struct apdu_io io = {scripted, &s};
    const uint8_t cmd[] = {0x00, 0xB2, 0x07, 0x00, 0x00};
    uint8_t out[16];
    size_t n = 0;
    uint16_t sw = 0;

    (void)state;
    assert_int_equal(apdu_exchange(&io, cmd, sizeof cmd, out, sizeof out, &n, &sw), 0);
    assert_int_equal(n, 11);
    assert_memory_equal(s.sent[1], "\x00\xB2\x07\x00\x0B", 5);
}

static void test_wrong_le_case3_appends(void **state)
{
    const char *ans[] = {"\x6C\x02", "\x6F\x00\x90\x00"};
    const size_t lens[] = {2, 4};
    struct script s = {ans, lens, 2, 0, {{0}}, {0}, 0};
    struct apdu_io io = {scripted, &s};
    const uint8_t cmd[] = {0x00, 0xA4, 0x02, 0x00, 0x02, 0xEF, 0x05};
    uint8_t out[16];
    size_t n = 0;
    uint16_t sw = 0;

    (void)state;
    assert_int_equal(apdu_exchange(&io, cmd, sizeof cmd, out, sizeof out, &n, &sw), 0);
    assert_int_equal(s.sent_len[1], 8);
    assert_int_equal(s.sent[1][7], 0x02);
}

static void test_error_sw_passed_up(void **state)
{
    const char *ans[] = {"\x6A\x82"};
    const size_t lens[] = {2};
    struct script s = {ans, lens, 1, 0, {{0}}, {0}, 0};
    struct apdu_io io = {scripted, &s};
    const uint8_t cmd[] = {0x00, 0xA4, 0x02, 0x00, 0x02, 0xEF, 0x06};
    uint8_t out[16];
    size_t n = 0;
    uint16_t sw = 0;

    (void)state;
    assert_int_equal(apdu_exchange(&io, cmd, sizeof cmd, out, sizeof out, &n, &sw), 0);
    assert_int_equal(sw, 0x6A82);
    assert_int_equal(apdu_sw_err(sw), DRV_ESW_FILE);
}

static void test_transport_error_and_garbage(void **state)
{
    const char *ans[] = {"\x90"};
    const size_t lens[] = {1};
    const size_t zero[] = {0};
    struct script s = {ans, lens, 1, 0, {{0}}, {0}, DRV_EGONE};
    struct apdu_io io = {scripted, &s};
    const uint8_t cmd[] = {0x00, 0xB2, 0x01, 0x00, 0x12};
    uint8_t out[16];
    size_t n = 0;
    uint16_t sw = 0;

    (void)state;
    assert_int_equal(apdu_exchange(&io, cmd, sizeof cmd, out, sizeof out, &n, &sw), DRV_EGONE);
    s.fail = 0;
    assert_int_equal(apdu_exchange(&io, cmd, sizeof cmd, out, sizeof out, &n, &sw),
                     DRV_ESW_OTHER); /* one byte: no status word */
    s.lens = zero;
    s.next = 0;
    assert_int_equal(apdu_exchange(&io, cmd, sizeof cmd, out, sizeof out, &n, &sw),
                     DRV_EGONE); /* nothing: the card is gone (vpcd) */
}

static void test_endless_chain_bounded(void **state)
{
    const char *ans[20];
    size_t lens[20];
    for (int i = 0; i < 20; i++) {
        ans[i] = "\x61\x01";
        lens[i] = 2;
    }
    struct script s = {ans, lens, 20, 0, {{0}}, {0}, 0};
    struct apdu_io io = {scripted, &s};
    const uint8_t cmd[] = {0x00, 0xB2, 0x01, 0x00, 0x12};
    uint8_t out[256];
    size_t n = 0;
    uint16_t sw = 0;

    (void)state;
    assert_int_equal(apdu_exchange(&io, cmd, sizeof cmd, out, sizeof out, &n, &sw), DRV_ESW_CHAIN);
    assert_true(s.next <= 16);
}

static void test_response_larger_than_out(void **state)
{
    const char *ans[] = {"\x01\x02\x03\x04\x90\x00"};
    const size_t lens[] = {6};
    struct script s = {ans, lens, 1, 0, {{0}}, {0}, 0};
    struct apdu_io io = {scripted, &s};
    const uint8_t cmd[] = {0x00, 0xB2, 0x01, 0x00, 0x04};
    uint8_t out[3];
    size_t n = 0;
    uint16_t sw = 0;

    (void)state;
    assert_int_equal(apdu_exchange(&io, cmd, sizeof cmd, out, sizeof out, &n, &sw), DRV_ESW_CHAIN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sw_map),
        cmocka_unit_test(test_plain_9000),
        cmocka_unit_test(test_get_response_chain),
        cmocka_unit_test(test_wrong_le_resend),
        cmocka_unit_test(test_wrong_le_case3_appends),
        cmocka_unit_test(test_error_sw_passed_up),
        cmocka_unit_test(test_transport_error_and_garbage),
        cmocka_unit_test(test_endless_chain_bounded),
        cmocka_unit_test(test_response_larger_than_out),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
