/* POST /localcfc/api/hsecfc/localQrCodeQuery, transType ec.query (national-interface.md §5):
 * a scanned e-voucher code (data.ecQrCode) becomes the person's data and an ecToken. */
#include <stdio.h>
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

void evoucher_handle(struct sandbox *sb, struct http_request *req)
{
    struct json_object *root = NULL, *data = NULL;
    const char *trans = NULL, *code = NULL;
    const struct evoucher_entry *e;
    struct sc_person *p = NULL;
    struct fault f;
    bool faulted, garbled;

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
    faulted = faults_take(&sb->faults, "ec.query", &f);
    garbled = faulted && f.mode == FAULT_GARBLE_AFTER_COMMIT; /* decoded, its code no number */
    if (faulted && !garbled) {                                /* the others are refusal-like here */
        json_object_put(root);
        if (f.mode == FAULT_RESET || f.mode == FAULT_DROP_AFTER_COMMIT)
            http_request_drop(req, f.mode == FAULT_RESET);
        else if (f.mode == FAULT_HTTP_500)
            http_respond(req, 500, NULL, 0, "", 0);
        else
            ec_reply(req, f.code ? f.code : 1, f.message[0] ? f.message : "refused (injected)",
                     NULL, false);
        return;
    }
    json_object_object_get_ex(root, "data", &data);
    if (jsonmap_get_string(data, "ecQrCode", 256, true, &code, NULL) < 0) {
        json_object_put(root);
        ec_reply(req, 1, "data.ecQrCode is required: the scanned code", NULL, false);
        return;
    }
    e = evoucher_decode(&sb->evoucher, code, uv_now(sb->loop));
    p = e ? scenario_person(&sb->scenario, e->psn_no) : NULL;
    if (!p) {
        json_object_put(root);
        ec_reply(req, 1, "the code is unknown or expired: ask the patient to refresh it", NULL,
                 false);
        return;
    }
    json_object_put(root);
    ec_reply(req, 0, "success", person_data(sb, p, e), garbled);
}
