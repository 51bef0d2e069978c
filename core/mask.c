/* Masking of identity numbers, names and card numbers for logs and screens. */
#include "core/mask.h"

#include <stdbool.h>
#include <string.h>

/* Copies text keeping the first `head` and last `tail` bytes, stars between; a text too
 * short to show anything safely is all stars. */
static void mask_middle(const char *text, size_t head, size_t tail, char *buf, size_t cap)
{
    size_t len = text ? strlen(text) : 0, out = 0;

    if (cap == 0)
        return;
    if (len <= head + tail)
        head = tail = 0;
    for (size_t i = 0; i < len && out + 1 < cap; i++)
        buf[out++] = (i < head || i >= len - tail) ? text[i] : '*';
    buf[out] = '\0';
}

/* What an identity number of len characters keeps at each end. An ID card's 6 + 4 hide its
 * birth date (characters 7-14); an old 15-digit one's birth date is characters 7-12, so it
 * keeps 6 + 3. Other numbers (a travel permit's 11, a passport's 9) keep 2 + 2, or nothing
 * when that would leave fewer than 7 hidden. */
static void certno_keep(size_t len, size_t *head, size_t *tail)
{
    *head = len >= 15 ? 6 : 2;
    *tail = len >= 16 ? 4 : len == 15 ? 3 : 2;
    if (len < 15 && len < *head + *tail + 7)
        *head = *tail = 0;
}

void mask_certno(const char *certno, char *buf, size_t cap)
{
    size_t head, tail;

    certno_keep(certno ? strlen(certno) : 0, &head, &tail);
    mask_middle(certno, head, tail, buf, cap);
}

void mask_card(const char *card_no, char *buf, size_t cap)
{
    mask_middle(card_no, 0, 4, buf, cap);
}

/* Length of the UTF-8 sequence that starts with byte c (1 for invalid lead bytes). */
static size_t utf8_len(unsigned char c)
{
    if (c >= 0xF0 && c <= 0xF4)
        return 4;
    if (c >= 0xE0)
        return c <= 0xEF ? 3 : 1;
    if (c >= 0xC2)
        return 2;
    return 1;
}

/* mask_name of the first len bytes of name. */
static void mask_name_n(const char *name, size_t len, char *buf, size_t cap)
{
    size_t first, out = 0, chars = 0;

    if (cap == 0)
        return;
    first = len ? utf8_len((unsigned char)name[0]) : 0;
    if (first > len)
        first = len;
    if (first + 1 > cap) { /* not even the first character fits whole */
        buf[0] = '\0';
        return;
    }
    memcpy(buf, name, first);
    out = first;
    for (size_t i = first; i < len; i += utf8_len((unsigned char)name[i]))
        chars++;
    /* One star per remaining character, so the name's length still shows. */
    for (; chars > 0 && out + 1 < cap; chars--)
        buf[out++] = '*';
    buf[out] = '\0';
}

void mask_name(const char *name, char *buf, size_t cap)
{
    mask_name_n(name, name ? strlen(name) : 0, buf, cap);
}

static size_t digits_at(const char *s, size_t len)
{
    size_t n = 0;

    while (n < len && s[n] >= '0' && s[n] <= '9')
        n++;
    return n;
}

/* A number as people write one: digits, or groups of them joined by one space or hyphen
 * into 8 to 18 digits, the length of a card, phone or ID number ("139-1234-5678", "86 138
 * 1234 5678", an ID number in fours), each group after the first of 3 or more (of 1 or 2
 * when it ends 18), and an X after the last (an ID number's check character). Its bytes, and
 * in *ret_digits how many of them count as digits. A date ("2026-11-25"), "100-200" or two
 * phone numbers side by side are not one number. */
static size_t number_run(const char *s, size_t len, size_t *ret_digits)
{
    size_t first = digits_at(s, len), n = first, digits = first, g;

    while (n && n + 1 < len && (s[n] == ' ' || s[n] == '-') &&
           (g = digits_at(s + n + 1, len - n - 1)) > 0 &&
           (g >= 3 ? digits + g <= 18 : digits + g == 18)) {
        n += 1 + g;
        digits += g;
    }
    if (digits != first && digits < 8) { /* groups too short for an identifier */
        n = first;
        digits = first;
    }
    if (n && n < len && (s[n] == 'X' || s[n] == 'x')) {
        n++;
        digits++;
    }
    *ret_digits = digits;
    return n;
}

/* Is s (len bytes left) a Han character, and how long: 0 when not. */
static size_t han_len(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t n = utf8_len(u[0]);
    unsigned long cp;

    if (n < 3 || n > len)
        return 0;
    if (n == 3) {
        cp = ((u[0] & 0x0FUL) << 12) | ((u[1] & 0x3FUL) << 6) | (u[2] & 0x3FUL);
        return cp >= 0x3400 && cp <= 0x9FFF ? 3 : 0; /* Ext. A and the basic block */
    }
    cp = ((u[0] & 0x07UL) << 18) | ((u[1] & 0x3FUL) << 12) | ((u[2] & 0x3FUL) << 6) |
         (u[3] & 0x3FUL);
    return cp >= 0x20000 && cp <= 0x3FFFF ? 4 : 0; /* Ext. B and after */
}

/* The length of the first of words s starts with; 0 when none. */
static size_t prefix_of(const char *s, const char *const *words)
{
    for (; *words; words++)
        if (strncmp(s, *words, strlen(*words)) == 0)
            return strlen(*words);
    return 0;
}

static bool starts_with_any(const char *s, const char *const *words)
{
    return prefix_of(s, words) > 0;
}

/* After a marker that says a name comes (and a colon or a space): the bytes of the name
 * there, 2 to 4 Han characters up to a word that is not a name; 0 when none is. An ASCII
 * marker only where a word starts (word_start): hilist_name is a drug's, not a person's. */
static size_t name_after_marker(const char *s, size_t len, bool word_start, size_t *ret_skip)
{
    /* 人员 says a name comes only before a separator (人员【赵六】; 人员死亡 says why). */
    static const struct {
        const char *word;
        bool needs_separator;
    } markers[] = {{"被保险人", false}, {"参保人员", false}, {"参保人", false}, {"就诊人员", false},
                   {"就诊人", false},   {"患者", false},     {"病人", false},   {"姓名", false},
                   {"psn_name", false}, {"PSN_NAME", false}, {"name", false},   {"人员", true}};
    /* What comes between the marker and the name: a colon, a space, an equals sign, an
     * opening bracket or quote (参保人员【张三】, 患者“李四”, the platforms' usual style). Not
     * a parenthesis: 姓名(必填) says what the field is, not whose. */
    static const char *const separators[] = {"：", ":",  " ", "=",  "【", "“", "‘",
                                             "「", "《", "[", "\"", "'",  NULL};
    /* Words that follow the markers and are not names ("参保人信息不存在"), and those that
     * end a name ("张建国身份证...", "李㛃已结算"). */
    static const char *const not_names[] = {"信息", "身份", "编号", "类型", "类别",
                                            "状态", "账户", "医保", "参保", "待遇",
                                            "费用", "基本", "姓名", "名单", NULL};
    static const char *const after_name[] = {"身份", "证", "的",   "在",   "于",   "已",   "未",
                                             "不",   "无", "结算", "就诊", "住院", "门诊", NULL};
    size_t at = 0, name = 0, chars = 0, h, sep, seps = 0;
    bool needs_separator = false;

    for (size_t i = 0; i < sizeof markers / sizeof markers[0]; i++) {
        const char *w = markers[i].word;

        if ((word_start || (unsigned char)w[0] >= 0x80) && strncmp(s, w, strlen(w)) == 0) {
            at = strlen(w);
            needs_separator = markers[i].needs_separator;
            break;
        }
    }
    if (!at)
        return 0;
    while (at < len && (sep = prefix_of(s + at, separators)) > 0) {
        at += sep;
        seps++;
    }
    if (needs_separator && !seps)
        return 0;
    if (starts_with_any(s + at, not_names) || starts_with_any(s + at, after_name))
        return 0;
    while (chars < 4 && (h = han_len(s + at + name, len - at - name)) &&
           !(chars > 0 && starts_with_any(s + at + name, after_name))) {
        name += h;
        chars++;
    }
    *ret_skip = at;
    return chars >= 2 ? name : 0;
}

static bool is_alnum(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* A code or token (an e-voucher's QR code, an ecToken) at s: a word of 16 or more ASCII
 * letters and digits, with digits and 2 or more letters (a msgid has one, an ID number only
 * its X); its length, 0 when s is none. */
static size_t token_at(const char *s, size_t len)
{
    size_t n = 0, letters = 0, digits = 0;

    for (; n < len && is_alnum(s[n]); n++)
        *(s[n] <= '9' ? &digits : &letters) += 1;
    return n >= 16 && letters >= 2 && digits ? n : 0;
}

void mask_free_text(const char *text, char *buf, size_t cap)
{
    size_t len = text ? strlen(text) : 0, out = 0, i = 0, skip = 0, name;

    if (cap == 0)
        return;
    while (i < len) {
        size_t token = i == 0 || !is_alnum(text[i - 1]) ? token_at(text + i, len - i) : 0;
        size_t digits, run = number_run(text + i, len - i, &digits);

        if (token) { /* its first 4 kept, as a code is told from another */
            if (out + token >= cap)
                break;
            for (size_t k = 0; k < token; k++)
                buf[out++] = k < 4 ? text[i + k] : '*';
            i += token;
            continue;
        }
        size_t n = run ? run : utf8_len((unsigned char)text[i]);
        size_t head = 0, tail = digits >= 8 ? 4 : 2, d = 0;
        bool word_start = i == 0 || !(is_alnum(text[i - 1]) || text[i - 1] == '_');

        if (!run && (name = name_after_marker(text + i, len - i, word_start, &skip))) {
            char masked[64];
            size_t m;

            mask_name_n(text + i + skip, name, masked, sizeof masked);
            m = strlen(masked);
            if (out + skip + m >= cap)
                break;
            memcpy(buf + out, text + i, skip);
            memcpy(buf + out + skip, masked, m);
            out += skip + m;
            i += skip + name;
            continue;
        }
        if (n > len - i)
            n = len - i;
        if (out + n >= cap)
            break; /* whole characters and whole numbers only */
        if (digits >= 15) /* an identity number's, or a bank card's 6 + 4 */
            certno_keep(digits, &head, &tail);
        for (size_t k = 0; k < n; k++) {
            bool sep = run && (text[i + k] == ' ' || text[i + k] == '-');

            /* by the digits' places: a separator stays where it was */
            buf[out++] =
                !run || digits < 6 || sep || d < head || d >= digits - tail ? text[i + k] : '*';
            d += !sep;
        }
        i += n;
    }
    buf[out] = '\0';
}
