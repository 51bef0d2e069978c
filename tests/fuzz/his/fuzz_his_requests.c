/* libFuzzer target: every HIS request body parser (identify, visits, fees/cancel, settle,
 * reconcile, settlement cancel) on the same bytes. What one accepts must hold its bounds,
 * and every string it hands back is borrowed from its document: read here in full, so ASan
 * sees one that points outside it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/datetime.h"
#include "interface/his/requests.h"
#include "tests/fuzz/read_str.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void identify(const char *body, size_t len)
{
    struct identify_request r;
    struct jsonmap_error err;

    if (identify_request_parse(body, len, &r, &err) < 0)
        return;
    if (r.wait_ms > HIS_WAIT_MS_MAX)
        abort();
    read_str(r.desk);
    read_str(r.qr);
    read_str(r.certno);
    read_str(r.psn_name);
    his_request_done(&r.root);
}

static void visit(const char *body, size_t len)
{
    struct visit_request r;
    struct jsonmap_error err;

    if (visit_request_parse(body, len, &r, &err) < 0)
        return;
    if (r.n_diagnoses < 1 || r.n_diagnoses > BOUND_DIAGNOSES)
        abort();
    read_str(r.identity_token);
    read_str(r.his_visit_id);
    read_str(r.begin_time);
    for (size_t i = 0; i < r.n_diagnoses; i++) {
        read_str(r.diagnoses[i].code);
        read_str(r.diagnoses[i].name);
    }
    his_request_done(&r.root);
}

static void fees_cancel(const char *body, size_t len)
{
    struct fees_cancel_request r;
    struct jsonmap_error err;

    if (fees_cancel_request_parse(body, len, &r, &err) < 0)
        return;
    if (r.n > BOUND_LINES || r.all != (r.n == 0)) /* all, or 1..BOUND_LINES ids */
        abort();
    for (size_t i = 0; i < r.n; i++) {
        const char *id = fees_cancel_request_id(&r, i);

        if (!id)
            abort();
        read_str(id);
    }
    his_request_done(&r.root);
}

static void settle(const char *body, size_t len)
{
    struct settle_request r;
    struct jsonmap_error err;

    if (settle_request_parse(body, len, &r, &err) < 0)
        return;
    if (r.has_discharge && !r.discharge_time)
        abort();
    read_str(r.discharge_time);
    read_str(r.discharge_reason);
    his_request_done(&r.root);
}

static void reconcile_and_cancel(const char *body, size_t len)
{
    struct reconcile_request rec;
    struct cancel_request can;
    struct jsonmap_error err;

    if (reconcile_request_parse(body, len, &rec, &err) == 0) {
        /* A day, or a month (yyyymm00): its first and last days are days. */
        if (!date_is_valid(date_period_first(rec.date)) ||
            !date_is_valid(date_period_last(rec.date)))
            abort();
        his_request_done(&rec.root);
    }
    if (cancel_request_parse(body, len, &can, &err) == 0) {
        read_str(can.reason);
        his_request_done(&can.root);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;

    identify(body, size);
    visit(body, size);
    fees_cancel(body, size);
    settle(body, size);
    reconcile_and_cancel(body, size);
    return 0;
}
