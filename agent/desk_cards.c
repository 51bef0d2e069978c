/* The cards in the desks' readers: the reader thread's events kept per desk, and cashiers'
 * requests waiting for a card to be inserted (POST /v1/identify with wait_ms). */
#include <string.h>

#include "agent/desk.h"
#include "agent/log.h"
#include "agent/posad.h"
#include "core/datetime.h"
#include "core/mask.h"
#include "core/str.h"

#define WAIT_TICK_MS 100
/* A scan that could not be read ends an auto wait only when no code follows it this soon: a
 * scanner's burst of noise and then the code (one write) said QR_INVALID, the code left. */
#define QR_BAD_GRACE_MS 150
/* A card inserted and still being read is waited for this long even with wait_ms 0: the
 * cashier inserted it, so "no card" would be wrong (a read takes a second or so). */
#define CARD_READ_WAIT_MS 5000

static struct desk_card *card_of(struct desk *d, const char *desk, bool create)
{
    for (size_t i = 0; i < d->n_cards; i++)
        if (strcmp(d->cards[i].desk, desk) == 0)
            return &d->cards[i];
    if (!create || d->n_cards == DESK_CARDS_MAX)
        return NULL;
    memset(&d->cards[d->n_cards], 0, sizeof d->cards[0]);
    str_copy(d->cards[d->n_cards].desk, sizeof d->cards[0].desk, desk);
    return &d->cards[d->n_cards++];
}

/* No card will come to w: its time is up, or it waits for a card only and its desk's reader
 * went away (pcscd stopped, the reader unplugged). Looked at each tick, not at the event:
 * the reader thread reports the readers gone before the service, and the answer names the
 * right one. auto waiters wait on: a code may come. */
static bool no_card_to_come(const struct desk *d, const struct desk_waiter *w, uint64_t now)
{
    return w->deadline <= now || (!desk_reader_available(d, w->desk) &&
                                  (!w->on_qr || !desk_scanner_available(d, w->desk)));
}

/* A read that failed as one does when the card is pulled out mid-read (or reset). */
static bool pulled_out(int status, int cause)
{
    return status == DRV_ECARD_UNREADABLE && cause == DRV_EGONE;
}

/* A card still in whose read failed as a pulled-out card's does (which on_card_event keeps
 * from its waiters): a mute card, told when the wait ends. NULL otherwise. */
static const struct desk_card *failed_card(struct desk *d, const char *desk)
{
    const struct desk_card *c = card_of(d, desk, false);

    return c && c->present && pulled_out(c->status, c->cause) ? c : NULL;
}

/* Hands the card to the waiters of desk, or (desk NULL) to those no card will come to the
 * failed card still in, else NULL. */
static void wake(struct desk *d, const char *desk, const struct desk_card *card, uint64_t now)
{
    struct desk_waiter **p = &d->waiters;

    while (*p) {
        struct desk_waiter *w = *p;

        if ((desk && strcmp(w->desk, desk) == 0) || (!desk && no_card_to_come(d, w, now))) {
            *p = w->next;
            w->cb(w, desk ? card : failed_card(d, w->desk));
            continue;
        }
        p = &w->next;
    }
    if (!d->waiters)
        uv_timer_stop(&d->wait_timer);
}

/* A code was scanned at desk: the first of its waiters that takes codes has it, or hears
 * that it could not be read. */
static void wake_for_qr(struct desk *d, const char *desk)
{
    for (struct desk_waiter **p = &d->waiters; *p; p = &(*p)->next) {
        struct desk_waiter *w = *p;
        const char *code = NULL;
        bool unreadable = false;

        if (!w->on_qr || strcmp(w->desk, desk) != 0 ||
            (!(code = desk_qr_take(d, desk, &unreadable)) && !unreadable))
            continue;
        *p = w->next;
        if (!d->waiters)
            uv_timer_stop(&d->wait_timer);
        w->on_qr(w, code);
        return;
    }
}

/* A card just inserted at desk: its waiters wait for its read as a card inserted before
 * they asked would be waited for, whatever time they had left. */
static void extend_for_read(struct desk *d, const char *desk)
{
    uint64_t until = uv_now(d->pd->loop) + CARD_READ_WAIT_MS;

    for (struct desk_waiter *w = d->waiters; w; w = w->next)
        if (strcmp(w->desk, desk) == 0 && w->deadline < until)
            w->deadline = until;
}

/* The card left desk (pulled out mid-read): its waiters have the time they asked for again,
 * not the read's (an answer 5 s past wait_ms, the HIS's timeout gone). */
static void unextend(struct desk *d, const char *desk)
{
    for (struct desk_waiter *w = d->waiters; w; w = w->next)
        if (strcmp(w->desk, desk) == 0)
            w->deadline = w->asked_until;
}

/* The desk's card as the reader thread last saw it, while it reads another: it may be out
 * by now, and another patient's in (that patient was identified as the one before). */
static bool unconfirmed(const struct desk *d, const struct desk_card *card)
{
    return d->cards_blind && card && card->present && !card->reading;
}

/* The desk's card is being read, or not known to be in still: worth waiting for. */
static bool being_read(const struct desk *d, const struct desk_card *card)
{
    return card && (card->reading || unconfirmed(d, card));
}

bool desk_card_reading(struct desk *d, const char *desk)
{
    return being_read(d, card_of(d, desk, false));
}

/* Whether a waiter of desk is at its deadline. */
static bool deadline_due(const struct desk *d, const char *desk, uint64_t now)
{
    for (const struct desk_waiter *w = d->waiters; w; w = w->next)
        if (w->deadline <= now && strcmp(w->desk, desk) == 0)
            return true;
    return false;
}

static void on_wait_tick(uv_timer_t *t)
{
    struct desk *d = t->data;
    uint64_t now = uv_now(t->loop);

    /* An unreadable scan past its grace, or at a wait's end (not then "none scanned", the
     * scan left for the next patient's auto to hear of). */
    for (size_t i = 0; i < d->n_cards; i++)
        if (d->cards[i].qr_bad_at && (now - d->cards[i].qr_bad_at >= QR_BAD_GRACE_MS ||
                                      deadline_due(d, d->cards[i].desk, now)))
            wake_for_qr(d, d->cards[i].desk);
    wake(d, NULL, NULL, now);
}

/* A card that is no social-security card, at a desk whose pattern matches more than one slot
 * (posad.conf: a PSAM/SAM slot too): the SAM, there for good, and no patient's card. Read
 * first at a start (or after pcscd's), it was the desk's card, and identify answered at once
 * "not a social-security card" instead of waiting for the patient's. */
static bool sam_like(const struct desk *d, const char *desk, const struct desk_card *card)
{
    size_t slots = 0;

    if (card->status != DRV_ENOT_SSC)
        return false;
    for (size_t i = 0; i < d->n_seen; i++)
        slots += strcmp(d->seen[i].desk, desk) == 0;
    return slots > 1;
}

/* The desk's card, in and confirmed so, that a waiter may have: a patient's (not a SAM's). */
static bool usable_card(const struct desk *d, const struct desk_card *card)
{
    return card && card->present && !sam_like(d, card->desk, card) && !unconfirmed(d, card);
}

void desk_card_wait(struct desk *d, const char *desk, uint32_t wait_ms, struct desk_waiter *w)
{
    const struct desk_card *card = card_of(d, desk, false);
    bool usable = usable_card(d, card);
    uint64_t now = uv_now(d->pd->loop);

    w->asked_until = now + wait_ms;
    if (being_read(d, card) && wait_ms < CARD_READ_WAIT_MS)
        wait_ms = CARD_READ_WAIT_MS;
    if (usable || wait_ms == 0) {
        w->cb(w, usable ? card : NULL);
        return;
    }
    str_copy(w->desk, sizeof(w->desk), desk);
    w->deadline = now + wait_ms;
    w->next = d->waiters;
    d->waiters = w;
    if (!uv_is_active((uv_handle_t *)&d->wait_timer))
        uv_timer_start(&d->wait_timer, on_wait_tick, WAIT_TICK_MS, WAIT_TICK_MS);
}

bool desk_card_unwait(struct desk *d, struct desk_waiter *w)
{
    for (struct desk_waiter **p = &d->waiters; *p; p = &(*p)->next) {
        if (*p == w) {
            *p = w->next;
            if (!d->waiters)
                uv_timer_stop(&d->wait_timer);
            return true;
        }
    }
    return false;
}

bool desk_reader_configured(const struct desk *d, const char *desk)
{
    for (size_t i = 0; i < d->readers.n; i++)
        if (d->readers.rows[i].kind == DESK_READER && strcmp(d->readers.rows[i].desk, desk) == 0)
            return true;
    return false;
}

bool desk_reader_available(const struct desk *d, const char *desk)
{
    for (size_t i = 0; d->pcsc_up && i < d->n_seen; i++)
        if (strcmp(d->seen[i].desk, desk) == 0)
            return true;
    return false;
}

bool desk_scanner_configured(const struct desk *d, const char *desk)
{
    for (size_t i = 0; i < d->n_scanners; i++)
        if (strcmp(d->scanners[i].desk, desk) == 0)
            return true;
    return false;
}

bool desk_scanner_available(const struct desk *d, const char *desk)
{
    for (size_t i = 0; i < d->n_scanners; i++)
        if (strcmp(d->scanners[i].desk, desk) == 0 && d->scanners[i].src &&
            qr_source_is_open(d->scanners[i].src))
            return true;
    return false;
}

static void log_card(const struct card_event *ev)
{
    char masked[CARD_NO_LEN + 1];

    mask_card(ev->id.card_no, masked, sizeof masked);
    log_event(ev->status ? LOGL_WARN : LOGL_INFO, card_event_kind_name(ev->kind), "desk", ev->desk,
              "reader", ev->reader, "card", ev->status ? NULL : masked, "error",
              ev->status ? posa_strerror(ev->cause ? ev->cause : ev->status) : NULL, NULL);
}

static struct desk_reader *reader_of(struct desk *d, const char *name, bool create)
{
    for (size_t i = 0; i < d->n_seen; i++)
        if (strcmp(d->seen[i].name, name) == 0)
            return &d->seen[i];
    if (!create || d->n_seen == DESK_CARDS_MAX)
        return NULL;
    memset(&d->seen[d->n_seen], 0, sizeof d->seen[0]);
    str_copy(d->seen[d->n_seen].name, sizeof d->seen[0].name, name);
    return &d->seen[d->n_seen++];
}

/* r's card is out (or, pcscd gone, no longer known to be in): card_removed to its desk. */
static void reader_emptied(struct desk *d, struct desk_reader *r)
{
    struct json_object *o = json_object_new_object();

    r->present = false;
    r->card_type[0] = '\0';
    json_object_object_add(o, "reader", json_object_new_string(r->name));
    desk_event(d, r->desk, "card_removed", o);
}

/* GET /v1/readers and the desks' event streams follow the reader thread. */
static void follow_reader(struct desk *d, const struct card_event *ev)
{
    struct desk_reader *r = reader_of(d, ev->reader, ev->kind != CARD_EV_READER_REMOVED);
    struct json_object *o;

    if (!r)
        return;
    str_copy(r->desk, sizeof(r->desk), ev->desk);
    switch (ev->kind) {
    case CARD_EV_READER_REMOVED:
        *r = d->seen[--d->n_seen];
        return;
    case CARD_EV_INSERTED: /* a card is in from now, not from the end of its read */
        r->present = true;
        str_copy(r->card_type, sizeof(r->card_type), "reading");
        return;
    case CARD_EV_READ:
        r->present = true;
        str_copy(r->card_type, sizeof(r->card_type),
                 ev->status == 0 ? "social_security"
                 : ev->status == DRV_ENOT_SSC ? "other" : "unreadable");
        o = json_object_new_object();
        json_object_object_add(o, "reader", json_object_new_string(ev->reader));
        json_object_object_add(o, "card_type", json_object_new_string(r->card_type));
        json_object_object_add(o, "expired", json_object_new_boolean(ev->status == 0 && ev->id.expired));
        desk_event(d, ev->desk, "card_inserted", o);
        return;
    case CARD_EV_REMOVED: /* not said twice: pcscd's hang may have emptied it already */
        if (r->present)
            reader_emptied(d, r);
        return;
    default:
        return;
    }
}

static void on_card_event(struct pcsc_watch *w, const struct card_event *ev, void *data)
{
    struct desk *d = data;
    struct desk_card *card;
    const char *other;

    (void)w;
    if (ev->reader[0])
        follow_reader(d, ev);
    switch (ev->kind) {
    case CARD_EV_READER_ADDED:
        if ((other = desk_table_other(&d->readers, DESK_READER, ev->reader)) != NULL)
            log_event(LOGL_WARN, "reader_matches_two_desks", "reader", ev->reader, "desk", ev->desk,
                      "also", other, "action",
                      "it is the first desk's: make the patterns of [desks] readers apart", NULL);
        return;
    case CARD_EV_INSERTED:
        d->cards_blind = true; /* its read follows */
        if (ev->desk[0] && (card = card_of(d, ev->desk, true))) {
            card->reading = true;
            extend_for_read(d, ev->desk);
        }
        return;
    case CARD_EV_READ:
        log_card(ev);
        if (!ev->desk[0] || !(card = card_of(d, ev->desk, true)))
            return;
        card->reading = false;
        /* A desk with two slots (a PSAM/SAM slot matched by its pattern): a card that is no
         * social-security card in one never displaces the patient's in the other. */
        if (card->present && card->status == 0 && ev->status != 0 &&
            strcmp(card->reader, ev->reader) != 0)
            return;
        str_copy(card->reader, sizeof(card->reader), ev->reader);
        card->present = true;
        /* A card read came after any code scanned before it: auto takes the newer, also a
         * social-security card that fails (locked, needing a PSAM: the patient's, not an
         * earlier patient's code). Not a card that is no patient's (a bank card) or one
         * pulled out mid-read: the code stays (it was lost, and auto said none was scanned). */
        if (ev->status != DRV_ENOT_SSC && !pulled_out(ev->status, ev->cause)) {
            card->qr[0] = '\0';
            card->qr_bad_at = 0;
            card->input_at = uv_now(d->pd->loop);
        }
        card->status = ev->status;
        card->cause = ev->cause;
        card->id = ev->id;
        card_identity_check_expiry(&card->id, datetime_date(upstream_now_beijing()));
        /* Pulled out mid-read: the waiters wait on for it to come back (pushed straight back,
         * it is read again at once; they heard "insert it again" while it was). */
        if (!pulled_out(ev->status, ev->cause))
            wake(d, ev->desk, card, 0);
        return;
    case CARD_EV_REMOVED:
    case CARD_EV_READER_REMOVED:
        /* Only the reader whose card the desk holds empties it. */
        if ((card = card_of(d, ev->desk, false)) &&
            (!card->present || strcmp(card->reader, ev->reader) == 0)) {
            memset(&card->id, 0, sizeof card->id);
            card->present = card->reading = false;
            unextend(d, ev->desk);
        }
        return;
    case CARD_EV_WATCHING: /* the cards still in are: their desks' waiters may have them */
        d->cards_blind = false;
        for (size_t i = 0; i < d->n_cards; i++)
            if (usable_card(d, &d->cards[i]) && !d->cards[i].reading &&
                !pulled_out(d->cards[i].status, d->cards[i].cause))
                wake(d, d->cards[i].desk, &d->cards[i], 0);
        return;
    case CARD_EV_SERVICE_UP:
    case CARD_EV_SERVICE_DOWN:
        d->pcsc_up = ev->kind == CARD_EV_SERVICE_UP;
        d->cards_blind = false;
        /* Without pcscd no card is known to be in (a pcscd that stopped answering says no
         * removal): the cards read before are not the desks' now. */
        for (size_t i = 0; !d->pcsc_up && i < d->n_cards; i++) {
            memset(&d->cards[i].id, 0, sizeof d->cards[i].id);
            d->cards[i].present = d->cards[i].reading = false;
        }
        /* ... and GET /v1/readers and the streams say so now (a pcscd that stopped answering
         * left them saying the card was in until it answered again). */
        for (size_t i = 0; !d->pcsc_up && i < d->n_seen; i++)
            if (d->seen[i].present)
                reader_emptied(d, &d->seen[i]);
        log_event(d->pcsc_up ? LOGL_INFO : LOGL_WARN, card_event_kind_name(ev->kind), "action",
                  d->pcsc_up ? NULL
                             : "pcscd cannot be reached, so no card can be read: is it running? "
                               "(systemctl status pcscd); posad keeps trying",
                  NULL);
        return;
    default: return;
    }
}

/* --- QR scanners ---------------------------------------------------------------------------- */

static void on_scan(struct qr_source *src, const struct qr_scan *scan, void *data)
{
    struct desk *d = ((struct desk_scanner *)data)->owner;
    struct desk_card *desk = card_of(d, scan->desk, true);
    struct json_object *o = json_object_new_object();

    uint64_t now = uv_now(d->pd->loop);
    char n[24];

    (void)src;
    if (desk)
        desk->input_at = now;
    /* Which desk's patient: a stream of every desk heard codes it could not route. */
    json_object_object_add(o, "desk", json_object_new_string(scan->desk));
    json_object_object_add(o, "valid", json_object_new_boolean(scan->status == 0));
    if (scan->status == 0) {
        /* The code itself goes to the desk's HIS: identify {source:"qr", qr} or "auto". */
        json_object_object_add(o, "qr", json_object_new_string(scan->code));
        if (desk) {
            str_copy(desk->qr, sizeof(desk->qr), scan->code);
            desk->qr_at = now;
            desk->qr_bad_at = 0;
        }
        log_event(LOGL_INFO, "qr_scanned", "desk", scan->desk, "valid", "true", NULL);
    } else {
        json_object_object_add(o, "error", json_object_new_string("QR_INVALID"));
        if (desk) { /* the newest scan: the one before is another patient's, or spoiled */
            desk->qr[0] = '\0';
            desk->qr_bad_at = now;
        }
        if (!desk || log_every_second(&desk->bad_scans, now, n))
            log_event(LOGL_WARN, "qr_scanned", "desk", scan->desk, "valid", "false", "invalid",
                      desk ? n : NULL, NULL);
    }
    desk_event(d, scan->desk, "qr_scanned", o);
    if (desk && scan->status == 0)
        wake_for_qr(d, scan->desk); /* an unreadable one after its grace (on_wait_tick) */
}

const char *desk_qr_take(struct desk *d, const char *desk, bool *ret_unreadable)
{
    static char code[BOUND_QR_LINE + 1];
    struct desk_card *c = card_of(d, desk, false);
    uint64_t now = uv_now(d->pd->loop);

    *ret_unreadable = c && c->qr_bad_at && now - c->qr_bad_at <= DESK_QR_FRESH_MS;
    if (c)
        c->qr_bad_at = 0; /* said once */
    if (!c || !c->qr[0] || now - c->qr_at > DESK_QR_FRESH_MS)
        return NULL;
    memcpy(code, c->qr, sizeof code);
    c->qr[0] = '\0'; /* one scan, one identification */
    return code;
}

void desk_identified(struct desk *d, const char *desk, uint64_t asked_at, const char *code)
{
    struct desk_card *c = card_of(d, desk, false);

    if (c && code && strcmp(c->qr, code) == 0)
        c->qr[0] = '\0';
    if (!c || c->input_at > asked_at)
        return;
    c->qr[0] = '\0';
    c->qr_bad_at = 0;
    c->input_at = uv_now(d->pd->loop); /* a give-back in flight is older */
}

const char *desk_qr_used(struct desk *d, const char *desk, const char *code)
{
    struct desk_card *c = desk ? card_of(d, desk, false) : NULL;

    for (size_t i = 0; (!c || strcmp(c->qr, code) != 0) && i < d->n_cards; i++)
        c = &d->cards[i];
    if (!c || strcmp(c->qr, code) != 0)
        return NULL;
    c->qr[0] = '\0';
    return c->desk;
}

void desk_qr_give_back(struct desk *d, const char *desk, const char *code, uint64_t taken_at)
{
    struct desk_card *c = card_of(d, desk, false);

    if (!c || c->input_at > taken_at)
        return;
    /* With its scan's own time (qr_at, untouched since: a newer scan made input_at later): a
     * fresh minute at each give-back kept a patient's code for the next one through an
     * outage. */
    str_copy(c->qr, sizeof(c->qr), code);
}

/* A scanner that opens, or is lost or cannot open (it keeps trying): the operator hears
 * each change once, as /v1/readers shows it. */
static void on_scanner_state(struct qr_source *src, int err, void *data)
{
    struct desk_scanner *s = data;

    (void)src;
    if (err)
        log_event(LOGL_WARN, "scanner_unavailable", "desk", s->desk, "scanner", s->spec, "error",
                  uv_strerror(err), NULL);
    else
        log_event(LOGL_INFO, "scanner_ready", "desk", s->desk, "scanner", s->spec, NULL);
}

static int scanners_start(struct desk *d)
{
    for (size_t i = 0; i < d->n_scanners; i++) {
        struct desk_scanner *s = &d->scanners[i];
        char spec[sizeof s->spec];
        char *colon;
        struct qr_source_cfg cfg = {.desk = s->desk, .on_state = on_scanner_state};
        int err;

        memcpy(spec, s->spec, sizeof spec);
        /* desk_check_scanners took the spec at config load: KIND:PATH. */
        if (!(colon = strchr(spec, ':')))
            return DRV_ECONFIG;
        *colon = '\0';
        if (qr_source_kind_parse(spec, &cfg.kind) < 0)
            return DRV_ECONFIG;
        cfg.path = colon + 1;
        s->owner = d;
        if ((err = qr_source_start(&s->src, d->pd->loop, &cfg, on_scan, s)) < 0)
            return err;
    }
    return 0;
}

int desk_cards_start(struct desk *d)
{
    const struct posad_config *pc = &d->pd->cfg;
    struct pcsc_watch_cfg cfg = {.desks = &d->readers,
                                 .vendor_lib = pc->card_library[0] ? pc->card_library : NULL,
                                 .vendor_init =
                                     pc->card_library_init[0] ? pc->card_library_init : NULL};
    int err;

    uv_timer_init(d->pd->loop, &d->wait_timer);
    d->wait_timer.data = d;
    if ((err = scanners_start(d)) < 0)
        return err;
    if (d->readers.n == 0)
        return 0;
    return pcsc_watch_start(&d->watch, d->pd->loop, &cfg, on_card_event, d);
}

void desk_cards_stop(struct desk *d)
{
    wake(d, NULL, NULL, UINT64_MAX); /* nobody waits past shutdown */
    if (!pcsc_watch_stop(d->watch))
        log_event(LOGL_WARN, "card_reader_thread_left", "action",
                  "the card reader thread did not stop within 2 s (a card that answers slowly, "
                  "or pcscd not answering): posad stops without it",
                  NULL);
    d->watch = NULL;
    for (size_t i = 0; i < d->n_scanners; i++) {
        qr_source_stop(d->scanners[i].src);
        d->scanners[i].src = NULL;
    }
    uv_close((uv_handle_t *)&d->wait_timer, NULL);
}
