/* The national request and response envelopes: parse with validation, and build. */
#include "interface/platform/envelope.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/bound.h"
#include "core/datetime.h"
#include "core/decimal.h"
#include "core/err.h"
#include "core/msgid.h"
#include "core/utf8.h"
#include "interface/json/jsontext.h"

/* Field name, its offset in struct envelope_head, and its bound in bytes. */
struct head_field {
    const char *name;
    size_t offset;
    size_t max;
};

#define HF(f, max)                                                                                 \
    {                                                                                              \
#f, offsetof(struct envelope_head, f), max                                                 \
    }

static const struct head_field head_fields[] = {
    HF(infno, ENVELOPE_INFNO_MAX),
    HF(msgid, MSGID_LEN),
    HF(mdtrtarea_admvs, ENVELOPE_ADMDVS_LEN),
    HF(insuplc_admdvs, ENVELOPE_ADMDVS_LEN),
    HF(recer_sys_code, BOUND_CODE),
    HF(dev_no, BOUND_CODE),
    HF(dev_safe_info, BOUND_STRING),
    HF(cainfo, BOUND_STRING),
    HF(signtype, BOUND_CODE),
    HF(infver, BOUND_CODE),
    HF(opter_type, BOUND_CODE),
    HF(opter, BOUND_CODE),
    HF(opter_name, BOUND_NAME),
    HF(inf_time, DATETIME_TIME_LEN),
    HF(fixmedins_code, ENVELOPE_CODE_LEN),
    HF(fixmedins_name, BOUND_NAME),
    HF(sign_no, BOUND_CODE),
};

#define N_HEAD_FIELDS (sizeof(head_fields) / sizeof(head_fields[0]))

static const char **head_slot(struct envelope_head *head, const struct head_field *f)
{
    return (const char **)(void *)((char *)head + f->offset);
}

static const char *head_value(const struct envelope_head *head, const struct head_field *f)
{
    const char *const *slot = (const char *const *)(const void *)((const char *)head + f->offset);

    return *slot ? *slot : "";
}

static bool is_alnum_text(const char *s, size_t min, size_t max)
{
    size_t n = strlen(s);

    if (n < min || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];

        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
            return false;
    }
    return true;
}

static bool is_admdvs_or_empty(const char *s)
{
    size_t n = strlen(s);

    if (n == 0)
        return true;
    if (n != ENVELOPE_ADMDVS_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static int head_check(const struct envelope_head *h, int64_t *ret_time, struct jsonmap_error *err)
{
    if (!is_alnum_text(h->infno, 1, ENVELOPE_INFNO_MAX))
        return jsonmap_fail(err, POSA_EFIELD, NULL, "infno");
    if (!is_alnum_text(h->fixmedins_code, ENVELOPE_CODE_LEN, ENVELOPE_CODE_LEN))
        return jsonmap_fail(err, POSA_EFIELD, NULL, "fixmedins_code");
    if (!msgid_is_valid(h->msgid, strlen(h->msgid), h->fixmedins_code))
        return jsonmap_fail(err, POSA_EFIELD, NULL, "msgid");
    if (datetime_parse(h->inf_time, strlen(h->inf_time), ret_time) < 0)
        return jsonmap_fail(err, POSA_EDATE, NULL, "inf_time");
    if (!is_admdvs_or_empty(h->insuplc_admdvs))
        return jsonmap_fail(err, POSA_EFIELD, NULL, "insuplc_admdvs");
    if (!is_admdvs_or_empty(h->mdtrtarea_admvs))
        return jsonmap_fail(err, POSA_EFIELD, NULL, "mdtrtarea_admvs");
    return 0;
}

int envelope_request_parse(const char *text, size_t len, struct envelope_request *ret,
                           struct jsonmap_error *err)
{
    struct envelope_request req;
    struct json_object *input = NULL;
    int rc;

    memset(&req, 0, sizeof(req));
    rc = jsonmap_parse(text, len, &req.root, err);
    if (rc < 0)
        return rc;
    if (!json_object_is_type(req.root, json_type_object)) {
        rc = jsonmap_fail(err, POSA_EFIELD, "", "");
        goto out;
    }
    for (size_t i = 0; i < N_HEAD_FIELDS; i++) {
        const struct head_field *f = &head_fields[i];
        const char **slot = head_slot(&req.head, f);

        *slot = "";
        rc = jsonmap_get_string(req.root, f->name, f->max, false, slot, err);
        if (rc < 0)
            goto out;
    }
    rc = head_check(&req.head, &req.inf_time, err);
    if (rc < 0)
        goto out;
    if (!json_object_object_get_ex(req.root, "input", &input) ||
        !json_object_is_type(input, json_type_object)) {
        rc = jsonmap_fail(err, POSA_EFIELD, NULL, "input");
        goto out;
    }
    req.input = input;
    *ret = req;
    return 0;
out:
    json_object_put(req.root);
    return rc;
}

void envelope_request_done(struct envelope_request *req)
{
    if (!req)
        return;
    json_object_put(req->root);
    req->root = NULL;
    req->input = NULL;
}

/* Written as text: every message posad sends has this head, and a json-c object of its
 * seventeen strings cost more to build, print and free than most inputs. */
struct json_object *envelope_request_build(const struct envelope_head *head,
                                           struct json_object *input)
{
    struct jsontext j = {0};

    jsontext_open(&j, NULL, '{');
    for (size_t i = 0; i < N_HEAD_FIELDS; i++)
        jsontext_str(&j, head_fields[i].name, head_value(head, &head_fields[i]));
    jsontext_json(&j, "input", input ? input : json_object_new_object());
    jsontext_close(&j, '}');
    return jsontext_take(&j);
}

/* infcode as a number or a string of digits with an optional '-'. */
static int infcode_read(struct json_object *v, int *ret)
{
    const char *s;
    long value = 0;
    size_t i = 0, n;

    if (!v || !(json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_string)))
        return POSA_EFIELD;
    s = json_object_get_string(v);
    n = strlen(s);
    if (n > 0 && s[0] == '-')
        i = 1;
    if (n == i || n - i > 6)
        return POSA_EFIELD;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return POSA_EFIELD;
        value = value * 10 + (s[i] - '0');
    }
    *ret = (int)(s[0] == '-' ? -value : value);
    return 0;
}

/* err_msg or warn_msg: the platform's words, whatever their length (a Java stack trace) or
 * type (a number), cut to BOUND_STRING bytes of whole characters; an answer is not thrown
 * away for them, which made a refusal unreadable, its outcome unknown, and had a settlement
 * that never was reversed. */
static int words_read(struct json_object *root, const char *name, const char **ret)
{
    struct json_object *v = NULL, *words;
    bool string;
    const char *text;
    size_t len;

    if (!json_object_object_get_ex(root, name, &v) || !v || json_object_is_type(v, json_type_null))
        return 0;
    string = json_object_is_type(v, json_type_string);
    text = string ? json_object_get_string(v) : json_object_to_json_string_ext(v, 0);
    len = strlen(text);
    if (string && len <= BOUND_STRING) {
        *ret = text;
        return 0;
    }
    /* A copy in v's place (json-c types a value once): cut, or the other type's text. */
    words = json_object_new_string_len(
        text, (int)utf8_uncut_len(text, len < BOUND_STRING ? len : BOUND_STRING));
    if (!words || json_object_object_add(root, name, words) != 0) {
        json_object_put(words);
        return -ENOMEM;
    }
    *ret = json_object_get_string(words);
    return 0;
}

int envelope_response_parse(const char *text, size_t len, struct envelope_response *ret,
                            struct jsonmap_error *err)
{
    static const char *const names[] = {"inf_refmsgid", "refmsg_time", "respond_time", "err_msg",
                                        "warn_msg"};
    struct envelope_response resp;
    const char **slots[] = {&resp.inf_refmsgid, &resp.refmsg_time, &resp.respond_time,
                            &resp.err_msg, &resp.warn_msg};
    struct json_object *v = NULL;
    int rc;

    memset(&resp, 0, sizeof(resp));
    /* A key written twice: json-c keeps the last, and which figure the platform meant cannot
     * be told (a psn_cash_pay, then "0.00"): the answer is not read, and a settlement's
     * outcome is found out by query, as for any unreadable answer. */
    rc = jsonmap_parse_request(text, len, &resp.root, err);
    if (rc < 0)
        return rc;
    if (!json_object_is_type(resp.root, json_type_object)) {
        rc = jsonmap_fail(err, POSA_EFIELD, "", "");
        goto out;
    }
    json_object_object_get_ex(resp.root, "infcode", &v);
    if (infcode_read(v, &resp.infcode) < 0) {
        rc = jsonmap_fail(err, POSA_EFIELD, NULL, "infcode");
        goto out;
    }
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        *slots[i] = "";
        rc = i >= 3 ? words_read(resp.root, names[i], slots[i])
                    : jsonmap_get_string(resp.root, names[i], BOUND_STRING, false, slots[i], err);
        if (rc < 0)
            goto out;
    }
    v = NULL;
    if (json_object_object_get_ex(resp.root, "output", &v) && v &&
        !json_object_is_type(v, json_type_null)) {
        if (!json_object_is_type(v, json_type_object)) {
            rc = jsonmap_fail(err, POSA_EFIELD, NULL, "output");
            goto out;
        }
        resp.output = v;
    }
    *ret = resp;
    return 0;
out:
    json_object_put(resp.root);
    return rc;
}

int32_t envelope_respond_date(const struct envelope_response *resp)
{
    const char *t = resp->respond_time;
    int32_t date = 0;

    for (int i = 0; t && i < 8 && t[i] >= '0' && t[i] <= '9'; i++)
        date = date * 10 + (t[i] - '0');
    return t && strlen(t) >= 8 && date_is_valid(date) ? date : 0;
}

void envelope_response_done(struct envelope_response *resp)
{
    if (!resp)
        return;
    json_object_put(resp->root);
    resp->root = NULL;
    resp->output = NULL;
}

static struct json_object *string_or_null(const char *s)
{
    return s ? json_object_new_string(s) : NULL;
}

struct json_object *envelope_response_build(const struct envelope_response *resp,
                                            struct json_object *output)
{
    struct json_object *root = json_object_new_object();

    if (!root) {
        json_object_put(output);
        return NULL;
    }
    json_object_object_add(root, "infcode", json_object_new_int(resp->infcode));
    json_object_object_add(root, "inf_refmsgid",
                           json_object_new_string(resp->inf_refmsgid ? resp->inf_refmsgid : ""));
    json_object_object_add(root, "refmsg_time",
                           json_object_new_string(resp->refmsg_time ? resp->refmsg_time : ""));
    json_object_object_add(root, "respond_time",
                           json_object_new_string(resp->respond_time ? resp->respond_time : ""));
    json_object_object_add(root, "err_msg", string_or_null(resp->err_msg));
    json_object_object_add(root, "warn_msg", string_or_null(resp->warn_msg));
    json_object_object_add(root, "cainfo", json_object_new_string(""));
    json_object_object_add(root, "signtype", json_object_new_string(""));
    json_object_object_add(root, "output", output);
    return root;
}

struct json_object *envelope_json_decimal(int64_t value, int scale)
{
    char buf[DEC_FORMAT_MAX];
    int len = dec_format(value, scale, buf, sizeof(buf));
    struct json_object *obj;

    if (len < 0)
        return NULL;
    /* An int object whose text is the exact decimal: json_object_get_string() (and so
     * jsonmap_decimal) reads back the very text; nothing here is ever a double. */
    obj = json_object_new_int64(0);
    if (obj && jsontext_print_as(obj, buf, (size_t)len) < 0) {
        json_object_put(obj);
        obj = NULL;
    }
    return obj;
}
