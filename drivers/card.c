/* Pure helpers of the card identity and events. */
#include "drivers/card.h"

void card_identity_check_expiry(struct card_identity *id, int32_t today)
{
    id->expired = id->expiry_date != 0 && id->expiry_date < today;
}

const char *card_event_kind_name(enum card_event_kind kind)
{
    switch (kind) {
    case CARD_EV_READER_ADDED: return "reader_added";
    case CARD_EV_READER_REMOVED: return "reader_removed";
    case CARD_EV_INSERTED: return "inserted";
    case CARD_EV_READ: return "read";
    case CARD_EV_REMOVED: return "removed";
    case CARD_EV_SERVICE_DOWN: return "service_down";
    case CARD_EV_SERVICE_UP: return "service_up";
    case CARD_EV_WATCHING: return "watching";
    }
    return "?";
}
