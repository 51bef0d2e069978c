/* What drivers/ tells the engine about cards: the identity read from a social-security
 * card and the events of the reader thread. Plain structs, copied by value; every string
 * is NUL-terminated UTF-8 (names) or ASCII (numbers). */
#ifndef POSA_DRIVERS_CARD_H
#define POSA_DRIVERS_CARD_H

#include <stdbool.h>
#include <stdint.h>

#include "core/bound.h"

#define CARD_NO_LEN     9   /* 卡号: mdtrt_cert_no for 1101 with mdtrt_cert_type 03 */
#define CARD_SN_LEN     32  /* 卡识别码 as upper-case hex: card_sn for 1101 */
#define CARD_CERTNO_MAX 20  /* 社会保障号码: 18 chars (15 on old numbers), may end in X */
#define CARD_NAME_MAX   160 /* 姓名 + 姓名扩展: 50 GB18030 bytes are at most 75 UTF-8 bytes */
#define CARD_READER_MAX 128 /* PC/SC reader name */
#define CARD_DESK_MAX   BOUND_DESK /* desk id from the binding table */
#define CARD_ATR_MAX    33

/* One person's card. Filled only by a read that succeeded as a whole: a failed read never
 * yields a partly filled identity. Dates are yyyymmdd integers (0 = absent). */
struct card_identity {
    char card_no[CARD_NO_LEN + 1];
    char card_sn[CARD_SN_LEN + 1];
    char certno[CARD_CERTNO_MAX + 1];
    char name[CARD_NAME_MAX + 1];
    char region[7];       /* issuing region: first 6 digits of card_sn */
    char spec_version[5]; /* "2.00", "3.00"; major = spec_version[0] - '0' */
    char card_type;       /* 卡的类别, ASCII digit or 0 */
    char sex;             /* '1' male, '2' female, 0 unknown */
    uint8_t nation;       /* 民族 code, 1 = 汉, 0 unknown */
    char birthplace[7];   /* region code digits, "" if absent */
    int32_t birth_date;
    int32_t issue_date;
    int32_t expiry_date;
    bool expired;        /* expiry_date before the read's day: warn, still usable */
    const char *profile; /* static name of the profile that read it: "ssc", "vendor" */
};

/* Sets id->expired from its expiry date and today's date (yyyymmdd); pure. An absent
 * expiry (0) never counts as expired. */
void card_identity_check_expiry(struct card_identity *id, int32_t today);

enum card_event_kind {
    CARD_EV_READER_ADDED,   /* a reader appeared (at start too) */
    CARD_EV_READER_REMOVED, /* a reader left (unplugged, or pcscd went away) */
    CARD_EV_INSERTED,       /* a card is in the reader; a CARD_EV_READ follows */
    CARD_EV_READ,           /* status 0: identity valid; DRV_ENOT_SSC: a plain ISO card;
                             * DRV_ECARD_UNREADABLE: no identity, cause says why */
    CARD_EV_REMOVED,        /* the reader is empty again */
    CARD_EV_SERVICE_DOWN,   /* pcscd unreachable; the thread keeps retrying */
    CARD_EV_SERVICE_UP,     /* pcscd reachable (again) */
    CARD_EV_WATCHING,       /* after a read: the thread sees every reader again, and what
                             * it said of them is current (while it read one card, it saw
                             * none of the others: one pulled out was still "present") */
};

struct card_event {
    enum card_event_kind kind;
    int status;      /* see kind; 0 otherwise */
    int cause;       /* detail of a failed read (DRV_ESW_*, DRV_EGONE...) */
    int64_t time_ms; /* CLOCK_REALTIME in ms when the thread saw it */
    char reader[CARD_READER_MAX + 1];
    char desk[CARD_DESK_MAX + 1]; /* "" when no binding matches the reader */
    uint8_t atr[CARD_ATR_MAX];
    uint8_t atr_len;
    struct card_identity id; /* CARD_EV_READ with status 0 only; zero otherwise */
};

/* Static name of an event kind, for logs and tests. */
const char *card_event_kind_name(enum card_event_kind kind);

#endif
