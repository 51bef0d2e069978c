/* posad's composition root: the one struct that holds the loop's pieces, wired in main.c
 * and handed to the request handlers, the outbox and the resolver. */
#ifndef POSA_AGENT_POSAD_H
#define POSA_AGENT_POSAD_H

#include <stdbool.h>

#include <uv.h>

#include "agent/config.h"
#include "agent/db_worker.h"
#include "agent/seal.h"
#include "agent/desk.h"
#include "agent/upstream.h"
#include "interface/http/http_server.h"
#include "interface/platform/client.h"
#include "interface/platform/gateway.h"

struct outbox {
    struct posad *pd;
    uv_timer_t timer;
    bool draining;  /* a batch is out */
    int batch_left; /* messages of the batch not done yet */
    int batch_size;
    int sent;           /* of the batch, handed to the platform client */
    double tokens;      /* rate limit bucket */
    uint64_t tokens_at; /* uv_now of the last refill */
    struct db_job job;
    struct journal_row **rows;
    int n_rows;
    char damaged[4][MSGID_LEN + 1]; /* due rows that could not be read, this pass */
    int n_damaged;
    int64_t next_due;
    int64_t clock_seen; /* the wall clock at the last pass (database thread); 0: none yet */
    bool again; /* kicked while draining */
    bool stopping;
};

struct resolver {
    struct posad *pd;
    uv_timer_t timer;
    bool busy;
    bool again;
    bool stopping;
    struct db_job job;
    struct journal_row *row; /* the one being resolved */
    bool reopened; /* row has a 2601 already (the platform refused it): asked once, no other */
    bool cancel;   /* row cancels setl_id: 5203 asks whether that settlement still stands */
    char setl_id[64];
    /* Picks start after this row: one whose question the platform refused goes behind the
     * others, which are not held by it, and is asked again once refused_until (in
     * upstream_monotonic_ms) has passed and none is left after it (0: from the oldest). */
    int64_t after_seq, refused_until;
    /* Questions in a row that did not get through (resolver_unanswered): each waits longer. */
    unsigned unanswered;
};

struct posad {
    uv_loop_t *loop;
    struct posad_config cfg;
    const char *config_path; /* read again on SIGHUP, with the same overrides */
    char *overrides[4];      /* --upstream, --data-dir, --listen, --socket, or NULL */
    struct db_worker db;
    struct seal_key *seal_key; /* [posad] seal_key_file's, or NULL: the database is plain */
    struct db_sealer sealer;   /* db's, over seal_key */
    struct gateway gateway;
    struct platform_client *client;
    struct upstream up;
    struct outbox outbox;
    struct resolver resolver;
    struct http_server *server;
    SSL_CTX *tls;     /* loaded with the config; the server takes it over */
    struct desk desk; /* the HIS API's engine state */
    uv_signal_t sigterm, sigint, sighup;
    uv_timer_t stop_timer;
    uint64_t stop_answered_ms; /* loop time the last request in hand was answered */
    bool stopping;
    int exit_code; /* main's return once the loop ends: 1 when the database failed */
    int requests; /* HIS requests not answered yet */
};

/* HTTP handlers (passthrough.c, status.c), in his_api.c's route table. */
void passthrough_handle(struct his_call *call);
/* Has a passthrough message been sent under the Idempotency-Key idem_key? Its keys are kept
 * in the journal, not with the other routes' answers: one namespace all the same. Database
 * thread. */
int passthrough_key_used(struct db *db, const char *idem_key, bool *ret);
/* Answers the passthrough's request with a national envelope: HTTP status, infcode -1 and
 * err_msg, as its HIS reads a refusal. */
void passthrough_refuse(struct his_call *call, int status, const char *err_msg);
/* upstream.applied_also's part for a 2601 of the HIS's (database thread): the message it
 * undid is `reversed` once the platform carried it out. */
int passthrough_applied(struct db *db, struct upmsg *m);
void status_health(struct his_call *call);
void status_queue(struct his_call *call);

/* outbox.c */
void outbox_init(struct outbox *ob, struct posad *pd);
void outbox_kick(struct outbox *ob);
void outbox_stop(struct outbox *ob);

/* resolve.c */
void resolver_init(struct resolver *rs, struct posad *pd);
void resolver_kick(struct resolver *rs);
void resolver_stop(struct resolver *rs);
/* A 2601's apply_also (the outbox sends them): a settlement whose reversal the platform
 * refused is unknown again, for the resolver to ask about once more. */
int resolve_reversal_applied(struct db *db, struct upmsg *m);

#endif
