/* The table of card profiles (in the spirit of OpenSC's card drivers): matching is pure
 * and the order is documented, so which profile reads a card is predictable. */
#ifndef POSA_DRIVERS_CARD_PROFILE_H
#define POSA_DRIVERS_CARD_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "drivers/apdu.h"
#include "drivers/card.h"
#include "drivers/vendor.h"

/* What is known about a card before choosing: its ATR and the outcome of SELECT SSSE
 * (0 = the card has the application, DRV_ESW_* = it answered but has not). */
struct card_probe {
    const uint8_t *atr;
    size_t atr_len;
    int ssse;
    bool vendor_loaded; /* a vendor library is configured and loaded */
};

/* What a profile reads through: the card's APDU transport and the vendor library. */
struct card_io {
    struct apdu_io apdu;
    struct vendor_lib *vendor;
};

struct card_profile {
    const char *name;                              /* for tests and logs */
    bool (*match)(const struct card_probe *probe); /* pure */
    int (*read_identity)(struct card_io *io, struct card_identity *ret);
    bool frees_reader; /* drives the reader itself: call with no PC/SC handle held */
};

/* In match order: "vendor" (SSSE present and a vendor library loaded), "ssc" (SSSE
 * present: plain reads), "iso" (any card that answered: reports DRV_ENOT_SSC). */
extern const struct card_profile card_profiles[];
extern const size_t card_profiles_n;

/* The first profile that matches probe; NULL when none does (the SELECT failed on the
 * transport: card gone). */
const struct card_profile *card_profile_find(const struct card_probe *probe);

#endif
