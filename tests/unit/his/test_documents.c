/* Unit tests of interface/his/documents.c: the Chinese uppercase amount (a hand-written
 * table of the payment-form rules), and that each document carries its key fields, its
 * page size, masked identity numbers and nothing unescaped from its input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "interface/his/documents.h"

struct upper_case {
    int64_t fen;
    const char *text;
};

/* Written by hand from the rules for filling in payment forms: 零 for zeros between digits,
 * one 零 for a run, 零 after 元 when 角 is zero and 分 is not, 整 only after 元. */
static const struct upper_case upper_cases[] = {
    {0, "零元整"},
    {5, "伍分"},
    {50, "伍角"},
    {1, "壹分"},
    {55, "伍角伍分"},
    {100, "壹元整"},
    {1000, "壹拾元整"},
    {1005, "壹拾元零伍分"},
    {2000, "贰拾元整"},
    {10010, "壹佰元壹角"},
    {100100, "壹仟零壹元整"},
    {101000, "壹仟零壹拾元整"},
    {172000, "壹仟柒佰贰拾元整"},
    {337600, "叁仟叁佰柒拾陆元整"},
    {140950, "壹仟肆佰零玖元伍角"},
    {600714, "陆仟零柒元壹角肆分"},
    {32504, "叁佰贰拾伍元零肆分"},
    {168032, "壹仟陆佰捌拾元叁角贰分"},
    {1000000, "壹万元整"},
    {1000100, "壹万零壹元整"},
    {1010000, "壹万零壹佰元整"},
    {10000005, "壹拾万元零伍分"},
    {10010000, "壹拾万零壹佰元整"},
    {10700053, "壹拾万柒仟元伍角叁分"},
    {10000000000, "壹亿元整"},
    {10000000100, "壹亿零壹元整"},
    {10001000000, "壹亿零壹万元整"},
    {11000000000, "壹亿壹仟万元整"},
    {10000100000, "壹亿零壹仟元整"},
    {12345678912, "壹亿贰仟叁佰肆拾伍万陆仟柒佰捌拾玖元壹角贰分"},
    {99999999999999, "玖仟玖佰玖拾玖亿玖仟玖佰玖拾玖万玖仟玖佰玖拾玖元玖角玖分"},
    {-172000, "负壹仟柒佰贰拾元整"},
    {-5, "负伍分"},
    {-10000005, "负壹拾万元零伍分"},
};

static void test_amount_upper(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof upper_cases / sizeof upper_cases[0]; i++) {
        char buf[DOCUMENTS_UPPER_MAX];
        int rc = documents_amount_upper(upper_cases[i].fen, buf, sizeof buf);

        if (rc < 0 || strcmp(buf, upper_cases[i].text) != 0)
            print_error("%lld fen: rc %d \"%s\"\n", (long long)upper_cases[i].fen, rc, buf);
        assert_int_equal(rc, (int)strlen(upper_cases[i].text));
        assert_string_equal(buf, upper_cases[i].text);
    }
}

static void test_amount_upper_limits(void **state)
{
    char buf[DOCUMENTS_UPPER_MAX];

    (void)state;
    assert_int_equal(documents_amount_upper(100000000000000, buf, sizeof buf), POSA_ERANGE);
    assert_int_equal(documents_amount_upper(-100000000000000, buf, sizeof buf), POSA_ERANGE);
    assert_int_equal(documents_amount_upper(INT64_MIN, buf, sizeof buf), POSA_ERANGE);
    assert_int_equal(documents_amount_upper(INT64_MAX, buf, sizeof buf), POSA_ERANGE);
    /* "壹元整" is 9 bytes: 10 fit, 9 do not (the NUL). */
    assert_int_equal(documents_amount_upper(100, buf, 10), 9);
    assert_int_equal(documents_amount_upper(100, buf, 9), POSA_ETOOLONG);
    assert_string_equal(buf, "");
    assert_int_equal(documents_amount_upper(100, buf, 0), POSA_ETOOLONG);
}

/* ---- a filled statement: policy.md's first worked example (long-term filing, in-scope
 * 10,000.00, deductible 800.00, 90%: fund 8,280.00, person 1,720.00) ---------------------- */

static const struct doc_diagnosis diagnoses[] = {
    {"S72.001", "股骨颈骨折", true},
    {"I10.x00", "高血压", false},
};

static const struct doc_fund funds[] = {
    {"310100", "职工基本医疗保险统筹基金", 828000},
};

static struct bill sample_bill;

static void fill_bill(void)
{
    /* category, in-scope amount: 800 + 1500 + 1200 + 900 + 2600 + 400 + 1100 + 1500 */
    static const int64_t in_scope[][2] = {{1, 80000},  {3, 150000}, {4, 120000}, {5, 90000},
                                          {6, 260000}, {7, 40000},  {8, 110000}, {9, 150000}};

    bill_init(&sample_bill);
    for (size_t i = 0; i < sizeof in_scope / sizeof in_scope[0]; i++) {
        struct split line = {.amount = in_scope[i][1],
                             .inscp = in_scope[i][1],
                             .lv = LV_A,
                             .category = (uint8_t)in_scope[i][0]};

        assert_int_equal(bill_add(&sample_bill, &line), 0);
    }
}

static struct doc_patient sample_patient(void)
{
    return (struct doc_patient){
        .name = "张三",
        .gend = "1",
        .certno = "110105198001011234",
        .psn_no = "11000011000000012345",
        .insutype = "310",
        .insured_region = "110105",
    };
}

static struct doc_visit sample_visit(void)
{
    return (struct doc_visit){
        .province = "江苏省",
        .hospital_name = "无锡市人民医院",
        .hospital_code = "H32020100001",
        .treating_region = "320200",
        .inpatient = true,
        .his_visit_id = "ZY2026001234",
        .mdtrt_id = "MD3202000000123",
        .dept_name = "骨科",
        .begin_time = "2026-11-01 09:30:00",
        .end_time = "2026-11-20 10:00:00",
        .diagnoses = diagnoses,
        .n_diagnoses = 2,
    };
}

static struct statement_view sample_statement(void)
{
    struct policy_result r = {
        .medfee_sumamt = 1000000,
        .inscp_scp_amt = 1000000,
        .act_pay_dedc = 80000,
        .hifp_pay = 828000,
        .fund_pay_sumamt = 828000,
        .psn_part_amt = 172000,
        .psn_cash_pay = 172000,
    };
    struct statement_view v = {
        .patient = sample_patient(),
        .visit = sample_visit(),
        .filing = FILING_LONG_TERM,
        .setl_id = "SETL320200000987",
        .settle_time = "2026-11-20 10:05:00",
        .bill = &sample_bill,
        .funds = funds,
        .n_funds = 1,
        .trauma = true,
        .audit_30k = false,
        .printed_at = "2026-11-20 10:06:00",
    };

    fill_bill();
    documents_amounts_from_policy(&r, &v.amounts);
    return v;
}

static void assert_has(const char *page, const char *needle)
{
    if (!strstr(page, needle))
        print_error("missing: %s\n", needle);
    assert_non_null(strstr(page, needle));
}

static void assert_lacks(const char *page, const char *needle)
{
    if (strstr(page, needle))
        print_error("present: %s\n", needle);
    assert_null(strstr(page, needle));
}

static void test_statement(void **state)
{
    struct statement_view v = sample_statement();
    struct html_buf out;
    static const char *const fields[] = {
        "<!DOCTYPE html>",
        "<meta charset=\"utf-8\">",
        "@page{size:A4 portrait",
        "江苏省跨省异地就医住院结算单",
        "无锡市人民医院",
        "H32020100001",
        "<th>就医地</th><td>320200（江苏省）</td>", /* a city: its province beside, not its name */
        "<th>参保地</th><td>110105（北京市）</td>",
        "张三",
        "男",
        "110105********1234",
        "11000011000000012345",
        "310 职工基本医疗保险",
        "异地长期居住",
        "骨科",
        "ZY2026001234",
        "MD3202000000123",
        "2026-11-01 09:30:00",
        "2026-11-20 10:00:00",
        "（主）S72.001 股骨颈骨折",
        "I10.x00 高血压",
        "SETL320200000987",
        "2026-11-20 10:05:00",
        "床位费",
        "手术费",
        "其他费",
        "10000.00",
        "2600.00",
        "800.00",
        "8280.00",
        "1720.00",
        "人民币（大写）壹仟柒佰贰拾元整",
        "¥1720.00",
        "310100",
        "职工基本医疗保险统筹基金",
        "无第三方责任",
        "打印时间：2026-11-20 10:06:00",
        "参保人（家属）签字",
    };

    (void)state;
    html_buf_init(&out, HTML_BUF_CEILING);
    assert_int_equal(documents_statement_format(&v, &out), 0);
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        assert_has(out.data, fields[i]);
    assert_lacks(out.data, "110105198001011234"); /* never the full identity number */
    assert_lacks(out.data, "预结算估算");
    assert_lacks(out.data, "size:A5");
    assert_true(strcmp(out.data + out.len - 8, "</html>\n") == 0);

    /* The category table: 手术费 row with its five amounts, and the total row. */
    assert_has(out.data, "<tr><th>手术费</th><td class=\"num\">2600.00</td><td class=\"num\">0.00"
                         "</td><td class=\"num\">0.00</td><td class=\"num\">0.00</td>"
                         "<td class=\"num\">2600.00</td></tr>");
    assert_has(out.data, "<tr class=\"total\"><th>合计</th><td class=\"num\">10000.00</td>");
    html_buf_done(&out);

    /* With outside lines, the flag names the form as the form is titled (it said 外院检查治疗
     * 购药单, a form there is not; found by review). */
    v.outside = true;
    html_buf_init(&out, HTML_BUF_CEILING);
    assert_int_equal(documents_statement_format(&v, &out), 0);
    assert_has(out.data, "是（附住院期间外院检查治疗或定点药店购药单）");
    html_buf_done(&out);
}

static void test_statement_estimate_outpatient(void **state)
{
    struct statement_view v = sample_statement();
    struct html_buf out;

    (void)state;
    v.estimated = true;
    v.setl_id = NULL;
    v.visit.inpatient = false;
    v.visit.province = NULL;
    v.bill = NULL;
    v.amounts.psn_cash_pay = -1005; /* a refund prints with 负 */
    html_buf_init(&out, HTML_BUF_CEILING);
    assert_int_equal(documents_statement_format(&v, &out), 0);
    assert_has(out.data, "预结算估算");
    assert_lacks(out.data, "已退费");
    assert_has(out.data, "___省（区、市）跨省异地就医门诊结算单");
    assert_has(out.data, "门诊号");
    assert_has(out.data, "负壹拾元零伍分");
    assert_has(out.data, "¥-10.05");
    assert_lacks(out.data, "床位费");
    html_buf_done(&out);
}

/* A refunded settlement's statement says so at the top; an unknown filing kind is a dash,
 * not "未备案" (a direct settlement had one). */
static void test_statement_cancelled_and_unknown_filing(void **state)
{
    struct statement_view v = sample_statement();
    struct html_buf out;

    (void)state;
    v.cancelled = true;
    v.filing = FILING_NONE;
    html_buf_init(&out, HTML_BUF_CEILING);
    assert_int_equal(documents_statement_format(&v, &out), 0);
    assert_has(out.data, "本结算已退费（冲销）。以下为原结算金额");
    html_buf_done(&out);
    /* when, and by which message, when known */
    v.cancelled_at = "2026-11-26 10:00:00";
    v.cancel_msgid = "H31010100001202611261000000007";
    html_buf_init(&out, HTML_BUF_CEILING);
    assert_int_equal(documents_statement_format(&v, &out), 0);
    assert_has(out.data, "本结算已退费（冲销），退费时间 2026-11-26 10:00:00，退费流水号 "
                         "H31010100001202611261000000007。");
    html_buf_done(&out);
    /* cancelled at the platform, not by posad: no refund of posad's to name */
    v.cancelled_elsewhere = true;
    html_buf_init(&out, HTML_BUF_CEILING);
    assert_int_equal(documents_statement_format(&v, &out), 0);
    assert_has(out.data,
               "本结算已在医保平台撤销（非经本系统退费），查得时间 2026-11-26 10:00:00。");
    assert_lacks(out.data, "退费流水号");
    assert_lacks(out.data, "未备案");
    html_buf_done(&out);
}

/* The exact ceiling: a page of n bytes fits a ceiling of n, not n - 1. */
static void test_statement_ceiling(void **state)
{
    struct statement_view v = sample_statement();
    struct html_buf out;
    size_t n;

    (void)state;
    html_buf_init(&out, HTML_BUF_CEILING);
    assert_int_equal(documents_statement_format(&v, &out), 0);
    n = out.len;
    html_buf_done(&out);
    html_buf_init(&out, n);
    assert_int_equal(documents_statement_format(&v, &out), 0);
    html_buf_done(&out);
    html_buf_init(&out, n - 1);
    assert_int_equal(documents_statement_format(&v, &out), POSA_ETOOLONG);
    html_buf_done(&out);
    html_buf_init(&out, 1000);
    assert_int_equal(documents_statement_format(&v, &out), POSA_ETOOLONG);
    html_buf_done(&out);
}

#define EVIL         "<script>alert('x')</script>\"&"
#define EVIL_ESCAPED "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&quot;&amp;"

static const struct doc_diagnosis evil_diagnoses[] = {{EVIL, EVIL, true}};
static const struct doc_fund evil_funds[] = {{EVIL, EVIL, 100}};
static const struct doc_outside_line evil_lines[] = {{EVIL, EVIL, EVIL, EVIL, EVIL, 100}};

static struct doc_patient evil_patient(void)
{
    return (struct doc_patient){EVIL, EVIL, EVIL, EVIL, EVIL, EVIL};
}

static struct doc_visit evil_visit(void)
{
    return (struct doc_visit){
        .province = EVIL,
        .hospital_name = EVIL,
        .hospital_code = EVIL,
        .treating_region = EVIL,
        .inpatient = true,
        .his_visit_id = EVIL,
        .mdtrt_id = EVIL,
        .dept_name = EVIL,
        .begin_time = EVIL,
        .end_time = EVIL,
        .diagnoses = evil_diagnoses,
        .n_diagnoses = 1,
    };
}

/* Every string of every view is hostile; none may come out as markup. The pages' own
 * markup has no <script and no single quote, so either appearing means a leak. */
static void assert_no_leak(const char *page)
{
    assert_lacks(page, "<script");
    assert_lacks(page, "'");
    assert_lacks(page, "alert(&#39;x&#39;)&lt;/script&gt;\"");
    assert_has(page, EVIL_ESCAPED);
}

static void test_escaped_everywhere(void **state)
{
    struct statement_view s = {.patient = evil_patient(),
                               .visit = evil_visit(),
                               .setl_id = EVIL,
                               .settle_time = EVIL,
                               .funds = evil_funds,
                               .n_funds = 1,
                               .printed_at = EVIL};
    struct trauma_form_view t = {.patient = evil_patient(),
                                 .visit = evil_visit(),
                                 .certno_unmasked = true,
                                 .injury_time = EVIL,
                                 .injury_place = EVIL,
                                 .injury_cause = EVIL,
                                 .printed_at = EVIL};
    struct outside_form_view o = {.patient = evil_patient(),
                                  .visit = evil_visit(),
                                  .certno_unmasked = true,
                                  .lines = evil_lines,
                                  .n_lines = 1,
                                  .printed_at = EVIL};
    struct html_buf out;

    (void)state;
    html_buf_init(&out, HTML_BUF_CEILING);
    assert_int_equal(documents_statement_format(&s, &out), 0);
    assert_no_leak(out.data);
    html_buf_done(&out);
    html_buf_init(&out, HTML_BUF_CEILING);
    assert_int_equal(documents_trauma_format(&t, &out), 0);
    assert_no_leak(out.data);
    html_buf_done(&out);
    html_buf_init(&out, HTML_BUF_CEILING);
    assert_int_equal(documents_outside_format(&o, &out), 0);
    assert_no_leak(out.data);
    html_buf_done(&out);
}

static void test_trauma_form(void **state)
{
    struct trauma_form_view v = {.patient = sample_patient(),
                                 .visit = sample_visit(),
                                 .injury_place = "无锡市梁溪区家中",
                                 .printed_at = "2026-11-01 10:00:00"};
    struct html_buf out;
    static const char *const fields[] = {
        "@page{size:A5 portrait",
        "<h1>外伤无第三方责任承诺书</h1>",
        "张三",
        "男",
        "110105********1234",
        "11000011000000012345",
        "110105",
        "无锡市人民医院",
        "骨科",
        "ZY2026001234",
        "2026-11-01 09:30:00",
        "（主）S72.001 股骨颈骨折",
        "无锡市梁溪区家中",
        "此次受伤无第三方责任",
        "承诺人签字",
        "代签人签字",
        "与患者关系",
        "医疗机构经办人",
        "<span class=\"blank\">&#160;</span>",
    };

    (void)state;
    html_buf_init(&out, HTML_BUF_CEILING);
    assert_int_equal(documents_trauma_format(&v, &out), 0);
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        assert_has(out.data, fields[i]);
    assert_lacks(out.data, "110105198001011234");
    assert_lacks(out.data, "size:A4");
    html_buf_done(&out);

    v.certno_unmasked = true;
    html_buf_init(&out, HTML_BUF_CEILING);
    assert_int_equal(documents_trauma_format(&v, &out), 0);
    assert_has(out.data, "110105198001011234");
    html_buf_done(&out);
}

static void test_outside_form(void **state)
{
    static const struct doc_outside_line lines[] = {
        {"H32020100777", "无锡市第二人民医院", "exam", "WC-2026-0042", "头颅MRI平扫", 68000},
        {"P32020100088", NULL, "pharmacy", "YD-88", "注射用曲妥珠单抗", 1234567},
    };
    struct outside_form_view v = {.patient = sample_patient(),
                                  .visit = sample_visit(),
                                  .lines = lines,
                                  .n_lines = 2,
                                  .printed_at = "2026-11-05 16:00:00"};
    struct html_buf out;
    static const char *const fields[] = {
        "@page{size:A5 portrait",
        "<h1>住院期间外院检查治疗或定点药店购药单</h1>",
        "张三",
        "110105********1234",
        "ZY2026001234",
        "无锡市第二人民医院<br>H32020100777",
        "检查",
        "WC-2026-0042",
        "头颅MRI平扫",
        "680.00",
        "<td>P32020100088</td>",
        "注射用曲妥珠单抗",
        "12345.67",
        "<td>购药</td>",
        "<th colspan=\"5\">合计</th><td class=\"num\">13025.67</td>",
        "定点医疗机构医疗保险办公室（盖章）",
        "经治医师",
        /* fixed columns, so a long reference wraps in its cell and the amounts stay on the
         * page (a 36-character one pushed them off) */
        ".fixed{table-layout:fixed}.fixed td{overflow-wrap:anywhere}",
        "<table class=\"fixed\">\n<colgroup>",
        "<col style=\"width:16%\"></colgroup>",
    };

    (void)state;
    html_buf_init(&out, HTML_BUF_CEILING);
    assert_int_equal(documents_outside_format(&v, &out), 0);
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        assert_has(out.data, fields[i]);
    assert_lacks(out.data, "110105198001011234");
    html_buf_done(&out);
}

/* An amount the page cannot print refuses the page rather than print it wrong. */
static void test_statement_unprintable(void **state)
{
    struct statement_view v = sample_statement();
    struct html_buf out;

    (void)state;
    /* Beyond the uppercase range (a bill can reach it: 50,000 lines of 1e10 yuan): printed in
     * digits, said so in words, not refused (the HIS had only "could not be printed"). */
    v.amounts.psn_cash_pay = 199999999960000000;
    html_buf_init(&out, HTML_BUF_CEILING);
    assert_int_equal(documents_statement_format(&v, &out), 0);
    assert_has(out.data, "人民币（大写）（逾万亿元，大写从略）　（小写）¥1999999999600000.00");
    html_buf_done(&out);
    v = sample_statement();
    v.amounts.hifp_pay = INT64_MIN;
    html_buf_init(&out, HTML_BUF_CEILING);
    assert_int_equal(documents_statement_format(&v, &out), POSA_ERANGE);
    html_buf_done(&out);
}

/* A total that overflows is refused, not printed wrong. */
static void test_outside_overflow(void **state)
{
    static const struct doc_outside_line lines[] = {{"A", NULL, "exam", "1", "x", INT64_MAX},
                                                    {"B", NULL, "exam", "2", "y", 1}};
    struct outside_form_view v = {
        .patient = sample_patient(), .visit = sample_visit(), .lines = lines, .n_lines = 2};
    struct html_buf out;

    (void)state;
    html_buf_init(&out, HTML_BUF_CEILING);
    assert_int_equal(documents_outside_format(&v, &out), POSA_EOVERFLOW);
    html_buf_done(&out);
}

static void write_page(const char *dir, const char *name, const struct html_buf *out)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(out->data, 1, out->len, f), out->len);
    assert_int_equal(fclose(f), 0);
}

/* Writes the sample documents into $POSA_DOCS_OUT_DIR when it is set, to look at them in a
 * browser (statement.html, trauma.html, outside.html); a no-op under ctest. */
static void test_write_samples(void **state)
{
    static const struct doc_outside_line lines[] = {
        {"H32020100777", "无锡市第二人民医院", "exam", "WC-2026-0042", "头颅MRI平扫", 68000},
        {"P32020100088", "无锡九州大药房", "pharmacy", "YD-88", "注射用曲妥珠单抗", 1234567},
    };
    const char *dir = getenv("POSA_DOCS_OUT_DIR");
    struct statement_view v = sample_statement();
    struct trauma_form_view t = {
        .patient = sample_patient(), .visit = sample_visit(), .printed_at = "2026-11-01 10:00:00"};
    struct outside_form_view o = {.patient = sample_patient(),
                                  .visit = sample_visit(),
                                  .lines = lines,
                                  .n_lines = 2,
                                  .printed_at = "2026-11-05 16:00:00"};
    struct html_buf out;

    (void)state;
    if (!dir)
        return;
    v.outside = true;
    html_buf_init(&out, HTML_BUF_CEILING);
    assert_int_equal(documents_statement_format(&v, &out), 0);
    write_page(dir, "statement.html", &out);
    html_buf_done(&out);
    html_buf_init(&out, HTML_BUF_CEILING);
    assert_int_equal(documents_trauma_format(&t, &out), 0);
    write_page(dir, "trauma.html", &out);
    html_buf_done(&out);
    html_buf_init(&out, HTML_BUF_CEILING);
    assert_int_equal(documents_outside_format(&o, &out), 0);
    write_page(dir, "outside.html", &out);
    html_buf_done(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_amount_upper),
        cmocka_unit_test(test_amount_upper_limits),
        cmocka_unit_test(test_statement),
        cmocka_unit_test(test_statement_estimate_outpatient),
        cmocka_unit_test(test_statement_cancelled_and_unknown_filing),
        cmocka_unit_test(test_statement_ceiling),
        cmocka_unit_test(test_escaped_everywhere),
        cmocka_unit_test(test_trauma_form),
        cmocka_unit_test(test_outside_form),
        cmocka_unit_test(test_statement_unprintable),
        cmocka_unit_test(test_outside_overflow),
        cmocka_unit_test(test_write_samples),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
