/* posa-sandbox's state, owned by main.c and shared by its parts: the loop, the HTTP server,
 * the scenario, the ledger, the clock, the armed faults and the e-voucher codes. Everything
 * here is the loop thread's. service.c hands work to libuv's thread pool with nothing of this
 * but what stays fixed once loaded (the gateway's keys, the scenario's catalog), and the
 * ledger's checkpoints run there on a connection of their own (ledger.h). */
#ifndef POSA_SANDBOX_SANDBOX_H
#define POSA_SANDBOX_SANDBOX_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "interface/http/http_server.h"
#include "sandbox/evoucher.h"
#include "sandbox/faults.h"
#include "sandbox/gateway_check.h"
#include "sandbox/ledger.h"
#include "sandbox/scenario.h"

struct job;

/* The answers of one loop turn wait here until their messages commit together. */
struct commit_group {
    uv_check_t turn_end; /* runs after the turn's I/O callbacks: commits and answers */
    struct job *head, **tail;
    unsigned n;
    bool open;    /* the ledger's transaction is open */
    bool closing; /* service_close ran: no new message starts */
};

#define SANDBOX_CHECKPOINT_PAGES 4000 /* --checkpoint-pages by default: 16 MiB of WAL */

struct sandbox {
    uv_loop_t *loop;
    struct http_server *http;
    struct scenario scenario;
    struct ledger *ledger;
    int64_t clock; /* yyyymmddHHMMSS set by /sandbox/clock; 0 = the real clock */
    struct faults faults;
    struct gateway_check gateway; /* the scenario's gateway signature, if any */
    struct evoucher evoucher;
    uv_timer_t offline_timer;
    uint32_t refmsg_seq; /* the serial part of inf_refmsgid */
    struct commit_group group;
    struct {
        int pages; /* the WAL is copied back once it holds this many (--checkpoint-pages) */
        int due;   /* ... or this many after a failed checkpoint */
        uv_work_t work;
        bool running;
        int copied; /* frames in the database after the last ledger_checkpoint */
    } checkpoint;   /* ledger_checkpoint on the thread pool (service.c) */
};

/* The sandbox's notion of now (yyyymmddHHMMSS, local time): the clock set by the admin
 * endpoint, which stays where it was set, or the real clock. */
int64_t sandbox_now(const struct sandbox *sb);

/* HTTP entry points, one per family of paths. */
void service_handle(struct sandbox *sb, struct http_request *req);  /* callService */
void evoucher_handle(struct sandbox *sb, struct http_request *req); /* localQrCodeQuery */
void admin_handle(struct sandbox *sb, struct http_request *req);    /* /sandbox/... */

/* The commit group: init once at start; flush commits what is waiting and answers it (the
 * admin endpoints flush first, so they see and change only committed state); close flushes
 * and closes the handle at shutdown. */
void service_init(struct sandbox *sb);
void service_flush(struct sandbox *sb);
void service_close(struct sandbox *sb);

/* Answers req with a JSON body (the object is consumed) and the status. */
void sandbox_respond_json(struct http_request *req, int status, struct json_object *body);

/* Re-applies the ledger's filing changes to the scenario's persons (at start). */
int sandbox_apply_filing_ops(struct sandbox *sb);

#endif
