/* The national envelope (national-interface.md §1.2, §1.3): parse, validate and build the
 * request envelope that carries every transaction, and the response envelope that answers
 * it. Used by posad's platform client and by posa-sandbox. Pure codec: no I/O, no logging.
 *
 * Strings handed out by a parse are borrowed from the parsed document, which the parsed
 * struct owns until its _done(). Absent or null optional fields read as "". */
#ifndef POSA_PLATFORM_ENVELOPE_H
#define POSA_PLATFORM_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "interface/json/jsonmap.h"

#define ENVELOPE_INFNO_MAX  8  /* "2203A" and the like */
#define ENVELOPE_CODE_LEN   12 /* fixmedins_code */
#define ENVELOPE_ADMDVS_LEN 6

/* The request's header fields, in wire order. */
struct envelope_head {
    const char *infno;
    const char *msgid;
    const char *mdtrtarea_admvs;
    const char *insuplc_admdvs;
    const char *recer_sys_code;
    const char *dev_no;
    const char *dev_safe_info;
    const char *cainfo;
    const char *signtype;
    const char *infver;
    const char *opter_type;
    const char *opter;
    const char *opter_name;
    const char *inf_time; /* "yyyy-MM-dd HH:mm:ss" */
    const char *fixmedins_code;
    const char *fixmedins_name;
    const char *sign_no;
};

struct envelope_request {
    struct envelope_head head;
    int64_t inf_time;          /* head.inf_time as yyyymmddHHMMSS */
    struct json_object *input; /* an object, borrowed from root */
    struct json_object *root;  /* owned */
};

/* Parses and validates a request envelope: a JSON object; infno 1..8 of [0-9A-Za-z];
 * fixmedins_code 12 of [0-9A-Za-z]; msgid in the national format with that code
 * (msgid_is_valid); inf_time a real time; insuplc_admdvs and mdtrtarea_admvs empty or 6
 * digits; input an object; every string bounded. On failure err names the field and
 * nothing is kept. */
int envelope_request_parse(const char *text, size_t len, struct envelope_request *ret,
                           struct jsonmap_error *err);
void envelope_request_done(struct envelope_request *req);

/* Builds a request envelope from head (NULL fields become "") and input, whose reference
 * is taken (NULL becomes {}). Returns a value that prints as the envelope (jsontext: for
 * printing or placing in a document, not for reading back; json_object_put it), or NULL. */
struct json_object *envelope_request_build(const struct envelope_head *head,
                                           struct json_object *input);

struct envelope_response {
    int infcode; /* 0 success; the platform sends -1 on failure */
    const char *inf_refmsgid;
    const char *refmsg_time; /* yyyyMMddHHmmssSSS */
    const char *respond_time;
    const char *err_msg;
    const char *warn_msg;
    struct json_object *output; /* borrowed from root; NULL when absent or null */
    struct json_object *root;   /* owned by a parsed response */
};

/* Parses a response envelope. infcode may be a JSON number or a string of digits (with an
 * optional '-'); a document without infcode (a gateway's own error shape) is POSA_EFIELD
 * naming "infcode". */
int envelope_response_parse(const char *text, size_t len, struct envelope_response *ret,
                            struct jsonmap_error *err);
void envelope_response_done(struct envelope_response *resp);

/* The platform's date when it answered (respond_time, yyyyMMddHHmmssSSS) as yyyymmdd, or 0
 * when the answer has none or it is not a date. */
int32_t envelope_respond_date(const struct envelope_response *resp);

/* Builds a response envelope from resp's fields (root ignored; NULL strings become "",
 * except err_msg and warn_msg which become null) and output, whose reference is taken
 * (NULL becomes null). infcode is written as a number. */
struct json_object *envelope_response_build(const struct envelope_response *resp,
                                            struct json_object *output);

/* A JSON number whose text is value at scale exactly ("4.52"), no double involved. */
struct json_object *envelope_json_decimal(int64_t value, int scale);

#endif
