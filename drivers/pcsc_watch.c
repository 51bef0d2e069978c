/* PC/SC reader thread: SCardGetStatusChange over all readers + PnP, card reads through
 * the profile table, events to the loop through a bounded queue and uv_async. */
#define _GNU_SOURCE /* pthread_setname_np */
#include "drivers/pcsc_watch.h"

#include <errno.h>
#include <stdio.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <winscard.h>

#include "drivers/card_profile.h"
#include "core/datetime.h"
#include "core/err.h"
#include "core/str.h"
#include "drivers/pcsc_card.h"
#include "drivers/ssc.h"
#include "drivers/vendor.h"

#define WATCH_READERS_MAX 16
#define WATCH_QUEUE_MAX   256
/* The wait is cancelled by SCardCancel; a cancel that lands between the thread's stop
 * check and its next wait is lost, so pcsc_watch_stop() repeats it every
 * WATCH_CANCEL_MS until the thread has left. The wait's own timeout is a last resort. */
#define WATCH_WAIT_MS   1000
#define WATCH_CANCEL_MS 20
/* How long a stop waits for the thread: a card that answers slowly, or a pcscd that answers
 * nothing (stopped, hung; its client then waits in poll without a limit), would otherwise
 * hold posad's exit for as long. Past it the thread is left behind. */
#define WATCH_STOP_MS 2000
/* A wait of 1 s that has not come back in this long: pcscd answers nothing (stopped, hung),
 * and its client waits in poll without a limit. The loop then says the service is down (its
 * cards are no longer known to be in), and the thread starts over once pcscd answers. */
#define WATCH_HUNG_MS   5000
/* A call about a card (connect, a command, its transaction): legitimately long on a slow
 * card (seconds a command) or one another program holds in a transaction, so a hang is said
 * only past this. At 5 s a slow card at one desk said pcscd down at every desk, took their
 * cards away, and did again each time the thread started over. */
#define WATCH_CARD_HUNG_MS 20000
#define WATCH_CHECK_MS     1000
#define PNP_READER      "\\\\?PnP?\\Notification"

struct ev_node {
    struct ev_node *next;
    struct card_event ev;
};

struct slot { /* one reader as the thread knows it */
    char name[CARD_READER_MAX + 1];
    DWORD state; /* last dwEventState, given back as dwCurrentState */
    bool present;
};

struct pcsc_watch {
    uv_async_t async;
    uv_timer_t hung_check; /* loop side: is the thread stuck in a wait? */
    pcsc_watch_cb cb;
    void *data;
    pthread_t thread;
    pthread_mutex_t mu;  /* guards the fields up to 'queued' */
    pthread_cond_t wake; /* thread sleeps on it between reconnects */
    pthread_cond_t done; /* stop() waits on it for 'exited' */
    bool stop;
    bool exited;
    bool ctx_valid;
    SCARDCONTEXT ctx;
    struct ev_node *head, *tail;
    unsigned queued;
    uint64_t waiting_since; /* uv_hrtime ms the thread entered its wait; 0: not in one */
    uint64_t waiting_limit; /* ms past which that wait is pcscd hung */
    bool hung;              /* the loop said the service down for a wait that never ended */
    /* Read-only after start, or reader thread only. */
    struct desk_table desks;
    unsigned retry_ms;
    struct vendor_lib vendor;
    struct slot slots[WATCH_READERS_MAX];
    size_t nslots;
    DWORD pnp_state;             /* the PnP pseudo-reader's last state (newer pcsc-lite
                                  * keeps the reader count in its high word) */
    int service; /* -1 unknown, 0 down, 1 up: to post transitions once */
    unsigned reads;   /* cards read so far */
    unsigned watched; /* reads when CARD_EV_WATCHING was last posted: fewer, a read since */
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int32_t today(void)
{
    return datetime_date(datetime_of_unix((int64_t)time(NULL)));
}

static bool stopping(struct pcsc_watch *w)
{
    pthread_mutex_lock(&w->mu);
    bool s = w->stop;
    pthread_mutex_unlock(&w->mu);
    return s;
}

/* Queues a copy of ev for the loop; drops it when the loop is far behind (256 events), and
 * once stopping (the async handle may be closed: the send is made under the lock that
 * pcsc_watch_stop sets stop under). */
static void post(struct pcsc_watch *w, struct card_event *ev)
{
    ev->time_ms = now_ms();
    struct ev_node *n = malloc(sizeof *n);
    pthread_mutex_lock(&w->mu);
    if (w->stop) {
        pthread_mutex_unlock(&w->mu);
        free(n);
        return;
    }
    if (!n || w->queued >= WATCH_QUEUE_MAX) {
        pthread_mutex_unlock(&w->mu);
        free(n);
        return;
    }
    n->next = NULL;
    n->ev = *ev;
    if (w->tail)
        w->tail->next = n;
    else
        w->head = n;
    w->tail = n;
    w->queued++;
    uv_async_send(&w->async);
    pthread_mutex_unlock(&w->mu);
}

static void event_init(struct pcsc_watch *w, struct card_event *ev, enum card_event_kind kind,
                       const struct slot *s)
{
    memset(ev, 0, sizeof *ev);
    ev->kind = kind;
    if (!s)
        return;
    memcpy(ev->reader, s->name, sizeof ev->reader);
    const char *desk = desk_table_find(&w->desks, DESK_READER, s->name);
    if (desk)
        str_copy(ev->desk, sizeof(ev->desk), desk);
}

static void post_simple(struct pcsc_watch *w, enum card_event_kind kind, const struct slot *s)
{
    struct card_event ev;
    event_init(w, &ev, kind, s);
    post(w, &ev);
}

static void set_service(struct pcsc_watch *w, int up)
{
    if (w->service == up)
        return;
    w->service = up;
    post_simple(w, up ? CARD_EV_SERVICE_UP : CARD_EV_SERVICE_DOWN, NULL);
}

static void wait_begin(struct pcsc_watch *w, uint64_t limit_ms);
static bool wait_end(struct pcsc_watch *w);

/* A card's connection whose every call to pcscd is timed as a wait (wait_begin), with the
 * longer limit of a card's call: one that never comes back is a pcscd that hangs. A whole
 * read was not timed (a slow card makes it long), and a pcscd hung in one held the thread:
 * never said down, the desks kept cards long pulled out. */
struct watched_card {
    struct pcsc_watch *w;
    struct pcsc_card conn;
    bool hung; /* the loop said the service down during a call: the read is over */
};

static bool watched_end(struct watched_card *c)
{
    if (wait_end(c->w))
        c->hung = true;
    return c->hung;
}

static int watched_transmit(void *ctx, const uint8_t *cmd, size_t cmd_len, uint8_t *resp,
                            size_t cap, size_t *ret_len)
{
    struct watched_card *c = ctx;
    int rc;

    if (c->hung)
        return DRV_EPCSC;
    wait_begin(c->w, WATCH_CARD_HUNG_MS);
    rc = pcsc_card_transmit(&c->conn, cmd, cmd_len, resp, cap, ret_len);
    return watched_end(c) ? DRV_EPCSC : rc;
}

static LONG watched_call(struct watched_card *c, LONG (*call)(SCARDHANDLE))
{
    LONG rv;

    if (c->hung)
        return SCARD_E_NO_SERVICE;
    wait_begin(c->w, WATCH_CARD_HUNG_MS);
    rv = call(c->conn.h);
    return watched_end(c) ? SCARD_E_NO_SERVICE : rv;
}

static LONG end_and_disconnect(SCARDHANDLE h)
{
    SCardEndTransaction(h, SCARD_LEAVE_CARD);
    return SCardDisconnect(h, SCARD_LEAVE_CARD);
}

static LONG begin_transaction(SCARDHANDLE h)
{
    return SCardBeginTransaction(h);
}

/* Connects, probes, reads through the chosen profile; fills ev's status/cause/id. False
 * when pcscd hung during it (ev is then nobody's: the thread starts over). */
static bool read_card(struct pcsc_watch *w, const struct slot *s, struct card_event *ev)
{
    struct watched_card c = {.w = w};
    struct card_io io = {{watched_transmit, &c}, w->vendor.handle ? &w->vendor : NULL};
    struct card_probe probe = {ev->atr, ev->atr_len, DRV_EPCSC, w->vendor.handle != NULL};
    struct card_identity id;
    int rc;

    wait_begin(w, WATCH_CARD_HUNG_MS);
    LONG rv = SCardConnect(w->ctx, s->name, SCARD_SHARE_SHARED,
                           SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1, &c.conn.h, &c.conn.proto);
    if (watched_end(&c))
        return false;
    if (rv != SCARD_S_SUCCESS) {
        rc = pcsc_card_err(rv);
        goto out;
    }
    /* One transaction around the whole read, so no other application interleaves. */
    rv = watched_call(&c, begin_transaction);
    if (rv == SCARD_S_SUCCESS)
        probe.ssse = ssc_select(&io.apdu);
    const struct card_profile *p = rv == SCARD_S_SUCCESS ? card_profile_find(&probe) : NULL;
    if (!p) {
        rc = rv == SCARD_S_SUCCESS ? probe.ssse : pcsc_card_err(rv);
    } else if (p->frees_reader) {
        watched_call(&c, end_and_disconnect);
        c.conn.h = 0;
        rc = p->read_identity(&io, &id);
    } else {
        rc = p->read_identity(&io, &id);
    }
    if (c.conn.h)
        watched_call(&c, end_and_disconnect);
    if (c.hung)
        return false;
out:
    if (rc == 0) {
        card_identity_check_expiry(&id, today());
        ev->id = id;
        ev->status = 0;
    } else if (rc == DRV_ENOT_SSC) {
        ev->status = DRV_ENOT_SSC;
    } else {
        ev->status = DRV_ECARD_UNREADABLE;
        ev->cause = rc;
    }
    return true;
}

/* A card event on slot s given pcsc's new state: inserted (then read) or removed. The
 * high word of the state counts card events, so a swap between two waits is seen too.
 * False when pcscd hung during the read. */
static bool on_state(struct pcsc_watch *w, struct slot *s, const SCARD_READERSTATE *rs)
{
    DWORD st = rs->dwEventState;
    bool present = (st & SCARD_STATE_PRESENT) != 0;
    bool swapped =
        s->present && present && (st >> 16) != (s->state >> 16) && (s->state & SCARD_STATE_PRESENT);
    struct card_event ev;

    if (s->present && (!present || swapped)) {
        post_simple(w, CARD_EV_REMOVED, s);
        s->present = false;
    }
    if (present && !s->present) {
        event_init(w, &ev, CARD_EV_INSERTED, s);
        ev.atr_len = (uint8_t)(rs->cbAtr <= CARD_ATR_MAX ? rs->cbAtr : CARD_ATR_MAX);
        memcpy(ev.atr, rs->rgbAtr, ev.atr_len);
        post(w, &ev);
        s->present = true;
        ev.kind = CARD_EV_READ;
        w->reads++;
        if (!read_card(w, s, &ev))
            return false;
        post(w, &ev);
    }
    return true;
}

static void drop_slot(struct pcsc_watch *w, size_t i)
{
    if (w->slots[i].present)
        post_simple(w, CARD_EV_REMOVED, &w->slots[i]);
    post_simple(w, CARD_EV_READER_REMOVED, &w->slots[i]);
    w->slots[i] = w->slots[--w->nslots];
}

static bool in_list(const char *list, DWORD len, const char *name)
{
    for (const char *p = list; p < list + len && *p; p += strlen(p) + 1)
        if (strcmp(p, name) == 0)
            return true;
    return false;
}

/* Diffs pcscd's reader list against the slots: posts READER_REMOVED / READER_ADDED.
 * Returns 0, or a PC/SC error meaning the service is gone. */
static LONG refresh_readers(struct pcsc_watch *w)
{
    char list[4096];
    DWORD len = sizeof list;
    LONG rv = SCardListReaders(w->ctx, NULL, list, &len);

    if (rv == SCARD_E_NO_READERS_AVAILABLE) {
        len = 1;
        list[0] = '\0';
    } else if (rv != SCARD_S_SUCCESS) {
        return rv;
    }
    for (size_t i = w->nslots; i-- > 0;)
        if (!in_list(list, len, w->slots[i].name))
            drop_slot(w, i);
    for (const char *p = list; p < list + len && *p; p += strlen(p) + 1) {
        bool known = false;
        for (size_t i = 0; i < w->nslots; i++)
            known |= strcmp(w->slots[i].name, p) == 0;
        if (known || w->nslots == WATCH_READERS_MAX || strlen(p) > CARD_READER_MAX)
            continue;
        struct slot *s = &w->slots[w->nslots++];
        memset(s, 0, sizeof *s);
        memcpy(s->name, p, strlen(p) + 1);
        s->state = SCARD_STATE_UNAWARE;
        post_simple(w, CARD_EV_READER_ADDED, s);
    }
    return SCARD_S_SUCCESS;
}

/* Around a call that waits on pcscd's answer (a wait, a new context, each call of a card's
 * read; not the whole read, which a slow card may make long): the loop's timer sees one
 * that never comes back. */
static void wait_begin(struct pcsc_watch *w, uint64_t limit_ms)
{
    pthread_mutex_lock(&w->mu);
    w->waiting_since = uv_hrtime() / 1000000;
    w->waiting_limit = limit_ms;
    pthread_mutex_unlock(&w->mu);
}

/* Whether the loop said the service down meanwhile (the thread then starts over, and says
 * it up once pcscd answers). */
static bool wait_end(struct pcsc_watch *w)
{
    pthread_mutex_lock(&w->mu);
    bool was_hung = w->hung;
    w->waiting_since = 0;
    w->hung = false;
    pthread_mutex_unlock(&w->mu);
    if (was_hung)
        w->service = 0;
    return was_hung;
}

/* One wait over all readers + PnP; handles what changed. Returns a PC/SC error when the
 * service is gone, SCARD_S_SUCCESS otherwise. */
/* Every reader looked at since the last read: what the thread said of them is current. */
static void post_watching(struct pcsc_watch *w)
{
    w->watched = w->reads;
    post_simple(w, CARD_EV_WATCHING, NULL);
}

static LONG watch_once(struct pcsc_watch *w)
{
    SCARD_READERSTATE rs[WATCH_READERS_MAX + 1];
    size_t n = w->nslots;
    bool relist = false;

    memset(rs, 0, sizeof rs);
    for (size_t i = 0; i < n; i++) {
        rs[i].szReader = w->slots[i].name;
        rs[i].dwCurrentState = w->slots[i].state;
    }
    rs[n].szReader = PNP_READER;
    rs[n].dwCurrentState = w->pnp_state;
    /* After a read, a look at once (no wait): what changed meanwhile comes now, else nothing
     * did, and either way the loop hears that the readers' states are current again. */
    unsigned reads = w->reads;
    bool looked_after_read = reads != w->watched;

    wait_begin(w, WATCH_HUNG_MS);
    LONG rv =
        SCardGetStatusChange(w->ctx, looked_after_read ? 0 : WATCH_WAIT_MS, rs, (DWORD)(n + 1));
    if (wait_end(w)) /* the loop said the service down: start over, as after a lost one */
        return SCARD_E_NO_SERVICE;
    if (rv == SCARD_E_TIMEOUT || rv == SCARD_E_CANCELLED) {
        if (looked_after_read)
            post_watching(w);
        return SCARD_S_SUCCESS;
    }
    if (rv == SCARD_E_UNKNOWN_READER)
        return refresh_readers(w);
    if (rv != SCARD_S_SUCCESS)
        return rv;
    for (size_t i = 0; i < n; i++) {
        DWORD st = rs[i].dwEventState;
        if (st & (SCARD_STATE_UNKNOWN | SCARD_STATE_IGNORE))
            relist = true;
        else if ((st & SCARD_STATE_CHANGED) && !on_state(w, &w->slots[i], &rs[i]))
            return SCARD_E_NO_SERVICE; /* the loop said it down: start over */
        w->slots[i].state = st & ~(DWORD)SCARD_STATE_CHANGED;
    }
    w->pnp_state = rs[n].dwEventState & ~(DWORD)SCARD_STATE_CHANGED;
    if (looked_after_read && w->reads == reads) /* no read in this round either */
        post_watching(w);
    if (relist || (rs[n].dwEventState & SCARD_STATE_CHANGED))
        return refresh_readers(w);
    return SCARD_S_SUCCESS;
}

static void wait_retry(struct pcsc_watch *w)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += w->retry_ms / 1000;
    ts.tv_nsec += (long)(w->retry_ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&w->mu);
    while (!w->stop && pthread_cond_timedwait(&w->wake, &w->mu, &ts) != ETIMEDOUT)
        ;
    pthread_mutex_unlock(&w->mu);
}

static void release_ctx(struct pcsc_watch *w)
{
    pthread_mutex_lock(&w->mu);
    w->ctx_valid = false;
    pthread_mutex_unlock(&w->mu);
    SCardReleaseContext(w->ctx);
}

static void *run(void *arg)
{
    struct pcsc_watch *w = arg;

    while (!stopping(w)) {
        SCARDCONTEXT ctx;
        wait_begin(w, WATCH_HUNG_MS);
        LONG made = SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &ctx);
        if (wait_end(w) && made == SCARD_S_SUCCESS) {
            SCardReleaseContext(ctx);
            made = SCARD_E_NO_SERVICE;
        }
        if (made != SCARD_S_SUCCESS) {
            set_service(w, 0);
            wait_retry(w);
            continue;
        }
        pthread_mutex_lock(&w->mu);
        w->ctx = ctx;
        w->ctx_valid = !w->stop;
        pthread_mutex_unlock(&w->mu);
        set_service(w, 1);
        w->pnp_state = SCARD_STATE_UNAWARE;
        LONG rv = refresh_readers(w);
        while (rv == SCARD_S_SUCCESS && !stopping(w))
            rv = watch_once(w);
        while (w->nslots > 0) /* service lost or stopping: all readers gone */
            drop_slot(w, w->nslots - 1);
        release_ctx(w);
        if (!stopping(w)) {
            set_service(w, 0);
            wait_retry(w);
        }
    }
    pthread_mutex_lock(&w->mu);
    w->exited = true;
    pthread_cond_signal(&w->done);
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static void on_async(uv_async_t *handle)
{
    struct pcsc_watch *w = handle->data;

    pthread_mutex_lock(&w->mu);
    struct ev_node *n = w->head;
    w->head = w->tail = NULL;
    w->queued = 0;
    pthread_mutex_unlock(&w->mu);
    while (n) {
        struct ev_node *next = n->next;
        if (w->cb)
            w->cb(w, &n->ev, w->data);
        free(n);
        n = next;
    }
}

static void on_closed(uv_handle_t *handle);

/* The timer's close done, the async handle's (w goes with it): libuv finishes the closes of
 * one turn last-closed first, so closing both at once would free w under the timer. */
static void on_timer_closed(uv_handle_t *handle)
{
    struct pcsc_watch *w = handle->data;

    uv_close((uv_handle_t *)&w->async, on_closed);
}

/* A thread left behind still uses w (and maybe the vendor's library): both stay. */
static void on_closed_left_behind(uv_handle_t *handle)
{
    (void)handle;
}

/* Loop side: a wait that never came back is a pcscd that answers nothing. Said once, as
 * the thread says a service gone; the thread says it up again. */
static void on_hung_check(uv_timer_t *t)
{
    struct pcsc_watch *w = t->data;
    uint64_t now = uv_hrtime() / 1000000;
    bool hung;

    pthread_mutex_lock(&w->mu);
    hung = !w->hung && w->waiting_since && now - w->waiting_since > w->waiting_limit;
    if (hung)
        w->hung = true;
    pthread_mutex_unlock(&w->mu);
    if (hung && w->cb) {
        struct card_event ev;

        event_init(w, &ev, CARD_EV_SERVICE_DOWN, NULL);
        ev.time_ms = now_ms();
        w->cb(w, &ev, w->data);
    }
}

static void on_closed(uv_handle_t *handle)
{
    struct pcsc_watch *w = handle->data;
    vendor_lib_close(&w->vendor);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->wake);
    pthread_cond_destroy(&w->done);
    free(w);
}

int pcsc_watch_start(struct pcsc_watch **ret, uv_loop_t *loop, const struct pcsc_watch_cfg *cfg,
                     pcsc_watch_cb cb, void *data)
{
    struct pcsc_watch *w = calloc(1, sizeof *w);
    int rc;

    if (!w)
        return -ENOMEM;
    w->cb = cb;
    w->data = data;
    w->service = -1;
    w->retry_ms = cfg->retry_ms ? cfg->retry_ms : 500;
    if (cfg->desks)
        w->desks = *cfg->desks;
    if (cfg->vendor_lib) {
        rc = vendor_lib_open(&w->vendor, cfg->vendor_lib, cfg->vendor_init);
        if (rc < 0) {
            free(w);
            return rc;
        }
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->wake, NULL);
    pthread_cond_init(&w->done, NULL);
    rc = uv_async_init(loop, &w->async, on_async);
    if (rc == 0) {
        w->async.data = w;
        uv_timer_init(loop, &w->hung_check);
        w->hung_check.data = w;
        uv_timer_start(&w->hung_check, on_hung_check, WATCH_CHECK_MS, WATCH_CHECK_MS);
        rc = -pthread_create(&w->thread, NULL, run, w);
        if (rc == 0)
            pthread_setname_np(w->thread, "posad-pcsc"); /* as top -H and ps -L show it */
        if (rc < 0) {
            w->cb = NULL;
            uv_close((uv_handle_t *)&w->hung_check, on_timer_closed);
        }
    } else {
        vendor_lib_close(&w->vendor);
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->wake);
        pthread_cond_destroy(&w->done);
        free(w);
    }
    if (rc == 0)
        *ret = w;
    return rc;
}

bool pcsc_watch_stop(struct pcsc_watch *w)
{
    bool exited;

    if (!w)
        return true;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_signal(&w->wake);
    for (int waited = 0; !w->exited && waited < WATCH_STOP_MS; waited += WATCH_CANCEL_MS) {
        if (w->ctx_valid)
            SCardCancel(w->ctx);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += WATCH_CANCEL_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&w->done, &w->mu, &ts);
    }
    exited = w->exited;
    w->cb = NULL;
    for (struct ev_node *n = w->head, *next; n; n = next) {
        next = n->next;
        free(n);
    }
    w->head = w->tail = NULL;
    w->queued = 0;
    pthread_mutex_unlock(&w->mu);
    if (exited) {
        pthread_join(w->thread, NULL);
        uv_close((uv_handle_t *)&w->hung_check, on_timer_closed); /* then async, then w */
    } else {
        pthread_detach(w->thread);
        uv_close((uv_handle_t *)&w->hung_check, NULL);
        uv_close((uv_handle_t *)&w->async, on_closed_left_behind);
    }
    return exited;
}
