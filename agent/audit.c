/* The audit log: its hash chain, and GET /v1/audit. */
#include "agent/audit.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "agent/his.h"
#include "agent/posad.h"
#include "agent/upstream.h"
#include "core/datetime.h"
#include "core/err.h"
#include "core/str.h"

#define AUDIT_LIST_MAX 1000

void audit_who(const struct his_call *call, char ret[AUDIT_WHO_MAX + 1])
{
    str_copy(ret, AUDIT_WHO_MAX + 1, call->client ? call->client->name : call->req->peer);
}

/* SHA-256 over the previous hash and the row's fields, each ended by a NUL (no field holds
 * one), as hex. */
static int row_hash(const char *prev, const struct audit_row *row, char ret[AUDIT_HASH_LEN + 1])
{
    char at[24];
    const char *parts[] = {prev, at, row->who, row->action, row->target, row->msgid};
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);

    snprintf(at, sizeof at, "%" PRId64, row->at);
    for (size_t i = 0; ok && i < sizeof parts / sizeof parts[0]; i++)
        ok = EVP_DigestUpdate(ctx, parts[i], strlen(parts[i]) + 1);
    ok = ok && EVP_DigestFinal_ex(ctx, digest, &len) && len * 2 == AUDIT_HASH_LEN;
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return POSA_ECRYPTO;
    for (unsigned int i = 0; i < len; i++)
        snprintf(ret + 2 * i, 3, "%02x", digest[i]);
    return 0;
}

int audit_append(struct db *db, const char *who, const char *action, const char *target,
                 const char *msgid)
{
    char prev[AUDIT_HASH_LEN + 1], hash[AUDIT_HASH_LEN + 1];
    struct audit_row row = {.at = upstream_now_ms(),
                            .who = who,
                            .action = action,
                            .target = target,
                            .msgid = msgid ? msgid : ""};
    int err;

    if ((err = audit_hash_before(db, INT64_MAX, prev)) < 0 ||
        (err = row_hash(prev, &row, hash)) < 0)
        return err;
    row.hash = hash;
    return audit_insert(db, &row);
}

int audit_standin(struct db *db, const char *action, const char *for_msgid, const char *msgid)
{
    return audit_append(db, "posad", action, for_msgid, msgid);
}

bool audit_row_chains(const char *prev_hash, const struct audit_row *row)
{
    char hash[AUDIT_HASH_LEN + 1];

    return row_hash(prev_hash, row, hash) == 0 && strcmp(hash, row->hash) == 0;
}

/* --- GET /v1/audit ------------------------------------------------------------------- */

struct audit_page {
    int64_t after, limit, last_seq, broken_at;
    char prev[AUDIT_HASH_LEN + 1];
    struct json_object *rows;
    bool truncated;
};

static int add_row(const struct audit_row *row, void *data)
{
    struct audit_page *p = data;
    struct json_object *o;
    char at[DATETIME_TIME_LEN + 1];

    if (!p->broken_at && !audit_row_chains(p->prev, row))
        p->broken_at = row->seq;
    str_copy(p->prev, sizeof p->prev, row->hash);
    if (json_object_array_length(p->rows) == (size_t)p->limit) {
        p->truncated = true; /* the row past the page: there is more */
        return 0;
    }
    if (!(o = json_object_new_object()))
        return -ENOMEM;
    datetime_format(datetime_of_unix(row->at / 1000), at);
    json_object_object_add(o, "seq", json_object_new_int64(row->seq));
    json_object_object_add(o, "at", json_object_new_string(at));
    json_object_object_add(o, "who", json_object_new_string(row->who));
    json_object_object_add(o, "action", json_object_new_string(row->action));
    json_object_object_add(o, "target", json_object_new_string(row->target));
    json_object_object_add(o, "msgid", json_object_new_string(row->msgid));
    json_object_object_add(o, "hash", json_object_new_string(row->hash));
    json_object_array_add(p->rows, o);
    p->last_seq = row->seq;
    return 0;
}

static int run_page(struct db *db, struct db_job *job)
{
    struct audit_page *p = his_call_of_job(job)->flow;
    int err;

    if (!(p->rows = json_object_new_array()))
        return -ENOMEM;
    if ((err = audit_hash_before(db, p->after + 1, p->prev)) < 0)
        return err;
    return audit_list(db, p->after, (int)p->limit + 1, add_row, p);
}

static void on_page(struct db_job *job, int status)
{
    struct his_call *call = his_call_of_job(job);
    struct audit_page *p = call->flow;
    struct json_object *body;

    if (status) {
        his_fail(call, status, "the audit log could not be read", NULL);
        return;
    }
    body = json_object_new_object();
    json_object_object_add(body, "rows", json_object_get(p->rows));
    json_object_object_add(body, "chain",
                           json_object_new_string(p->broken_at ? "broken" : "intact"));
    json_object_object_add(body, "broken_at",
                           p->broken_at ? json_object_new_int64(p->broken_at) : NULL);
    json_object_object_add(body, "truncated", json_object_new_boolean(p->truncated));
    if (p->truncated) /* the next page: ?after= this */
        json_object_object_add(body, "next_after", json_object_new_int64(p->last_seq));
    his_reply(call, 200, body);
}

static void page_free(void *flow)
{
    struct audit_page *p = flow;

    json_object_put(p->rows);
    free(p);
}

void audit_get(struct his_call *call)
{
    struct audit_page *p;
    int64_t after, limit;

    if (his_every_desk(call, "the audit log holds every desk's actions") < 0 ||
        his_query_number(call, "after", 0, INT64_MAX - 1, 0, &after) < 0 ||
        his_query_number(call, "limit", 1, AUDIT_LIST_MAX, 100, &limit) < 0)
        return;
    if (!(p = his_flow_new(call, sizeof *p, page_free))) {
        his_fail(call, -ENOMEM, NULL, NULL);
        return;
    }
    p->after = after;
    p->limit = limit;
    his_db(call, run_page, on_page);
}
