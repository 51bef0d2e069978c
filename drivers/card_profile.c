/* Card profiles: social-security card (plain or vendor library) and plain ISO cards. */
#include "drivers/card_profile.h"

#include <string.h>

#include "core/err.h"
#include "drivers/ssc.h"

/* The card answered SELECT with a status word (so it works) rather than failing. */
static bool answered(int ssse)
{
    return ssse == 0 || (ssse <= DRV_ESW_FILE && ssse >= DRV_ESW_CHAIN);
}

static bool match_vendor(const struct card_probe *p)
{
    return p->ssse == 0 && p->vendor_loaded;
}

static bool match_ssc(const struct card_probe *p)
{
    return p->ssse == 0;
}

static bool match_iso(const struct card_probe *p)
{
    return answered(p->ssse);
}

static int read_vendor(struct card_io *io, struct card_identity *ret)
{
    if (!io->vendor || !io->vendor->read_card_bas)
        return DRV_EVENDOR;
    return vendor_read_identity(io->vendor, ret);
}

static int read_ssc(struct card_io *io, struct card_identity *ret)
{
    return ssc_read_identity(&io->apdu, ret);
}

static int read_iso(struct card_io *io, struct card_identity *ret)
{
    (void)io;
    (void)ret;
    return DRV_ENOT_SSC;
}

const struct card_profile card_profiles[] = {
    {"vendor", match_vendor, read_vendor, true},
    {"ssc", match_ssc, read_ssc, false},
    {"iso", match_iso, read_iso, false},
};
const size_t card_profiles_n = sizeof card_profiles / sizeof card_profiles[0];

const struct card_profile *card_profile_find(const struct card_probe *probe)
{
    for (size_t i = 0; i < card_profiles_n; i++)
        if (card_profiles[i].match(probe))
            return &card_profiles[i];
    return NULL;
}
