/* Unit tests of core/mask.h: identity numbers, names (UTF-8) and card numbers masked for
 * logs, always NUL-terminated within cap and never cut inside a UTF-8 character. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include "core/mask.h"

#define CANARY 0x5a

/* Runs fn into a buffer with canaries around cap bytes; checks the NUL and the canaries. */
static void run_masked(void (*fn)(const char *, char *, size_t), const char *in, size_t cap,
                       char *out, size_t out_size)
{
    unsigned char buf[256];
    assert_true(cap + 16 <= sizeof buf);
    memset(buf, CANARY, sizeof buf);
    fn(in, (char *)buf + 8, cap);
    for (size_t i = 0; i < 8; i++)
        assert_int_equal(buf[i], CANARY);
    for (size_t i = 8 + cap; i < sizeof buf; i++)
        assert_int_equal(buf[i], CANARY);
    if (cap > 0) {
        assert_non_null(memchr(buf + 8, '\0', cap));
        assert_true(strlen((char *)buf + 8) < out_size);
        strcpy(out, (char *)buf + 8);
    }
}

/* Well-formed UTF-8 (no cut sequence). */
static bool is_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int n = *p < 0x80             ? 0
                : (*p & 0xe0) == 0xc0 ? 1
                : (*p & 0xf0) == 0xe0 ? 2
                : (*p & 0xf8) == 0xf0 ? 3
                                      : -1;
        if (n < 0)
            return false;
        p++;
        for (int i = 0; i < n; i++, p++)
            if ((*p & 0xc0) != 0x80)
                return false;
    }
    return true;
}

static bool all_stars(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != '*')
            return false;
    return true;
}

static void test_certno(void **state)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        /* 18 chars: first 6 + 8 stars + last 4 */
        {"320102199001011234", "320102********1234"},
        {"32010219900101123X", "320102********123X"},
        /* 15 chars (old numbers): first 6, last 3: the birth date (900101) hidden whole */
        {"320102900101123", "320102******123"},
        /* other lengths keep 2 and 2 (a travel permit's 11), 16 and more 6 and 4 */
        {"M1234567890", "M1*******90"},
        {"H12345678901", "H1********01"},
        {"1234567890123456", "123456******3456"},
    };
    char out[64];

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        run_masked(mask_certno, cases[i].in, 64, out, sizeof out);
        assert_string_equal(out, cases[i].want);
    }

    /* truncated to cap, NUL-terminated: 9 characters fit in 10 bytes */
    run_masked(mask_certno, "320102199001011234", 10, out, sizeof out);
    assert_string_equal(out, "320102***");
    run_masked(mask_certno, "320102199001011234", 1, out, sizeof out);
    assert_string_equal(out, "");
    run_masked(mask_certno, "320102199001011234", 0, out, sizeof out); /* writes nothing */

    run_masked(mask_certno, "", 64, out, sizeof out);
    assert_string_equal(out, "");
}

/* Short identity numbers must not come out whole: nothing to keep both ends of. */
static void test_certno_short(void **state)
{
    (void)state;
    static const char *const shorts[] = {"1", "12", "1234", "1234567890", "12345678901"};
    char out[64];

    for (size_t i = 0; i < sizeof shorts / sizeof shorts[0]; i++) {
        run_masked(mask_certno, shorts[i], 64, out, sizeof out);
        if (strcmp(out, shorts[i]) == 0 || (strlen(shorts[i]) >= 4 && strstr(out, shorts[i]))) {
            print_error("mask_certno(\"%s\") = \"%s\": not masked\n", shorts[i], out);
            fail();
        }
    }
}

static void test_name(void **state)
{
    (void)state;
    char out[64];

    /* 张三: keeps 张 (3 bytes), hides 三 */
    run_masked(mask_name, "张三", 64, out, sizeof out);
    assert_memory_equal(out, "张", 3);
    assert_null(strstr(out, "三"));
    assert_true(all_stars(out + 3, strlen(out) - 3));
    assert_true(is_utf8(out));

    /* 欧阳娜娜: only 欧 */
    run_masked(mask_name, "欧阳娜娜", 64, out, sizeof out);
    assert_memory_equal(out, "欧", 3);
    assert_true(all_stars(out + 3, strlen(out) - 3));
    assert_true(strlen(out) > 3);

    /* a 4-byte first character (CJK extension B) is kept whole */
    run_masked(mask_name, "\xf0\xa0\x80\x80明", 64, out, sizeof out);
    assert_memory_equal(out, "\xf0\xa0\x80\x80", 4);
    assert_true(all_stars(out + 4, strlen(out) - 4));

    /* ASCII names too */
    run_masked(mask_name, "Alice", 64, out, sizeof out);
    assert_int_equal(out[0], 'A');
    assert_true(all_stars(out + 1, strlen(out) - 1));
    assert_null(strstr(out, "lice"));

    run_masked(mask_name, "", 64, out, sizeof out);
    assert_string_equal(out, "");
}

/* Truncation never leaves half a character: 张 needs 3 bytes + NUL. */
static void test_name_truncation(void **state)
{
    (void)state;
    char out[64];

    for (size_t cap = 1; cap <= 8; cap++) {
        run_masked(mask_name, "张三丰", cap, out, sizeof out);
        assert_true(is_utf8(out));
        assert_true(strlen(out) < cap);
        assert_null(strstr(out, "三"));
        if (cap >= 4)
            assert_memory_equal(out, "张", 3);
    }
    run_masked(mask_name, "张三", 4, out, sizeof out);
    assert_string_equal(out, "张");
    run_masked(mask_name, "张三", 0, out, sizeof out);
}

/* Broken UTF-8 must not make the masker read past the NUL or emit a cut sequence. */
static void test_name_broken_utf8(void **state)
{
    (void)state;
    static const char *const broken[] = {"\xe5\xbc", "\xe5", "\xff\xfe", "\x80\x80",
                                         "\xf0\xa0\x80"};
    char out[64];

    for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++) {
        run_masked(mask_name, broken[i], 64, out, sizeof out);
        assert_true(strlen(out) <= 8);
    }
}

static void test_card(void **state)
{
    (void)state;
    char out[64];

    run_masked(mask_card, "6222021234567890", 64, out, sizeof out);
    assert_string_equal(out + strlen(out) - 4, "7890");
    assert_true(strlen(out) > 4 && all_stars(out, strlen(out) - 4));
    assert_null(strstr(out, "622202"));

    run_masked(mask_card, "A12345678", 64, out, sizeof out); /* social security card no. */
    assert_string_equal(out + strlen(out) - 4, "5678");
    assert_null(strstr(out, "A1234"));

    run_masked(mask_card, "6222021234567890", 5, out, sizeof out);
    assert_true(strlen(out) == 4);
    assert_null(strstr(out, "6222"));
    run_masked(mask_card, "", 64, out, sizeof out);
    assert_string_equal(out, "");
}

static void test_numbers_in_text(void **state)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"参保人王䶮 身份证320206198805051252 查询失败",
         "参保人王* 身份证320206********1252 查询失败"},
        /* a name where a name is said: after 参保人, 患者, 姓名, ... */
        {"参保人张建国身份证320211195603120157结算信息查询失败",
         "参保人张**身份证320211********0157结算信息查询失败"},
        {"患者：李㛃已结算", "患者：李*已结算"},
        /* in brackets, quotes or key=value, as platforms write them */
        {"参保人员【张三】未备案", "参保人员【张*】未备案"},
        {"患者“李四”不存在", "患者“李*”不存在"},
        {"姓名=赵六,", "姓名=赵*,"},
        {"psn_name:王小二", "psn_name:王**"},
        {"病人[钱七]", "病人[钱*]"},
        {"患者‘李四’《王五》", "患者‘李*’《王五》"},
        {"患者《李四》", "患者《李*》"},
        {"就诊人员：李四", "就诊人员：李*"},
        {"PSN_NAME:王小二", "PSN_NAME:王**"},
        {"姓名(必填)", "姓名(必填)"}, /* what the field is, not whose */
        {"姓名: 王磊, 电话13912345678", "姓名: 王*, 电话*******5678"},
        {"被保险人𠀀亅亅", "被保险人𠀀**"},       /* a 4-byte character (Ext. B) */
        {"就诊人欧阳娜娜娜", "就诊人欧***娜"},    /* at most 4 */
        {"参保人信息不存在", "参保人信息不存在"}, /* words that are no name */
        {"患者未登记", "患者未登记"},
        {"病人张 ok", "病人张 ok"},               /* one character: not a name */
        {"参保人 Zhang San", "参保人 Zhang San"}, /* not Han: kept */
        {"certno 32021319850214042x refused", "certno 320213********042x refused"},
        {"旧证320211560312015无效", "旧证320211******015无效"}, /* 15: the birth date hidden */
        {"卡号W32010101无效", "卡号W****0101无效"},             /* 8 digits: the last 4 */
        {"电话13812345678", "电话*******5678"},                 /* 11: the last 4 */
        {"psn_no 32020000000000000000000101", "psn_no 320200****************0101"},
        {"code 123456 and 1234567", "code ****56 and *****67"},       /* 6-7: the last 2 */
        {"infcode -1, 12345 is short", "infcode -1, 12345 is short"}, /* under 6: kept */
        {"签到信息不存在, 请重新签到(9001)", "签到信息不存在, 请重新签到(9001)"},
        {"X123456X", "X*****6X"}, /* an X before is a letter, after a check character */
        /* numbers as people write them: groups of 3 or more joined by a space or hyphen */
        {"手机号 139-1234-5678", "手机号 ***-****-5678"},
        {"tel=+86 138 1234 5678", "tel=+** *** **** 5678"},
        {"证件号码 320205 1959 0823 024x", "证件号码 320205 **** **** 024x"},
        {"结算日期2026-11-25 09:30", "结算日期2026-11-25 09:30"}, /* a date is no number */
        {"卡 W3201-0101 ok", "卡 W****-0101 ok"},                 /* 4 + 4 digits: 8 */
        {"证件号码 1101 0119 9001 0112 34", "证件号码 1101 01** **** **12 34"}, /* 18 */
        {"13812345678 13912345678", "*******5678 *******5678"}, /* two phones, not one */
        {"第 100-200 条", "第 100-200 条"},                     /* 6 digits: no identifier */
        {"1 234 567.89", "1 234 567.89"},
        /* an e-voucher code or token: its first 4; a msgid (one letter) is no token, only
         * its digits a long number's */
        {"电子凭证SBQR320200b11f23c18fde39c90e02438c58406f9560a2无效",
         "电子凭证SBQR******************************************无效"},
        {"ecToken 630000ec7ioqup8p1o0761820a0000f1f8b13d expired",
         "ecToken 6300********************************** expired"},
        {"msgid H31010100001202611252029540005 used", "msgid H310101*******************0005 used"},
        {"ab12cd34ef56gh78ij", "ab12**************"},
        {"ab12cd34ef56gh7", "ab12cd34ef56gh7"}, /* 15: no token, and no 6 digits in a row */
        /* a name after the word name too, not after a field name ending in it; and 人员
         * says no name comes: its words stay (人员死亡 is why the platform refused) */
        {"cert 1 name 陈静 refused", "cert 1 name 陈* refused"},
        {"hilist_name：阿莫西林胶囊", "hilist_name：阿莫西林胶囊"},
        {"fixmedins_name：上海市第一人民医院", "fixmedins_name：上海市第一人民医院"},
        {"人员死亡", "人员死亡"},
        {"人员所属统筹区不一致", "人员所属统筹区不一致"},
        /* ... but after 人员 and a bracket, quote or colon, a name comes */
        {"人员【赵六】已死亡", "人员【赵*】已死亡"},
        {"人员：张建国", "人员：张**"},
        {"", ""},
    };
    char buf[160];

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mask_free_text(cases[i].in, buf, sizeof buf);
        assert_string_equal(buf, cases[i].want);
    }
    mask_free_text(NULL, buf, sizeof buf);
    assert_string_equal(buf, "");
}

/* Truncated, never a half character or half a number's digits shown. */
static void test_numbers_in_text_truncated(void **state)
{
    char buf[16];

    (void)state;
    mask_free_text("身份证320206198805051252", buf, sizeof buf); /* 9 bytes, then 18 */
    assert_string_equal(buf, "身份证");
    mask_free_text("王䶮王", buf, 6); /* 3 + 3 bytes and the NUL: the second does not fit */
    assert_string_equal(buf, "王");
    mask_free_text("abc", buf, 1);
    assert_string_equal(buf, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_certno),
        cmocka_unit_test(test_certno_short),
        cmocka_unit_test(test_name),
        cmocka_unit_test(test_name_truncation),
        cmocka_unit_test(test_name_broken_utf8),
        cmocka_unit_test(test_card),
        cmocka_unit_test(test_numbers_in_text),
        cmocka_unit_test(test_numbers_in_text_truncated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
