/* Test harness of the drivers' integration tests: a private mount + network namespace
 * (own tmpfs on /run/pcscd, own loopback, so vpcd's fixed ports never clash), pcscd and virtual
 * cards as child processes killed by PID, and waiting on watcher events with a deadline. */
#ifndef POSA_TESTS_DRV_HARNESS_H
#define POSA_TESTS_DRV_HARNESS_H

#include <stdbool.h>
#include <sys/types.h>
#include <uv.h>

#include "drivers/card.h"
#include "drivers/pcsc_watch.h"

#define H_EVENTS_MAX 256
#define H_SKIP       77 /* ctest SKIP_RETURN_CODE */

struct harness {
    uv_loop_t loop;
    char dir[64]; /* temp dir: logs, socket */
    pid_t pcscd;
    struct card_event evs[H_EVENTS_MAX];
    int nevs;
    int64_t at_ms[H_EVENTS_MAX]; /* CLOCK_REALTIME ms when each reached the loop */
    int cursor;                  /* events before this are consumed */
    int64_t delivered_ms;        /* at_ms of the event h_wait() returned last */
    struct pcsc_watch *watch;
};

/* Enters the namespaces (exits with H_SKIP if the machine does not allow it), makes
 * the temp dir for logs. Call first in main. */
void h_isolate(struct harness *h);
void h_done(struct harness *h); /* stops the watcher, kills children, cleans up */

void h_pcscd_start(struct harness *h);
void h_pcscd_stop(struct harness *h); /* SIGTERM and wait for the exit */

/* Starts the virtual card of tests/fixtures/cards/<file> on vpcd port (35963 = reader
 * "Virtual PCD 00 00", 35964 = "00 01"); fail_after > 0 makes it leave after N APDUs. */
pid_t h_card_start(struct harness *h, const char *file, int port, int fail_after);
void h_card_stop(struct harness *h, pid_t pid);

void h_watch_start(struct harness *h, const struct pcsc_watch_cfg *cfg);

/* Runs the loop until an unconsumed event of kind (and reader, if not NULL) arrives or
 * timeout_ms passes; returns it (consuming everything up to it) or NULL on timeout. */
const struct card_event *h_wait(struct harness *h, enum card_event_kind kind, const char *reader,
                                int timeout_ms);

#define READER0 "Virtual PCD 00 00"
#define READER1 "Virtual PCD 00 01"

#endif
