/* POST /localcfc/api/hsecfc/localQrCodeQuery, transType ec.query (national-interface.md §5):
 * a scanned e-voucher code (data.ecQrCode) becomes the person's data and an ecToken. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/datetime.h"
#include "interface/json/jsonmap.h"
#include "sandbox/txn.h"

/* garbled: the code is no number ("abc"), which a client must not read as 0, success. */
static void ec_reply(struct http_request *req, int code, const char *message,
                     struct json_object *data, bool garbled)
{
    struct json_object *body = json_object_new_object();

    json_object_object_add(body, "code",
                           garbled ? json_object_new_string("abc") : json_object_new_int(code));
    out_str(body, "message", message);
    json_object_object_add(body, "data", data);
    sandbox_respond_json(req, 200, body);
}

static struct json_object *person_data(const struct sandbox *sb, const struct sc_person *p,
                                       const struct evoucher_entry *e)
{
    struct json_object *d = json_object_new_object();
    char birthday[9];

    snprintf(birthday, sizeof(birthday), "%08d", (int)p->birthday_date);
    out_str(d, "userName", p->name);
    out_str(d, "idNo", p->certno);
    out_str(d, "idType", "01");
    out_str(d, "insuOrg", p->insuplc_admdvs);
    out_str(d, "ecToken", e->token);
    out_str(d, "ecIndexNo", e->token + 8);
    out_str(d, "gender", p->gender);
    out_str(d, "birthday", birthday);
    out_str(d, "nationality", "CHN");
    out_str(d, "email", "");
    out_str(d, "chnlId", "sandbox");
    out_str(d, "ecQrCode", e->code);
    out_str(d, "authNo", "");
    (void)sb;
    return d;
}

/* The decode itself: root (owned, put here) names the scanned code. */
static void ec_answer(struct sandbox *sb, struct http_request *req, struct json_object *root,
                      bool garbled)
{
    struct json_object *data = NULL;
    const struct evoucher_entry *e;
    struct sc_person *p = NULL;
    const char *code = NULL;

    json_object_object_get_ex(root, "data", &data);
    if (jsonmap_get_string(data, "ecQrCode", 256, true, &code, NULL) < 0) {
        json_object_put(root);
        ec_reply(req, 1, "data.ecQrCode is required: the scanned code", NULL, false);
        return;
    }
    e = evoucher_decode(&sb->evoucher, code, uv_now(sb->loop));
    p = e ? scenario_person(&sb->scenario, e->psn_no) : NULL;
    json_object_put(root);
    if (!p) {
        ec_reply(req, 1, "the code is unknown or expired: ask the patient to refresh it", NULL,
                 false);
        return;
    }
    ec_reply(req, 0, "success", person_data(sb, p, e), garbled);
}

/* A decode held by a delay fault; it owns its timer. */
struct ec_delayed {
    uv_timer_t timer;
    struct sandbox *sb;
    struct http_request *req;
    struct json_object *root;
};

static void on_ec_delay_closed(uv_handle_t *handle)
{
    struct ec_delayed *d = handle->data;

    if (d->sb->group.closing) { /* stopping: no answer starts now */
        json_object_put(d->root);
        http_request_drop(d->req, false);
    } else {
        ec_answer(d->sb, d->req, d->root, false);
    }
    free(d);
}

static void on_ec_delay(uv_timer_t *timer)
{
    uv_close((uv_handle_t *)timer, on_ec_delay_closed);
}

/* Holds the decode for delay_ms, then answers it as usual. */
static void ec_delay(struct sandbox *sb, struct http_request *req, struct json_object *root,
                     uint32_t delay_ms)
{
    struct ec_delayed *d = calloc(1, sizeof(*d));

    if (!d) {
        json_object_put(root);
        http_respond(req, 500, NULL, 0, "", 0);
        return;
    }
    *d = (struct ec_delayed){.sb = sb, .req = req, .root = root};
    uv_timer_init(sb->loop, &d->timer);
    d->timer.data = d;
    uv_timer_start(&d->timer, on_ec_delay, delay_ms, 0);
}

/* Applies a fault armed for ec.query; true when it answered (or holds) the request. */
static bool ec_fault(struct sandbox *sb, struct http_request *req, struct json_object *root,
                     const struct fault *f)
{
    switch (f->mode) {
    case FAULT_GARBLE_AFTER_COMMIT: return false; /* decoded, its code no number */
    case FAULT_DELAY: ec_delay(sb, req, root, f->delay_ms); return true;
    case FAULT_RESET:
    case FAULT_DROP_AFTER_COMMIT: http_request_drop(req, f->mode == FAULT_RESET); break;
    case FAULT_HTTP_500: http_respond(req, 500, NULL, 0, "", 0); break;
    case FAULT_REFUSE:
    case FAULT_TAMPER_AFTER_COMMIT: /* not armed for ec.query (admin.c refuses them) */
    case FAULT_OVERSIZE_AFTER_COMMIT:
        ec_reply(req, f->code ? f->code : 1, f->message[0] ? f->message : "refused (injected)",
                 NULL, false);
        break;
    }
    json_object_put(root);
    return true;
}

void evoucher_handle(struct sandbox *sb, struct http_request *req)
{
    struct json_object *root = NULL;
    const char *trans = NULL;
    struct fault f;
    bool faulted;

    if (strcmp(req->method, "POST") != 0 ||
        jsonmap_parse(req->body, req->body_len, &root, NULL) < 0 ||
        !json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        ec_reply(req, 400, "the request must be a JSON object sent with POST", NULL, false);
        return;
    }
    if (jsonmap_get_string(root, "transType", 64, true, &trans, NULL) < 0 ||
        strcmp(trans, "ec.query") != 0) {
        json_object_put(root);
        ec_reply(req, 1, "transType must be ec.query", NULL, false);
        return;
    }
    faulted = faults_take_named(&sb->faults, "ec.query", &f);
    if (faulted)
        fprintf(stderr, "fault %s infno=ec.query\n", fault_mode_name(f.mode));
    if (faulted && ec_fault(sb, req, root, &f))
        return;
    ec_answer(sb, req, root, faulted && f.mode == FAULT_GARBLE_AFTER_COMMIT);
}
