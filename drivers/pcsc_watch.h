/* The PC/SC reader thread: watches every reader (and \\?PnP?\Notification for readers
 * that come and go), reads each inserted card through the profile table, and hands
 * events to the libuv loop (queue + uv_async). Survives pcscd restarts. */
#ifndef POSA_DRIVERS_PCSC_WATCH_H
#define POSA_DRIVERS_PCSC_WATCH_H

#include <stdbool.h>

#include <uv.h>

#include "drivers/card.h"
#include "drivers/desk.h"

struct pcsc_watch;

struct pcsc_watch_cfg {
    const struct desk_table *desks; /* copied; NULL = no binding (desk "") */
    const char *vendor_lib;         /* path of a ReadCardBas library; NULL = plain reads */
    const char *vendor_init;        /* JSON for the library's Init(); NULL = not called */
    unsigned retry_ms;              /* pcscd reconnect interval; 0 = 500 */
};

/* Runs on the loop thread, in event order. ev is valid during the call only. */
typedef void (*pcsc_watch_cb)(struct pcsc_watch *w, const struct card_event *ev, void *data);

/* Starts the thread. The first events are SERVICE_UP (or SERVICE_DOWN if pcscd is not
 * there yet; it is retried) and READER_ADDED per reader, then INSERTED + READ for cards
 * already present. SERVICE_DOWN also comes, with no READER_REMOVED before it, when a wait
 * on pcscd has not come back in 5 s (pcscd stopped or hung); once it answers, the thread
 * starts over (READER_REMOVED, SERVICE_UP, READER_ADDED, ...). 0, DRV_EVENDOR (vendor
 * library not loadable), or -errno. */
int pcsc_watch_start(struct pcsc_watch **ret, uv_loop_t *loop, const struct pcsc_watch_cfg *cfg,
                     pcsc_watch_cb cb, void *data);

/* Loop thread only. Cancels the wait (SCardCancel), joins the thread, drops undelivered
 * events; cb is not called again. Frees w once its handle is closed, so the loop must run
 * on. A thread that has not left after 2 s (a card that answers slowly, a pcscd that
 * answers nothing) is left behind with w, which is then never freed: false. NULL is a
 * no-op (true). */
bool pcsc_watch_stop(struct pcsc_watch *w);

#endif
