/* Injected faults (sandbox.md, POST /sandbox/faults): what the next matching requests suffer.
 * A fault names an infno (or any), a mode and how many requests it applies to. */
#ifndef POSA_SANDBOX_FAULTS_H
#define POSA_SANDBOX_FAULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FAULTS_MAX 32

enum fault_mode {
    FAULT_DELAY,                 /* answer after delay_ms; processed normally */
    FAULT_HTTP_500,              /* HTTP 500 instead of the answer; nothing committed */
    FAULT_RESET,                 /* the connection is reset before processing */
    FAULT_DROP_AFTER_COMMIT,     /* committed, then the connection closes without an answer */
    FAULT_REFUSE,                /* a platform refusal (code, message); nothing committed */
    FAULT_GARBLE_AFTER_COMMIT,   /* committed, then answered infcode 0 in a well-formed envelope
                                    whose output has none of the answer's fields */
    FAULT_TAMPER_AFTER_COMMIT,   /* committed, then answered with the output's member at `field`
                                    (a path: "setlinfo.psn_cash_pay") set to the string `value` */
    FAULT_OVERSIZE_AFTER_COMMIT, /* committed, then answered with its output padded past 16 MiB,
                                    more than a client reads */
};

/* The modes the e-voucher service (ec.query) takes: it has no envelope output to tamper. */
#define FAULT_EC_MODES "delay, http_500, reset, drop_after_commit, garble_after_commit or refuse"

struct fault {
    char infno[16]; /* "" = any transaction */
    enum fault_mode mode;
    uint32_t delay_ms;
    int32_t count; /* requests left */
    int32_t code;  /* infcode of a refusal */
    char message[256];
    char field[64]; /* tamper_after_commit */
    char value[64];
};

struct faults {
    struct fault list[FAULTS_MAX];
    size_t n;
};

int fault_mode_parse(const char *name, enum fault_mode *ret);
const char *fault_mode_name(enum fault_mode mode);

/* Adds f; POSA_ETOOLONG when FAULTS_MAX are armed. */
int faults_add(struct faults *faults, const struct fault *f);
void faults_clear(struct faults *faults);
/* Takes one use of the first fault matching infno; false when none matches. */
bool faults_take(struct faults *faults, const char *infno, struct fault *ret);
/* The same, of a fault armed for infno by name only: the e-voucher service (ec.query) is not
 * one of the national transactions a fault without an infno is meant for. */
bool faults_take_named(struct faults *faults, const char *infno, struct fault *ret);

#endif
