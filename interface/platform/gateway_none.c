/* No gateway authentication: a plain POST to the front-end processor on a private network
 * (the most common deployment). */
#include "interface/platform/gateway.h"

static int none_init(struct gateway *gw, const struct gateway_config *cfg)
{
    (void)gw;
    (void)cfg;
    return 0;
}

static int none_seal(struct gateway *gw, const struct gateway_msg *msg, struct gateway_sealed *ret)
{
    (void)gw;
    (void)msg;
    (void)ret;
    return 0;
}

const struct gateway_ops gateway_none_ops = {
    .name = "none",
    .init = none_init,
    .seal = none_seal,
};
