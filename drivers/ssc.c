/* Social-security card: SSSE records, field decoding and the plain EF05/EF06 read. */
#include "drivers/ssc.h"

#include <stdbool.h>
#include <string.h>

#include "core/err.h"
#include "drivers/bcd.h"
#include "core/err.h"
#include "drivers/gbk.h"

const uint8_t ssc_aid[15] = {0x73, 0x78, 0x31, 0x2E, 0x73, 0x68, 0x2E, /* "sx1.sh." */
                             0xC9, 0xE7, 0xBB, 0xE1, 0xB1, 0xA3, 0xD5, 0xCF};

/* The records read, in order. len is the value length the layout gives (Le = len + 2);
 * optional records may be missing (6A83) on some card generations. */
struct ssc_rec {
    uint16_t fid;
    uint8_t tag;
    uint8_t len;
    bool required;
};

static const struct ssc_rec ssc_recs[] = {
    {0xEF05, 0x01, 16, true},  /* 卡识别码 */
    {0xEF05, 0x02, 1, false},  /* 卡的类别 */
    {0xEF05, 0x03, 4, true},   /* 规范版本 */
    {0xEF05, 0x04, 12, false}, /* 初始化机构编号 (not kept) */
    {0xEF05, 0x05, 4, false},  /* 发卡日期 */
    {0xEF05, 0x06, 4, false},  /* 卡有效期 */
    {0xEF05, 0x07, 9, true},   /* 卡号 */
    {0xEF06, 0x08, 18, true},  /* 社会保障号码 */
    {0xEF06, 0x09, 30, true},  /* 姓名 */
    {0xEF06, 0x4E, 20, false}, /* 姓名扩展 (2.0/3.0 cards) */
    {0xEF06, 0x0A, 1, false},  /* 性别 */
    {0xEF06, 0x0B, 1, false},  /* 民族 */
    {0xEF06, 0x0C, 3, false},  /* 出生地 */
    {0xEF06, 0x0D, 4, false},  /* 出生日期 */
};

int ssc_record_parse(const uint8_t *rec, size_t len, uint8_t tag, const uint8_t **ret_val,
                     size_t *ret_len)
{
    if (len < 2 || rec[0] != tag || rec[1] > len - 2)
        return DRV_ERECORD;
    *ret_val = rec + 2;
    *ret_len = rec[1];
    return 0;
}

/* Only padding (00, 20 or FF), as an issuer leaves a record it did not write: many cards
 * leave optional ones so (民族 FF, 出生地 FFFFFF, 发卡日期 00000000). */
static bool is_blank(const uint8_t *val, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (val[i] != 0x00 && val[i] != 0x20 && val[i] != 0xFF)
            return false;
    return true;
}

/* Copies printable ASCII up to the first padding byte (00, 20 or FF); the rest must be
 * padding. Fails on an empty result or one longer than max. */
static int ascii_field(const uint8_t *val, size_t len, size_t max, char *out)
{
    size_t n = 0;

    while (n < len && val[n] != 0x00 && val[n] != 0x20 && val[n] != 0xFF)
        n++;
    if (n == 0 || n > max)
        return DRV_EFIELD;
    for (size_t i = 0; i < n; i++)
        if (val[i] < 0x21 || val[i] > 0x7E)
            return DRV_EFIELD;
    if (!is_blank(val + n, len - n))
        return DRV_EFIELD;
    memcpy(out, val, n);
    out[n] = '\0';
    return 0;
}

static bool is_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static int decode_card_sn(struct card_identity *id, const uint8_t *val, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";

    if (len != CARD_SN_LEN / 2)
        return DRV_EFIELD;
    for (size_t i = 0; i < len; i++) {
        id->card_sn[2 * i] = hex[val[i] >> 4];
        id->card_sn[2 * i + 1] = hex[val[i] & 0x0F];
    }
    id->card_sn[CARD_SN_LEN] = '\0';
    memcpy(id->region, id->card_sn, 6);
    id->region[6] = '\0';
    if (!is_digits(id->region, 6))
        id->region[0] = '\0';
    return 0;
}

static int decode_version(struct card_identity *id, const uint8_t *val, size_t len)
{
    int rc = ascii_field(val, len, 4, id->spec_version);
    if (rc < 0)
        return rc;
    const char *v = id->spec_version;
    if (strlen(v) != 4 || v[1] != '.' || !is_digits(v, 1) || !is_digits(v + 2, 2))
        return DRV_EFIELD;
    return 0;
}

static int decode_card_no(struct card_identity *id, const uint8_t *val, size_t len)
{
    /* Some cards pad 卡号 beyond 9 bytes; only the first 9 are the number. */
    char buf[CARD_NO_LEN + 1];
    int rc = ascii_field(val, len < CARD_NO_LEN ? len : CARD_NO_LEN, CARD_NO_LEN, buf);
    if (rc < 0)
        return rc;
    if (strlen(buf) != CARD_NO_LEN)
        return DRV_EFIELD;
    memcpy(id->card_no, buf, sizeof buf);
    return 0;
}

static int decode_certno(struct card_identity *id, const uint8_t *val, size_t len)
{
    char buf[CARD_CERTNO_MAX + 1];
    int rc = ascii_field(val, len, CARD_CERTNO_MAX, buf);
    if (rc < 0)
        return rc;
    size_t n = strlen(buf);
    if (n != 18 && n != 15)
        return DRV_EFIELD;
    if (buf[n - 1] == 'x')
        buf[n - 1] = 'X';
    if (!is_digits(buf, n - 1) || (!is_digits(buf + n - 1, 1) && buf[n - 1] != 'X'))
        return DRV_EFIELD;
    memcpy(id->certno, buf, n + 1);
    return 0;
}

/* A name's length without its trailing FF padding, which some issuers write as they do in
 * the other fields (FF is no GB18030 byte: it is never part of a character). gbk_to_utf8
 * itself strips 00 and 20. */
static size_t name_len(const uint8_t *val, size_t len)
{
    while (len > 0 && val[len - 1] == 0xFF)
        len--;
    return len;
}

static int decode_name_ext(struct card_identity *id, const uint8_t *val, size_t len)
{
    size_t have = strlen(id->name);
    return gbk_to_utf8(val, name_len(val, len), id->name + have, sizeof id->name - have);
}

static int decode_byte_digit(char *out, const uint8_t *val, size_t len)
{
    if (len != 1)
        return DRV_EFIELD;
    /* A blank one (00, 20) fails here; read_field leaves it unknown, as any blank field. */
    if (val[0] < '0' || val[0] > '9')
        return DRV_EFIELD;
    *out = (char)val[0];
    return 0;
}

static int decode_nation(struct card_identity *id, const uint8_t *val, size_t len)
{
    /* cn1: one BCD byte, so 汉 = 0x01 and the 56th nation is 0x56. */
    if (len != 1 || (val[0] >> 4) > 9 || (val[0] & 0x0F) > 9)
        return DRV_EFIELD;
    id->nation = (uint8_t)((val[0] >> 4) * 10 + (val[0] & 0x0F));
    return 0;
}

int ssc_field_decode(struct card_identity *id, uint8_t tag, const uint8_t *val, size_t len)
{
    switch (tag) {
    case 0x01: return decode_card_sn(id, val, len);
    case 0x02: return decode_byte_digit(&id->card_type, val, len);
    case 0x03: return decode_version(id, val, len);
    case 0x05: return bcd_date_decode(val, len, &id->issue_date);
    case 0x06: return bcd_date_decode(val, len, &id->expiry_date);
    case 0x07: return decode_card_no(id, val, len);
    case 0x08: return decode_certno(id, val, len);
    case 0x09: return gbk_to_utf8(val, name_len(val, len), id->name, sizeof id->name);
    case 0x4E: return decode_name_ext(id, val, len);
    case 0x0A: return decode_byte_digit(&id->sex, val, len);
    case 0x0B: return decode_nation(id, val, len);
    case 0x0C: return bcd_digits_decode(val, len, id->birthplace, sizeof id->birthplace);
    case 0x0D: return bcd_date_decode(val, len, &id->birth_date);
    default: return 0;
    }
}

/* Sends cmd and maps the final SW; the data stays in out. */
static int command(const struct apdu_io *io, const uint8_t *cmd, size_t cmd_len, uint8_t *out,
                   size_t cap, size_t *ret_len)
{
    uint16_t sw = 0;
    size_t n = 0;
    int rc = apdu_exchange(io, cmd, cmd_len, out, cap, &n, &sw);
    if (rc < 0)
        return rc;
    rc = apdu_sw_err(sw);
    if (rc < 0)
        return rc;
    *ret_len = n;
    return 0;
}

int ssc_select(const struct apdu_io *io)
{
    uint8_t cmd[5 + sizeof ssc_aid] = {0x00, 0xA4, 0x04, 0x00, sizeof ssc_aid};
    uint8_t fci[APDU_MAX_RESP];
    size_t n;

    memcpy(cmd + 5, ssc_aid, sizeof ssc_aid);
    return command(io, cmd, sizeof cmd, fci, sizeof fci, &n);
}

static int select_ef(const struct apdu_io *io, uint16_t fid)
{
    const uint8_t cmd[] = {0x00, 0xA4, 0x02, 0x00, 0x02, (uint8_t)(fid >> 8), (uint8_t)fid};
    uint8_t fcp[APDU_MAX_RESP];
    size_t n;

    return command(io, cmd, sizeof cmd, fcp, sizeof fcp, &n);
}

/* READ RECORD by identifier (P2 = 00: first record with identifier P1 in the current EF);
 * works on EF05, whose record numbers equal the tags, and on EF06, whose do not. */
static int read_field(const struct apdu_io *io, const struct ssc_rec *r, struct card_identity *id)
{
    const uint8_t cmd[] = {0x00, 0xB2, r->tag, 0x00, (uint8_t)(r->len + 2)};
    uint8_t rec[APDU_MAX_RESP];
    const uint8_t *val;
    size_t n, vlen;

    int rc = command(io, cmd, sizeof cmd, rec, sizeof rec, &n);
    if (rc == DRV_ESW_RECORD && !r->required)
        return 0;
    if (rc < 0)
        return rc;
    rc = ssc_record_parse(rec, n, r->tag, &val, &vlen);
    if (rc < 0)
        return rc;
    /* Decoded into a copy: a field that fails leaves nothing half-written. Padding can be a
     * value (民族 20 is BCD 0x20), so it counts as "never written" only when it does not
     * decode. */
    struct card_identity tmp = *id;
    rc = ssc_field_decode(&tmp, r->tag, val, vlen);
    if (rc == 0)
        *id = tmp;
    else if (!r->required && is_blank(val, vlen))
        rc = 0; /* never written: the field stays unknown */
    return rc;
}

int ssc_read_identity(const struct apdu_io *io, struct card_identity *ret)
{
    struct card_identity id = {.profile = "ssc"};
    uint16_t selected = 0;
    int rc = ssc_select(io);

    for (size_t i = 0; rc == 0 && i < sizeof ssc_recs / sizeof ssc_recs[0]; i++) {
        const struct ssc_rec *r = &ssc_recs[i];
        if (r->fid != selected) {
            rc = select_ef(io, r->fid);
            selected = r->fid;
        }
        if (rc == 0)
            rc = read_field(io, r, &id);
    }
    if (rc < 0)
        return rc;
    if (id.name[0] == '\0')
        return DRV_EFIELD;
    *ret = id;
    return 0;
}
