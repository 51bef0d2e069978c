/* Printable HTML documents of a visit: the settlement statement and the forms of annexes 11
 * and 12, and the Chinese uppercase amount they print. */
#include "interface/his/documents.h"

#include <string.h>

#include "core/admdvs.h"
#include "core/bound.h"
#include "core/decimal.h"
#include "core/err.h"
#include "core/mask.h"

/* ---- Chinese uppercase amounts ---------------------------------------------------------- */

#define UPPER_LIMIT_FEN 100000000000000LL /* 1e12 yuan: 万, 亿 and no larger unit */

static const char *const upper_digit[10] = {"零", "壹", "贰", "叁", "肆",
                                            "伍", "陆", "柒", "捌", "玖"};
static const char *const upper_place[4] = {"", "拾", "佰", "仟"};
static const char *const upper_group[3] = {"", "万", "亿"};

struct upper {
    char *buf;
    size_t cap, len;
    bool full;
};

static void upper_put(struct upper *u, const char *text)
{
    size_t n = strlen(text);

    if (u->full || u->len + n + 1 > u->cap) {
        u->full = true;
        return;
    }
    memcpy(u->buf + u->len, text, n + 1);
    u->len += n;
}

/* Whole yuan, > 0, in groups of four digits (亿, 万, units). A 零 stands for any run of zeros
 * followed by a non-zero digit: inside a group (壹仟零壹), at the head of a group (壹万零壹佰)
 * or for a whole zero group (壹亿零壹). Zeros that only end a group need none: "壹拾万柒仟"
 * is one of the two forms the payment-form rules allow, and the shorter one. */
static void upper_yuan(struct upper *u, uint64_t yuan)
{
    static const uint64_t group_div[3] = {1, 10000, 100000000};
    static const unsigned place_div[4] = {1, 10, 100, 1000};
    bool started = false, zero = false;

    for (int g = 2; g >= 0; g--) {
        unsigned group = (unsigned)(yuan / group_div[g] % 10000);

        if (group == 0) {
            zero = started;
            continue;
        }
        for (int p = 3; p >= 0; p--) {
            unsigned d = group / place_div[p] % 10;

            if (d == 0) {
                zero = zero || started;
                continue;
            }
            if (zero)
                upper_put(u, upper_digit[0]);
            upper_put(u, upper_digit[d]);
            upper_put(u, upper_place[p]);
            started = true;
            zero = false;
        }
        upper_put(u, upper_group[g]);
        zero = false;
    }
}

int documents_amount_upper(int64_t fen, char *buf, size_t cap)
{
    struct upper u = {buf, cap, 0, false};
    uint64_t mag, yuan;
    unsigned jiao, fen_digit;

    if (fen <= -UPPER_LIMIT_FEN || fen >= UPPER_LIMIT_FEN)
        return POSA_ERANGE;
    if (cap == 0)
        return POSA_ETOOLONG;
    buf[0] = '\0';
    mag = (uint64_t)(fen < 0 ? -fen : fen);
    yuan = mag / 100;
    jiao = (unsigned)(mag / 10 % 10);
    fen_digit = (unsigned)(mag % 10);
    if (fen < 0)
        upper_put(&u, "负");
    if (yuan) {
        upper_yuan(&u, yuan);
        upper_put(&u, "元");
    }
    if (jiao == 0 && fen_digit == 0) {
        upper_put(&u, yuan ? "整" : "零元整");
    } else {
        if (jiao) {
            upper_put(&u, upper_digit[jiao]);
            upper_put(&u, "角");
        } else if (yuan) {
            upper_put(&u, upper_digit[0]); /* 壹拾元零伍分: mandatory */
        }
        if (fen_digit) {
            upper_put(&u, upper_digit[fen_digit]);
            upper_put(&u, "分");
        }
    }
    if (u.full) {
        buf[0] = '\0';
        return POSA_ETOOLONG;
    }
    return (int)u.len;
}

void documents_amounts_from_policy(const struct policy_result *r, struct doc_amounts *ret)
{
    *ret = (struct doc_amounts){
        .medfee_sumamt = r->medfee_sumamt,
        .fulamt_ownpay_amt = r->fulamt_ownpay_amt,
        .overlmt_selfpay = r->overlmt_selfpay,
        .preselfpay_amt = r->preselfpay_amt,
        .inscp_scp_amt = r->inscp_scp_amt,
        .act_pay_dedc = r->act_pay_dedc,
        .hifp_pay = r->hifp_pay,
        .fund_pay_sumamt = r->fund_pay_sumamt,
        .psn_part_amt = r->psn_part_amt,
        .acct_pay = r->acct_pay,
        .psn_cash_pay = r->psn_cash_pay,
    };
}

/* ---- names of national codes, for print only ------------------------------------------- */

struct code_name {
    const char *code, *name;
};

static const struct code_name gend_names[] = {
    {"1", "男"},
    {"2", "女"},
    {"9", "未说明"},
};

/* national-interface.md, "insutype". */
static const struct code_name insutype_names[] = {
    {"310", "职工基本医疗保险"},
    {"320", "公务员医疗补助"},
    {"330", "大额医疗费用补助"},
    {"340", "离休人员医疗保障"},
    {"350", "一至六级残废军人医疗补助"},
    {"360", "老红军"},
    {"370", "企业补充医疗保险"},
    {"380", "新型农村合作医疗"},
    {"390", "城乡居民基本医疗保险"},
    {"391", "城镇居民基本医疗保险"},
    {"392", "城乡居民大病医疗保险"},
    {"399", "其他特殊人员"},
    {"410", "长期照护保险"},
    {"510", "生育保险"},
};

static const struct code_name outside_kind_names[] = {
    {"exam", "检查"},
    {"treatment", "治疗"},
    {"pharmacy", "购药"},
};

static const char *code_lookup(const struct code_name *table, size_t n, const char *code)
{
    for (size_t i = 0; code && i < n; i++)
        if (strcmp(table[i].code, code) == 0)
            return table[i].name;
    return NULL;
}

#define LOOKUP(table, code) code_lookup(table, sizeof table / sizeof table[0], code)

static const char *filing_label(enum filing_kind kind)
{
    switch (kind) {
    case FILING_LONG_TERM: return "异地长期居住";
    case FILING_REFERRAL: return "转诊就医";
    case FILING_EMERGENCY: return "急诊抢救（视同备案）";
    case FILING_TEMPORARY_OTHER: return "其他临时外出就医";
    case FILING_COMMITMENT: return "承诺制备案（按长期）";
    case FILING_NONE: break;
    }
    /* The platform's answer did not say (filing_kind is a provincial extension): a direct
     * settlement had a filing or an emergency, so not "未备案". */
    return "—";
}

/* ---- page pieces --------------------------------------------------------------------- */

/* Black on white, hairline rules, no shading: it must survive a monochrome laser printer
 * and a photocopy. Fonts: the Song faces offices print with, then whatever CJK font the
 * machine has. */
static const char page_css[] =
    "*{box-sizing:border-box}"
    "body{margin:0 auto;color:#000;background:#fff;font-family:SimSun,\"Songti SC\","
    "\"Noto Serif CJK SC\",\"Source Han Serif SC\",\"Noto Sans CJK SC\",\"WenQuanYi Zen Hei\","
    "serif;line-height:1.3}"
    "h1{text-align:center;font-size:1.5em;letter-spacing:.1em;margin:0 0 1mm}"
    "h2{font-size:1em;margin:2mm 0 .8mm}"
    ".sub{text-align:center;margin:0 0 3mm}"
    "table{width:100%;border-collapse:collapse;margin:0 0 2mm}"
    "th,td{border:.6pt solid #000;padding:.5mm 1.5mm;vertical-align:top;text-align:left}"
    "th{font-weight:bold;white-space:nowrap}"
    ".kv{table-layout:fixed}.kv th{width:19%}.kv td{width:31%;overflow-wrap:anywhere}"
    ".fixed{table-layout:fixed}.fixed td{overflow-wrap:anywhere}"
    "thead th{text-align:center}"
    "thead{display:table-header-group}"
    "tr{page-break-inside:avoid;break-inside:avoid}"
    ".num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}"
    ".total td,.total th{border-top:1.5pt solid #000;font-weight:bold}"
    ".notice{border:1.5pt dashed #000;text-align:center;font-weight:bold;padding:1.5mm;"
    "margin:0 0 3mm}"
    ".upper{font-size:1.15em;font-weight:bold}"
    ".blank{display:inline-block;min-width:28mm;border-bottom:.6pt solid #000;"
    "text-align:center;padding:0 1mm}"
    ".text{text-indent:2em;margin:2mm 0}"
    ".signs{margin-top:5mm}"
    ".signs p{margin:0 0 4mm}"
    ".stamp{border:.6pt solid #000;height:32mm;padding:1.5mm;margin-top:3mm}"
    ".foot{margin-top:4mm;font-size:.85em;text-align:right}"
    "@media screen{body{padding:8mm 0}}";

/* The title, after the treating province when the document names one (annex 13 does). */
static void title_text(struct html_buf *out, const struct doc_visit *visit, const char *title)
{
    if (visit && visit->province && *visit->province)
        html_escape(out, visit->province);
    else if (visit)
        html_buf_put(out, "___省（区、市）");
    html_buf_put(out, title);
}

/* visit is NULL for a title without a province. */
static void page_begin(struct html_buf *out, const struct doc_visit *visit, const char *title,
                       bool a5)
{
    html_buf_put(out, "<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n"
                      "<meta name=\"viewport\" content=\"width=device-width\">\n<title>");
    title_text(out, visit, title);
    html_buf_put(out, "</title>\n<style>\n");
    html_buf_put(out, a5 ? "@page{size:A5 portrait;margin:9mm 10mm}body{max-width:128mm;"
                           "font-size:9.5pt}"
                         : "@page{size:A4 portrait;margin:10mm 12mm}body{max-width:186mm;"
                           "font-size:9.5pt}");
    html_buf_put(out, page_css);
    html_buf_put(out, "\n</style>\n</head>\n<body>\n<h1>");
    title_text(out, visit, title);
    html_buf_put(out, "</h1>\n");
}

static void page_end(struct html_buf *out, const char *printed_at)
{
    html_buf_put(out, "<p class=\"foot\">打印时间：");
    html_escape(out, printed_at);
    html_buf_put(out, "</p>\n</body>\n</html>\n");
}

/* <th>label</th><td>value</td>; label is trusted markup, value escaped. */
static void field(struct html_buf *out, const char *label, const char *value)
{
    html_buf_put(out, "<th>");
    html_buf_put(out, label);
    html_buf_put(out, "</th><td>");
    html_escape(out, value);
    html_buf_put(out, "</td>");
}

/* A national code followed by its name when the code is known ("310 职工基本医疗保险"). */
static void coded_field(struct html_buf *out, const char *label, const char *code, const char *name)
{
    html_buf_put(out, "<th>");
    html_buf_put(out, label);
    html_buf_put(out, "</th><td>");
    html_escape(out, code);
    if (name) {
        html_buf_put(out, " ");
        html_buf_put(out, name);
    }
    html_buf_put(out, "</td>");
}

/* A region by its code, with the name of its province: "310000 上海市" for a province, and
 * for a city, whose own name posa does not know, "320200（江苏省）", not "320200 江苏省",
 * which would name the city Jiangsu. */
static void region_field(struct html_buf *out, const char *label, const char *code)
{
    const char *province = admdvs_province(code);

    if (!province || strcmp(code + 2, "0000") == 0) {
        coded_field(out, label, code, province);
        return;
    }
    html_buf_put(out, "<th>");
    html_buf_put(out, label);
    html_buf_put(out, "</th><td>");
    html_escape(out, code);
    html_buf_put(out, "（");
    html_buf_put(out, province);
    html_buf_put(out, "）</td>");
}

static void money(struct html_buf *out, int64_t fen)
{
    char text[DEC_FORMAT_MAX];

    if (money_format(fen, text, sizeof text) < 0) {
        html_buf_fail(out, POSA_ERANGE);
        return;
    }
    html_buf_put(out, text);
}

static void money_td(struct html_buf *out, int64_t fen)
{
    html_buf_put(out, "<td class=\"num\">");
    money(out, fen);
    html_buf_put(out, "</td>");
}

static void money_field(struct html_buf *out, const char *label, int64_t fen)
{
    html_buf_put(out, "<th>");
    html_buf_put(out, label);
    html_buf_put(out, "</th>");
    money_td(out, fen);
}

static void certno_field(struct html_buf *out, const char *certno, bool unmasked)
{
    char masked[BOUND_CODE + 1];

    if (unmasked) {
        field(out, "身份证号", certno);
        return;
    }
    mask_certno(certno, masked, sizeof masked);
    field(out, "身份证号", masked);
}

static void diagnoses_td(struct html_buf *out, const struct doc_visit *visit, int colspan)
{
    html_buf_printf(out, "<td colspan=\"%d\">", colspan);
    for (size_t i = 0; i < visit->n_diagnoses; i++) {
        const struct doc_diagnosis *d = &visit->diagnoses[i];

        if (i)
            html_buf_put(out, "；");
        if (d->main)
            html_buf_put(out, "（主）");
        html_escape(out, d->code);
        html_buf_put(out, " ");
        html_escape(out, d->name);
    }
    html_buf_put(out, "</td>");
}

/* The identification rows every document opens with: who, where, which stay. They go in a
 * table of class "kv" (label, value, label, value) that the caller opens and closes, so a
 * document can add rows in the same grid. */
static void person_rows(struct html_buf *out, const struct doc_patient *p,
                        const struct doc_visit *v, bool certno_unmasked)
{
    html_buf_put(out, "<tr>");
    field(out, "定点医疗机构", v->hospital_name);
    field(out, "机构编码", v->hospital_code);
    html_buf_put(out, "</tr>\n<tr>");
    region_field(out, "就医地", v->treating_region);
    region_field(out, "参保地", p->insured_region);
    html_buf_put(out, "</tr>\n<tr>");
    field(out, "姓名", p->name);
    field(out, "性别", LOOKUP(gend_names, p->gend) ? LOOKUP(gend_names, p->gend) : p->gend);
    html_buf_put(out, "</tr>\n<tr>");
    certno_field(out, p->certno, certno_unmasked);
    field(out, "人员编号", p->psn_no);
    html_buf_put(out, "</tr>\n<tr>");
    coded_field(out, "险种类型", p->insutype, LOOKUP(insutype_names, p->insutype));
    field(out, "科室", v->dept_name);
    html_buf_put(out, "</tr>\n<tr>");
    field(out, v->inpatient ? "住院号" : "门诊号", v->his_visit_id);
    field(out, "就诊ID", v->mdtrt_id);
    html_buf_put(out, "</tr>\n<tr>");
    field(out, v->inpatient ? "入院时间" : "就诊时间", v->begin_time);
    field(out, v->inpatient ? "出院时间" : "结束时间", v->end_time);
    html_buf_put(out, "</tr>\n<tr><th>诊断</th>");
    diagnoses_td(out, v, 3);
    html_buf_put(out, "</tr>\n");
}

/* A value filled in, or a blank line to write on by hand. */
static void blank(struct html_buf *out, const char *value)
{
    html_buf_put(out, "<span class=\"blank\">");
    if (value && *value)
        html_escape(out, value);
    else
        html_buf_put(out, "&#160;");
    html_buf_put(out, "</span>");
}

/* ---- the settlement statement (annex 13) ---------------------------------------------- */

static void statement_categories(struct html_buf *out, const struct bill *bill)
{
    html_buf_put(out, "<h2>医疗费用分类</h2>\n<table>\n<thead><tr><th>项目</th><th>金额</th>"
                      "<th>全自费</th><th>超限价自费</th><th>先行自付</th><th>符合范围</th>"
                      "</tr></thead>\n<tbody>\n");
    for (uint8_t c = CATEGORY_MIN; c <= CATEGORY_MAX; c++) {
        const struct split_totals *t = &bill->by_category[c];

        html_buf_put(out, "<tr><th>");
        html_buf_put(out, category_name(c));
        html_buf_put(out, "</th>");
        money_td(out, t->amount);
        money_td(out, t->fulamt_ownpay);
        money_td(out, t->overlmt);
        money_td(out, t->preselfpay);
        money_td(out, t->inscp);
        html_buf_put(out, "</tr>\n");
    }
    html_buf_put(out, "<tr class=\"total\"><th>合计</th>");
    money_td(out, bill->total.amount);
    money_td(out, bill->total.fulamt_ownpay);
    money_td(out, bill->total.overlmt);
    money_td(out, bill->total.preselfpay);
    money_td(out, bill->total.inscp);
    html_buf_put(out, "</tr>\n</tbody>\n</table>\n");
}

static void statement_amounts(struct html_buf *out, const struct doc_amounts *a)
{
    char upper[DOCUMENTS_UPPER_MAX];
    int rc;

    html_buf_put(out, "<h2>结算信息</h2>\n<table class=\"kv\">\n<tr>");
    money_field(out, "医疗费总额", a->medfee_sumamt);
    money_field(out, "全自费金额", a->fulamt_ownpay_amt);
    html_buf_put(out, "</tr>\n<tr>");
    money_field(out, "超限价自费", a->overlmt_selfpay);
    money_field(out, "先行自付金额", a->preselfpay_amt);
    html_buf_put(out, "</tr>\n<tr>");
    money_field(out, "符合政策范围金额", a->inscp_scp_amt);
    money_field(out, "实际支付起付线", a->act_pay_dedc);
    html_buf_put(out, "</tr>\n<tr>");
    money_field(out, "统筹基金支付", a->hifp_pay);
    money_field(out, "基金支付总额", a->fund_pay_sumamt);
    html_buf_put(out, "</tr>\n<tr>");
    money_field(out, "个人负担总额", a->psn_part_amt);
    money_field(out, "个人账户支付", a->acct_pay);
    html_buf_put(out, "</tr>\n<tr class=\"total\"><th>个人现金支付</th>"
                      "<td colspan=\"3\" class=\"upper\">人民币（大写）");
    rc = documents_amount_upper(a->psn_cash_pay, upper, sizeof upper);
    if (rc == POSA_ERANGE && a->psn_cash_pay != INT64_MIN) /* a bill past 1e12 yuan: digits */
        html_buf_put(out, "（逾万亿元，大写从略）");
    else if (rc < 0)
        html_buf_fail(out, rc);
    else
        html_buf_put(out, upper);
    html_buf_put(out, "　（小写）¥");
    money(out, a->psn_cash_pay);
    html_buf_put(out, "</td></tr>\n</table>\n");
}

static void statement_funds(struct html_buf *out, const struct doc_fund *funds, size_t n)
{
    if (n == 0)
        return;
    html_buf_put(out, "<h2>基金支付明细</h2>\n<table>\n<thead><tr><th>基金类型</th>"
                      "<th>名称</th><th>金额</th></tr></thead>\n<tbody>\n");
    for (size_t i = 0; i < n; i++) {
        html_buf_put(out, "<tr><td>");
        html_escape(out, funds[i].fund_pay_type);
        html_buf_put(out, "</td><td>");
        html_escape(out, funds[i].name);
        html_buf_put(out, "</td>");
        money_td(out, funds[i].amount);
        html_buf_put(out, "</tr>\n");
    }
    html_buf_put(out, "</tbody>\n</table>\n");
}

static void yes_no(struct html_buf *out, const char *label, bool value, const char *yes)
{
    html_buf_put(out, "<th>");
    html_buf_put(out, label);
    html_buf_put(out, "</th><td>");
    html_buf_put(out, value ? yes : "否");
    html_buf_put(out, "</td>");
}

static void statement_flags(struct html_buf *out, const struct statement_view *v)
{
    html_buf_put(out, "<h2>结算标志</h2>\n<table class=\"kv\">\n<tr>");
    yes_no(out, "急诊抢救", v->emergency, "是");
    yes_no(out, "外伤", v->trauma,
           v->trauma_third_party ? "是（涉及第三方，基金不予支付）"
                                 : "是（无第三方责任，附承诺书）");
    html_buf_put(out, "</tr>\n<tr>");
    yes_no(out, "外院检查治疗或购药", v->outside, "是（附住院期间外院检查治疗或定点药店购药单）");
    yes_no(out, "住院费用3万元以上", v->audit_30k, "是（明细备查）");
    html_buf_put(out, "</tr>\n</table>\n");
}

int documents_statement_format(const struct statement_view *v, struct html_buf *out)
{
    const char *title = v->visit.inpatient ? "跨省异地就医住院结算单" : "跨省异地就医门诊结算单";

    page_begin(out, &v->visit, title, false);
    if (v->estimated)
        html_buf_put(out, "<p class=\"notice\">预结算估算：医保平台暂不可用，以下金额由本院按参保地"
                          "政策估算，仅供参考，不作结算凭证</p>\n");
    if (v->cancelled && v->cancelled_elsewhere) { /* cancel_msgid is posad's question then */
        html_buf_put(out, "<p class=\"notice\">本结算已在医保平台撤销（非经本系统退费）");
        if (v->cancelled_at && v->cancelled_at[0]) {
            html_buf_put(out, "，查得时间 ");
            html_escape(out, v->cancelled_at);
        }
        html_buf_put(out, "。以下为原结算金额，不作结算凭证</p>\n");
    } else if (v->cancelled) {
        html_buf_put(out, "<p class=\"notice\">本结算已退费（冲销）");
        if (v->cancelled_at && v->cancelled_at[0]) { /* which refund, for the cashier's books */
            html_buf_put(out, "，退费时间 ");
            html_escape(out, v->cancelled_at);
        }
        if (v->cancel_msgid && v->cancel_msgid[0]) {
            html_buf_put(out, "，退费流水号 ");
            html_escape(out, v->cancel_msgid);
        }
        html_buf_put(out, "。以下为原结算金额，不作结算凭证</p>\n");
    }
    html_buf_put(out, "<table class=\"kv\">\n<tr>");
    field(out, "结算ID", v->setl_id);
    field(out, "结算时间", v->settle_time);
    html_buf_put(out, "</tr>\n<tr><th>备案类型</th><td colspan=\"3\">");
    html_buf_put(out, filing_label(v->filing));
    html_buf_put(out, "</td></tr>\n");
    person_rows(out, &v->patient, &v->visit, false);
    html_buf_put(out, "</table>\n");
    if (v->bill)
        statement_categories(out, v->bill);
    statement_amounts(out, &v->amounts);
    statement_funds(out, v->funds, v->n_funds);
    statement_flags(out, v);
    html_buf_put(out, "<div class=\"signs\"><p>参保人（家属）签字：");
    blank(out, NULL);
    html_buf_put(out, "　　经办人：");
    blank(out, NULL);
    html_buf_put(out, "　　日期：");
    blank(out, NULL);
    html_buf_put(out, "</p><p>定点医疗机构（盖章）</p></div>\n");
    page_end(out, v->printed_at);
    return out->err;
}

/* ---- the trauma commitment (annex 11) -------------------------------------------------- */

int documents_trauma_format(const struct trauma_form_view *v, struct html_buf *out)
{
    static const char title[] = "外伤无第三方责任承诺书";

    page_begin(out, NULL, title, true);
    html_buf_put(out, "<p class=\"sub\">（跨省异地就医直接结算用）</p>\n");
    html_buf_put(out, "<table class=\"kv\">\n");
    person_rows(out, &v->patient, &v->visit, v->certno_unmasked);
    html_buf_put(out, "</table>\n");
    html_buf_put(out, "<p class=\"text\">本人于");
    blank(out, v->injury_time);
    html_buf_put(out, "在");
    blank(out, v->injury_place);
    html_buf_put(out, "因");
    blank(out, v->injury_cause);
    html_buf_put(out, "受伤，现在");
    html_escape(out, v->visit.hospital_name);
    html_buf_put(
        out, "就医。</p>\n<p class=\"text\">本人郑重承诺：此次受伤无第三方责任，不属于交通事故、"
             "工伤、他人伤害等应由第三方承担医疗费用的情形，所发生的医疗费用申请按规定"
             "由基本医疗保险基金支付。如承诺不实，本人愿退还医疗保险基金已支付的费用，"
             "并承担相应的法律责任。</p>\n");
    html_buf_put(out, "<div class=\"signs\"><p>承诺人签字（手印）：");
    blank(out, NULL);
    html_buf_put(out, "　日期：");
    blank(out, NULL);
    html_buf_put(out, "</p><p>代签人签字：");
    blank(out, NULL);
    html_buf_put(out, "　与患者关系：");
    blank(out, NULL);
    html_buf_put(out, "</p><p>联系电话：");
    blank(out, NULL);
    html_buf_put(out, "　医疗机构经办人：");
    blank(out, NULL);
    html_buf_put(out, "</p></div>\n");
    page_end(out, v->printed_at);
    return out->err;
}

/* ---- the outside exam/treatment/purchase form (annex 12) ------------------------------- */

static void outside_lines(struct html_buf *out, const struct doc_outside_line *lines, size_t n)
{
    int64_t total = 0;

    /* Fixed columns: a long reference or institution code wraps in its cell instead of
     * pushing the amounts off the A5 page. */
    html_buf_put(out, "<table class=\"fixed\">\n<colgroup><col style=\"width:7%\">"
                      "<col style=\"width:24%\"><col style=\"width:10%\">"
                      "<col style=\"width:20%\"><col style=\"width:23%\">"
                      "<col style=\"width:16%\"></colgroup>\n"
                      "<thead><tr><th>序号</th><th>外院或定点药店</th><th>类别</th>"
                      "<th>单号</th><th>项目</th><th>金额</th></tr></thead>\n<tbody>\n");
    for (size_t i = 0; i < n; i++) {
        const struct doc_outside_line *l = &lines[i];
        const char *kind = LOOKUP(outside_kind_names, l->kind);

        html_buf_printf(out, "<tr><td class=\"num\">%zu</td><td>", i + 1);
        html_escape(out, l->institution_name);
        if (l->institution_name && *l->institution_name)
            html_buf_put(out, "<br>");
        html_escape(out, l->institution_code);
        html_buf_put(out, "</td><td>");
        if (kind)
            html_buf_put(out, kind);
        else
            html_escape(out, l->kind);
        html_buf_put(out, "</td><td>");
        html_escape(out, l->form_ref);
        html_buf_put(out, "</td><td>");
        html_escape(out, l->item_name);
        html_buf_put(out, "</td>");
        money_td(out, l->amount);
        html_buf_put(out, "</tr>\n");
        if (dec_add(total, l->amount, &total) < 0)
            html_buf_fail(out, POSA_EOVERFLOW);
    }
    html_buf_put(out, "<tr class=\"total\"><th colspan=\"5\">合计</th>");
    money_td(out, total);
    html_buf_put(out, "</tr>\n</tbody>\n</table>\n");
}

int documents_outside_format(const struct outside_form_view *v, struct html_buf *out)
{
    static const char title[] = "住院期间外院检查治疗或定点药店购药单";

    page_begin(out, NULL, title, true);
    html_buf_put(out, "<table class=\"kv\">\n");
    person_rows(out, &v->patient, &v->visit, v->certno_unmasked);
    html_buf_put(out, "</table>\n");
    outside_lines(out, v->lines, v->n_lines);
    html_buf_put(out, "<p class=\"text\">上述患者住院期间确因病情需要，到上列定点医疗机构检查治疗或"
                      "定点药店购药，相关费用纳入本次住院费用跨省直接结算。</p>\n");
    html_buf_put(out, "<div class=\"signs\"><p>经治医师：");
    blank(out, NULL);
    html_buf_put(out, "　科室负责人：");
    blank(out, NULL);
    html_buf_put(out, "</p></div>\n<div class=\"stamp\">定点医疗机构医疗保险办公室（盖章）"
                      "<br><br><br><br>日期：");
    blank(out, NULL);
    html_buf_put(out, "</div>\n");
    page_end(out, v->printed_at);
    return out->err;
}
