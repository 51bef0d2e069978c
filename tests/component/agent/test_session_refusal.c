/* upstream_is_session_refusal: which refusals mean the platform lost posad's sign-in (sign in
 * again, send again) and which are about the message itself (an amount that happens to
 * hold the digits 9001 must not start a sign-in and a resend). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "agent/upstream.h"

static void test_session_lost(void **state)
{
    (void)state;
    assert_true(upstream_is_session_refusal("签到信息不存在"));
    assert_true(upstream_is_session_refusal("sign_no is not valid"));
    assert_true(upstream_is_session_refusal("please sign in first (9001)"));
    assert_true(upstream_is_session_refusal("9001"));
    assert_true(upstream_is_session_refusal("交易9001未执行"));
    assert_true(upstream_is_session_refusal("infno 9001 required first"));
    assert_true(upstream_is_session_refusal("请先调用9001"));
    assert_true(upstream_is_session_refusal("9001交易未执行"));
}

static void test_about_the_message(void **state)
{
    (void)state;
    assert_false(upstream_is_session_refusal(NULL));
    assert_false(upstream_is_session_refusal("amount 19001.50 over the limit"));
    assert_false(upstream_is_session_refusal("amount 9001.50 over the limit"));
    assert_false(upstream_is_session_refusal("item 90010001 not in the catalog"));
    assert_false(upstream_is_session_refusal("msgid H3101 was already used (infno 9001)"));
    /* 9001 as a fee line's number, not the sign-in's infno (found by review) */
    assert_false(upstream_is_session_refusal("明细流水号 9001 已上传, 不能重复上传"));
    assert_false(upstream_is_session_refusal("feedetl_sn 9001 was already uploaded"));
    assert_false(upstream_is_session_refusal("not found"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_session_lost),
        cmocka_unit_test(test_about_the_message),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
