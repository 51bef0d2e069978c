/* libFuzzer target: the national envelope parsers (request and response) on any bytes. */
#include <stddef.h>
#include <stdint.h>

#include "interface/platform/envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct envelope_request req;
    struct envelope_response resp;
    struct jsonmap_error err;

    if (envelope_request_parse((const char *)data, size, &req, &err) == 0) {
        /* What parsed must build again. */
        struct json_object *again = envelope_request_build(&req.head, json_object_get(req.input));

        json_object_put(again);
        envelope_request_done(&req);
    }
    if (envelope_response_parse((const char *)data, size, &resp, &err) == 0)
        envelope_response_done(&resp);
    return 0;
}
